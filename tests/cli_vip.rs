//! `hareconcile vip maintenance|restore|priority` against a running agent
//! (no root: the VirtualIP names an interface that does not exist, so only
//! the spec and the controller's bookkeeping are exercised; the lab test
//! `vrrp_control` shows the VIP moving).

use hareconcile_test_support as support;

use support::{expect_code, stderr, web_manifest, Agent};

fn object(agent: &Agent) -> serde_json::Value {
    let json = expect_code(&agent.hc(&["get", "vip", "web", "-o", "json"]), 0);
    serde_json::from_str(&json).unwrap()
}

#[test]
fn the_cli_edits_spec_control_of_its_own_node() {
    let dir = tempfile::tempdir().unwrap();
    let agent = Agent::start_with_web(dir.path());
    let generation = object(&agent)["metadata"]["generation"].as_u64().unwrap();

    let out = expect_code(
        &agent.hc(&["vip", "maintenance", "web", "--wait", "--timeout", "20s"]),
        0,
    );
    assert!(out.contains("virtualip/web on n1: in maintenance"), "{out}");
    let web = object(&agent);
    assert_eq!(
        web["spec"]["control"]["forceBackup"],
        serde_json::json!(["n1"])
    );
    assert_eq!(web["metadata"]["generation"], generation + 1);
    assert_eq!(web["metadata"]["manager"], "cli");
    assert!(
        web["status"]["observedGeneration"].as_u64() >= Some(generation + 1),
        "--wait returned before the controller saw the change: {web}"
    );
    let again = expect_code(&agent.hc(&["vip", "maintenance", "web", "--node", "n1"]), 0);
    assert!(again.contains("already in maintenance"), "{again}");

    expect_code(&agent.hc(&["vip", "priority", "web", "--adjust", "-20"]), 0);
    let control = &object(&agent)["spec"]["control"];
    assert_eq!(control["priorityAdjust"], serde_json::json!({"n1": -20}));
    assert_eq!(control["forceBackup"], serde_json::json!(["n1"]));

    expect_code(&agent.hc(&["vip", "restore", "web"]), 0);
    let web = object(&agent);
    assert!(web["spec"]["control"].is_null(), "{web}");
    // The rest of the spec is as applied.
    assert_eq!(web["spec"]["vrid"], 51);

    let other_node = agent.hc(&["vip", "maintenance", "web", "--node", "n2"]);
    expect_code(&other_node, 2);
    assert!(
        stderr(&other_node).contains("this agent runs node n1"),
        "{}",
        stderr(&other_node)
    );
    let missing = agent.hc(&["vip", "maintenance", "nope"]);
    expect_code(&missing, 2);
    assert!(
        stderr(&missing).contains("VirtualIP/nope does not exist"),
        "{}",
        stderr(&missing)
    );
    expect_code(
        &agent.hc(&["vip", "priority", "web", "--adjust", "-300"]),
        2,
    );
}

#[test]
fn objects_of_another_manager_are_left_to_it() {
    let dir = tempfile::tempdir().unwrap();
    let (agent, file) = Agent::start_on_manifests(dir.path(), &web_manifest());

    let refused = agent.hc(&["vip", "maintenance", "web"]);
    expect_code(&refused, 2);
    let message = stderr(&refused);
    assert!(message.contains("managed by files"), "{message}");
    assert!(
        message.contains(file.to_str().unwrap()),
        "names the file: {message}"
    );
    assert!(
        message.contains(r#"{"forceBackup":["n1"]}"#),
        "says what to declare: {message}"
    );
    assert!(object(&agent)["spec"]["control"].is_null());
}

#[test]
fn the_address_owner_is_never_put_in_maintenance() {
    let dir = tempfile::tempdir().unwrap();
    let agent = Agent::start_with_web(dir.path());
    // n1 owns the address of `router`. The Cluster moves n1 off loopback
    // for this: a loopback VIP is refused by validation, and this agent
    // never sends adverts, so its node address need not be local.
    let cluster = support::CLUSTER.replace("127.0.0.1", "10.77.0.1");
    let router = |control: &str| {
        format!(
            "{cluster}---\n{}  priorities: {{n1: 255}}\n{control}",
            support::virtual_ip("router", 52, "10.77.0.1/24")
        )
    };
    let manifest = dir.path().join("router.yaml");
    std::fs::write(&manifest, router("")).unwrap();
    expect_code(&agent.hc(&["apply", "-f", manifest.to_str().unwrap()]), 0);

    let refused = agent.hc(&["vip", "maintenance", "router"]);
    expect_code(&refused, 2);
    let message = stderr(&refused);
    assert!(
        message.contains("node n1 owns 10.77.0.1, the address of VirtualIP/router (priority 255)")
            && message.contains("the address owner cannot be a backup (RFC 5798)")
            && message.contains("nothing changed"),
        "{message}"
    );
    let stored = expect_code(&agent.hc(&["get", "vip", "router", "-o", "json"]), 0);
    let stored: serde_json::Value = serde_json::from_str(&stored).unwrap();
    assert!(stored["spec"]["control"].is_null(), "{stored}");

    // Declared in a file: refused where it is written.
    std::fs::write(&manifest, router("  control: {forceBackup: [n1]}\n")).unwrap();
    let applied = agent.hc(&["apply", "-f", manifest.to_str().unwrap()]);
    expect_code(&applied, 2);
    let message = stderr(&applied);
    assert!(
        message.contains(&format!("{}:20:", manifest.display()))
            && message.contains("spec.control.forceBackup[0]: node n1 owns 10.77.0.1"),
        "{message}"
    );
}

/// A VRRP password file others can read is refused: the VirtualIP says
/// so in its Ready condition, and the agent's log says it once per run of
/// the same refusal rather than leaving it to `describe`.
#[test]
fn a_refused_password_file_is_logged() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let password = dir.path().join("vrrp.pass");
    std::fs::write(&password, "secret\n").unwrap();
    std::fs::set_permissions(&password, std::fs::Permissions::from_mode(0o644)).unwrap();
    let manifest = web_manifest().replace(
        "priority: 100}\n",
        &format!(
            "priority: 100}}\n  vrrp: {{version: 2, auth: {{type: pass, passwordFile: {}}}}}\n",
            password.display()
        ),
    );
    let (agent, _) = Agent::start_on_manifests(dir.path(), &manifest);
    let refused = || {
        object(&agent)["status"]["conditions"]
            .as_array()
            .into_iter()
            .flatten()
            .any(|c| c["reason"] == "PasswordUnreadable")
    };
    assert!(
        support::poll::wait_until(std::time::Duration::from_secs(20), refused),
        "{}",
        serde_json::to_string_pretty(&object(&agent)).unwrap()
    );
    let log = agent.log();
    let line = log
        .lines()
        .find(|l| l.contains("VRRP password refused"))
        .unwrap_or_else(|| panic!("not logged:\n{log}"));
    assert!(line.contains("cluster=home"), "{line}");
    assert!(line.contains(&password.display().to_string()), "{line}");
}
