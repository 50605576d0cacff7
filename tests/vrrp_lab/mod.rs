//! What the VRRP lab tests share: hareconcile agents (and keepalived) in
//! lab nodes, the manifests they run, and sampling who holds the VIP.
//!
//! Timing figures are printed, never asserted: deadlines are generous and
//! only bound how long a broken build takes to fail.

#![allow(dead_code)] // each test file uses a different part of this

pub use std::net::{Ipv4Addr, Ipv6Addr};
pub use std::path::{Path, PathBuf};
use std::sync::Mutex;
pub use std::time::{Duration, Instant};

pub use hareconcile_lab::{
    ipv4, ipv6, require_privileges, Dockerd, Host, Lab, Process, VrrpInstance,
};

use hareconcile_test_support as support;

#[allow(unused_imports)] // for the test files: not all of them write manifests
pub use support::lab_manifests::{
    cluster_manifest, document, peer_line, peer_token_file, ssh_manifest, vip, web_vip_manifest,
    VIP_NUMBER, VRID,
};
pub use support::LabAgent as Agent;
#[allow(unused_imports)] // not every test file waits
pub use support::{eventually, wait_until};
/// Generous: elections here take well under a second at 100 ms adverts.
pub const CONVERGE: Duration = Duration::from_secs(10);

/// Lab tests of this file run one at a time: 100 ms adverts on a 2-core
/// machine should not compete with another lab's agents.
pub static SERIAL: Mutex<()> = Mutex::new(());

pub fn serial() -> std::sync::MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}

/// The lab most scenarios open with: two nodes on one LAN (and a client
/// with [`two_nodes!`]`(client)`), held for this test alone ([`serial`])
/// until it [shares the machine](TwoNodes::share_the_machine). Dropping
/// it removes the lab, then lets the next test run.
pub struct TwoNodes {
    lab: Lab,
    serial: std::cell::RefCell<Option<std::sync::MutexGuard<'static, ()>>>,
}

impl TwoNodes {
    /// Use [`two_nodes!`], which first skips the test without privileges.
    pub fn build(client: bool) -> TwoNodes {
        let serial = serial();
        let lab = Lab::builder().nodes(2).client(client).build().unwrap();
        TwoNodes {
            lab,
            serial: std::cell::RefCell::new(Some(serial)),
        }
    }

    /// Lets the next lab test start beside this one, for a scenario's
    /// long quiet end (a minute without a flap), which then also shows
    /// that another lab's elections and failovers on the same machine do
    /// not make it flap. Serial, the quiet minutes of the keepalived
    /// interop scenarios were three of vrrp_failover's five minutes.
    pub fn share_the_machine(&self) {
        self.serial.borrow_mut().take();
    }

    /// n1 and n2.
    pub fn pair(&self) -> (&Host, &Host) {
        (self.lab.node(1), self.lab.node(2))
    }

    /// n1, n2 and the client.
    pub fn with_client(&self) -> (&Host, &Host, &Host) {
        (self.lab.node(1), self.lab.node(2), self.lab.client())
    }
}

impl std::ops::Deref for TwoNodes {
    type Target = Lab;

    fn deref(&self) -> &Lab {
        &self.lab
    }
}

/// `two_nodes!()`, `two_nodes!(client)`: skips the test without the
/// privileges a lab needs, else builds a [`TwoNodes`].
macro_rules! two_nodes {
    () => {{
        require_privileges!();
        TwoNodes::build(false)
    }};
    (client) => {{
        require_privileges!();
        TwoNodes::build(true)
    }};
}
pub(crate) use two_nodes;

pub fn vip6() -> Ipv6Addr {
    ipv6(0, VIP_NUMBER)
}

/// What differs between the interop scenarios.
#[derive(Clone, Copy)]
pub struct Vrrp {
    pub version: u8,
    /// Seconds for version 2, which only speaks whole seconds.
    pub advert: Duration,
    pub password: Option<&'static str>,
    pub unicast: bool,
    /// Whether the VirtualIP also floats an IPv6 address (its own instance).
    pub ipv6: bool,
    /// An interface for `track.interfaces`.
    pub track: Option<&'static str>,
    /// A node for `control.forceBackup`.
    pub force_backup: Option<&'static str>,
    /// `garp.refresh`: announce the VIP again this often while master.
    pub garp_refresh: Option<&'static str>,
    /// `virtualMac`: the VIPs live on a macvlan with the virtual router MAC.
    pub virtual_mac: bool,
}

pub const V3_MULTICAST: Vrrp = Vrrp {
    version: 3,
    advert: Duration::from_millis(100),
    password: None,
    unicast: false,
    ipv6: false,
    track: None,
    force_backup: None,
    garp_refresh: None,
    virtual_mac: false,
};

/// Variants of a setting, for a scenario's opening line:
/// `V3_MULTICAST.every(Duration::from_secs(1))`.
impl Vrrp {
    pub fn every(self, advert: Duration) -> Vrrp {
        Vrrp { advert, ..self }
    }

    pub fn with_ipv6(self) -> Vrrp {
        Vrrp { ipv6: true, ..self }
    }

    pub fn unicast(self) -> Vrrp {
        Vrrp {
            unicast: true,
            ..self
        }
    }
}

/// The Cluster and VirtualIP every agent of a lab applies, `priorities`
/// giving n1's and n2's.
pub fn write_manifests(dir: &Path, vrrp: Vrrp, priorities: (u8, u8)) {
    std::fs::create_dir_all(dir).unwrap();
    let auth = match vrrp.password {
        Some(password) => {
            // Outside the manifests directory: it is not a manifest.
            let file = dir.parent().unwrap().join("vrrp.pass");
            support::write_secret(&file, &format!("{password}\n"));
            format!("auth: {{type: pass, passwordFile: {}}}", file.display())
        }
        None => "auth: {type: none}".to_string(),
    };
    let transport = if vrrp.unicast { "unicast" } else { "multicast" };
    // Each transition appends the new state to notify.log beside the
    // manifests, through a script given relative to the manifest.
    let hook = dir.join("hooks/notify.sh");
    std::fs::create_dir_all(hook.parent().unwrap()).unwrap();
    hareconcile_runtime::testing::write_executable(
        &hook,
        &format!(
            "#!/bin/sh\necho \"$HARECONCILE_STATE\" >> {}\n",
            dir.parent().unwrap().join("notify.log").display()
        ),
    );
    let manifest = format!(
        "apiVersion: hareconcile.io/v1alpha1\n\
         kind: Cluster\n\
         metadata: {{name: lab}}\n\
         spec:\n  \
           nodes:\n    \
             - {{name: n1, address: {n1}, priority: {p1}}}\n    \
             - {{name: n2, address: {n2}, priority: {p2}}}\n  \
           vrrp: {{version: {version}, advertInterval: {advert}ms, transport: {transport}, {auth}}}\n\
         ---\n\
         apiVersion: hareconcile.io/v1alpha1\n\
         kind: VirtualIP\n\
         metadata: {{name: web}}\n\
         spec: {{cluster: lab, interface: eth0, vrid: {VRID}, addresses: [{addresses}], \
                 track: {{interfaces: [{track}]}}, control: {{forceBackup: [{force_backup}]}}, \
                 notify: {{master: [hooks/notify.sh], backup: [hooks/notify.sh]}}, \
                 virtualMac: {virtual_mac}{garp}}}\n",
        n1 = ipv4(0, 1),
        n2 = ipv4(0, 2),
        p1 = priorities.0,
        p2 = priorities.1,
        version = vrrp.version,
        advert = vrrp.advert.as_millis(),
        track = vrrp.track.unwrap_or_default(),
        force_backup = vrrp.force_backup.unwrap_or_default(),
        virtual_mac = vrrp.virtual_mac,
        garp = vrrp
            .garp_refresh
            .map(|every| format!(", garp: {{refresh: {every}}}"))
            .unwrap_or_default(),
        addresses = if vrrp.ipv6 {
            format!("{}/24, {}/64", vip(), vip6())
        } else {
            format!("{}/24", vip())
        },
    );
    std::fs::write(dir.join("lab.yaml"), manifest).unwrap();
}

/// Service `shop`: the compose file `stack` active-passive on the master
/// of `web`, healthy once its port 8080 answers twice in a row; a
/// document to follow another.
pub fn shop_manifest(stack: &Path) -> String {
    document(
        "Service",
        "shop",
        &format!(
            "cluster: lab, followVirtualIP: web, mode: active-passive, \
             compose: {{file: {stack}, project: shop}}, \
             health: {{tcp: [\"127.0.0.1:8080\"], interval: 500ms, rise: 2}}",
            stack = stack.display(),
        ),
    )
}

/// The VRRP tests' agents: the shared lab agent, started on
/// [`write_manifests`]'s and asked about VirtualIP `web`.
pub trait VrrpAgent: Sized {
    fn start(lab: &Lab, host: &Host, vrrp: Vrrp, priorities: (u8, u8)) -> Self;
    /// Starts the agent on the manifests already in its directory.
    fn start_with_manifests(lab: &Lab, host: &Host) -> Self;
    /// As [`VrrpAgent::start_with_manifests`], with more agent arguments.
    fn start_with(lab: &Lab, host: &Host, extra: &[&str]) -> Self;
    /// This agent's status of the VirtualIP.
    fn status(&self) -> serde_json::Value;
    fn vrrp_state(&self) -> Option<String>;
    /// The states the notify hook was run for, in order.
    fn notified(&self) -> Vec<String>;
    /// Rewrites the agent's manifests; its directory watcher applies them.
    fn reconfigure(&self, vrrp: Vrrp, priorities: (u8, u8));
}

impl VrrpAgent for Agent {
    fn start(lab: &Lab, host: &Host, vrrp: Vrrp, priorities: (u8, u8)) -> Agent {
        write_manifests(&Agent::manifests_of(lab, host), vrrp, priorities);
        Agent::start_with_manifests(lab, host)
    }

    fn start_with_manifests(lab: &Lab, host: &Host) -> Agent {
        Agent::start_with(lab, host, &[])
    }

    fn start_with(lab: &Lab, host: &Host, extra: &[&str]) -> Agent {
        Agent::command(lab, host)
            .own_manifests()
            .args(["--resync", "2s"])
            .args(extra)
            .env("HARECONCILE_LOG", "info,hareconcile_vrrp=debug")
            .start()
    }

    fn status(&self) -> serde_json::Value {
        self.object("vip", "web")["status"].clone()
    }

    fn vrrp_state(&self) -> Option<String> {
        self.vip_status("web").state().map(|s| s.to_string())
    }

    fn notified(&self) -> Vec<String> {
        support::read_lines(&self.dir.join("notify.log"))
    }

    fn reconfigure(&self, vrrp: Vrrp, priorities: (u8, u8)) {
        write_manifests(&self.dir.join("manifests"), vrrp, priorities);
    }
}

/// n1's and n2's agents on the same settings, n1 at priority 110 and n2
/// at 100.
pub fn start_pair(lab: &Lab, vrrp: Vrrp) -> (Agent, Agent) {
    (
        Agent::start(lab, lab.node(1), vrrp, (110, 100)),
        Agent::start(lab, lab.node(2), vrrp, (110, 100)),
    )
}

/// Both agents' logs, for failure messages.
pub fn pair_logs(a1: &Agent, a2: &Agent) -> String {
    logs(&[("n1", &a1.process), ("n2", &a2.process)])
}

/// The scenario most tests open with: a [`TwoNodes`] lab whose nodes'
/// agents run the same settings ([`start_pair`]). Fields drop in order:
/// the agents before the lab.
pub struct Pair {
    pub a1: Agent,
    pub a2: Agent,
    pub lab: TwoNodes,
}

impl Pair {
    /// `lab`: [`two_nodes!`], which skips the test without privileges.
    pub fn start(lab: TwoNodes, vrrp: Vrrp) -> Pair {
        let (a1, a2) = start_pair(&lab, vrrp);
        Pair { a1, a2, lab }
    }

    /// Both agents' logs, for failure messages.
    pub fn logs(&self) -> String {
        pair_logs(&self.a1, &self.a2)
    }

    /// Waits until `done` holds; fails with `what` and both agents' logs.
    pub fn eventually(&self, what: &str, done: impl FnMut() -> bool) {
        eventually(CONVERGE, what, &|| self.logs(), done);
    }

    /// [`assert_sole_holder`] with both agents' logs.
    pub fn assert_sole_holder(&self, holder: &Host, other: &Host, period: Duration) {
        assert_sole_holder(holder, other, period, &|| self.logs());
    }
}

/// keepalived as n2 on `theirs`, then our agent as n1 on `ours`;
/// `priorities` are n1's and n2's (keepalived's is the second).
pub fn start_against_keepalived(
    lab: &Lab,
    ours: Vrrp,
    theirs: Vrrp,
    priorities: (u8, u8),
) -> (Agent, Process) {
    let (n1, n2) = (lab.node(1), lab.node(2));
    let keepalived = start_keepalived(lab, n2, theirs, priorities.1, n1.ipv4(0));
    (Agent::start(lab, n1, ours, priorities), keepalived)
}

/// Our agent's and keepalived's logs, for failure messages.
pub fn interop_logs(agent: &Agent, keepalived: &Process) -> String {
    logs(&[
        ("hareconcile n1", &agent.process),
        ("keepalived n2", keepalived),
    ])
}

/// Waits until keepalived is the master (`keepalived_holds`) and our
/// `agent` its backup, as they settle after starting together.
pub fn await_keepalived_master(
    agent: &Agent,
    keepalived_holds: impl FnMut() -> bool,
    logs: &dyn Fn() -> String,
) {
    eventually(
        CONVERGE,
        "keepalived never became master",
        logs,
        keepalived_holds,
    );
    assert!(
        wait_until(CONVERGE, || agent.vrrp_state().as_deref() == Some("Backup")),
        "hareconcile is not backup: {:?}\n{}",
        agent.vrrp_state(),
        logs()
    );
}

/// A keepalived running as the other node of the lab.
pub fn start_keepalived(
    lab: &Lab,
    host: &Host,
    vrrp: Vrrp,
    priority: u8,
    peer: Ipv4Addr,
) -> Process {
    let instance = keepalived_instance(vrrp, priority, peer);
    hareconcile_lab::start_keepalived(lab, host, vrrp.version, &[instance]).unwrap()
}

/// keepalived's instance of the lab's virtual router, speaking `vrrp` at
/// `priority` (to `peer` when unicast).
pub fn keepalived_instance(vrrp: Vrrp, priority: u8, peer: Ipv4Addr) -> VrrpInstance {
    let mut instance = VrrpInstance::new(VRID, priority, vrrp.advert, format!("{}/24", vip()));
    instance.password = vrrp.password.map(str::to_string);
    instance.use_vmac = vrrp.virtual_mac;
    if vrrp.unicast {
        instance.unicast_peers = vec![peer.into()];
    }
    instance
}

pub fn holds(host: &Host) -> bool {
    holds_on(host, "eth0", vip())
}

pub fn holds_v6(host: &Host) -> bool {
    holds_on(host, "eth0", vip6())
}

/// Whether `address` is configured on `dev` of `host` (false when there
/// is no such interface).
pub fn holds_on(host: &Host, dev: &str, address: impl Into<std::net::IpAddr>) -> bool {
    let address = address.into();
    let (family, inet) = if address.is_ipv4() {
        ("-4", "inet")
    } else {
        ("-6", "inet6")
    };
    host.exec(&["ip", "-o", family, "address", "show", "dev", dev])
        .map(|out| out.stdout.contains(&format!("{inet} {address}/")))
        .unwrap_or(false)
}

/// The MAC address of `dev` on `host`.
pub fn mac_of(host: &Host, dev: &str) -> String {
    let link = host.exec_ok(&["ip", "-o", "link", "show", dev]).unwrap();
    link.stdout
        .split_whitespace()
        .skip_while(|word| *word != "link/ether")
        .nth(1)
        .unwrap()
        .to_string()
}

/// The `host`'s neighbour entry for `address` on eth0 ("" if none).
pub fn neighbour(host: &Host, address: impl Into<std::net::IpAddr>) -> String {
    let address = address.into().to_string();
    host.exec_ok(&["ip", "neigh", "show", &address, "dev", "eth0"])
        .unwrap()
        .stdout
}

/// Waits until `holder` holds the VIP and `other` does not (two nodes
/// starting together may both be master for an advert interval, as with any
/// VRRP), then samples both for `period`: it must stay that way.
pub fn assert_sole_holder(
    holder: &Host,
    other: &Host,
    period: Duration,
    logs: &dyn Fn() -> String,
) {
    let settled = || holds(holder) && !holds(other);
    assert!(
        wait_until(CONVERGE, settled),
        "{} never became the only holder\n{}",
        holder.name(),
        logs()
    );
    // Convergence is the end of the start-up election, not its first
    // quiet moment: sync-group members starting together have been seen
    // to flap once more within ~50 ms (see the VRRP issue's notes).
    std::thread::sleep(Duration::from_millis(500));
    assert!(
        wait_until(CONVERGE, settled),
        "{} did not stay the only holder\n{}",
        holder.name(),
        logs()
    );
    let deadline = Instant::now() + period;
    while Instant::now() < deadline {
        let (a, b) = (holds(holder), holds(other));
        assert!(
            a && !b,
            "{} holds: {a}, {} holds: {b}\n{}",
            holder.name(),
            other.name(),
            logs()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

pub fn logs(processes: &[(&str, &Process)]) -> String {
    processes
        .iter()
        .map(|(name, p)| format!("--- {name}\n{}", p.log()))
        .collect::<Vec<_>>()
        .join("\n")
}

/// A dockerd on n1 and on n2, then their agents, each on its dockerd and
/// on the manifest `manifest` writes for it; stop them with
/// [`stop_docker_lab`].
pub fn start_on_docker(
    lab: &Lab,
    manifest: impl Fn(&Host, &Dockerd) -> String,
) -> (Vec<Agent>, Vec<Dockerd>) {
    let dockerds = lab.start_dockerds().unwrap();
    let agents = lab
        .nodes()
        .iter()
        .zip(&dockerds)
        .map(|(host, dockerd)| {
            Agent::write_manifest(lab, host, &manifest(host, dockerd));
            Agent::start_with(lab, host, &["--docker-host", dockerd.uri()])
        })
        .collect();
    (agents, dockerds)
}

/// Stops the agents first, so none restarts a container behind the
/// dockerds' backs, then the dockerds.
pub fn stop_docker_lab(agents: Vec<Agent>, dockerds: Vec<Dockerd>) {
    drop(agents);
    for dockerd in dockerds {
        dockerd.stop().unwrap();
    }
}

/// Writes this node's one-service busybox stack (web, httpd on 8080) and
/// returns its compose file.
pub fn write_web_stack(lab: &Lab, host: &Host, dockerd: &Dockerd) -> PathBuf {
    let image = hareconcile_lab::busybox_image(dockerd.uri()).unwrap();
    let stack = lab.dir().join(format!("stack-{}.yaml", host.name()));
    std::fs::write(
        &stack,
        format!(
            "services:\n  web:\n    image: {image}\n    command: httpd -f -p 8080 -h /www\n    \
             ports: [\"8080:8080\"]\n    init: true\n    stop_grace_period: 1s\n"
        ),
    )
    .unwrap();
    stack
}

/// Whether the web stack's container runs on this node's daemon.
pub fn runs(dockerd: &Dockerd) -> bool {
    dockerd
        .docker(&["ps", "--filter", "status=running", "--format", "{{.Names}}"])
        .map(|out| out.stdout.lines().any(|name| name.contains("web")))
        .unwrap_or(false)
}

/// A command's exit code and output, for failure messages.
pub fn text(out: &std::process::Output) -> String {
    format!(
        "exit {:?}\n{}{}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// Asserts from `agent`'s events of VirtualIP `web` that it held its
/// takeover (make-before-break) and took the VIP only once the Services
/// following it were Ready there.
pub fn assert_held_until_services_ready(agent: &Agent) {
    let events = agent.events(&["vip", "web"]);
    let holding = events.find("HoldingPreemption");
    let proceeding = events.find("PreemptingAfterServicesReady");
    assert!(
        holding.is_some() && proceeding.is_some() && holding < proceeding,
        "{} did not hold its takeover until its stack was ready:\n{events}",
        agent.name
    );
}

/// Starts the agent of `host` and applies `manifest` through it: applied
/// by the CLI (manager cli), not loaded from --manifests, since a
/// switchover edits the spec, which a files manager would undo. Each node
/// applies its own (`--local`): its stack's compose file has a path of its
/// own, and the other agent may not run yet.
pub fn start_applied(lab: &Lab, host: &Host, dockerd: &Dockerd, manifest: &str) -> Agent {
    let agent = Agent::start_with(lab, host, &["--docker-host", dockerd.uri()]);
    let applied = agent.dir.join("lab.yaml");
    std::fs::write(&applied, manifest).unwrap();
    let apply = || agent.hc(&["apply", "--local", "-f", applied.to_str().unwrap()]);
    assert!(
        wait_until(Duration::from_secs(60), || apply().status.success()),
        "apply on {} failed: {}",
        host.name(),
        text(&apply())
    );
    agent
}
