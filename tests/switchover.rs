//! `hareconcile switchover` on a real (namespace) LAN with a dockerd per
//! node and the peer API between the agents: run on the master's node, it
//! moves the VIP to the other node make-before-break (the stack runs
//! there before it holds the VIP), and the move sticks although the old
//! master has the higher priority and preempt is on.

mod vrrp_lab;

use std::sync::atomic::{AtomicBool, Ordering};

use vrrp_lab::*;

use hareconcile_lab::Dockerd;

const MOVE: Duration = Duration::from_secs(60);

fn manifest(stack: &Path, token: &Path) -> String {
    format!(
        "apiVersion: hareconcile.io/v1alpha1\n\
         kind: Cluster\n\
         metadata: {{name: lab}}\n\
         spec:\n  \
           nodes: [{{name: n1, address: {n1}, priority: 110}}, {{name: n2, address: {n2}, priority: 100}}]\n  \
           vrrp: {{advertInterval: 100ms}}\n  \
           peer: {{port: 7979, tokenFile: {token}}}\n\
         ---\n\
         apiVersion: hareconcile.io/v1alpha1\n\
         kind: VirtualIP\n\
         metadata: {{name: web}}\n\
         spec: {{cluster: lab, interface: eth0, vrid: {VRID}, addresses: [{vip}/24], preempt: true}}\n\
         ---\n\
         apiVersion: hareconcile.io/v1alpha1\n\
         kind: Service\n\
         metadata: {{name: shop}}\n\
         spec: {{cluster: lab, followVirtualIP: web, mode: active-passive, \
                 compose: {{file: {stack}, project: shop}}, \
                 health: {{tcp: [\"127.0.0.1:8080\"], interval: 500ms, rise: 2}}}}\n",
        n1 = ipv4(0, 1),
        n2 = ipv4(0, 2),
        vip = vip(),
        stack = stack.display(),
        token = token.display(),
    )
}

fn text(out: &std::process::Output) -> String {
    format!(
        "exit {:?}\n{}{}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

#[test]
fn a_switchover_moves_the_vip_after_the_stack_runs_on_the_target_and_sticks() {
    require_privileges!();
    let _serial = serial();
    let lab = Lab::builder().nodes(2).client(true).build().unwrap();
    let (n1, n2, client) = (lab.node(1), lab.node(2), lab.client());
    let token = lab.dir().join("peer.token");
    std::fs::write(&token, "lab-switchover-token\n").unwrap();
    let dockerds: Vec<Dockerd> = [n1, n2]
        .iter()
        .map(|host| host.start_dockerd().unwrap())
        .collect();
    let mut agents = Vec::new();
    for (host, dockerd) in [n1, n2].into_iter().zip(&dockerds) {
        let stack = write_web_stack(&lab, host, dockerd);
        // Applied by the CLI (manager cli), not loaded from --manifests:
        // a switchover edits the spec, which a files manager would undo.
        let dir = lab.dir().join(format!("agent-{}", host.name()));
        std::fs::create_dir_all(dir.join("manifests")).unwrap();
        let applied = dir.join("lab.yaml");
        std::fs::write(&applied, manifest(&stack, &token)).unwrap();
        let agent = Agent::start_with(&lab, host, &["--docker-host", dockerd.uri()]);
        assert!(
            wait_until(MOVE, || agent
                .hc(&["apply", "-f", applied.to_str().unwrap()])
                .status
                .success()),
            "apply on {} failed: {}",
            host.name(),
            text(&agent.hc(&["apply", "-f", applied.to_str().unwrap()]))
        );
        agents.push(agent);
    }
    let (a1, a2) = (&agents[0], &agents[1]);
    let (d1, d2) = (&dockerds[0], &dockerds[1]);
    let all = || logs(&[("n1", &a1.process), ("n2", &a2.process)]);
    assert!(
        wait_until(MOVE, || holds(n1)
            && !holds(n2)
            && runs(d1)
            && !runs(d2)
            && a2.vrrp_state().as_deref() == Some("Backup")),
        "n1 never became master with the stack\n{}",
        all()
    );

    // Clear errors before anything moves.
    let unknown = a1.hc(&["switchover", "web", "--to", "n9"]);
    assert_eq!(unknown.status.code(), Some(2), "{}", text(&unknown));
    assert!(
        text(&unknown).contains("unknown node"),
        "{}",
        text(&unknown)
    );
    let already = a1.hc(&["switchover", "web", "--to", "n1"]);
    assert_eq!(already.status.code(), Some(2), "{}", text(&already));
    assert!(
        text(&already).contains("already master"),
        "{}",
        text(&already)
    );

    // The client probes the VIP all along; the longest gap is printed, not
    // asserted (timing belongs to benchmarks).
    let probing = AtomicBool::new(true);
    let (switched, longest_gap) = std::thread::scope(|scope| {
        let prober = scope.spawn(|| {
            let url = format!("http://{}:8080/", vip());
            let mut longest = Duration::ZERO;
            let mut failing_since: Option<Instant> = None;
            while probing.load(Ordering::Relaxed) {
                let ok = client
                    .exec(&["curl", "-sS", "-o", "/dev/null", "-m", "1", &url])
                    .is_ok_and(|out| out.success());
                match (ok, failing_since) {
                    (false, None) => failing_since = Some(Instant::now()),
                    (true, Some(since)) => {
                        longest = longest.max(since.elapsed());
                        failing_since = None;
                    }
                    _ => {}
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            longest
        });
        // From n1, the master: n2 learns of it over the peer API.
        let out = a1.hc(&["switchover", "web", "--to", "n2", "--wait=60s"]);
        // n2 must have run its stack before it held the VIP, never after.
        let mut moved = false;
        let took_over = wait_until(MOVE, || {
            if !holds(n2) {
                return false;
            }
            moved = true;
            true
        });
        assert!(runs(d2), "n2 holds the VIP without its stack\n{}", all());
        probing.store(false, Ordering::Relaxed);
        ((out, took_over && moved), prober.join().unwrap())
    });
    let (out, moved) = switched;
    assert!(out.status.success(), "{}\n{}", text(&out), all());
    assert!(moved, "n2 never took the VIP\n{}", all());
    println!(
        "switchover: {}longest client gap {longest_gap:?}",
        text(&out)
    );
    let events = String::from_utf8_lossy(&a2.hc(&["events", "vip", "web"]).stdout).into_owned();
    let holding = events.find("HoldingPreemption");
    let proceeding = events.find("PreemptingAfterServicesReady");
    assert!(
        holding.is_some() && proceeding.is_some() && holding < proceeding,
        "n2 did not hold its takeover until its stack was ready:\n{events}"
    );
    assert!(
        wait_until(MOVE, || !holds(n1) && !runs(d1)),
        "n1 kept the VIP or its stack\n{}",
        all()
    );

    // It sticks: n1 (priority 110, preempt on) does not take the VIP back.
    std::thread::sleep(Duration::from_secs(3));
    assert!(
        holds(n2) && !holds(n1),
        "the switchover did not stick\n{}",
        all()
    );
    let status = String::from_utf8_lossy(&a1.hc(&["status"]).stdout).into_owned();
    assert!(status.contains("switched over to n2"), "{status}");
    assert!(client.reaches_within(vip(), CONVERGE).unwrap());

    drop(agents);
    for dockerd in dockerds {
        dockerd.stop().unwrap();
    }
}
