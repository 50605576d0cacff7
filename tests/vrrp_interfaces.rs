//! One VirtualIP on hosts whose NICs are named differently: n2's LAN
//! interface is `lan0`, n1's `eth0`. `interface: auto` finds each node's
//! own, `interfaces: {n2: lan0}` names it; both elect and fail over, and
//! `status` shows which interface each node uses.

mod vrrp_lab;

use vrrp_lab::*;

fn manifests(token_file: &Path) -> String {
    let peer = format!(
        "  peer: {{port: 7979, tokenFile: {}}}\n",
        token_file.display()
    );
    cluster_manifest((110, 100), &peer)
        + &format!(
            "---\napiVersion: hareconcile.io/v1alpha1\nkind: VirtualIP\nmetadata: {{name: web}}\n\
             spec: {{cluster: lab, interface: auto, vrid: {VRID}, addresses: [{vip}/24]}}\n\
             ---\napiVersion: hareconcile.io/v1alpha1\nkind: VirtualIP\nmetadata: {{name: db}}\n\
             spec: {{cluster: lab, interface: eth0, interfaces: {{n2: lan0}}, vrid: 52, \
             addresses: [{db}/24]}}\n",
            vip = vip(),
            db = ipv4(0, 101),
        )
}

/// The VIRTUALIP row of `status` for `name`.
fn status_row(agent: &Agent, name: &str) -> String {
    agent
        .hc_stdout(&["status"])
        .lines()
        .find(|l| l.starts_with(&format!("{name} ")))
        .unwrap_or_default()
        .to_string()
}

#[test]
fn nodes_with_differently_named_interfaces_elect_and_fail_over() {
    let lab = two_nodes!(client);
    let (n1, n2, client) = lab.with_client();
    for step in [
        &["ip", "link", "set", "dev", "eth0", "down"][..],
        &["ip", "link", "set", "dev", "eth0", "name", "lan0"],
        &["ip", "link", "set", "dev", "lan0", "up"],
    ] {
        n2.exec_ok(step).unwrap();
    }
    let token_file = peer_token_file(&lab, "lab-interfaces-token\n");
    let text = manifests(&token_file);
    Agent::write_manifest(&lab, n1, &text);
    Agent::write_manifest(&lab, n2, &text);
    let a1 = Agent::start_with_manifests(&lab, n1);
    let a2 = Agent::start_with_manifests(&lab, n2);
    let all = || pair_logs(&a1, &a2);
    let db = ipv4(0, 101);

    eventually(CONVERGE, "n1 never became master of both", &all, || {
        holds_on(n1, "eth0", vip()) && holds_on(n1, "eth0", db)
    });
    eventually(CONVERGE, "n2 never became backup of both", &all, || {
        a2.vip_status("web")
            .state()
            .map(|s| s.to_string())
            .as_deref()
            == Some("Backup")
            && a2
                .vip_status("db")
                .state()
                .map(|s| s.to_string())
                .as_deref()
                == Some("Backup")
    });
    assert!(!holds_on(n2, "lan0", vip()) && !holds_on(n2, "lan0", db));
    assert!(client.reaches_within(vip(), CONVERGE).unwrap());

    // Each node says which interface it uses, and what the other uses.
    let statuses = || {
        format!(
            "n1:\n{}\nn2:\n{}",
            a1.hc_stdout(&["status"]),
            a2.hc_stdout(&["status"])
        )
    };
    eventually(
        CONVERGE,
        "n1's status never showed n2's lan0",
        &statuses,
        || {
            status_row(&a1, "web").contains("eth0/51 n2:lan0")
                && status_row(&a1, "db").contains("eth0/52 n2:lan0")
        },
    );
    eventually(
        CONVERGE,
        "n2's status never showed n1's eth0",
        &statuses,
        || status_row(&a2, "web").contains("lan0/51 n1:eth0"),
    );

    // n1 goes: n2 takes both over on lan0 once n1's adverts stop.
    a1.process.signal(libc::SIGKILL);
    eventually(
        CONVERGE,
        "n2 never took the VIPs over on lan0",
        &all,
        || holds_on(n2, "lan0", vip()) && holds_on(n2, "lan0", db),
    );
    assert!(client.reaches_within(vip(), CONVERGE).unwrap());
}
