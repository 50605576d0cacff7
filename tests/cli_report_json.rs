//! `-o json` of the commands that report (`status`, `events`, `drift`,
//! `validate`): what scripts parse, with the field names docs/cli.md
//! documents.

use std::time::Duration;

use hareconcile_test_support as support;
use serde_json::Value;

use support::{eventually, expect_code, stdout, web_manifest, Agent};

const SHOP: &str = "\
apiVersion: hareconcile.io/v1alpha1
kind: Service
metadata:
  name: shop
spec:
  cluster: home
  mode: active-active
  compose: {file: compose.yaml}
";

fn json(text: &str) -> Value {
    serde_json::from_str(text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"))
}

fn has_fields(value: &Value, fields: &[&str]) {
    for field in fields {
        assert!(value.get(field).is_some(), "no {field} in {value:#}");
    }
}

#[test]
fn status_events_and_drift_print_the_documented_json() {
    let dir = tempfile::tempdir().unwrap();
    // No Docker Engine there: the Service's reconciles fail, each a
    // Warning event.
    let docker = format!("unix://{}/no-docker.sock", dir.path().display());
    let agent = Agent::start(dir.path(), &["--docker-host", &docker]);
    std::fs::write(
        dir.path().join("compose.yaml"),
        "services:\n  app:\n    image: busybox\n",
    )
    .unwrap();
    let file = dir.path().join("web.yaml");
    std::fs::write(&file, format!("{}---\n{SHOP}", web_manifest())).unwrap();
    expect_code(&agent.hc(&["apply", "-f", file.to_str().unwrap()]), 0);

    let warned = |events: &Value| {
        events.as_array().is_some_and(|events| {
            events
                .iter()
                .any(|e| e["object"]["name"] == "shop" && e["type"] == "Warning")
        })
    };
    eventually(
        Duration::from_secs(30),
        "a Warning event about Service/shop",
        &|| agent.log(),
        || warned(&json(&stdout(&agent.hc(&["events", "-o", "json"])))),
    );
    let events = json(&expect_code(&agent.hc(&["events", "-o", "json"]), 0));
    for event in events.as_array().unwrap() {
        has_fields(
            event,
            &[
                "object",
                "type",
                "reason",
                "message",
                "count",
                "firstTimestamp",
                "lastTimestamp",
                "node",
            ],
        );
        has_fields(&event["object"], &["kind", "name"]);
    }
    let yaml = expect_code(&agent.hc(&["events", "svc", "shop", "-o", "yaml"]), 0);
    assert!(yaml.contains("reason: "), "{yaml}");

    // Exit 1 as in text: the VirtualIP names an interface this host lacks.
    let status = json(&expect_code(&agent.hc(&["status", "-o", "json"]), 1));
    has_fields(
        &status,
        &[
            "node",
            "version",
            "resourceVersion",
            "ready",
            "objects",
            "nodes",
        ],
    );
    assert_eq!(status["node"], "n1");
    assert_eq!(status["ready"], false);
    let objects = status["objects"].as_array().unwrap();
    let vip = objects
        .iter()
        .find(|o| o["kind"] == "VirtualIP" && o["name"] == "web")
        .unwrap_or_else(|| panic!("{status:#}"));
    has_fields(vip, &["ready", "standby", "reason", "message", "status"]);
    assert_eq!(vip["ready"], false);
    assert_eq!(vip["reason"], "InterfaceNotFound");
    let cluster = objects.iter().find(|o| o["kind"] == "Cluster").unwrap();
    has_fields(cluster, &["ready", "reason"]);

    let drift = json(&expect_code(&agent.hc(&["drift", "-o", "json"]), 0));
    let finding = drift
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["object"] == "VirtualIP/web")
        .unwrap_or_else(|| panic!("{drift:#}"));
    has_fields(
        finding,
        &["node", "object", "category", "reason", "message", "fix"],
    );
    assert_eq!(finding["category"], "health");
    let yaml = expect_code(&agent.hc(&["drift", "-o", "yaml"]), 0);
    assert!(yaml.contains("category: health"), "{yaml}");
}

#[test]
fn validate_prints_each_problem_as_json_with_the_same_exit_code() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("web.yaml");
    std::fs::write(&file, web_manifest()).unwrap();
    let path = file.to_str().unwrap();
    let hc = |args: &[&str]| {
        std::process::Command::new(support::bin())
            .args(args)
            .output()
            .unwrap()
    };

    let valid = json(&expect_code(
        &hc(&["validate", "-f", path, "-o", "json"]),
        0,
    ));
    assert_eq!(valid["valid"], true);
    assert_eq!(valid["objects"], 2);
    assert_eq!(valid["errors"], serde_json::json!([]));

    std::fs::write(
        &file,
        web_manifest()
            .replace("vrid: 51", "vrid: 300")
            .replace("interface:", "interfce:"),
    )
    .unwrap();
    let report = json(&expect_code(
        &hc(&["validate", "-f", path, "-o", "json"]),
        2,
    ));
    assert_eq!(report["valid"], false);
    let errors = report["errors"].as_array().unwrap();
    for error in errors {
        has_fields(
            error,
            &["file", "line", "column", "object", "field", "message"],
        );
    }
    let vrid = errors
        .iter()
        .find(|e| e["field"] == "spec.vrid")
        .unwrap_or_else(|| panic!("{report:#}"));
    assert_eq!(vrid["file"], path);
    assert_eq!(vrid["object"], "VirtualIP/web");
    assert_eq!(vrid["message"], "300 is out of range: use 1-255");
    assert!(vrid["line"].as_u64().unwrap() > 0 && vrid["column"].as_u64().unwrap() > 0);
    assert!(
        errors.iter().any(|e| e["field"] == "spec.interfce"),
        "{report:#}"
    );
    // Nothing declared is an error, not "0 objects valid".
    let empty = dir.path().join("empty");
    std::fs::create_dir(&empty).unwrap();
    let empty = empty.to_str().unwrap();
    let report = json(&expect_code(
        &hc(&["validate", "-f", empty, "-o", "json"]),
        2,
    ));
    assert_eq!(report["valid"], false);
    assert_eq!(report["errors"][0]["file"], empty);
    let message = report["errors"][0]["message"].as_str().unwrap();
    assert!(message.starts_with("no manifests in"), "{message}");
}
