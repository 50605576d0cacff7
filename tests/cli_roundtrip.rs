//! apply → get → describe → diff → delete through a running agent.

use hareconcile_test_support as support;

use support::{expect_code, stderr, stdout, virtual_ip, Agent, CLUSTER};

fn write(dir: &std::path::Path, name: &str, text: &str) -> String {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path.to_string_lossy().into_owned()
}

fn generation(agent: &Agent, kind: &str, name: &str) -> u64 {
    let json = expect_code(&agent.hc(&["get", kind, name, "-o", "json"]), 0);
    let value: serde_json::Value = serde_json::from_str(&json).unwrap();
    value["metadata"]["generation"].as_u64().unwrap()
}

#[test]
fn apply_get_describe_diff_delete_round_trip() {
    let dir = tempfile::tempdir().unwrap();
    let agent = Agent::start(dir.path(), &[]);
    let manifests = dir.path().join("m");
    std::fs::create_dir(&manifests).unwrap();
    write(&manifests, "cluster.yaml", CLUSTER);
    let web = write(
        &manifests,
        "web.yaml",
        &virtual_ip("web", 51, "10.77.0.100/24"),
    );
    let m = manifests.to_str().unwrap();

    let dry = expect_code(&agent.hc(&["apply", "-f", m, "--dry-run"]), 0);
    assert_eq!(
        dry,
        "clusters/home created (dry run)\nvirtualips/web created (dry run)\n"
    );
    let out = expect_code(&agent.hc(&["get", "all", "-o", "json"]), 0);
    assert!(
        out.contains("\"items\": []"),
        "a dry run stores nothing: {out}"
    );

    let out = expect_code(&agent.hc(&["apply", "-f", m]), 0);
    assert_eq!(out, "clusters/home created\nvirtualips/web created\n");

    let again = expect_code(&agent.hc(&["apply", "-f", m]), 0);
    assert_eq!(again, "clusters/home unchanged\nvirtualips/web unchanged\n");
    assert_eq!(
        generation(&agent, "vip", "web"),
        1,
        "an unchanged apply bumps no generation"
    );

    let table = expect_code(&agent.hc(&["get", "vip"]), 0);
    let mut lines = table.lines();
    assert!(lines
        .next()
        .unwrap()
        .starts_with("NAME   VRID   ADDRESSES        STATE"));
    assert!(lines
        .next()
        .unwrap()
        .starts_with("web    51     10.77.0.100/24"));

    // The cluster controller reports membership; --wait sees it.
    let waited = expect_code(
        &agent.hc(&["apply", "-f", &format!("{m}/cluster.yaml"), "--wait=10s"]),
        0,
    );
    assert!(waited.contains("all 1 object(s) ready"), "{waited}");
    let described = expect_code(&agent.hc(&["describe", "cluster", "home"]), 0);
    assert!(described.contains("Ready   True     Member"), "{described}");
    assert!(described.contains("Manager:            cli"), "{described}");

    // One screen of this node; exit 1 because the VirtualIP cannot run
    // on an interface this host lacks, and status says so.
    let status = expect_code(&agent.hc(&["status"]), 1);
    assert!(status.starts_with("node n1 "), "{status}");
    assert!(status.contains("n1*=127.0.0.1 n2=10.77.0.2"), "{status}");
    assert!(status.contains("Ready (Member)"), "{status}");
    assert!(status.contains("NOT READY (InterfaceNotFound)"), "{status}");

    let wide = expect_code(&agent.hc(&["get", "vip", "-o", "wide"]), 0);
    let header: Vec<&str> = wide.lines().next().unwrap().split_whitespace().collect();
    assert!(
        header.ends_with(&[
            "INTERFACE",
            "PRIORITY",
            "TRANSITIONS",
            "SENT/RECEIVED",
            "DROPPED",
            "LAST-ADVERT",
            "TAKEOVER",
            "GENERATION",
            "MANAGER"
        ]),
        "{wide}"
    );
    assert!(
        wide.contains("InterfaceNotFound"),
        "the VRRP controller's view: {wide}"
    );

    let yaml = expect_code(&agent.hc(&["get", "vip", "web", "-o", "yaml"]), 0);
    assert!(
        yaml.contains("vrid: 51") && yaml.contains("resourceVersion:"),
        "{yaml}"
    );

    expect_code(&agent.hc(&["diff", "-f", m]), 0);
    write(
        &manifests,
        "web.yaml",
        &virtual_ip("web", 52, "10.77.0.100/24"),
    );
    let diff = expect_code(&agent.hc(&["diff", "-f", m]), 1);
    assert!(diff.contains("-  vrid: 51\n+  vrid: 52"), "{diff}");

    let out = expect_code(&agent.hc(&["apply", "-f", m]), 0);
    assert!(out.contains("virtualips/web configured"), "{out}");
    assert_eq!(generation(&agent, "vip", "web"), 2);
    expect_code(&agent.hc(&["diff", "-f", m]), 0);

    let out = expect_code(&agent.hc(&["delete", "-f", &web]), 0);
    assert_eq!(out, "virtualips/web deleted\n");
    let missing = agent.hc(&["get", "vip", "web"]);
    assert_eq!(missing.status.code(), Some(2));
    assert!(stderr(&missing).contains("VirtualIP/web not found"));
}

#[test]
fn another_managers_objects_are_refused_without_force() {
    let dir = tempfile::tempdir().unwrap();
    let manifests = support::manifests_dir(dir.path(), &[("cluster.yaml", CLUSTER)]);
    let agent = Agent::start(dir.path(), &["--manifests", manifests.to_str().unwrap()]);
    // The agent applies its directory as manager `files`.
    support::eventually(
        std::time::Duration::from_secs(20),
        "the agent never applied its directory",
        &|| agent.log(),
        || agent.hc(&["get", "cluster", "home"]).status.success(),
    );

    let mine = dir.path().join("mine.yaml");
    std::fs::write(&mine, CLUSTER.replace("priority: 110", "priority: 120")).unwrap();
    let refused = agent.hc(&["apply", "-f", mine.to_str().unwrap()]);
    assert_eq!(refused.status.code(), Some(2), "{}", stdout(&refused));
    assert!(
        stderr(&refused).contains("Cluster/home is managed by files, not cli"),
        "{}",
        stderr(&refused)
    );
    let forced = expect_code(
        &agent.hc(&["apply", "-f", mine.to_str().unwrap(), "--force"]),
        0,
    );
    assert_eq!(forced, "clusters/home configured\n");
    let refused = agent.hc(&["delete", "cluster", "home"]);
    assert_eq!(refused.status.code(), Some(0), "the CLI owns it now");
}

#[test]
fn apply_of_a_dangling_reference_names_the_file_and_applies_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let agent = Agent::start(dir.path(), &[]);
    let manifest = dir.path().join("vip.yaml");
    std::fs::write(&manifest, virtual_ip("web", 51, "10.77.0.100/24")).unwrap();
    // The CLI checks references against the agent's objects first.
    let out = agent.hc(&["apply", "-f", manifest.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("vip.yaml:"), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("nothing was applied"),
        "{}",
        stderr(&out)
    );
    let listed = expect_code(&agent.hc(&["get", "all", "-o", "json"]), 0);
    assert!(listed.contains("\"items\": []"), "{listed}");
}

#[test]
fn apply_of_a_directory_without_manifests_is_refused_as_validate_refuses_it() {
    let dir = tempfile::tempdir().unwrap();
    let agent = Agent::start(dir.path(), &[]);
    let empty = dir.path().join("empty");
    std::fs::create_dir(&empty).unwrap();
    let empty = empty.to_str().unwrap();
    for command in ["validate", "apply"] {
        let out = agent.hc(&[command, "-f", empty]);
        assert_eq!(out.status.code(), Some(2), "{command}: {}", stderr(&out));
        assert!(
            stderr(&out).contains(&format!("no manifests in {empty}")),
            "{command}: {}",
            stderr(&out)
        );
    }
}

#[test]
fn unreachable_agent_is_a_runtime_failure_with_a_hint() {
    let out = std::process::Command::new(support::bin())
        .args(["get", "vip", "--socket", "/nonexistent/agent.sock"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(3));
    assert!(
        stderr(&out).contains("Is `hareconcile agent` running?"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn sigterm_stops_the_agent_cleanly_and_removes_its_socket() {
    let dir = tempfile::tempdir().unwrap();
    let mut agent = Agent::start(dir.path(), &[]);
    let status = agent.terminate();
    assert!(status.success(), "{status}: {}", agent.log());
    assert!(!agent.socket.exists());
    assert!(agent.log().contains("SIGTERM: shutting down"));
}

/// A client that posts straight to the API skips the CLI's checks; the
/// agent must still refuse, naming the object and the field.
#[test]
fn the_agent_refuses_invalid_objects_from_clients_that_skip_validation() {
    let dir = tempfile::tempdir().unwrap();
    let agent = Agent::start(dir.path(), &[]);
    let body = serde_json::json!({
        "manager": "cli",
        "objects": [{
            "apiVersion": "hareconcile.io/v1alpha1",
            "kind": "VirtualIP",
            "metadata": {"name": "web"},
            "spec": {"cluster": "nowhere", "interface": support::NO_SUCH_INTERFACE, "vrid": 51, "addresses": ["10.77.0.100/24"]}
        }]
    })
    .to_string();
    let response = support::post_raw(&agent.socket, "/v1/apply", &body);
    assert!(response.starts_with("HTTP/1.1 422"), "{response}");
    assert!(
        response.contains("\"object\":{\"kind\":\"VirtualIP\",\"name\":\"web\"}"),
        "{response}"
    );
    assert!(response.contains("/spec/cluster"), "{response}");
    let listed = expect_code(&agent.hc(&["get", "all", "-o", "json"]), 0);
    assert!(listed.contains("\"items\": []"), "{listed}");
}

#[test]
fn json_logs_are_one_object_per_line() {
    let dir = tempfile::tempdir().unwrap();
    let mut agent = Agent::start(dir.path(), &["--log-format", "json"]);
    assert!(agent.terminate().success());
    let log = agent.log();
    assert!(log.lines().count() >= 3, "{log}");
    for line in log.lines() {
        let entry: serde_json::Value =
            serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}"));
        assert!(
            entry["level"].is_string() && entry["fields"]["message"].is_string(),
            "{line}"
        );
    }
}
