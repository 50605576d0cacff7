//! Prometheus text exposition of what this node's store knows: objects
//! and their readiness, VRRP state as the VRRP controller reports it,
//! Service health, replication lag, this node's drift findings; and of the
//! agent itself: events counted since it started, its build and the
//! standard process metrics. Rendered from the store on each scrape, so it
//! can never disagree with `hareconcile get`.

use std::collections::BTreeMap;
use std::fmt::Write;

use hareconcile_model::status::{
    AdvertCounters, LeaseStanding, QuorumSeen, SyncRole, VrrpInstanceStatus, VrrpState,
};
use hareconcile_model::{
    ClusterStatus, ConditionStatus, Kind, Manager, Object, ReplicationStatus, VirtualIpStatus,
};
use hareconcile_vrrp::core::DropReason;

use super::event_totals::EventCounts;
use super::process::ProcessStats;
use super::reconcile_stats::{Series, BUCKETS};
use crate::build_info;
use crate::cluster_view::{Category, Finding};

/// The one-hot VRRP state gauge's label, named after the status field.
const STATE_LABEL: &str = VrrpState::FIELD;

/// Prometheus text format 0.0.4.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

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

/// A VirtualIP with what this node's VRRP controller reports of it.
struct Vip<'a> {
    name: &'a str,
    status: VirtualIpStatus,
}

/// Each instance that reports its counters, by name.
fn counted<'a>(vip: &'a Vip<'_>) -> impl Iterator<Item = (&'a str, &'a AdvertCounters)> {
    vip.status
        .each_instance()
        .iter()
        .filter_map(|i: &VrrpInstanceStatus| Some((i.instance.as_deref()?, i.counters.as_ref()?)))
}

/// Adverts sent, received and dropped by reason, per instance. Every
/// reason is listed (0 included) so rates work from the first scrape.
fn advert_counters(out: &mut String, node: &str, vips: &[Vip<'_>]) {
    type Field = fn(&AdvertCounters) -> u64;
    let fields: [(Field, &str, &str); 2] = [
        (
            |c| c.adverts_sent,
            "hareconcile_vrrp_adverts_sent_total",
            "Adverts this node's instance sent.",
        ),
        (
            |c| c.adverts_received,
            "hareconcile_vrrp_adverts_received_total",
            "Valid adverts this node's instance received.",
        ),
    ];
    for (field, name, help) in fields {
        let mut f = Family::new(out, name, "counter", help);
        for vip in vips {
            for (instance, counters) in counted(vip) {
                let labels = [("node", node), ("vip", vip.name), ("instance", instance)];
                f.sample(name, &labels, field(counters) as f64);
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
    for vip in vips {
        for (instance, counters) in counted(vip) {
            for reason in DropReason::ALL {
                let reason = reason.as_str();
                let value = counters.dropped.get(reason).copied().unwrap_or(0);
                let labels = [
                    ("node", node),
                    ("vip", vip.name),
                    ("instance", instance),
                    ("reason", reason),
                ];
                f.sample(name, &labels, value as f64);
            }
        }
    }
}

/// `Ready` and `Healthy` of each Service on this node. Healthy is left out
/// where it is Unknown (a standby runs nothing to probe): an absent sample
/// raises no alert, a 0 would.
fn service_health(out: &mut String, node: &str, objects: &[&Object]) {
    for (condition, name, help) in [
        (
            "Ready",
            "hareconcile_service_ready",
            "1 when this node's part of the Service is as it should be (running and healthy, or standing by).",
        ),
        (
            "Healthy",
            "hareconcile_service_healthy",
            "1 when the Service's health probes pass where its stack runs (absent where it does not run).",
        ),
    ] {
        let mut f = Family::new(out, name, "gauge", help);
        for o in objects.iter().filter(|o| o.kind == Kind::Service) {
            let value = match o.status.condition(condition).map(|c| c.status) {
                Some(ConditionStatus::True) => 1.0,
                Some(ConditionStatus::False) => 0.0,
                Some(ConditionStatus::Unknown) | None => continue,
            };
            f.sample(name, &[("node", node), ("service", &o.metadata.name)], value);
        }
    }
}

/// Seconds each target's copy is behind: per target on the source, the
/// node's own copy on a replica.
fn replication_lag(out: &mut String, node: &str, objects: &[&Object]) {
    let name = "hareconcile_replication_lag_seconds";
    let mut f = Family::new(
        out,
        name,
        "gauge",
        "Seconds a target's copy is behind its source (on the source per target; on a replica for itself).",
    );
    for o in objects.iter().filter(|o| o.kind == Kind::Replication) {
        let replication = o.metadata.name.as_str();
        let status: ReplicationStatus = o.status.details_as().unwrap_or_default();
        if status.role == Some(SyncRole::Source) {
            for (target, progress) in &status.targets {
                let labels = [
                    ("node", node),
                    ("replication", replication),
                    ("target", target.as_str()),
                ];
                f.sample(name, &labels, progress.lag_seconds as f64);
            }
        } else if let Some(lag) = status.lag_seconds {
            let labels = [
                ("node", node),
                ("replication", replication),
                ("target", node),
            ];
            f.sample(name, &labels, lag as f64);
        }
    }
}

/// This node's quorum session per Cluster that declares one (as the agent
/// writes it into the Cluster's status): engine reachable, lease holding,
/// and the fencing token of each writer lock held here.
fn quorum(out: &mut String, node: &str, objects: &[&Object]) {
    let seen: Vec<(&str, QuorumSeen)> = objects
        .iter()
        .filter(|o| o.kind == Kind::Cluster)
        .filter_map(|o| {
            let status: ClusterStatus = o.status.details_as().ok()?;
            Some((o.metadata.name.as_str(), status.quorum?))
        })
        .collect();
    type Field = fn(&QuorumSeen) -> bool;
    let gauges: [(Field, &str, &str); 2] = [
        (
            |q| q.reachable,
            "hareconcile_quorum_engine_reachable",
            "1 while the quorum engine answers this node's calls.",
        ),
        (
            |q| q.lease == LeaseStanding::Holding,
            "hareconcile_quorum_lease_holding",
            "1 while this node's lease is short of its fence time: it may act as a writer.",
        ),
    ];
    for (field, name, help) in gauges {
        let mut f = Family::new(out, name, "gauge", help);
        for (cluster, q) in &seen {
            let value = if field(q) { 1.0 } else { 0.0 };
            f.sample(name, &[("node", node), ("cluster", cluster)], value);
        }
    }
    let name = "hareconcile_quorum_writer_token";
    let mut f = Family::new(
        out,
        name,
        "gauge",
        "The fencing token of each writer lock this node holds (absent where it holds none).",
    );
    for (cluster, q) in &seen {
        for (lock, token) in &q.held {
            let labels = [
                ("node", node),
                ("cluster", *cluster),
                ("vip", lock.as_str()),
            ];
            f.sample(name, &labels, *token as f64);
        }
    }
}

/// This node's drift findings (sync and health as it sees them itself),
/// counted by category and reason.
fn drift_findings(out: &mut String, node: &str, findings: &[Finding]) {
    let mut counts: BTreeMap<(&str, &str), u64> = BTreeMap::new();
    for finding in findings {
        let category = match finding.category {
            Category::Sync => "sync",
            Category::Health => "health",
            Category::Skew => "skew",
        };
        *counts
            .entry((category, finding.reason.as_str()))
            .or_default() += 1;
    }
    let name = "hareconcile_drift_findings";
    let mut f = Family::new(
        out,
        name,
        "gauge",
        "Drift findings of this node by category (sync, health) and reason; none means no drift.",
    );
    for ((category, reason), count) in counts {
        let labels = [("node", node), ("category", category), ("reason", reason)];
        f.sample(name, &labels, count as f64);
    }
}

/// `hareconcile_build_info`, as Prometheus's own `prometheus_build_info`:
/// the value is 1, the build is in the labels.
fn build(out: &mut String, node: &str) {
    let name = "hareconcile_build_info";
    let mut f = Family::new(
        out,
        name,
        "gauge",
        "The agent's version, git commit (revision) and build date; always 1.",
    );
    let labels = [
        ("node", node),
        ("version", env!("CARGO_PKG_VERSION")),
        ("revision", build_info::COMMIT),
        ("build_date", build_info::DATE),
    ];
    f.sample(name, &labels, 1.0);
}

/// Every event recorded since the agent started, by type and reason.
fn event_totals(out: &mut String, node: &str, events: &EventCounts) {
    let name = "hareconcile_events_total";
    let mut f = Family::new(
        out,
        name,
        "counter",
        "Events recorded on this node since the agent started, by type and reason (repeats included).",
    );
    for ((type_, reason), count) in &events.by_reason {
        let labels = [
            ("node", node),
            ("type", *type_),
            ("reason", reason.as_str()),
        ];
        f.sample(name, &labels, *count as f64);
    }
    let name = "hareconcile_events_uncounted_total";
    let mut f = Family::new(
        out,
        name,
        "counter",
        "Events recorded faster than they were counted, missing from hareconcile_events_total.",
    );
    f.sample(name, &[("node", node)], events.lost as f64);
}

/// The `process_*` families of Prometheus's client libraries, unlabelled
/// as theirs are.
fn process(out: &mut String, stats: &ProcessStats) {
    let families: [(&str, &str, &str, Option<f64>); 6] = [
        (
            "process_cpu_seconds_total",
            "counter",
            "Total user and system CPU time spent in seconds.",
            Some(stats.cpu_seconds),
        ),
        (
            "process_resident_memory_bytes",
            "gauge",
            "Resident memory size in bytes.",
            Some(stats.resident_memory_bytes as f64),
        ),
        (
            "process_virtual_memory_bytes",
            "gauge",
            "Virtual memory size in bytes.",
            Some(stats.virtual_memory_bytes as f64),
        ),
        (
            "process_start_time_seconds",
            "gauge",
            "Start time of the process since unix epoch in seconds.",
            Some(stats.start_time_seconds),
        ),
        (
            "process_open_fds",
            "gauge",
            "Number of open file descriptors.",
            Some(stats.open_fds as f64),
        ),
        (
            "process_max_fds",
            "gauge",
            "Maximum number of open file descriptors.",
            stats.max_fds.map(|n| n as f64),
        ),
    ];
    for (name, kind, help, value) in families {
        if let Some(value) = value {
            Family::new(out, name, kind, help).sample(name, &[], value);
        }
    }
}

/// Each controller's reconcile passes (reconcile and cleanup) as a
/// histogram of seconds, and the failed ones.
fn reconciles(out: &mut String, node: &str, all: &BTreeMap<&'static str, Series>) {
    let name = "hareconcile_reconcile_duration_seconds";
    let mut f = Family::new(
        out,
        name,
        "histogram",
        "How long each pass of a controller (cluster, vrrp, compose, mount, sync) took.",
    );
    for (controller, series) in all {
        let labels = [("node", node), ("controller", *controller)];
        for (bound, count) in BUCKETS.iter().zip(series.buckets) {
            let le = bound.to_string();
            let mut with_le = labels.to_vec();
            with_le.push(("le", le.as_str()));
            f.sample(&format!("{name}_bucket"), &with_le, count as f64);
        }
        let mut with_le = labels.to_vec();
        with_le.push(("le", "+Inf"));
        f.sample(&format!("{name}_bucket"), &with_le, series.count as f64);
        f.sample(&format!("{name}_sum"), &labels, series.sum_seconds);
        f.sample(&format!("{name}_count"), &labels, series.count as f64);
    }
    let name = "hareconcile_reconcile_errors_total";
    let mut f = Family::new(
        out,
        name,
        "counter",
        "Passes of a controller that failed (retried with backoff); the reason is in the Warning events.",
    );
    for (controller, series) in all {
        let labels = [("node", node), ("controller", *controller)];
        f.sample(name, &labels, series.errors as f64);
    }
}

/// What the agent reports of itself besides the store.
#[derive(Default)]
pub struct AgentStats {
    pub events: EventCounts,
    pub reconciles: BTreeMap<&'static str, Series>,
    /// None where /proc cannot be read.
    pub process: Option<ProcessStats>,
    /// Why the store cannot write, while it cannot.
    pub store_problem: Option<String>,
    /// The sets rejected for killing the agent.
    pub rejected: Vec<crate::trials::Rejection>,
    /// The VRRP thread's SCHED_RR priority, 0 at normal priority.
    pub vrrp_rt_priority: u8,
}

pub fn render(
    node: &str,
    resource_version: u64,
    objects: &[&Object],
    findings: &[Finding],
    agent: &AgentStats,
) -> String {
    let mut out = String::new();
    build(&mut out, node);
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
    let name = "hareconcile_store_writable";
    let mut f = Family::new(
        &mut out,
        name,
        "gauge",
        "1 while the store can write; 0 from a failed write (a full or failing disk) until one succeeds.",
    );
    let writable = if agent.store_problem.is_none() {
        1.0
    } else {
        0.0
    };
    f.sample(name, &[("node", node)], writable);
    let name = "hareconcile_rejected_sets";
    let mut f = Family::new(
        &mut out,
        name,
        "gauge",
        "Sets (git commits, --manifests contents) rejected because the agent died while applying them, by source; `hareconcile status` names them.",
    );
    for source in [Manager::Gitops, Manager::Files] {
        let count = (agent.rejected.iter())
            .filter(|r| r.source == source)
            .count();
        f.sample(
            name,
            &[("node", node), ("source", source.as_str())],
            count as f64,
        );
    }
    let name = "hareconcile_vrrp_rt_priority";
    let mut f = Family::new(
        &mut out,
        name,
        "gauge",
        "The real-time (SCHED_RR) priority the VRRP instances run at; 0: normal priority, asked for (--vrrp-rt-priority off) or the kernel refused it.",
    );
    f.sample(name, &[("node", node)], f64::from(agent.vrrp_rt_priority));

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

    let vips: Vec<Vip<'_>> = objects
        .iter()
        .filter(|o| o.kind == Kind::VirtualIP)
        .map(|o| Vip {
            name: &o.metadata.name,
            status: o.status.details_as().unwrap_or_default(),
        })
        .collect();
    let mut f = Family::new(
        &mut out,
        "hareconcile_vrrp_state",
        "gauge",
        "1 for the VRRP state the VirtualIP's instance is in on this node.",
    );
    for vip in &vips {
        for state in VrrpState::ALL {
            let value = if vip.status.state() == Some(state) {
                1.0
            } else {
                0.0
            };
            f.sample(
                "hareconcile_vrrp_state",
                &[
                    ("node", node),
                    ("vip", vip.name),
                    (STATE_LABEL, state.as_str()),
                ],
                value,
            );
        }
    }
    type Field = fn(&VrrpInstanceStatus) -> Option<u64>;
    let fields: [(Field, &str, &str, &str); 2] = [
        (
            |i| i.effective_priority.map(u64::from),
            "hareconcile_vrrp_effective_priority",
            "gauge",
            "Priority after tracking.",
        ),
        (
            |i| i.transitions,
            "hareconcile_vrrp_transitions_total",
            "counter",
            "VRRP state changes since the instance started.",
        ),
    ];
    for (field, name, kind, help) in fields {
        let mut f = Family::new(&mut out, name, kind, help);
        for vip in &vips {
            if let Some(value) = field(&vip.status.instance) {
                f.sample(name, &[("node", node), ("vip", vip.name)], value as f64);
            }
        }
    }
    advert_counters(&mut out, node, &vips);
    service_health(&mut out, node, objects);
    replication_lag(&mut out, node, objects);
    quorum(&mut out, node, objects);
    drift_findings(&mut out, node, findings);
    event_totals(&mut out, node, &agent.events);
    reconciles(&mut out, node, &agent.reconciles);
    if let Some(stats) = &agent.process {
        process(&mut out, stats);
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
        let instance = |name: &str, sent: u64, auth: u64| VrrpInstanceStatus {
            instance: Some(name.into()),
            counters: Some(AdvertCounters {
                adverts_sent: sent,
                adverts_received: 2,
                dropped: [("auth".to_string(), auth)].into(),
            }),
            ..VrrpInstanceStatus::default()
        };
        vip.status.set_details(&VirtualIpStatus {
            instances: vec![instance("web/ipv4", 10, 3), instance("web/ipv6", 20, 0)],
            ..VirtualIpStatus::default()
        });
        let text = render("n1", 1, &[&vip], &[], &AgentStats::default());
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

    fn object(kind: Kind, name: &str) -> Object {
        Object {
            api_version: hareconcile_model::API_VERSION.into(),
            kind,
            metadata: hareconcile_model::ObjectMeta::named(name),
            spec: serde_json::json!({}),
            status: hareconcile_model::Status::default(),
        }
    }

    #[test]
    fn quorum_gauges_per_cluster_and_the_tokens_held() {
        let mut lab = object(Kind::Cluster, "lab");
        lab.status.set_details(&ClusterStatus {
            local_node: Some("n1".into()),
            quorum: Some(QuorumSeen {
                reachable: false,
                lease: LeaseStanding::Fencing,
                held: [("web".to_string(), 42)].into(),
                ..QuorumSeen::default()
            }),
        });
        let plain = object(Kind::Cluster, "plain");
        let mut text = String::new();
        quorum(&mut text, "n1", &[&lab, &plain]);
        for line in [
            r#"hareconcile_quorum_engine_reachable{node="n1",cluster="lab"} 0"#,
            r#"hareconcile_quorum_lease_holding{node="n1",cluster="lab"} 0"#,
            r#"hareconcile_quorum_writer_token{node="n1",cluster="lab",vip="web"} 42"#,
        ] {
            assert!(
                text.lines().any(|l| l == line),
                "{line} missing from\n{text}"
            );
        }
        assert!(!text.contains("plain"), "no quorum, no gauge: {text}");
    }

    #[test]
    fn service_health_replication_lag_and_drift_by_reason() {
        let mut running = object(Kind::Service, "web");
        running
            .status
            .set_condition("Ready", ConditionStatus::False, "Unhealthy", "x", 1);
        running
            .status
            .set_condition("Healthy", ConditionStatus::False, "ProbesFailing", "x", 1);
        let mut standby = object(Kind::Service, "db");
        standby
            .status
            .set_condition("Ready", ConditionStatus::True, "Standby", "x", 1);
        standby.status.set_condition(
            "Healthy",
            ConditionStatus::Unknown,
            "NotRunningHere",
            "x",
            1,
        );
        let mut source = object(Kind::Replication, "data");
        let lag = |seconds| hareconcile_model::status::TargetProgress {
            lag_seconds: seconds,
            ..Default::default()
        };
        source.status.set_details(&ReplicationStatus {
            role: Some(SyncRole::Source),
            targets: [("n2".to_string(), lag(42)), ("n3".to_string(), lag(0))].into(),
            ..ReplicationStatus::default()
        });
        let mut replica = object(Kind::Replication, "certs");
        replica.status.set_details(&ReplicationStatus {
            role: Some(SyncRole::Replica),
            lag_seconds: Some(7),
            ..ReplicationStatus::default()
        });
        let finding = |category, reason: &str| Finding {
            node: "n1".into(),
            object: None,
            category,
            reason: reason.into(),
            message: String::new(),
            fix: String::new(),
        };
        let findings = [
            finding(Category::Health, "UnexpectedContainer"),
            finding(Category::Health, "UnexpectedContainer"),
            finding(Category::Sync, "NotApplied"),
        ];
        let text = render(
            "n1",
            1,
            &[&running, &standby, &source, &replica],
            &findings,
            &AgentStats::default(),
        );
        for line in [
            r#"hareconcile_service_ready{node="n1",service="web"} 0"#,
            r#"hareconcile_service_ready{node="n1",service="db"} 1"#,
            r#"hareconcile_service_healthy{node="n1",service="web"} 0"#,
            r#"hareconcile_replication_lag_seconds{node="n1",replication="data",target="n2"} 42"#,
            r#"hareconcile_replication_lag_seconds{node="n1",replication="data",target="n3"} 0"#,
            r#"hareconcile_replication_lag_seconds{node="n1",replication="certs",target="n1"} 7"#,
            r#"hareconcile_drift_findings{node="n1",category="health",reason="UnexpectedContainer"} 2"#,
            r#"hareconcile_drift_findings{node="n1",category="sync",reason="NotApplied"} 1"#,
        ] {
            assert!(
                text.lines().any(|l| l == line),
                "{line} missing from\n{text}"
            );
        }
        assert!(
            !text.contains(r#"hareconcile_service_healthy{node="n1",service="db"}"#),
            "Unknown health is no sample"
        );
    }

    #[test]
    fn build_events_and_process_are_rendered() {
        let mut events = EventCounts::default();
        events
            .by_reason
            .insert(("Warning", "VipRemoved".to_owned()), 3);
        let stats = ProcessStats {
            cpu_seconds: 1.5,
            resident_memory_bytes: 4096,
            virtual_memory_bytes: 8192,
            start_time_seconds: 1_765_000_000.0,
            open_fds: 12,
            max_fds: None,
        };
        let reconciles = super::super::reconcile_stats::ReconcileStats::default();
        reconciles.record("compose", std::time::Duration::from_millis(40), true);
        let agent = AgentStats {
            events,
            reconciles: reconciles.snapshot(),
            process: Some(stats),
            store_problem: None,
            rejected: vec![crate::trials::Rejection {
                source: Manager::Gitops,
                set: "0123456789abcdef".into(),
                at: time::OffsetDateTime::UNIX_EPOCH,
                restored: None,
            }],
            vrrp_rt_priority: 10,
        };
        let text = render("n1", 1, &[], &[], &agent);
        let build = format!(
            r#"hareconcile_build_info{{node="n1",version="{}",revision="{}",build_date="{}"}} 1"#,
            env!("CARGO_PKG_VERSION"),
            build_info::COMMIT,
            build_info::DATE
        );
        for line in [
            build.as_str(),
            r#"hareconcile_events_total{node="n1",type="Warning",reason="VipRemoved"} 3"#,
            r#"hareconcile_events_uncounted_total{node="n1"} 0"#,
            r#"hareconcile_rejected_sets{node="n1",source="gitops"} 1"#,
            r#"hareconcile_rejected_sets{node="n1",source="files"} 0"#,
            r#"hareconcile_vrrp_rt_priority{node="n1"} 10"#,
            "process_cpu_seconds_total 1.5",
            "process_resident_memory_bytes 4096",
            "process_open_fds 12",
            r#"hareconcile_reconcile_duration_seconds_bucket{node="n1",controller="compose",le="0.025"} 0"#,
            r#"hareconcile_reconcile_duration_seconds_bucket{node="n1",controller="compose",le="0.05"} 1"#,
            r#"hareconcile_reconcile_duration_seconds_bucket{node="n1",controller="compose",le="+Inf"} 1"#,
            r#"hareconcile_reconcile_duration_seconds_count{node="n1",controller="compose"} 1"#,
            r#"hareconcile_reconcile_errors_total{node="n1",controller="compose"} 1"#,
        ] {
            assert!(
                text.lines().any(|l| l == line),
                "{line} missing from\n{text}"
            );
        }
        assert!(
            !text.contains("process_max_fds"),
            "an unknown limit is no sample"
        );
    }

    #[test]
    fn label_values_are_escaped() {
        assert_eq!(label("a\"b\\c\nd"), "a\\\"b\\\\c\\nd");
    }
}
