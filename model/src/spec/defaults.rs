//! What the model fills in for a field a manifest leaves out, read off
//! the serde defaults the controllers decode with, so that the published
//! schema's `default`s (editor hover, `hareconcile explain`) are never a
//! second copy that could disagree with what the agent does.

use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::{json, Value};

use super::{
    AcceptFrom, ClusterSpec, Direction, EtcdQuorum, Fencing, Hook, HttpsCheck, Node, Probe,
    ReplicationSpec, Rsync, ServiceSpec, Snapshot, Standby, TrackScript, VirtualIpSpec,
};
use crate::Kind;

/// One place in a kind's objects and its value as the model completes it:
/// the place is a JSON pointer into the object where `[]` stands for every
/// item of a list; an object value gives the defaults of its fields.
pub type FilledIn = (&'static str, Value);

/// Every place of `kind` whose omission the model fills in. Objects are
/// completed from only their required fields, so each field serde adds is
/// a default; fields serde leaves out when they hold their default are
/// listed on their own.
pub fn filled_in(kind: Kind) -> Vec<FilledIn> {
    match kind {
        Kind::Cluster => vec![
            (
                "/spec",
                completed::<ClusterSpec>(json!({"nodes": [{"name": "n", "address": "10.0.0.1"}]})),
            ),
            (
                "/spec/nodes/[]",
                completed::<Node>(json!({"name": "n", "address": "10.0.0.1"})),
            ),
            ("/spec/vrrp/acceptFrom", plain(AcceptFrom::default())),
            (
                "/spec/quorum/etcd",
                completed::<EtcdQuorum>(json!({"endpoints": ["http://10.0.0.3:2379"]})),
            ),
        ],
        Kind::VirtualIP => vec![
            (
                "/spec",
                completed::<VirtualIpSpec>(json!({
                    "cluster": "c", "interface": "eth0", "vrid": 1, "addresses": ["10.0.0.1/24"]
                })),
            ),
            ("/spec/fencing", plain(Fencing::default())),
            (
                "/spec/track/scripts/[]",
                completed::<TrackScript>(json!({"name": "s", "command": ["true"]})),
            ),
        ],
        Kind::Service => vec![
            (
                "/spec",
                completed::<ServiceSpec>(json!({"cluster": "c", "compose": {"file": "c.yaml"}})),
            ),
            ("/spec/standby", plain(Standby::default())),
            (
                "/spec/health/https/[]",
                completed::<HttpsCheck>(json!({"url": "https://localhost/"})),
            ),
            (
                "/spec/health/https/[]/insecure",
                // `#[serde(default)]` of a bool, left out while false.
                plain(bool::default()),
            ),
        ],
        Kind::Replication => vec![
            (
                "/spec",
                completed::<ReplicationSpec>(
                    json!({"cluster": "c", "method": "rsync", "path": "/srv"}),
                ),
            ),
            ("/spec/direction", plain(Direction::default())),
            ("/spec/rsync", completed::<Rsync>(json!({}))),
            (
                "/spec/snapshot",
                completed::<Snapshot>(json!({"retain": 1})),
            ),
            ("/spec/snapshot/recursive", plain(bool::default())),
            ("/spec/probe", completed::<Probe>(json!({}))),
            (
                "/spec/hooks/beforeSync/[]",
                completed::<Hook>(json!({"command": ["true"]})),
            ),
            (
                "/spec/hooks/afterSync/[]",
                completed::<Hook>(json!({"command": ["true"]})),
            ),
        ],
    }
}

/// `required` decoded as `T` and encoded again: the fields serde added.
fn completed<T: DeserializeOwned + Serialize>(required: Value) -> Value {
    let typed: T = serde_json::from_value(required.clone()).unwrap_or_else(|e| {
        panic!(
            "{} does not decode from {required}: {e}",
            std::any::type_name::<T>()
        )
    });
    let mut filled = plain(typed);
    if let (Value::Object(filled), Value::Object(required)) = (&mut filled, required) {
        filled.retain(|field, _| !required.contains_key(field));
    }
    filled
}

fn plain(value: impl Serialize) -> Value {
    serde_json::to_value(value).expect("specs always serialize")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_what_serde_fills_in() {
        let vip: Vec<FilledIn> = filled_in(Kind::VirtualIP);
        let spec = &vip.iter().find(|(at, _)| *at == "/spec").unwrap().1;
        assert_eq!(spec["accept"], json!(true));
        assert_eq!(spec["garp"]["count"], json!(5));
        assert!(spec.get("cluster").is_none(), "required fields have none");
        let script = &vip.iter().find(|(at, _)| at.ends_with("[]")).unwrap().1;
        assert_eq!(script["fall"], json!(1));
        assert_eq!(plain(Fencing::default()), json!("auto"));
    }
}
