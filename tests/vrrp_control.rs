//! Runtime control from the CLI on a real (namespace) LAN: `hareconcile
//! vip maintenance|restore|priority` edit the VirtualIP's spec.control in
//! the node's store and the VRRP instance follows without a restart.

mod vrrp_lab;

use vrrp_lab::*;

/// Applies the lab's manifests through the CLI (manager `cli`), as a
/// person would without a --manifests directory or GitOps.
fn apply_by_hand(lab: &Lab, agent: &Agent, host: &Host) {
    let dir = lab.dir().join(format!("by-hand-{}", host.name()));
    write_manifests(&dir, V3_MULTICAST, (110, 100));
    let out = agent.hc(&["apply", "-f", dir.join("lab.yaml").to_str().unwrap()]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn control(agent: &Agent) -> serde_json::Value {
    let out = agent.hc(&["get", "vip", "web", "-o", "json"]);
    let object: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    object["spec"]["control"].clone()
}

/// Runs a `hareconcile vip ...` command that must succeed; its stdout.
fn vip_command(agent: &Agent, args: &[&str]) -> String {
    let mut all = vec!["vip"];
    all.extend_from_slice(args);
    let out = agent.hc(&all);
    assert!(
        out.status.success(),
        "hareconcile {all:?}: {}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn maintenance_restore_and_priority_from_the_cli_move_the_vip() {
    let lab = two_nodes!();
    let (n1, n2) = lab.pair();
    let agents: Vec<Agent> = [n1, n2]
        .into_iter()
        .map(|host| {
            let agent = Agent::start_with_manifests(&lab, host);
            wait_until(CONVERGE, || agent.socket.exists());
            apply_by_hand(&lab, &agent, host);
            agent
        })
        .collect();
    let (a1, a2) = (&agents[0], &agents[1]);
    let all = || pair_logs(a1, a2);
    assert_sole_holder(n1, n2, Duration::from_millis(500), &all);

    let out = vip_command(a1, &["maintenance", "web", "--node", "n1", "--wait"]);
    assert!(out.contains("state Backup"), "{out}");
    assert_eq!(control(a1)["forceBackup"], serde_json::json!(["n1"]));
    assert_sole_holder(n2, n1, Duration::from_millis(500), &all);
    assert!(
        !a1.log().contains("to=Initialize"),
        "the instance was restarted\n{}",
        a1.log()
    );

    vip_command(a1, &["restore", "web", "--wait"]);
    assert!(
        control(a1).is_null(),
        "restore leaves no control: {}",
        control(a1)
    );
    assert_sole_holder(n1, n2, Duration::from_millis(500), &all);

    // 110 - 20 = 90 < 100: n2 preempts.
    vip_command(a1, &["priority", "web", "--adjust", "-20", "--wait"]);
    assert_eq!(
        control(a1)["priorityAdjust"],
        serde_json::json!({"n1": -20})
    );
    assert_sole_holder(n2, n1, Duration::from_millis(500), &all);
    assert!(
        wait_until(CONVERGE, || a1.status()["effectivePriority"] == 90),
        "{}",
        a1.status()
    );

    vip_command(a1, &["priority", "web", "--adjust", "0", "--wait"]);
    assert_sole_holder(n1, n2, Duration::from_millis(500), &all);
}
