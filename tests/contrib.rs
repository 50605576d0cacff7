//! What `contrib/` ships for monitoring: the Prometheus alert rules pass
//! their unit tests, and the rules and the Grafana dashboard only use
//! metrics an agent exports (a renamed metric would otherwise silence an
//! alert without anyone noticing).

use hareconcile_test_support as support;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

use support::{get_raw, Agent};

fn contrib(file: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("contrib")
        .join(file)
}

fn in_ci() -> bool {
    std::env::var_os("CI").is_some_and(|v| !v.is_empty())
}

#[test]
fn the_alert_rules_pass_their_unit_tests() {
    let rules = std::fs::read_to_string(contrib("prometheus/alerts.yaml")).unwrap();
    let tests = std::fs::read_to_string(contrib("prometheus/alerts.test.yaml")).unwrap();
    let alerts: Vec<&str> = rules
        .lines()
        .filter_map(|l| l.trim().strip_prefix("- alert: "))
        .collect();
    assert_eq!(alerts.len(), 7, "{alerts:?}");
    for alert in alerts {
        assert!(
            tests.contains(&format!("alertname: {alert}")),
            "alerts.test.yaml has no test of {alert}"
        );
    }
    // promtool comes with Debian's prometheus package
    // (scripts/install-test-deps.sh); CI must not pass without it.
    if Command::new("promtool").arg("--version").output().is_err() {
        assert!(
            !in_ci(),
            "promtool is missing: run scripts/install-test-deps.sh"
        );
        eprintln!("skipping: promtool is missing (scripts/install-test-deps.sh installs it)");
        return;
    }
    let out = Command::new("promtool")
        .args(["test", "rules", "alerts.test.yaml"])
        .current_dir(contrib("prometheus"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "promtool test rules:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn the_alerts_and_the_dashboard_use_only_metrics_the_agent_exports() {
    let dir = tempfile::tempdir().unwrap();
    let agent = Agent::start(dir.path(), &[]);
    let metrics = get_raw(&agent.socket, "/metrics");
    // Every family is declared even without samples.
    let exported: BTreeSet<&str> = metrics
        .lines()
        .filter_map(|l| l.strip_prefix("# TYPE "))
        .filter_map(|l| l.split_whitespace().next())
        .collect();
    assert!(exported.contains("hareconcile_vrrp_state"), "{metrics}");

    let dashboard = std::fs::read_to_string(contrib("grafana/hareconcile.json")).unwrap();
    let parsed: serde_json::Value = serde_json::from_str(&dashboard).expect("valid JSON");
    let queries: Vec<&str> = parsed["panels"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|p| p["targets"].as_array().into_iter().flatten())
        .filter_map(|t| t["expr"].as_str())
        .collect();
    assert!(queries.len() >= 10, "{queries:?}");

    let alerts = std::fs::read_to_string(contrib("prometheus/alerts.yaml")).unwrap();
    for (file, text) in [
        ("alerts.yaml", alerts.as_str()),
        ("hareconcile.json", &dashboard),
    ] {
        let used = metric_names(text);
        assert!(!used.is_empty(), "{file} uses no hareconcile metric");
        for name in used {
            assert!(
                exported.contains(name.as_str()),
                "{file} uses {name}, which the agent does not export:\n{metrics}"
            );
        }
    }
}

/// The `hareconcile_...` metric names in `text`.
fn metric_names(text: &str) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    let mut rest = text;
    while let Some(start) = rest.find("hareconcile_") {
        let tail = &rest[start..];
        let end = tail
            .find(|c: char| !(c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_'))
            .unwrap_or(tail.len());
        names.insert(tail[..end].to_string());
        rest = &tail[end..];
    }
    names
}
