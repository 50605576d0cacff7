//! `/metrics` on the agent's socket parses as Prometheus text and says
//! what the store says.

mod support;

use std::time::{Duration, Instant};

use hareconcile_model::status::VrrpState;
use prometheus_parse::{Scrape, Value};
use support::{get_raw, Agent};

fn scrape(agent: &Agent) -> Scrape {
    let response = get_raw(&agent.socket, "/metrics");
    let (head, body) = response.split_once("\r\n\r\n").expect("an HTTP response");
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    assert!(head.contains("text/plain; version=0.0.4"), "{head}");
    Scrape::parse(body.lines().map(|l| Ok(l.to_string()))).expect("valid Prometheus text")
}

fn value(scrape: &Scrape, metric: &str, labels: &[(&str, &str)]) -> Option<f64> {
    scrape
        .samples
        .iter()
        .find(|s| s.metric == metric && labels.iter().all(|(k, v)| s.labels.get(k) == Some(v)))
        .map(|s| match s.value {
            Value::Gauge(v) | Value::Counter(v) | Value::Untyped(v) => v,
            _ => f64::NAN,
        })
}

#[test]
fn metrics_parse_and_follow_the_store() {
    let dir = tempfile::tempdir().unwrap();
    let agent = Agent::start_with_web(dir.path());

    let deadline = Instant::now() + Duration::from_secs(10);
    let scrape = loop {
        let scrape = scrape(&agent);
        let cluster_ready = value(
            &scrape,
            "hareconcile_object_ready",
            &[("kind", "Cluster"), ("name", "home")],
        );
        if cluster_ready == Some(1.0) {
            break scrape;
        }
        assert!(
            Instant::now() < deadline,
            "Cluster never reported ready: {:?}",
            scrape.samples
        );
        std::thread::sleep(Duration::from_millis(100));
    };
    assert_eq!(
        value(
            &scrape,
            "hareconcile_objects",
            &[("kind", "VirtualIP"), ("node", "n1")]
        ),
        Some(1.0)
    );
    assert_eq!(
        value(
            &scrape,
            "hareconcile_object_ready",
            &[("kind", "VirtualIP"), ("name", "web")]
        ),
        Some(0.0)
    );
    let states: f64 = VrrpState::ALL
        .iter()
        .filter_map(|state| {
            value(
                &scrape,
                "hareconcile_vrrp_state",
                &[("vip", "web"), (VrrpState::FIELD, state.as_str())],
            )
        })
        .sum();
    assert!(states <= 1.0, "at most one VRRP state at a time");
    assert!(value(&scrape, "hareconcile_store_resource_version", &[]).unwrap() >= 2.0);

    // The VirtualIP is not Ready here (no such interface to run on): this
    // node's own drift report counts it, as `hareconcile drift` lists it.
    let drift = agent.hc(&["drift", "-o", "json"]);
    let findings: serde_json::Value = serde_json::from_slice(&drift.stdout).unwrap();
    let health = findings
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["category"] == "health" && f["node"] == "n1")
        .count();
    assert!(health >= 1, "{findings}");
    let counted: f64 = scrape
        .samples
        .iter()
        .filter(|s| s.metric == "hareconcile_drift_findings")
        .filter(|s| s.labels.get("category") == Some("health"))
        .map(|s| match s.value {
            Value::Gauge(v) => v,
            _ => f64::NAN,
        })
        .sum();
    assert!(counted >= 1.0, "{:?}", scrape.samples);
    for family in [
        "hareconcile_service_ready",
        "hareconcile_service_healthy",
        "hareconcile_replication_lag_seconds",
        "hareconcile_drift_findings",
    ] {
        assert!(scrape.docs.contains_key(family), "{family} undocumented");
    }
}
