//! What one agent tells its peers about itself: each object's identity,
//! a digest of its spec, and what this node observes of it.

use hareconcile_model::status::{drift_of, VrrpState};
use hareconcile_model::{
    ClusterSpec, ConditionStatus, Drift, HostAddress, Kind, Object, ServiceStatus, VirtualIpSpec,
    VirtualIpStatus,
};
use hareconcile_runtime::Store;
use hareconcile_vrrp::controller::host_addresses;
use serde::{Deserialize, Serialize};
use serde_json::Value;

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PeerSummary {
    pub node: String,
    pub version: String,
    pub resource_version: u64,
    pub objects: Vec<ObjectDigest>,
    /// Declared (files, git) vs this node's store: only the node itself
    /// knows what it declares. Filled by the peer API, not by [`summarize`].
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub sync: Vec<super::Finding>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ObjectDigest {
    pub kind: Kind,
    pub name: String,
    pub generation: u64,
    /// Equal on two nodes exactly when their specs are equal.
    pub spec_hash: String,
    pub ready: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    pub manager: Option<hareconcile_model::Manager>,
    /// The VRRP state, for VirtualIPs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state: Option<VrrpState>,
    /// For Services: whether a container of the stack may be running on
    /// this node ([`ServiceStatus::may_run_here`]); a node about to start
    /// an exclusive stack asks every other one first.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stack_running: Option<bool>,
    /// The interface this node runs a VirtualIP on, where each node picks
    /// its own (`interface: auto`, `interfaces`) and it could be resolved.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interface: Option<String>,
    /// What the controllers found differing from the declaration beyond
    /// the Ready condition (a stack's extra containers, replication lag):
    /// their own drift list, and the conditions other than `Ready` that
    /// are False while the object is Ready (a source whose `Synced` is
    /// False because a target lags past maxLag). Without a `fix`, the
    /// drift report says what to do.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub drift: Vec<Drift>,
}

#[cfg(test)]
impl ObjectDigest {
    /// A Ready object of `kind` named `name` at generation 1, nothing
    /// observed: what tests build their digests from.
    pub fn of(kind: Kind, name: &str) -> ObjectDigest {
        ObjectDigest {
            kind,
            name: name.into(),
            generation: 1,
            spec_hash: "0".into(),
            ready: true,
            reason: None,
            message: None,
            manager: None,
            state: None,
            stack_running: None,
            interface: None,
            drift: Vec::new(),
        }
    }
}

/// The controllers' own drift list, then the other False conditions of a
/// Ready object (a not-Ready object is reported by its Ready condition).
fn observations(object: &Object) -> Vec<Drift> {
    let mut found = drift_of(object);
    if object.status.is_ready() {
        found.extend(
            object
                .status
                .conditions
                .iter()
                .filter(|c| c.type_ != "Ready" && c.status == ConditionStatus::False)
                .map(|c| Drift {
                    reason: c.reason.clone(),
                    message: format!("{}: {}", c.type_, c.message),
                    fix: None,
                }),
        );
    }
    found
}

/// The value with every object's keys sorted.
fn canonical(value: &Value) -> Value {
    match value {
        Value::Object(fields) => {
            let mut keys: Vec<&String> = fields.keys().collect();
            keys.sort();
            Value::Object(
                keys.into_iter()
                    .map(|k| (k.clone(), canonical(&fields[k])))
                    .collect(),
            )
        }
        Value::Array(items) => Value::Array(items.iter().map(canonical).collect()),
        scalar => scalar.clone(),
    }
}

/// FNV-1a over the canonical JSON: stable across builds and nodes, so two
/// agents that loaded the same spec from differently ordered YAML agree.
pub fn spec_hash(spec: &Value) -> String {
    let text = canonical(spec).to_string();
    let hash = text.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |hash, byte| {
        (hash ^ u64::from(byte)).wrapping_mul(0x0000_0100_0000_01b3)
    });
    format!("{hash:016x}")
}

fn digest(object: &Object) -> ObjectDigest {
    let ready = object.status.condition("Ready");
    ObjectDigest {
        kind: object.kind,
        name: object.metadata.name.clone(),
        generation: object.metadata.generation,
        spec_hash: spec_hash(&object.spec),
        ready: object.status.is_ready(),
        reason: ready.map(|c| c.reason.clone()),
        message: ready.map(|c| c.message.clone()),
        manager: object.metadata.manager,
        state: match object.kind {
            Kind::VirtualIP => object
                .status
                .details_as::<VirtualIpStatus>()
                .ok()
                .and_then(|s| s.state()),
            _ => None,
        },
        stack_running: match object.kind {
            Kind::Service => Some(
                object
                    .status
                    .details_as::<ServiceStatus>()
                    .is_ok_and(|s| s.may_run_here()),
            ),
            _ => None,
        },
        interface: None,
        drift: observations(object),
    }
}

/// The interface this node runs VirtualIP `vip` on, for one that varies
/// per node (the VRRP controller resolves it the same way).
pub fn interface_here<'a>(
    objects: impl IntoIterator<Item = &'a Object>,
    node: &str,
    vip: &Object,
    host: &[HostAddress],
) -> Option<String> {
    if vip.kind != Kind::VirtualIP {
        return None;
    }
    let spec: VirtualIpSpec = vip.spec_as().ok()?;
    if !spec.interface_varies() {
        return None;
    }
    let cluster: ClusterSpec = objects
        .into_iter()
        .find(|o| o.kind == Kind::Cluster && o.metadata.name == spec.cluster)?
        .spec_as()
        .ok()?;
    spec.resolve_interface(cluster.node(node)?, host).ok()
}

pub fn summarize(store: &Store) -> PeerSummary {
    let (objects, resource_version) = store.list(None);
    let host = host_addresses();
    PeerSummary {
        node: store.node().to_string(),
        version: env!("CARGO_PKG_VERSION").to_string(),
        resource_version,
        objects: objects
            .iter()
            .map(|o| ObjectDigest {
                interface: interface_here(
                    objects.iter().map(AsRef::as_ref),
                    store.node(),
                    o,
                    &host,
                ),
                ..digest(o)
            })
            .collect(),
        sync: Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn key_order_does_not_change_the_hash_but_values_do() {
        let a = json!({"vrid": 51, "addresses": ["10.0.0.1/24"], "track": {"a": 1, "b": 2}});
        let b = json!({"track": {"b": 2, "a": 1}, "addresses": ["10.0.0.1/24"], "vrid": 51});
        let c = json!({"vrid": 52, "addresses": ["10.0.0.1/24"], "track": {"a": 1, "b": 2}});
        assert_eq!(spec_hash(&a), spec_hash(&b));
        assert_ne!(spec_hash(&a), spec_hash(&c));
    }

    fn object(ready: bool) -> Object {
        let mut object = Object {
            api_version: hareconcile_model::API_VERSION.into(),
            kind: Kind::Service,
            metadata: hareconcile_model::ObjectMeta::named("data"),
            spec: json!({}),
            status: hareconcile_model::Status::default(),
        };
        let status = |yes| {
            if yes {
                ConditionStatus::True
            } else {
                ConditionStatus::False
            }
        };
        object
            .status
            .set_condition("Ready", status(ready), "Running", "running", 1);
        object.status.set_condition(
            "Healthy",
            ConditionStatus::False,
            "ProbeFailed",
            "latest round failed",
            1,
        );
        object
    }

    #[test]
    fn a_false_condition_of_a_ready_object_and_the_details_drift_are_carried() {
        let mut lagging = object(true);
        lagging.status.set_details(&ServiceStatus {
            drift: vec![Drift {
                reason: "UnexpectedContainer".into(),
                message: "web_x_1".into(),
                fix: Some("won't fix".into()),
            }],
            ..ServiceStatus::default()
        });
        let found = digest(&lagging).drift;
        assert_eq!(found.len(), 2, "{found:?}");
        assert_eq!(found[0].fix.as_deref(), Some("won't fix"));
        assert_eq!(found[1].reason, "ProbeFailed");
        assert_eq!(found[1].message, "Healthy: latest round failed");
        assert!(
            digest(&object(false)).drift.is_empty(),
            "a not-Ready object is reported by its Ready condition"
        );
    }
}
