//! etcd's v3 JSON gateway as it speaks (etcd 3.4): the gRPC messages in
//! JSON, with 64-bit integers as strings, keys and values in base64, and
//! every field that holds its default value left out (a `false`
//! `succeeded`, a `0` TTL).

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A 64-bit integer as the gateway writes it: a JSON string (`"42"`); a
/// plain number is accepted too.
mod int64 {
    use super::*;

    pub fn serialize<S: Serializer>(value: &i64, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&value.to_string())
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<i64, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Either {
            Text(String),
            Number(i64),
        }
        match Either::deserialize(d)? {
            Either::Number(n) => Ok(n),
            Either::Text(s) => s.parse().map_err(serde::de::Error::custom),
        }
    }
}

/// Bytes as the gateway writes them: base64.
mod bytes {
    use super::*;

    pub fn serialize<S: Serializer>(value: &[u8], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&STANDARD.encode(value))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
        let text = String::deserialize(d)?;
        STANDARD.decode(text).map_err(serde::de::Error::custom)
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
pub struct Header {
    #[serde(default, with = "int64")]
    pub revision: i64,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub struct GrantRequest {
    #[serde(with = "int64")]
    pub ttl: i64,
}

#[derive(Debug, Deserialize)]
pub struct GrantResponse {
    #[serde(rename = "ID", with = "int64")]
    pub id: i64,
    #[serde(rename = "TTL", default, with = "int64")]
    pub ttl: i64,
}

/// What keepalive, revoke and timetolive take.
#[derive(Debug, Serialize)]
pub struct LeaseId {
    #[serde(rename = "ID", with = "int64")]
    pub id: i64,
}

/// Keepalive is a stream in gRPC; the gateway answers a one-request body
/// with one `result`. A lease that no longer exists comes back with no
/// TTL (zero).
#[derive(Debug, Deserialize)]
pub struct KeepAliveResponse {
    pub result: KeepAliveResult,
}

#[derive(Debug, Deserialize)]
pub struct KeepAliveResult {
    #[serde(rename = "TTL", default, with = "int64")]
    pub ttl: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct KeyValue {
    #[serde(with = "bytes")]
    pub key: Vec<u8>,
    #[serde(default, with = "bytes")]
    pub value: Vec<u8>,
    #[serde(default, with = "int64")]
    pub create_revision: i64,
    #[serde(default, with = "int64")]
    pub mod_revision: i64,
    #[serde(default, with = "int64")]
    pub lease: i64,
}

#[derive(Debug, Serialize)]
pub struct RangeRequest {
    #[serde(with = "bytes")]
    pub key: Vec<u8>,
    #[serde(with = "bytes", skip_serializing_if = "Vec::is_empty")]
    pub range_end: Vec<u8>,
}

#[derive(Debug, Default, Deserialize)]
pub struct RangeResponse {
    #[serde(default)]
    pub kvs: Vec<KeyValue>,
}

#[derive(Debug, Serialize)]
pub struct PutRequest {
    #[serde(with = "bytes")]
    pub key: Vec<u8>,
    #[serde(with = "bytes")]
    pub value: Vec<u8>,
    #[serde(with = "int64", skip_serializing_if = "is_zero")]
    pub lease: i64,
}

fn is_zero(n: &i64) -> bool {
    *n == 0
}

#[derive(Debug, Serialize)]
pub struct DeleteRequest {
    #[serde(with = "bytes")]
    pub key: Vec<u8>,
}

/// A transaction's condition on one key.
#[derive(Debug, Serialize)]
pub struct Compare {
    pub target: CompareTarget,
    #[serde(with = "bytes")]
    pub key: Vec<u8>,
    #[serde(flatten)]
    pub value: CompareValue,
}

impl Compare {
    /// The key was created at `revision` (0: it does not exist).
    pub fn created_at(key: &str, revision: i64) -> Compare {
        Compare {
            target: CompareTarget::Create,
            key: key.as_bytes().to_vec(),
            value: CompareValue::CreateRevision(revision),
        }
    }

    /// The key was last written at `revision` (0: it does not exist).
    pub fn modified_at(key: &str, revision: i64) -> Compare {
        Compare {
            target: CompareTarget::Mod,
            key: key.as_bytes().to_vec(),
            value: CompareValue::ModRevision(revision),
        }
    }
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum CompareTarget {
    Create,
    Mod,
}

/// The revision compared with (equality, the gateway's default result).
#[derive(Debug, Serialize)]
pub enum CompareValue {
    #[serde(rename = "create_revision", with = "int64")]
    CreateRevision(i64),
    #[serde(rename = "mod_revision", with = "int64")]
    ModRevision(i64),
}

#[derive(Debug, Serialize)]
pub enum RequestOp {
    #[serde(rename = "request_range")]
    Range(RangeRequest),
    #[serde(rename = "request_put")]
    Put(PutRequest),
    #[serde(rename = "request_delete_range")]
    Delete(DeleteRequest),
}

impl RequestOp {
    /// Reads one key.
    pub fn get(key: &str) -> RequestOp {
        RequestOp::Range(RangeRequest {
            key: key.as_bytes().to_vec(),
            range_end: Vec::new(),
        })
    }

    pub fn put(key: &str, value: &[u8], lease: i64) -> RequestOp {
        RequestOp::Put(PutRequest {
            key: key.as_bytes().to_vec(),
            value: value.to_vec(),
            lease,
        })
    }
}

#[derive(Debug, Serialize)]
pub struct TxnRequest {
    pub compare: Vec<Compare>,
    pub success: Vec<RequestOp>,
    pub failure: Vec<RequestOp>,
}

#[derive(Debug, Deserialize)]
pub struct TxnResponse {
    #[serde(default)]
    pub header: Header,
    #[serde(default)]
    pub succeeded: bool,
    #[serde(default)]
    pub responses: Vec<ResponseOp>,
}

#[derive(Debug, Deserialize)]
pub struct ResponseOp {
    #[serde(default)]
    pub response_range: Option<RangeResponse>,
}

impl TxnResponse {
    /// The key-values of the `n`th operation, when it was a range.
    pub fn range(&self, n: usize) -> &[KeyValue] {
        self.responses
            .get(n)
            .and_then(|r| r.response_range.as_ref())
            .map_or(&[], |r| &r.kvs)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn requests_are_written_as_the_gateway_reads_them() {
        let txn = TxnRequest {
            compare: vec![Compare::created_at("/k", 0), Compare::modified_at("/k", 3)],
            success: vec![RequestOp::put("/k", b"n1", 7)],
            failure: vec![RequestOp::get("/k")],
        };
        assert_eq!(
            serde_json::to_value(&txn).unwrap(),
            json!({
                "compare": [{"target": "CREATE", "key": "L2s=", "create_revision": "0"},
                            {"target": "MOD", "key": "L2s=", "mod_revision": "3"}],
                "success": [{"request_put": {"key": "L2s=", "value": "bjE=", "lease": "7"}}],
                "failure": [{"request_range": {"key": "L2s="}}],
            })
        );
        assert_eq!(
            serde_json::to_value(GrantRequest { ttl: 6 }).unwrap(),
            json!({"TTL": "6"})
        );
    }

    #[test]
    fn answers_are_read_with_their_defaults_left_out() {
        // Captured from etcd 3.4.23: a failed transaction has no
        // `succeeded`, a revoked lease's keepalive no TTL.
        let failed: TxnResponse = serde_json::from_value(json!({
            "header": {"cluster_id": "3", "member_id": "4", "revision": "2", "raft_term": "2"},
            "responses": [{"response_range": {"header": {"revision": "2"}, "kvs": [
                {"key": "L2hjL2xvY2s=", "create_revision": "2", "mod_revision": "2",
                 "version": "1", "value": "bjE=", "lease": "2324035866539476999"}
            ], "count": "1"}}]
        }))
        .unwrap();
        assert!(!failed.succeeded);
        assert_eq!(failed.header.revision, 2);
        let held = &failed.range(0)[0];
        assert_eq!(
            (
                held.key.as_slice(),
                held.value.as_slice(),
                held.create_revision
            ),
            (&b"/hc/lock"[..], &b"n1"[..], 2)
        );
        assert_eq!(held.lease, 2324035866539476999);
        assert!(failed.range(1).is_empty());

        let gone: KeepAliveResponse = serde_json::from_value(json!({
            "result": {"header": {"revision": "3"}, "ID": "2324035866539476999"}
        }))
        .unwrap();
        assert_eq!(gone.result.ttl, 0);
        let granted: GrantResponse =
            serde_json::from_value(json!({"header": {}, "ID": "5", "TTL": "6"})).unwrap();
        assert_eq!((granted.id, granted.ttl), (5, 6));
    }
}
