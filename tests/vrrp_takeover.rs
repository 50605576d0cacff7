//! Make-before-break on a planned preempt-back, on a real (namespace) LAN
//! with a dockerd per node: the returning higher-priority node holds its
//! preemption (status `preparingTakeover`) until the stack following the
//! VIP runs and is Ready there, and only then takes the VIP over. One
//! whose stack never gets Ready holds as long, and says which Services it
//! waits for.

mod vrrp_lab;

use vrrp_lab::*;

const MOVE: Duration = Duration::from_secs(60);

fn manifest(stack: &Path) -> String {
    cluster_manifest((110, 100), "") + &web_vip_manifest("") + &shop_manifest(stack)
}

/// The VirtualIP's Ready condition as `agent` reports it.
fn ready(agent: &Agent) -> serde_json::Value {
    agent.status()["conditions"]
        .as_array()
        .and_then(|all| all.iter().find(|c| c["type"] == "Ready"))
        .cloned()
        .unwrap_or_default()
}

#[test]
fn a_preempt_back_waits_until_the_stack_runs_on_the_returning_node() {
    let lab = two_nodes!();
    let (n1, n2) = lab.pair();
    let (agents, dockerds) = start_on_docker(&lab, |host, dockerd| {
        manifest(&write_web_stack(&lab, host, dockerd))
    });
    let (a1, a2) = (&agents[0], &agents[1]);
    let (d1, d2) = (&dockerds[0], &dockerds[1]);
    let all = || pair_logs(a1, a2);
    assert!(
        wait_until(MOVE, || holds(n1) && !holds(n2) && runs(d1) && !runs(d2)),
        "n1 never became master with the stack\n{}",
        all()
    );

    // n1 faults (link down): n2 takes the VIP and starts the stack; n1's stops.
    lab.link_down(n1, 0).unwrap();
    assert!(
        wait_until(MOVE, || holds(n2) && runs(d2) && !runs(d1)),
        "n2 did not take over with the stack\n{}",
        all()
    );

    // n1 returns as a backup hearing n2's lower priority: it must start its
    // stack before it takes the VIP, never after.
    lab.link_up(n1, 0).unwrap();
    let mut saw_preparing = false;
    let took_over = wait_until(MOVE, || {
        if a1.vip_status("web").preparing_takeover {
            saw_preparing = true;
        }
        if !holds(n1) {
            return false;
        }
        assert!(runs(d1), "n1 took the VIP before its stack ran\n{}", all());
        true
    });
    let shop = || a1.hc_stdout(&["get", "service", "shop", "-o", "json"]);
    assert!(
        took_over,
        "n1 never preempted back: {}\n{}\n{}",
        a1.status(),
        shop(),
        all()
    );
    assert!(
        saw_preparing,
        "n1 never reported preparingTakeover: {}",
        a1.status()
    );
    assert!(
        wait_until(MOVE, || !holds(n2) && !runs(d2)),
        "n2 kept the VIP or its stack\n{}",
        all()
    );
    assert!(
        wait_until(MOVE, || !a1.vip_status("web").preparing_takeover),
        "{}",
        a1.status()
    );
    assert_held_until_services_ready(a1);
    stop_docker_lab(agents, dockerds);
}

#[test]
fn a_hold_for_a_service_that_never_gets_ready_says_which_and_keeps_the_master() {
    let lab = two_nodes!();
    let (n1, n2) = lab.pair();
    // No Docker Engine answers: the stack never runs, on either node.
    let stack = lab.dir().join("stack.yaml");
    std::fs::write(
        &stack,
        "services:\n  web:\n    image: busybox\n    command: httpd -f -p 8080\n",
    )
    .unwrap();
    let start = |host: &Host| {
        Agent::write_manifest(&lab, host, &manifest(&stack));
        Agent::start_with(
            &lab,
            host,
            &["--docker-host", "unix:///nonexistent/docker.sock"],
        )
    };
    let a2 = start(n2);
    assert!(
        wait_until(CONVERGE, || holds(n2)),
        "n2 never became master\n{}",
        a2.log()
    );
    // n1 (110) returns to a live master of lower priority (100).
    let a1 = start(n1);
    let all = || pair_logs(&a1, &a2);
    let held = || {
        let ready = ready(&a1);
        ready["reason"] == "PreparingTakeover"
            && ready["message"]
                .as_str()
                .is_some_and(|m| m.contains("waiting for shop ("))
    };
    assert!(
        wait_until(CONVERGE, held),
        "n1 does not say what it holds for: {}\n{}",
        a1.status(),
        all()
    );
    assert_eq!(ready(&a1)["status"], "True", "a held backup is ready");
    assert_eq!(a1.vip_status("web").waiting_for, ["shop"]);
    let events = a1.events(&["vip", "web"]);
    let holding = events
        .lines()
        .find(|line| line.contains("HoldingPreemption"))
        .unwrap_or_else(|| panic!("no HoldingPreemption event:\n{events}"));
    assert!(
        holding.contains(&format!("master ({})", ipv4(0, 2)))
            && holding.contains("waiting for shop ("),
        "{holding}"
    );
    let status = a1.hc_stdout(&["status"]);
    assert!(
        status.contains("Backup (preparing takeover: waiting for shop)"),
        "{status}"
    );

    // Held, not timed out: the old master keeps serving.
    let deadline = Instant::now() + Duration::from_secs(5);
    while Instant::now() < deadline {
        assert!(holds(n2) && !holds(n1), "the VIP moved\n{}", all());
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(held(), "{}", a1.status());
}
