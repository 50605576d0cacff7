//! Foundation benchmarks: validating 1,000 manifests, applying 1,000
//! objects through the agent's API, and the agent's memory with 1,000
//! objects. Prints a Markdown table for docs/PERFORMANCE.md.
//!
//!   cargo bench --bench store
//!
//! Each figure is the median of several runs on a fresh state directory.

use std::fmt::Write as _;
use std::path::Path;
use std::time::{Duration, Instant};

use hareconcile_model::load::load_str;

use hareconcile_test_support as support;

const OBJECTS: usize = 1_000;
const RUNS: usize = 7;

/// A Cluster plus 999 VirtualIPs: distinct (interface, VRID) pairs and
/// addresses (on interfaces that do not exist, so no VRRP runs on the host), so every cross-object check runs on a realistic set.
fn manifests() -> String {
    let mut text = String::from(
        "apiVersion: hareconcile.io/v1alpha1\nkind: Cluster\nmetadata:\n  name: home\nspec:\n  nodes:\n    - {name: n1, address: 127.0.0.1, priority: 110}\n    - {name: n2, address: 10.77.0.2, priority: 100}\n",
    );
    for i in 0..OBJECTS - 1 {
        let (interface, vrid) = (i / 100, i % 100 + 1);
        write!(
            text,
            "---\napiVersion: hareconcile.io/v1alpha1\nkind: VirtualIP\nmetadata:\n  name: vip-{i}\n  labels: {{app: bench}}\nspec:\n  cluster: home\n  interface: hcnone{interface}\n  vrid: {vrid}\n  addresses: [10.{}.{vrid}.1/16]\n  advertInterval: 1s\n  preempt: true\n",
            100 + interface
        )
        .unwrap();
    }
    text
}

fn median(mut samples: Vec<Duration>) -> Duration {
    samples.sort();
    samples[samples.len() / 2]
}

fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap()
}

fn main() {
    // `cargo bench` passes --bench; `cargo test --benches` passes nothing
    // and only wants to know the target builds.
    if !std::env::args().any(|a| a == "--bench") {
        return;
    }
    let text = manifests();
    let file = Path::new("bench.yaml");

    let validate: Vec<Duration> = (0..RUNS)
        .map(|_| {
            let start = Instant::now();
            let loaded = load_str(file, &text).expect("bench manifests are valid");
            assert_eq!(loaded.len(), OBJECTS);
            start.elapsed()
        })
        .collect();

    let objects: Vec<_> = load_str(file, &text)
        .unwrap()
        .into_iter()
        .map(|m| m.object)
        .collect();
    let body = serde_json::json!({"manager": "cli", "objects": objects}).to_string();

    let mut apply = Vec::new();
    let mut reapply = Vec::new();
    let mut rss_idle = Vec::new();
    let mut rss_loaded = Vec::new();
    for _ in 0..RUNS {
        let dir = tempfile::tempdir().unwrap();
        let agent = support::Agent::start(dir.path(), &[]);
        let socket = agent.socket.clone();
        rss_idle.push(rss_kib(agent.pid()));
        let start = Instant::now();
        let response = support::post_raw(&socket, "/v1/apply", &body);
        apply.push(start.elapsed());
        assert!(response.starts_with("HTTP/1.1 200"), "{response}");
        let start = Instant::now();
        let response = support::post_raw(&socket, "/v1/apply", &body);
        reapply.push(start.elapsed());
        assert!(response.contains("\"unchanged\""));
        rss_loaded.push(rss_kib(agent.pid()));
    }
    rss_idle.sort();
    rss_loaded.sort();

    println!("| benchmark ({OBJECTS} objects, median of {RUNS}) | result |");
    println!("|---|---|");
    println!(
        "| validate (YAML parse, schema, cross-object checks) | {:.1} ms |",
        ms(median(validate))
    );
    println!(
        "| apply through the API, fresh store (validate + one durable commit) | {:.1} ms |",
        ms(median(apply))
    );
    println!(
        "| re-apply unchanged through the API | {:.1} ms |",
        ms(median(reapply))
    );
    println!(
        "| agent RSS, idle | {:.1} MiB |",
        rss_idle[RUNS / 2] as f64 / 1024.0
    );
    println!(
        "| agent RSS with {OBJECTS} objects | {:.1} MiB |",
        rss_loaded[RUNS / 2] as f64 / 1024.0
    );
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}
