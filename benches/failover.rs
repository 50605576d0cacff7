//! Client-observed outage when the master node is lost: hareconcile vs
//! Debian's keepalived, same lab, same VRRP settings (DESIGN.md, standard
//! benchmark conditions). Prints a Markdown table for docs/PERFORMANCE.md.
//!
//!   cargo bench --bench failover            # 5 alternating runs per setting
//!   RUNS=9 cargo bench --bench failover
//!
//! Two nodes (priority 110 and 100) and a client on the lab LAN; each node
//! runs busybox httpd on :8080; the client fetches http://VIP:8080/ every
//! 10 ms from a thread inside its namespace; node loss detaches n1's veth
//! from the bridge. The figure is the longest window with no answer.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::os::fd::AsRawFd;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use hareconcile_lab::{ipv4, Host, Lab, NodeCommand, Process, VrrpInstance};

const VRID: u8 = 51;
const PORT: u16 = 8080;

#[derive(Clone, Copy, Debug, PartialEq)]
enum Speaker {
    Hareconcile,
    Keepalived,
}

fn vip() -> std::net::Ipv4Addr {
    ipv4(0, 100)
}

fn start_hareconcile(lab: &Lab, host: &Host, advert: Duration) -> Process {
    let dir = lab.dir().join(format!("hc-{}", host.name()));
    let manifests = dir.join("manifests");
    std::fs::create_dir_all(&manifests).unwrap();
    std::fs::write(
        manifests.join("lab.yaml"),
        format!(
            "apiVersion: hareconcile.io/v1alpha1\nkind: Cluster\nmetadata: {{name: lab}}\nspec:\n  nodes:\n    - {{name: n1, address: {n1}, priority: 110}}\n    - {{name: n2, address: {n2}, priority: 100}}\n  vrrp: {{version: 3, advertInterval: {ms}ms}}\n---\napiVersion: hareconcile.io/v1alpha1\nkind: VirtualIP\nmetadata: {{name: web}}\nspec: {{cluster: lab, interface: eth0, vrid: {VRID}, addresses: [{vip}/24]}}\n",
            n1 = ipv4(0, 1),
            n2 = ipv4(0, 2),
            ms = advert.as_millis(),
            vip = vip(),
        ),
    )
    .unwrap();
    host.spawn(
        NodeCommand::new(env!("CARGO_BIN_EXE_hareconcile"))
            .args(["agent", "--node", host.name()])
            .arg("--state-dir")
            .arg(dir.join("state"))
            .arg("--manifests")
            .arg(&manifests)
            .arg("--socket")
            .arg(dir.join("agent.sock")),
    )
    .unwrap()
}

fn start_keepalived(lab: &Lab, host: &Host, advert: Duration, priority: u8) -> Process {
    let instance = VrrpInstance::new(VRID, priority, advert, format!("{}/24", vip()));
    hareconcile_lab::start_keepalived(lab, host, 3, &[instance]).unwrap()
}

/// One HTTP GET with short timeouts; true when an answer came back.
fn fetch(target: SocketAddr) -> bool {
    let Ok(mut stream) = TcpStream::connect_timeout(&target, Duration::from_millis(50)) else {
        return false;
    };
    let _ = stream.set_read_timeout(Some(Duration::from_millis(100)));
    if stream.write_all(b"GET / HTTP/1.0\r\n\r\n").is_err() {
        return false;
    }
    let mut head = [0u8; 12];
    matches!(stream.read(&mut head), Ok(n) if n >= 5 && head.starts_with(b"HTTP/"))
}

/// Probes from a thread that joined the client's network namespace until
/// `stop`; returns the completion time of every successful fetch.
fn probe(netns: &Path, stop: Arc<AtomicBool>) -> std::thread::JoinHandle<Vec<Instant>> {
    let netns = std::fs::File::open(netns).expect("client namespace");
    std::thread::spawn(move || {
        // setns only moves this thread: the rest of the bench stays put.
        let joined = unsafe { libc::setns(netns.as_raw_fd(), libc::CLONE_NEWNET) };
        assert_eq!(joined, 0, "setns: {}", std::io::Error::last_os_error());
        let target = SocketAddr::from((vip(), PORT));
        let mut answers = Vec::new();
        while !stop.load(Ordering::Relaxed) {
            let started = Instant::now();
            if fetch(target) {
                answers.push(Instant::now());
            }
            if let Some(rest) = Duration::from_millis(10).checked_sub(started.elapsed()) {
                std::thread::sleep(rest);
            }
        }
        answers
    })
}

fn wait_until(timeout: Duration, mut done: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    while !done() {
        if Instant::now() > deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    true
}

fn holds_vip(host: &Host) -> bool {
    host.exec(&["ip", "-o", "-4", "addr", "show", "dev", "eth0"])
        .map(|o| o.stdout.contains(&format!(" {}/", vip())))
        .unwrap_or(false)
}

/// One failover; the longest window without an answer.
fn outage(speaker: Speaker, advert: Duration) -> Duration {
    let lab = Lab::builder()
        .nodes(2)
        .client(true)
        .build()
        .expect("lab (run as root)");
    let www = lab.dir().join("www");
    std::fs::create_dir_all(&www).unwrap();
    std::fs::write(www.join("index.html"), "ok\n").unwrap();
    let mut processes = Vec::new();
    for (i, priority) in [(1, 110), (2, 100)] {
        let host = lab.node(i);
        processes.push(
            host.spawn(
                NodeCommand::new("busybox")
                    .args(["httpd", "-f", "-p", &PORT.to_string(), "-h"])
                    .arg(&www),
            )
            .unwrap(),
        );
        processes.push(match speaker {
            Speaker::Hareconcile => start_hareconcile(&lab, host, advert),
            Speaker::Keepalived => start_keepalived(&lab, host, advert, priority),
        });
    }
    let (n1, n2) = (lab.node(1), lab.node(2));
    let converged = wait_until(Duration::from_secs(30), || holds_vip(n1) && !holds_vip(n2));
    assert!(converged, "{speaker:?}: n1 never became the only master");
    // Let the client learn the VIP's MAC and the backup settle.
    std::thread::sleep(Duration::from_secs(1));

    let stop = Arc::new(AtomicBool::new(false));
    let prober = probe(&lab.client().netns_path(), Arc::clone(&stop));
    std::thread::sleep(Duration::from_millis(500));
    let lost_at = Instant::now();
    lab.node_loss(n1).unwrap();
    let recovered = wait_until(Duration::from_secs(20), || holds_vip(n2));
    assert!(recovered, "{speaker:?}: n2 never took over");
    // Enough for the client to be answered again, then a margin.
    std::thread::sleep(Duration::from_secs(2) + advert * 4);
    stop.store(true, Ordering::Relaxed);
    let answers = prober.join().unwrap();
    let before: Vec<&Instant> = answers.iter().filter(|t| **t <= lost_at).collect();
    assert!(
        !before.is_empty(),
        "{speaker:?}: the client was not answered before the loss"
    );
    let worst = answers
        .windows(2)
        .map(|w| w[1] - w[0])
        .max()
        .unwrap_or_default();
    assert!(
        answers.last().is_some_and(|t| *t > lost_at),
        "{speaker:?}: the client was never answered after the loss"
    );
    drop(processes);
    worst
}

fn median(mut samples: Vec<Duration>) -> Duration {
    samples.sort();
    samples[samples.len() / 2]
}

fn main() {
    if !std::env::args().any(|a| a == "--bench") {
        return;
    }
    let runs: usize = std::env::var("RUNS")
        .ok()
        .and_then(|r| r.parse().ok())
        .unwrap_or(5);
    println!("| advert | hareconcile median | keepalived median | ratio | hareconcile runs | keepalived runs |");
    println!("|---|---|---|---|---|---|");
    for advert in [Duration::from_secs(1), Duration::from_millis(50)] {
        let mut samples = [Vec::new(), Vec::new()];
        // Alternate so drift in machine load hits both alike.
        for _ in 0..runs {
            for (i, speaker) in [Speaker::Hareconcile, Speaker::Keepalived]
                .into_iter()
                .enumerate()
            {
                samples[i].push(outage(speaker, advert));
            }
        }
        let fmt = |s: &[Duration]| {
            s.iter()
                .map(|d| format!("{:.0}", d.as_secs_f64() * 1000.0))
                .collect::<Vec<_>>()
                .join(", ")
        };
        let (ours, theirs) = (median(samples[0].clone()), median(samples[1].clone()));
        println!(
            "| {} ms | {:.0} ms | {:.0} ms | {:.2} | {} | {} |",
            advert.as_millis(),
            ours.as_secs_f64() * 1000.0,
            theirs.as_secs_f64() * 1000.0,
            ours.as_secs_f64() / theirs.as_secs_f64(),
            fmt(&samples[0]),
            fmt(&samples[1]),
        );
    }
}
