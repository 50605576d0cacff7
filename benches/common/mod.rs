//! What the failover benchmarks share: the lab's VIP, the client's HTTP
//! probe from inside its namespace, and the figures (longest gap, median).

#![allow(dead_code)] // each benchmark uses a different part of this

pub mod capture;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::os::fd::AsRawFd;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use hareconcile_lab::{Host, Lab, Process, VrrpInstance};

pub use hareconcile_test_support as support;
#[allow(unused_imports)] // not every benchmark waits
pub use support::wait_until;

use support::lab_manifests::{cluster_manifest_every, web_vip_manifest};
#[allow(unused_imports)] // not every benchmark names the VRID
pub use support::lab_manifests::{vip, VRID};
use support::LabAgent;

pub const PORT: u16 = 8080;

/// One HTTP GET with short timeouts; true when an answer came back.
pub fn fetch(target: SocketAddr) -> bool {
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

/// The client's view: every successful probe (by default a fetch of
/// http://VIP:PORT/), every 10 ms from a thread that joined the client's
/// network namespace.
pub struct Prober {
    stop: Arc<AtomicBool>,
    answers: Arc<Mutex<Vec<Instant>>>,
    thread: std::thread::JoinHandle<()>,
}

impl Prober {
    /// Fetches http://VIP:PORT/.
    pub fn start(netns: &Path) -> Prober {
        let target = SocketAddr::from((vip(), PORT));
        Prober::start_checking(netns, move || fetch(target))
    }

    /// Runs `check` every 10 ms in the namespace at `netns`; an answer is
    /// a `true`.
    pub fn start_checking(netns: &Path, check: impl Fn() -> bool + Send + 'static) -> Prober {
        let netns = std::fs::File::open(netns).expect("client namespace");
        let stop = Arc::new(AtomicBool::new(false));
        let answers = Arc::new(Mutex::new(Vec::new()));
        let thread = std::thread::spawn({
            let (stop, answers) = (Arc::clone(&stop), Arc::clone(&answers));
            move || {
                // setns only moves this thread: the rest of the bench stays put.
                let joined = unsafe { libc::setns(netns.as_raw_fd(), libc::CLONE_NEWNET) };
                assert_eq!(joined, 0, "setns: {}", std::io::Error::last_os_error());
                while !stop.load(Ordering::Relaxed) {
                    let started = Instant::now();
                    if check() {
                        answers.lock().unwrap().push(Instant::now());
                    }
                    if let Some(rest) = Duration::from_millis(10).checked_sub(started.elapsed()) {
                        std::thread::sleep(rest);
                    }
                }
            }
        });
        Prober {
            stop,
            answers,
            thread,
        }
    }

    /// Whether the client was answered after `t`.
    pub fn answered_after(&self, t: Instant) -> bool {
        self.answers.lock().unwrap().last().is_some_and(|a| *a > t)
    }

    /// Stops probing; the longest window without an answer, checking that
    /// the client was answered both before and after `lost_at`.
    pub fn longest_gap(self, lost_at: Instant, what: &str) -> Duration {
        self.stop.store(true, Ordering::Relaxed);
        self.thread.join().unwrap();
        let answers = self.answers.lock().unwrap();
        assert!(
            answers.first().is_some_and(|t| *t <= lost_at),
            "{what}: the client was not answered before the loss"
        );
        assert!(
            answers.last().is_some_and(|t| *t > lost_at),
            "{what}: the client was never answered after the loss"
        );
        answers
            .windows(2)
            .map(|w| w[1] - w[0])
            .max()
            .unwrap_or_default()
    }
}

/// The two-node Cluster (n1 priority 110, n2 100, VRRPv3 at `advert`) and
/// the VirtualIP `web` the failover benchmarks use, as manifest text.
pub fn two_node_manifests(advert: Duration) -> String {
    cluster_manifest_every(advert, (110, 100), "") + &web_vip_manifest("")
}

/// Runs this build's agent in `host` on `manifests` (written to its own
/// directory in the lab), with `extra` arguments.
pub fn start_agent(lab: &Lab, host: &Host, manifests: &str, extra: &[&str]) -> Process {
    LabAgent::command(lab, host)
        .manifest(manifests)
        .args(extra)
        .start()
        .process
}

/// The VRRP speaker a comparison runs on the lab's two nodes.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Speaker {
    /// The agent as shipped: its VRRP thread at SCHED_RR 10.
    Hareconcile,
    /// The agent with `--vrrp-rt-priority off`.
    HareconcileNormal,
    /// keepalived as shipped: no `vrrp_rt_priority`.
    Keepalived,
    /// keepalived with `vrrp_rt_priority 10`, as the agent's default.
    KeepalivedRt,
}

impl Speaker {
    /// Starts this speaker on `host` for the VIP of [`two_node_manifests`]
    /// at `advert`; `priority` must be the one those manifests give `host`
    /// (110 for n1, 100 for n2), which only keepalived's config needs.
    pub fn start(self, lab: &Lab, host: &Host, advert: Duration, priority: u8) -> Process {
        match self {
            Speaker::Hareconcile => start_agent(lab, host, &two_node_manifests(advert), &[]),
            Speaker::HareconcileNormal => start_agent(
                lab,
                host,
                &two_node_manifests(advert),
                &["--vrrp-rt-priority", "off"],
            ),
            Speaker::Keepalived | Speaker::KeepalivedRt => {
                let instance = VrrpInstance::new(VRID, priority, advert, format!("{}/24", vip()));
                let mut conf = hareconcile_lab::keepalived_config(host, 3, &[instance]);
                if self == Speaker::KeepalivedRt {
                    conf = conf.replacen(
                        "global_defs {\n",
                        "global_defs {\n  vrrp_rt_priority 10\n",
                        1,
                    );
                }
                hareconcile_lab::start_keepalived_with(lab, host, &conf).unwrap()
            }
        }
    }
}

pub fn holds_vip(host: &Host) -> bool {
    host.exec(&["ip", "-o", "-4", "addr", "show", "dev", "eth0"])
        .map(|o| o.stdout.contains(&format!(" {}/", vip())))
        .unwrap_or(false)
}

/// The middle sample (the upper middle one of an even count).
pub fn median<T: PartialOrd + Copy>(mut samples: Vec<T>) -> T {
    samples.sort_by(|a, b| a.partial_cmp(b).expect("samples are numbers"));
    samples[samples.len() / 2]
}

pub fn ms(d: Duration) -> String {
    format!("{:.0}", d.as_secs_f64() * 1000.0)
}

/// Runs as `1, 2, 3` milliseconds.
pub fn runs(samples: &[Duration]) -> String {
    samples
        .iter()
        .map(|d| ms(*d))
        .collect::<Vec<_>>()
        .join(", ")
}

/// How many runs per setting: `RUNS`, default 5.
pub fn runs_wanted() -> usize {
    env_number("RUNS", 5) as usize
}

/// The number in the environment variable `name`, or `default`.
pub fn env_number(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// `/proc/loadavg`'s three load averages, for the record of a run on a
/// shared machine.
pub fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|l| l.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_default()
}
