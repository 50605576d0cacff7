//! The VRRP shell on a real (namespace) LAN: hareconcile agents elect a
//! master, move the VIP on node loss, preempt back, hand over on SIGTERM,
//! restore a VIP deleted by hand, and interoperate with Debian's keepalived.
//!
//! Timing figures are printed, never asserted: deadlines are generous and
//! only bound how long a broken build takes to fail.

use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use hareconcile_lab::{ipv4, require_privileges, Host, Lab, NodeCommand, Process};

const BIN: &str = env!("CARGO_BIN_EXE_hareconcile");
const VIP_NUMBER: u8 = 100;
const VRID: u8 = 51;
/// Generous: elections here take well under a second at 100 ms adverts.
const CONVERGE: Duration = Duration::from_secs(10);

/// Lab tests of this file run one at a time: 100 ms adverts on a 2-core
/// machine should not compete with another lab's agents.
static SERIAL: Mutex<()> = Mutex::new(());

fn serial() -> std::sync::MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}

fn vip() -> Ipv4Addr {
    ipv4(0, VIP_NUMBER)
}

/// What differs between the interop scenarios.
#[derive(Clone, Copy)]
struct Vrrp {
    version: u8,
    /// Seconds for version 2, which only speaks whole seconds.
    advert: Duration,
    password: Option<&'static str>,
    unicast: bool,
}

const V3_MULTICAST: Vrrp = Vrrp {
    version: 3,
    advert: Duration::from_millis(100),
    password: None,
    unicast: false,
};

/// The Cluster and VirtualIP every agent of a lab applies, `priorities`
/// giving n1's and n2's.
fn write_manifests(dir: &Path, vrrp: Vrrp, priorities: (u8, u8)) {
    std::fs::create_dir_all(dir).unwrap();
    let auth = match vrrp.password {
        Some(password) => {
            std::fs::write(dir.join("vrrp.pass"), format!("{password}\n")).unwrap();
            "auth: {type: pass, passwordFile: vrrp.pass}".to_string()
        }
        None => "auth: {type: none}".to_string(),
    };
    let transport = if vrrp.unicast { "unicast" } else { "multicast" };
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
         spec: {{cluster: lab, interface: eth0, vrid: {VRID}, addresses: [{vip}/24]}}\n",
        n1 = ipv4(0, 1),
        n2 = ipv4(0, 2),
        p1 = priorities.0,
        p2 = priorities.1,
        version = vrrp.version,
        advert = vrrp.advert.as_millis(),
        vip = vip(),
    );
    std::fs::write(dir.join("lab.yaml"), manifest).unwrap();
}

/// A hareconcile agent running as `node` in its lab namespace.
struct Agent {
    process: Process,
    socket: PathBuf,
}

impl Agent {
    fn start(lab: &Lab, host: &Host, vrrp: Vrrp, priorities: (u8, u8)) -> Agent {
        let dir = lab.dir().join(format!("agent-{}", host.name()));
        let manifests = dir.join("manifests");
        write_manifests(&manifests, vrrp, priorities);
        let socket = dir.join("agent.sock");
        let process = host
            .spawn(
                NodeCommand::new(BIN)
                    .args(["agent", "--node", host.name(), "--resync", "2s"])
                    .arg("--state-dir")
                    .arg(dir.join("state"))
                    .arg("--manifests")
                    .arg(&manifests)
                    .arg("--socket")
                    .arg(&socket)
                    .env("HARECONCILE_LOG", "info,hareconcile_vrrp=debug"),
            )
            .unwrap();
        Agent { process, socket }
    }

    /// `state` from this agent's status of the VirtualIP.
    fn vrrp_state(&self) -> Option<String> {
        let out = std::process::Command::new(BIN)
            .args(["get", "vip", "web", "-o", "json"])
            .env("HARECONCILE_SOCKET", &self.socket)
            .output()
            .ok()?;
        let object: serde_json::Value = serde_json::from_slice(&out.stdout).ok()?;
        object["status"]["state"].as_str().map(str::to_string)
    }
}

fn holds(host: &Host) -> bool {
    let out = host
        .exec_ok(&["ip", "-o", "-4", "address", "show", "dev", "eth0"])
        .unwrap();
    out.stdout.contains(&format!("inet {}/", vip()))
}

fn wait_until(timeout: Duration, mut done: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    while !done() {
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    true
}

/// Samples both nodes for `period`: exactly one must hold the VIP each time.
fn assert_single_holder(n1: &Host, n2: &Host, period: Duration, logs: &dyn Fn() -> String) {
    let deadline = Instant::now() + period;
    while Instant::now() < deadline {
        let (a, b) = (holds(n1), holds(n2));
        assert!(a != b, "n1 holds: {a}, n2 holds: {b}\n{}", logs());
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn logs(processes: &[(&str, &Process)]) -> String {
    processes
        .iter()
        .map(|(name, p)| format!("--- {name}\n{}", p.log()))
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn agents_elect_fail_over_on_node_loss_and_preempt_back() {
    require_privileges!();
    let _serial = serial();
    let lab = Lab::builder().nodes(2).client(true).build().unwrap();
    let (n1, n2, client) = (lab.node(1), lab.node(2), lab.client());
    let a1 = Agent::start(&lab, n1, V3_MULTICAST, (110, 100));
    let a2 = Agent::start(&lab, n2, V3_MULTICAST, (110, 100));
    let all = || logs(&[("n1", &a1.process), ("n2", &a2.process)]);

    assert!(
        wait_until(CONVERGE, || holds(n1)),
        "n1 never became master\n{}",
        all()
    );
    assert_single_holder(n1, n2, Duration::from_secs(1), &all);
    assert!(client.reaches_within(vip(), CONVERGE).unwrap());
    assert!(
        wait_until(CONVERGE, || a1.vrrp_state().as_deref() == Some("Master")
            && a2.vrrp_state().as_deref() == Some("Backup")),
        "status: n1 {:?}, n2 {:?}",
        a1.vrrp_state(),
        a2.vrrp_state()
    );

    lab.node_loss(n1).unwrap();
    let lost = Instant::now();
    assert!(
        wait_until(CONVERGE, || holds(n2)),
        "n2 never took over\n{}",
        all()
    );
    println!("node loss: n2 holds the VIP after {:?}", lost.elapsed());
    assert!(client.reaches_within(vip(), CONVERGE).unwrap());

    lab.node_restore(n1).unwrap();
    assert!(
        wait_until(CONVERGE, || holds(n1) && !holds(n2)),
        "n1 did not preempt back\n{}",
        all()
    );
    assert_single_holder(n1, n2, Duration::from_secs(2), &all);
    assert!(client.reaches_within(vip(), CONVERGE).unwrap());
}
