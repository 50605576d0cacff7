//! The columns `get` prints per kind: by default what an operator scans
//! for (the spec fields that tell objects apart, what this node observes
//! and whether it is Ready), and with `-o wide` the rest of the status.

use hareconcile_model::status::{AdvertCounters, ReplicationStatus, ServiceStatus};
use hareconcile_model::{
    ClusterSpec, ConditionStatus, Kind, Object, ReplicationSpec, ServiceSpec, VirtualIpSpec,
    VirtualIpStatus,
};
use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::Value;
use time::format_description::well_known::Rfc3339;

use crate::cli::output::{age, cell as text};

/// The spec as the controllers read it: every field with a default holds
/// it, so a column shows `active-passive` rather than `-` for an omitted
/// `mode`. A spec that does not decode (stored by a newer version) is
/// shown as stored.
pub fn defaulted_spec(object: &Object) -> Value {
    fn round_trip<T: DeserializeOwned + Serialize>(object: &Object) -> Option<Value> {
        let typed: T = object.spec_as().ok()?;
        serde_json::to_value(typed).ok()
    }
    match object.kind {
        Kind::Cluster => round_trip::<ClusterSpec>(object),
        Kind::VirtualIP => round_trip::<VirtualIpSpec>(object),
        Kind::Service => round_trip::<ServiceSpec>(object),
        Kind::Replication => round_trip::<ReplicationSpec>(object),
    }
    .unwrap_or_else(|| object.spec.clone())
}

fn or_dash(value: Option<impl ToString>) -> String {
    value.map(|v| v.to_string()).unwrap_or_else(|| "-".into())
}

/// The header of `kind`'s table.
pub fn header(kind: Kind, wide: bool) -> Vec<&'static str> {
    let mut header = vec!["NAME"];
    header.extend(match kind {
        Kind::Cluster => &["NODES"][..],
        Kind::VirtualIP => &["VRID", "ADDRESSES", "STATE", "MASTER"],
        Kind::Service => &["MODE", "FOLLOWS", "PROJECT", "PLACEMENT", "CONTAINERS"],
        Kind::Replication => &["METHOD", "PATH", "FOLLOWS", "ROLE", "LAG"],
    });
    header.extend(["READY", "REASON", "AGE"]);
    if wide {
        header.extend(match kind {
            Kind::Cluster => &["PEER-PORT"][..],
            Kind::VirtualIP => &[
                "INTERFACE",
                "PRIORITY",
                "TRANSITIONS",
                "SENT/RECEIVED",
                "DROPPED",
                "LAST-ADVERT",
                "TAKEOVER",
            ],
            Kind::Service => &["COMPOSE-FILE", "HEALTHY"],
            Kind::Replication => &["SYNCED", "LAST-SYNC", "SOURCE"],
        });
        header.extend(["GENERATION", "MANAGER"]);
    }
    header
}

/// `object`'s row under [`header`]; `name` is its first cell.
pub fn row(object: &Object, name: String, wide: bool) -> Vec<String> {
    let spec = defaulted_spec(object);
    let at = |pointer: &str| text(spec.pointer(pointer));
    let ready = object.status.condition("Ready");
    let mut row = vec![name];
    row.extend(match object.kind {
        Kind::Cluster => {
            let nodes = spec.pointer("/nodes").and_then(Value::as_array);
            let names: Vec<String> = nodes
                .into_iter()
                .flatten()
                .map(|node| text(node.get("name")))
                .collect();
            vec![names.join(",")]
        }
        Kind::VirtualIP => {
            let status: VirtualIpStatus = object.status.details_as().unwrap_or_default();
            vec![
                at("/vrid"),
                at("/addresses"),
                or_dash(status.instance.state),
                or_dash(status.instance.master),
            ]
        }
        Kind::Service => {
            let status: ServiceStatus = object.status.details_as().unwrap_or_default();
            let project = spec
                .pointer("/compose/project")
                .map(|p| text(Some(p)))
                // Compose's project is the Service's name unless set.
                .unwrap_or_else(|| object.metadata.name.clone());
            let running = status.containers.iter().filter(|c| c.is_running()).count();
            vec![
                at("/mode"),
                at("/followVirtualIP"),
                project,
                or_dash(
                    status
                        .desired
                        .map(|d| text(serde_json::to_value(d).ok().as_ref())),
                ),
                format!("{running}/{}", status.containers.len()),
            ]
        }
        Kind::Replication => {
            let status: ReplicationStatus = object.status.details_as().unwrap_or_default();
            vec![
                at("/method"),
                at("/path"),
                at("/followVirtualIP"),
                or_dash(
                    status
                        .role
                        .map(|r| text(serde_json::to_value(r).ok().as_ref())),
                ),
                or_dash(status.lag_seconds.map(|s| format!("{s}s"))),
            ]
        }
    });
    row.push(condition_status(object, "Ready"));
    row.push(or_dash(ready.map(|c| c.reason.clone())));
    row.push(age(object.metadata.creation_timestamp));
    if wide {
        row.extend(match object.kind {
            Kind::Cluster => vec![at("/peer/port")],
            Kind::VirtualIP => vrrp_details(object, at("/interface")),
            Kind::Service => vec![at("/compose/file"), condition_status(object, "Healthy")],
            Kind::Replication => {
                let status: ReplicationStatus = object.status.details_as().unwrap_or_default();
                vec![
                    condition_status(object, "Synced"),
                    or_dash(status.last_sync.and_then(|t| t.format(&Rfc3339).ok())),
                    or_dash(status.source),
                ]
            }
        });
        row.push(object.metadata.generation.to_string());
        row.push(or_dash(object.metadata.manager));
    }
    row
}

/// `True`, `False` or `Unknown` (also when no controller reported yet).
fn condition_status(object: &Object, type_: &str) -> String {
    match object.status.condition(type_).map(|c| c.status) {
        Some(ConditionStatus::True) => "True".into(),
        Some(ConditionStatus::False) => "False".into(),
        Some(ConditionStatus::Unknown) | None => "Unknown".into(),
    }
}

/// What the VRRP controller observed here beyond state and master:
/// priority, traffic and whether a planned takeover waits for the
/// following Services (`preparing`).
fn vrrp_details(object: &Object, interface: String) -> Vec<String> {
    let status: VirtualIpStatus = object.status.details_as().unwrap_or_default();
    let seen = &status.instance;
    let counter = |count: fn(&AdvertCounters) -> u64| or_dash(seen.counters.as_ref().map(count));
    let takeover = match status.preparing_takeover {
        true => "preparing",
        false => "-",
    };
    vec![
        interface,
        or_dash(seen.effective_priority),
        or_dash(seen.transitions),
        format!(
            "{}/{}",
            counter(|c| c.adverts_sent),
            counter(|c| c.adverts_received)
        ),
        or_dash(seen.dropped_adverts),
        or_dash(seen.last_advert.and_then(|t| t.format(&Rfc3339).ok())),
        takeover.into(),
    ]
}
