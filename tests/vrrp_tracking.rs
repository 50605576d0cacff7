//! Tracking on a real (namespace) LAN: a failing `track.scripts` command
//! lowers the master's priority (or faults it) and the VIP moves to the
//! backup, and back when the script recovers; a tracked Service whose
//! containers turn unhealthy on the master (per-node dockerd) does the same.

mod vrrp_lab;

use vrrp_lab::*;

use hareconcile_lab::busybox_image;

/// Script and container health checks add their own intervals to the
/// election's: a generous bound on each move.
const MOVE: Duration = Duration::from_secs(60);

/// The flag file a node's check tests for; present = healthy.
fn flag(lab: &Lab, host: &Host, name: &str) -> PathBuf {
    let dir = lab.dir().join(format!("flags-{}", host.name()));
    std::fs::create_dir_all(&dir).unwrap();
    dir.join(name)
}

fn raise(path: &Path) {
    std::fs::write(path, "ok\n").unwrap();
}

fn lower(path: &Path) {
    std::fs::remove_file(path).unwrap();
}

#[test]
fn failing_scripts_lower_the_priority_or_fault_and_the_vip_follows() {
    let lab = two_nodes!();
    let (n1, n2) = lab.pair();
    for host in [n1, n2] {
        let (gw, disk) = (flag(&lab, host, "gw"), flag(&lab, host, "disk"));
        raise(&gw);
        raise(&disk);
        // gw weighs -20 (110 → 90, below n2's 100); disk faults (weight 0).
        let track = format!(
            ", track: {{scripts: [\n  \
               {{name: gw, command: [test, -e, {gw}], interval: 100ms, weight: -20}},\n  \
               {{name: disk, command: [test, -e, {disk}], interval: 100ms, fall: 2, rise: 2}}]}}",
            gw = gw.display(),
            disk = disk.display(),
        );
        let manifest = cluster_manifest((110, 100), "") + &web_vip_manifest(&track);
        Agent::write_manifest(&lab, host, &manifest);
    }
    let a1 = Agent::start_with_manifests(&lab, n1);
    let a2 = Agent::start_with_manifests(&lab, n2);
    let all = || pair_logs(&a1, &a2);
    assert_sole_holder(n1, n2, Duration::from_millis(500), &all);

    lower(&flag(&lab, n1, "gw"));
    assert!(
        wait_until(MOVE, || holds(n2) && !holds(n1)),
        "n1's failing gw script did not move the VIP\n{}",
        all()
    );
    assert!(
        wait_until(MOVE, || a1.status()["effectivePriority"] == 90
            && a1.vrrp_state().as_deref() == Some("Backup")),
        "n1 is not a backup at 110 - 20: {}",
        a1.status()
    );
    raise(&flag(&lab, n1, "gw"));
    assert!(
        wait_until(MOVE, || holds(n1) && !holds(n2)),
        "n1 did not preempt back once gw succeeded\n{}",
        all()
    );

    lower(&flag(&lab, n1, "disk"));
    assert!(
        wait_until(MOVE, || holds(n2) && !holds(n1)),
        "n1's failing disk script (weight 0) did not move the VIP\n{}",
        all()
    );
    assert!(
        wait_until(MOVE, || {
            let status = a1.status();
            a1.vrrp_state().as_deref() == Some("Fault")
                && status["conditions"][0]["message"]
                    .as_str()
                    .is_some_and(|m| m.contains("script disk failing"))
        }),
        "n1 does not say its disk script faults it: {}",
        a1.status()
    );
    raise(&flag(&lab, n1, "disk"));
    assert!(
        wait_until(MOVE, || holds(n1) && !holds(n2)),
        "n1 did not take the VIP back after the fault\n{}",
        all()
    );
    assert_sole_holder(n1, n2, Duration::from_millis(500), &all);
}

#[test]
fn an_unhealthy_tracked_service_on_the_master_moves_the_vip() {
    let lab = two_nodes!();
    let (n1, n2) = lab.pair();
    let (agents, dockerds) = start_on_docker(&lab, |host, dockerd| {
        let image = busybox_image(dockerd.uri()).unwrap();
        let ok = flag(&lab, host, "ok");
        raise(&ok);
        let flags = ok.parent().unwrap().display().to_string();
        // Docker's healthcheck turns the container unhealthy when the
        // flag goes: the Service is then not Ready on that node.
        let stack = lab.dir().join(format!("stack-{}.yaml", host.name()));
        std::fs::write(
            &stack,
            format!(
                "services:\n  app:\n    image: {image}\n    command: sleep 3600\n    init: true\n    \
                 volumes: [\"{flags}:/flags\"]\n    \
                 healthcheck: {{test: [CMD, test, -e, /flags/ok], interval: 1s, timeout: 1s, retries: 1}}\n"
            ),
        )
        .unwrap();
        format!(
            "{cluster}---\napiVersion: hareconcile.io/v1alpha1\nkind: Service\nmetadata: {{name: app}}\n\
             spec: {{cluster: lab, mode: active-active, compose: {{file: {stack}, project: app}}}}\n{vip}",
            cluster = cluster_manifest((110, 100), ""),
            stack = stack.display(),
            vip = web_vip_manifest(", track: {services: [app]}"),
        )
    });
    let (a1, a2) = (&agents[0], &agents[1]);
    let all = || pair_logs(a1, a2);
    assert!(
        wait_until(MOVE, || holds(n1) && !holds(n2)),
        "n1 never became the only master with app healthy\n{}",
        all()
    );

    lower(&flag(&lab, n1, "ok"));
    assert!(
        wait_until(MOVE, || holds(n2) && !holds(n1)),
        "app unhealthy on n1 did not move the VIP\n{}",
        all()
    );
    assert!(
        wait_until(MOVE, || a1.status()["conditions"][0]["message"]
            .as_str()
            .is_some_and(|m| m.contains("Service app failing"))),
        "n1 does not say app is why: {}",
        a1.status()
    );
    raise(&flag(&lab, n1, "ok"));
    assert!(
        wait_until(MOVE, || holds(n1) && !holds(n2)),
        "n1 did not take the VIP back once app was healthy\n{}",
        all()
    );
    stop_docker_lab(agents, dockerds);
}
