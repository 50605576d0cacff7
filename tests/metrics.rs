//! `/metrics` on the agent's socket parses as Prometheus text and says
//! what the store says; `--metrics-listen` serves it and `/healthz` over
//! TCP, and nothing else of the API.

use hareconcile_test_support as support;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use hareconcile_model::status::VrrpState;
use prometheus_parse::{Scrape, Value};
use support::{get_raw, Agent};

fn scrape(agent: &Agent) -> Scrape {
    parse(&get_raw(&agent.socket, "/metrics"))
}

fn parse(response: &str) -> Scrape {
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

/// `GET path` over TCP, the whole response.
fn get_tcp(port: u16, path: &str) -> String {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nhost: localhost\r\nconnection: close\r\n\r\n"
    )
    .unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    response
}

#[test]
fn metrics_listen_serves_metrics_and_healthz_over_tcp() {
    let dir = tempfile::tempdir().unwrap();
    let port = {
        let probe = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        probe.local_addr().unwrap().port()
    };
    let agent = Agent::start(
        dir.path(),
        &["--metrics-listen", &format!("127.0.0.1:{port}")],
    );
    // The API applies objects: over TCP there is only what Prometheus reads.
    let scrape = parse(&get_tcp(port, "/metrics"));
    let build = scrape
        .samples
        .iter()
        .find(|s| s.metric == "hareconcile_build_info")
        .expect("hareconcile_build_info");
    assert_eq!(build.labels.get("version"), Some(env!("CARGO_PKG_VERSION")));
    assert!(build.labels.get("revision").is_some());
    // A fresh agent may not have used a clock tick of CPU yet.
    for (family, least) in [
        ("process_resident_memory_bytes", 1.0),
        ("process_cpu_seconds_total", 0.0),
        ("process_open_fds", 1.0),
        ("process_start_time_seconds", 1.0),
    ] {
        let v = value(&scrape, family, &[]).unwrap_or_else(|| panic!("{family} missing"));
        assert!(v >= least, "{family} {v}");
    }
    // Every controller has its series from the start, a histogram that parses.
    for kind in ["cluster", "vrrp", "compose", "mount", "sync"] {
        let histogram = scrape.samples.iter().find(|s| {
            s.metric == "hareconcile_reconcile_duration_seconds"
                && s.labels.get("controller") == Some(kind)
        });
        assert!(
            matches!(histogram.map(|s| &s.value), Some(Value::Histogram(_))),
            "{kind}: {histogram:?}"
        );
        assert!(
            value(
                &scrape,
                "hareconcile_reconcile_errors_total",
                &[("controller", kind)]
            )
            .is_some(),
            "{kind}"
        );
    }
    let health = get_tcp(port, "/healthz");
    assert!(health.starts_with("HTTP/1.1 200"), "{health}");
    assert!(health.ends_with("ok\n"), "{health}");
    for path in ["/v1/objects", "/v1/info"] {
        let response = get_tcp(port, path);
        assert!(response.starts_with("HTTP/1.1 404"), "{path}: {response}");
    }
    drop(agent);
}

/// `/v1/info`, `hareconcile_build_info` and `hareconcile --version` name
/// the same build: an operator comparing nodes reads either.
#[test]
fn the_agent_info_names_the_build_as_the_version_does() {
    let dir = tempfile::tempdir().unwrap();
    let agent = Agent::start(dir.path(), &[]);
    let response = get_raw(&agent.socket, "/v1/info");
    let (head, body) = response.split_once("\r\n\r\n").expect("an HTTP response");
    assert!(head.starts_with("HTTP/1.1 200"), "{response}");
    let info: serde_json::Value = serde_json::from_str(body).expect("JSON");
    let (commit, date) = (
        info["commit"].as_str().expect("commit"),
        info["buildDate"].as_str().expect("buildDate"),
    );
    let version = support::stdout(
        &std::process::Command::new(support::bin())
            .arg("--version")
            .output()
            .unwrap(),
    );
    assert!(
        version.contains(&format!("(commit {commit}, built {date})")),
        "{version} vs {info}"
    );
    let scrape = scrape(&agent);
    let build = scrape
        .samples
        .iter()
        .find(|s| s.metric == "hareconcile_build_info")
        .expect("hareconcile_build_info");
    assert_eq!(build.labels.get("revision"), Some(commit), "{info}");
    assert_eq!(build.labels.get("build_date"), Some(date), "{info}");
}
