//! Accept mode on a real (namespace) LAN. `accept: false` (RFC 5798
//! Accept_Mode off): the master takes the VIP, answers ARP and neighbour
//! discovery for it, and drops everything else sent to it, while its own
//! address answers; the new master does the same after a failover, and
//! the agent puts its table back when it is flushed by hand. The
//! address owner (priority 255) and `accept: true` (the default) answer
//! on the VIP. Without nft, a VirtualIP that turns accept mode off says so
//! and takes no part, and the others run.

mod vrrp_lab;

use std::net::IpAddr;

use hareconcile_lab::NodeCommand;
use hareconcile_model::status::VrrpState;
use vrrp_lab::*;

const TABLE: &str = "hareconcile_vrrp";
const HTTP_PORT: u16 = 8080;

/// What one agent's manifests say.
#[derive(Clone, Copy)]
struct Spec<'a> {
    priorities: (u8, u8),
    /// `spec.accept`; unset takes the default.
    accept: Option<bool>,
    addresses: &'a str,
    force_backup: Option<&'a str>,
}

impl Spec<'_> {
    fn write(&self, lab: &Lab, host: &Host) {
        let manifest = format!(
            "{cluster}---\n\
             apiVersion: hareconcile.io/v1alpha1\n\
             kind: VirtualIP\n\
             metadata: {{name: web}}\n\
             spec: {{cluster: lab, interface: eth0, vrid: {VRID}, addresses: [{addresses}]{accept}, \
                     control: {{forceBackup: [{force_backup}]}}}}\n",
            cluster = cluster_manifest(self.priorities, ""),
            addresses = self.addresses,
            accept = self
                .accept
                .map(|accept| format!(", accept: {accept}"))
                .unwrap_or_default(),
            force_backup = self.force_backup.unwrap_or_default(),
        );
        Agent::write_manifest(lab, host, &manifest);
    }
}

/// Writes n1's and n2's manifests and starts their agents.
fn start_agents(lab: &Lab, n1: Spec<'_>, n2: Spec<'_>) -> (Agent, Agent) {
    n1.write(lab, lab.node(1));
    n2.write(lab, lab.node(2));
    (
        Agent::start_with_manifests(lab, lab.node(1)),
        Agent::start_with_manifests(lab, lab.node(2)),
    )
}

/// An HTTP server on every address of `host`, the VIP included.
fn serve_http(lab: &Lab, host: &Host) -> Process {
    let root = lab.dir().join(format!("www-{}", host.name()));
    std::fs::create_dir_all(&root).unwrap();
    std::fs::write(root.join("index.html"), host.name()).unwrap();
    let port = HTTP_PORT.to_string();
    host.spawn(
        NodeCommand::new("busybox")
            .args(["httpd", "-f", "-p", &port, "-h"])
            .arg(&root),
    )
    .unwrap()
}

/// Whether `addr` answers HTTP (a TCP connection and a reply) within a second.
fn http_answers(client: &Host, addr: impl Into<IpAddr>) -> bool {
    let url = format!("http://{}:{HTTP_PORT}/", addr.into());
    client
        .exec(&["curl", "-s", "-o", "/dev/null", "--max-time", "1", &url])
        .unwrap()
        .success()
}

/// `addr` answers neither ping nor HTTP, three times over: nothing sent
/// to it gets through (the holder's own address is checked separately).
fn assert_refused(client: &Host, addr: impl Into<IpAddr>, context: &dyn Fn() -> String) {
    let addr = addr.into();
    for _ in 0..3 {
        assert!(
            !client.can_reach(addr).unwrap(),
            "{addr} answered a ping\n{}",
            context()
        );
    }
    assert!(
        !http_answers(client, addr),
        "{addr} answered HTTP\n{}",
        context()
    );
}

fn assert_answers(client: &Host, addr: impl Into<IpAddr>, context: &dyn Fn() -> String) {
    let addr = addr.into();
    assert!(
        client.reaches_within(addr, CONVERGE).unwrap(),
        "{addr} never answered a ping\n{}",
        context()
    );
    assert!(
        wait_until(CONVERGE, || http_answers(client, addr)),
        "{addr} never answered HTTP\n{}",
        context()
    );
}

/// The client's neighbour entry for `addr`: its MAC (if resolved) and state.
fn neighbour_entry(client: &Host, addr: IpAddr) -> (Option<String>, String) {
    let entry = neighbour(client, addr);
    let words: Vec<&str> = entry.split_whitespace().collect();
    let lladdr = words
        .iter()
        .position(|w| *w == "lladdr")
        .map(|at| words[at + 1].to_string());
    let state = words.last().map(|s| s.to_string()).unwrap_or_default();
    (lladdr, state)
}

/// The client resolves `addr` to `holder`'s MAC (ARP / ND answered),
/// pinging it to make it try.
fn assert_resolves_to(client: &Host, addr: IpAddr, holder: &Host, context: &dyn Fn() -> String) {
    let expected = mac_of(holder, "eth0");
    assert!(
        wait_until(CONVERGE, || {
            let _ = client.can_reach(addr);
            neighbour_entry(client, addr).0.as_deref() == Some(expected.as_str())
        }),
        "the client does not resolve {addr} to {} ({expected}): {:?}\n{}",
        holder.name(),
        neighbour_entry(client, addr),
        context()
    );
}

/// The agent's own nftables table on `host`, if any.
fn table(host: &Host) -> Option<String> {
    let out = host.exec(&["nft", "list", "table", "inet", TABLE]).unwrap();
    out.success().then_some(out.stdout)
}

fn tables(host: &Host) -> String {
    host.exec_ok(&["nft", "list", "tables"]).unwrap().stdout
}

fn ready(object: &serde_json::Value) -> serde_json::Value {
    object["status"]["conditions"]
        .as_array()
        .and_then(|all| all.iter().find(|c| c["type"] == "Ready"))
        .cloned()
        .unwrap_or_default()
}

#[test]
fn a_master_without_accept_mode_drops_traffic_to_the_vip_but_resolves_it() {
    let lab = two_nodes!(client);
    let (n1, n2, client) = lab.with_client();
    // A table of ours left by an earlier run (dropping n1's own address)
    // goes at start; someone else's table stays.
    n1.exec_ok(NodeCommand::new("nft").args(["-f", "-"]).stdin(format!(
        "table inet {TABLE} {{\n\
               chain prerouting {{\n\
                 type filter hook prerouting priority raw;\n\
                 ip daddr {} drop\n\
               }}\n\
             }}\n\
             table inet bystander {{\n\
               chain input {{\n\
                 type filter hook input priority 0;\n\
                 counter\n\
               }}\n\
             }}\n",
        n1.ipv4(0)
    )))
    .unwrap();
    // Neighbour entries go stale within a second and are then probed by
    // unicast solicitations to the VIP itself, which the master must answer.
    for (key, value) in [
        ("net.ipv6.neigh.eth0.base_reachable_time_ms", "500"),
        ("net.ipv6.neigh.eth0.delay_first_probe_time", "1"),
    ] {
        client
            .exec_ok(&["sysctl", "-w", &format!("{key}={value}")])
            .unwrap();
    }
    let _http = [serve_http(&lab, n1), serve_http(&lab, n2)];
    let addresses = format!("{}/24, {}/64", vip(), vip6());
    let spec = Spec {
        priorities: (110, 100),
        accept: Some(false),
        addresses: &addresses,
        force_backup: None,
    };
    let (a1, a2) = start_agents(&lab, spec, spec);
    let all = || format!("{}\n--- n1 tables\n{}", pair_logs(&a1, &a2), tables(n1));
    assert_sole_holder(n1, n2, Duration::from_secs(1), &all);
    assert!(
        wait_until(CONVERGE, || holds_v6(n1)),
        "n1 never held {}\n{}",
        vip6(),
        all()
    );

    assert_answers(client, n1.ipv4(0), &all);
    assert!(
        tables(n1).contains("table inet bystander"),
        "{}",
        tables(n1)
    );
    assert_refused(client, vip(), &all);
    assert_resolves_to(client, vip().into(), n1, &all);
    assert!(client.reaches_within(n1.ipv6(0), CONVERGE).unwrap());
    assert_refused(client, vip6(), &all);
    assert_resolves_to(client, vip6().into(), n1, &all);
    // Traffic to a reachable entry that ages makes the client probe the
    // VIP by unicast (DELAY, PROBE); answered, the entry is REACHABLE again,
    // unanswered it FAILS. The pings themselves are dropped.
    let mut states: Vec<String> = Vec::new();
    let deadline = Instant::now() + CONVERGE;
    let reprobed = |states: &[String]| {
        states
            .windows(2)
            .any(|w| (w[0] == "DELAY" || w[0] == "PROBE") && w[1] == "REACHABLE")
    };
    while Instant::now() < deadline && !reprobed(&states) && !states.contains(&"FAILED".into()) {
        assert!(
            !client.can_reach(vip6()).unwrap(),
            "{} answered a ping",
            vip6()
        );
        for _ in 0..10 {
            let (_, state) = neighbour_entry(client, vip6().into());
            if states.last() != Some(&state) {
                states.push(state);
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
    assert!(
        reprobed(&states) && !states.contains(&"FAILED".into()),
        "unicast neighbour probes of {} went unanswered: {states:?}\n{}",
        vip6(),
        all()
    );

    // The new master enforces it too.
    lab.node_loss(n1).unwrap();
    assert!(
        wait_until(CONVERGE, || holds(n2)),
        "n2 never took over\n{}",
        all()
    );
    assert_answers(client, n2.ipv4(0), &all);
    assert_resolves_to(client, vip().into(), n2, &all);
    assert_refused(client, vip(), &all);

    lab.node_restore(n1).unwrap();
    assert_sole_holder(n1, n2, Duration::from_millis(500), &all);
    assert_resolves_to(client, vip().into(), n1, &all);
    assert_refused(client, vip(), &all);
    // n2 keeps its table while backup: it filters only what it holds.
    assert_answers(client, n2.ipv4(0), &all);
    assert!(table(n2).is_some_and(|t| t.contains(&vip().to_string())));

    // A clean shutdown takes the table along, and nobody else's.
    a1.process.stop(Duration::from_secs(10)).unwrap();
    assert!(table(n1).is_none(), "{}", tables(n1));
    assert!(
        tables(n1).contains("table inet bystander"),
        "{}",
        tables(n1)
    );
}

#[test]
fn a_table_flushed_by_hand_is_put_back_and_recorded() {
    require_privileges!();
    let _serial = serial();
    let lab = Lab::builder().nodes(1).client(true).build().unwrap();
    let (n1, client) = (lab.node(1), lab.client());
    let _http = serve_http(&lab, n1);
    let addresses = format!("{}/24", vip());
    Spec {
        priorities: (110, 100),
        accept: Some(false),
        addresses: &addresses,
        force_backup: None,
    }
    .write(&lab, n1);
    let agent = Agent::start_with_manifests(&lab, n1);
    let all = || format!("{}\n--- n1 tables\n{}", agent.log(), tables(n1));
    assert!(
        wait_until(CONVERGE, || holds(n1)),
        "n1 never took the VIP\n{}",
        all()
    );
    assert_answers(client, n1.ipv4(0), &all);
    assert_refused(client, vip(), &all);

    // What an operator clearing a host's firewall does.
    n1.exec_ok(&["nft", "flush", "ruleset"]).unwrap();
    assert!(table(n1).is_none(), "{}", tables(n1));
    assert!(
        wait_until(CONVERGE, || table(n1)
            .is_some_and(|t| t.contains(&vip().to_string()))),
        "the table was not put back\n{}",
        all()
    );
    assert_refused(client, vip(), &all);
    let events = String::from_utf8_lossy(&agent.hc(&["events", "vip", "web"]).stdout).into_owned();
    let restored = events
        .lines()
        .find(|line| line.contains("RestoredAcceptFilter"))
        .unwrap_or_else(|| panic!("no RestoredAcceptFilter event:\n{events}"));
    assert!(
        restored.contains("Warning")
            && restored.contains(&format!("drops traffic to {}", vip()))
            && restored.contains("was deleted"),
        "{restored}"
    );
}

#[test]
fn the_owner_accepts_even_without_accept_mode_and_its_backup_does_not() {
    let lab = two_nodes!(client);
    let (n1, n2, client) = lab.with_client();
    let _http = [serve_http(&lab, n1), serve_http(&lab, n2)];
    // n1 owns the address: it is n1's own.
    let owned: IpAddr = n1.ipv4(0).into();
    let addresses = format!("{owned}/24");
    let spec = Spec {
        priorities: (255, 100),
        accept: Some(false),
        addresses: &addresses,
        force_backup: None,
    };
    let (a1, a2) = start_agents(&lab, spec, spec);
    let all = || pair_logs(&a1, &a2);
    assert!(
        wait_until(CONVERGE, || a1.vrrp_state().as_deref() == Some("Master")
            && a2.vrrp_state().as_deref() == Some("Backup")),
        "n1 {:?}, n2 {:?}\n{}",
        a1.vrrp_state(),
        a2.vrrp_state(),
        all()
    );
    assert_answers(client, owned, &all);
    assert!(table(n1).is_none(), "{}", tables(n1));

    // n2 takes the address over without owning it: it drops traffic to it.
    // A backup that took over while a loaded machine held up n1's adverts
    // gives the address back at n1's next one; the takeover below must be
    // the one that announces it.
    assert!(
        wait_until(CONVERGE, || a2.vrrp_state().as_deref() == Some("Backup")
            && !holds_on(n2, "eth0", owned)),
        "n2 {:?}\n{}",
        a2.vrrp_state(),
        all()
    );
    lab.node_loss(n1).unwrap();
    assert!(
        wait_until(CONVERGE, || a2.vrrp_state().as_deref() == Some("Master")),
        "n2 never took over\n{}",
        all()
    );
    assert_answers(client, n2.ipv4(0), &all);
    assert_resolves_to(client, owned, n2, &all);
    assert_refused(client, owned, &all);

    // The owner back advertises from the address n2 now holds, which n2's
    // kernel would drop as a local source: n2 must still hear it and step
    // down, giving the address back.
    lab.node_restore(n1).unwrap();
    assert!(
        wait_until(CONVERGE, || a2.vrrp_state().as_deref() == Some("Backup")
            && !holds_on(n2, "eth0", owned)),
        "n2 never gave the owner's address back: n1 {:?}, n2 {:?}\n{}",
        a1.vrrp_state(),
        a2.vrrp_state(),
        all()
    );
    assert_eq!(a1.vrrp_state().as_deref(), Some("Master"), "{}", all());
    assert_resolves_to(client, owned, n1, &all);
    assert_answers(client, owned, &all);

    // Stopping the owner's agent leaves the node its own address.
    a1.process.stop(Duration::from_secs(10)).unwrap();
    assert!(holds_on(n1, "eth0", owned));
}

#[test]
fn accept_mode_is_the_default_and_a_former_masters_filter_does_not_matter() {
    let lab = two_nodes!(client);
    let (n1, n2, client) = lab.with_client();
    let _http = [serve_http(&lab, n1), serve_http(&lab, n2)];
    let addresses = format!("{}/24", vip());
    let strict = Spec {
        priorities: (110, 100),
        accept: Some(false),
        addresses: &addresses,
        force_backup: None,
    };
    let default = Spec {
        accept: None,
        ..strict
    };
    let (a1, a2) = start_agents(&lab, strict, default);
    let all = || pair_logs(&a1, &a2);
    assert_sole_holder(n1, n2, Duration::from_millis(500), &all);
    assert_answers(client, n1.ipv4(0), &all);
    assert_refused(client, vip(), &all);
    assert!(table(n2).is_none(), "{}", tables(n2));

    // n1 steps down keeping its filter; n2, accepting, answers on the VIP.
    Spec {
        force_backup: Some("n1"),
        ..strict
    }
    .write(&lab, n1);
    assert_sole_holder(n2, n1, Duration::from_millis(500), &all);
    assert!(table(n1).is_some_and(|t| t.contains(&vip().to_string())));
    assert_resolves_to(client, vip().into(), n2, &all);
    assert_answers(client, vip(), &all);

    // Accept mode back on n1 (the default): its filter goes, and it
    // answers on the VIP once it preempts.
    default.write(&lab, n1);
    assert!(
        wait_until(CONVERGE, || table(n1).is_none()),
        "{}\n{}",
        tables(n1),
        all()
    );
    assert_sole_holder(n1, n2, Duration::from_millis(500), &all);
    assert_resolves_to(client, vip().into(), n1, &all);
    assert_answers(client, vip(), &all);
}

#[test]
fn without_nft_a_virtual_ip_without_accept_mode_says_why_and_the_others_run() {
    require_privileges!();
    let _serial = serial();
    let lab = Lab::builder().nodes(1).build().unwrap();
    let n1 = lab.node(1);
    let manifest = format!(
            "apiVersion: hareconcile.io/v1alpha1\n\
             kind: Cluster\n\
             metadata: {{name: lab}}\n\
             spec: {{nodes: [{{name: n1, address: {n1}}}], vrrp: {{advertInterval: 100ms}}}}\n\
             ---\n\
             apiVersion: hareconcile.io/v1alpha1\n\
             kind: VirtualIP\n\
             metadata: {{name: strict}}\n\
             spec: {{cluster: lab, interface: eth0, vrid: 51, addresses: [{strict}/24], accept: false}}\n\
             ---\n\
             apiVersion: hareconcile.io/v1alpha1\n\
             kind: VirtualIP\n\
             metadata: {{name: web}}\n\
             spec: {{cluster: lab, interface: eth0, vrid: 52, addresses: [{web}/24]}}\n",
            n1 = n1.ipv4(0),
            strict = ipv4(0, 101),
            web = vip(),
        );
    // A PATH without /usr/sbin, where nft lives.
    assert!(Path::new("/usr/sbin/nft").exists());
    let agent = Agent::command(&lab, n1)
        .manifest(&manifest)
        .args(["--resync", "2s"])
        .env("PATH", "/usr/bin:/bin")
        .start();
    let strict = || ready(&agent.object("vip", "strict"));
    let web_state = || agent.vip_status("web").state();
    assert!(
        wait_until(CONVERGE, || strict()["reason"] == "AcceptModeUnenforceable"
            && web_state() == Some(VrrpState::Master)),
        "strict: {}, web: {:?}\n{}",
        strict(),
        web_state(),
        agent.log()
    );
    let message = strict()["message"].as_str().unwrap_or_default().to_string();
    assert!(
        message.contains("accept: false needs nftables' `nft`")
            && message.contains("install nftables or set accept: true"),
        "{message}"
    );
    assert_eq!(strict()["status"], "False");
    assert!(holds(n1), "the accepting VirtualIP's address is missing");
    let on_eth0 = n1
        .exec_ok(&["ip", "-o", "-4", "address", "show", "dev", "eth0"])
        .unwrap()
        .stdout;
    assert!(
        !on_eth0.contains(&format!("inet {}/", ipv4(0, 101))),
        "the VIP came up unfiltered: {on_eth0}"
    );
}
