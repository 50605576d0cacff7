//! Prometheus text exposition of what this node's store knows: objects
//! and their readiness, VRRP state as the VRRP controller reports it, and
//! event counts. Rendered from the store on each scrape, so it can never
//! disagree with `hareconcile get`.

use std::collections::BTreeMap;
use std::fmt::Write;

use hareconcile_model::{Kind, Object};
use hareconcile_runtime::{Event, EventType};
use hareconcile_vrrp::DropReason;
use serde_json::Value;

/// Prometheus text format 0.0.4.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

const VRRP_STATES: [&str; 4] = ["Initialize", "Backup", "Master", "Fault"];

/// Quotes a label value as the text format requires.
fn label(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

struct Family<'a> {
    out: &'a mut String,
}

impl<'a> Family<'a> {
    fn new(out: &'a mut String, name: &str, kind: &str, help: &str) -> Self {
        let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
        Family { out }
    }

    fn sample(&mut self, name: &str, labels: &[(&str, &str)], value: f64) {
        let labels: Vec<String> = labels
            .iter()
            .map(|(k, v)| format!("{k}=\"{}\"", label(v)))
            .collect();
        if labels.is_empty() {
            let _ = writeln!(self.out, "{name} {value}");
        } else {
            let _ = writeln!(self.out, "{name}{{{}}} {value}", labels.join(","));
        }
    }
}

fn number(object: &Object, field: &str) -> Option<f64> {
    object.status.details.get(field)?.as_f64()
}

/// Each VRRP instance's details: the `instances` list of a dual-stack
/// VirtualIP, else the status itself.
fn instances(object: &Object) -> Vec<&serde_json::Map<String, Value>> {
    match object
        .status
        .details
        .get("instances")
        .and_then(Value::as_array)
    {
        Some(each) => each.iter().filter_map(Value::as_object).collect(),
        None => vec![&object.status.details],
    }
}

/// Adverts sent, received and dropped by reason, per instance. Every
/// reason is listed (0 included) so rates work from the first scrape.
fn advert_counters(out: &mut String, node: &str, vips: &[&&Object]) {
    let per_instance = |o: &'_ Object| -> Vec<(String, Value)> {
        instances(o)
            .into_iter()
            .filter_map(|details| {
                let name = details.get("instance")?.as_str()?.to_string();
                Some((name, details.get("counters")?.clone()))
            })
            .collect()
    };
    for (field, name, help) in [
        (
            "advertsSent",
            "hareconcile_vrrp_adverts_sent_total",
            "Adverts this node's instance sent.",
        ),
        (
            "advertsReceived",
            "hareconcile_vrrp_adverts_received_total",
            "Valid adverts this node's instance received.",
        ),
    ] {
        let mut f = Family::new(out, name, "counter", help);
        for o in vips {
            for (instance, counters) in per_instance(o) {
                let value = counters.get(field).and_then(Value::as_f64).unwrap_or(0.0);
                let labels = [
                    ("node", node),
                    ("vip", &o.metadata.name),
                    ("instance", &instance),
                ];
                f.sample(name, &labels, value);
            }
        }
    }
    let name = "hareconcile_vrrp_dropped_adverts_total";
    let mut f = Family::new(
        out,
        name,
        "counter",
        "Messages dropped before or by the state machine, by reason (ttl, checksum, auth, vrid, version, malformed, notForUs, notPeer, mismatch).",
    );
    for o in vips {
        for (instance, counters) in per_instance(o) {
            for reason in DropReason::ALL {
                let reason = reason.as_str();
                let value = counters["dropped"]
                    .get(reason)
                    .and_then(Value::as_f64)
                    .unwrap_or(0.0);
                let labels = [
                    ("node", node),
                    ("vip", &o.metadata.name),
                    ("instance", &instance),
                    ("reason", reason),
                ];
                f.sample(name, &labels, value);
            }
        }
    }
}

pub fn render(node: &str, resource_version: u64, objects: &[&Object], events: &[Event]) -> String {
    let mut out = String::new();
    let mut f = Family::new(
        &mut out,
        "hareconcile_store_resource_version",
        "gauge",
        "The store's newest resourceVersion.",
    );
    f.sample(
        "hareconcile_store_resource_version",
        &[("node", node)],
        resource_version as f64,
    );

    let mut f = Family::new(
        &mut out,
        "hareconcile_objects",
        "gauge",
        "Declared objects by kind.",
    );
    for kind in Kind::ALL {
        let count = objects.iter().filter(|o| o.kind == kind).count();
        f.sample(
            "hareconcile_objects",
            &[("node", node), ("kind", kind.as_str())],
            count as f64,
        );
    }

    let mut f = Family::new(
        &mut out,
        "hareconcile_object_ready",
        "gauge",
        "1 when the object's Ready condition is True on this node.",
    );
    for o in objects {
        let ready = if o.status.is_ready() { 1.0 } else { 0.0 };
        f.sample(
            "hareconcile_object_ready",
            &[
                ("node", node),
                ("kind", o.kind.as_str()),
                ("name", &o.metadata.name),
            ],
            ready,
        );
    }

    let vips: Vec<&&Object> = objects
        .iter()
        .filter(|o| o.kind == Kind::VirtualIP)
        .collect();
    let mut f = Family::new(
        &mut out,
        "hareconcile_vrrp_state",
        "gauge",
        "1 for the VRRP state the VirtualIP's instance is in on this node.",
    );
    for o in &vips {
        let current = o.status.details.get("state").and_then(|s| s.as_str());
        for state in VRRP_STATES {
            let value = if current == Some(state) { 1.0 } else { 0.0 };
            f.sample(
                "hareconcile_vrrp_state",
                &[("node", node), ("vip", &o.metadata.name), ("state", state)],
                value,
            );
        }
    }
    for (field, name, kind, help) in [
        (
            "effectivePriority",
            "hareconcile_vrrp_effective_priority",
            "gauge",
            "Priority after tracking.",
        ),
        (
            "transitions",
            "hareconcile_vrrp_transitions_total",
            "counter",
            "VRRP state changes since the instance started.",
        ),
    ] {
        let mut f = Family::new(&mut out, name, kind, help);
        for o in &vips {
            if let Some(value) = number(o, field) {
                f.sample(name, &[("node", node), ("vip", &o.metadata.name)], value);
            }
        }
    }
    advert_counters(&mut out, node, &vips);

    let mut counts: BTreeMap<(&str, &str), u64> = BTreeMap::new();
    for e in events {
        let type_ = match e.type_ {
            EventType::Normal => "Normal",
            EventType::Warning => "Warning",
        };
        *counts.entry((type_, e.reason.as_str())).or_default() += u64::from(e.count);
    }
    let mut f = Family::new(
        &mut out,
        "hareconcile_events_total",
        "counter",
        "Events recorded on this node by type and reason (recent events only).",
    );
    for ((type_, reason), count) in counts {
        f.sample(
            "hareconcile_events_total",
            &[("node", node), ("type", type_), ("reason", reason)],
            count as f64,
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn advert_counters_are_per_instance_and_reason() {
        let mut vip = Object {
            api_version: hareconcile_model::API_VERSION.into(),
            kind: Kind::VirtualIP,
            metadata: hareconcile_model::ObjectMeta::named("web"),
            spec: serde_json::json!({}),
            status: hareconcile_model::Status::default(),
        };
        let counters = |sent: u64, auth: u64| serde_json::json!({"advertsSent": sent, "advertsReceived": 2, "dropped": {"auth": auth}});
        let instances = serde_json::json!([
            {"instance": "web/ipv4", "counters": counters(10, 3)},
            {"instance": "web/ipv6", "counters": counters(20, 0)},
        ]);
        vip.status.details.insert("instances".into(), instances);
        let text = render("n1", 1, &[&vip], &[]);
        for line in [
            r#"hareconcile_vrrp_adverts_sent_total{node="n1",vip="web",instance="web/ipv4"} 10"#,
            r#"hareconcile_vrrp_adverts_sent_total{node="n1",vip="web",instance="web/ipv6"} 20"#,
            r#"hareconcile_vrrp_adverts_received_total{node="n1",vip="web",instance="web/ipv4"} 2"#,
            r#"hareconcile_vrrp_dropped_adverts_total{node="n1",vip="web",instance="web/ipv4",reason="auth"} 3"#,
            r#"hareconcile_vrrp_dropped_adverts_total{node="n1",vip="web",instance="web/ipv6",reason="ttl"} 0"#,
        ] {
            assert!(
                text.lines().any(|l| l == line),
                "{line} missing from\n{text}"
            );
        }
    }

    #[test]
    fn label_values_are_escaped() {
        assert_eq!(label("a\"b\\c\nd"), "a\\\"b\\\\c\\nd");
    }
}
