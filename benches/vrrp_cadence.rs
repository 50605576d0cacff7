//! Advert cadence under CPU load, and how soon the gratuitous ARPs follow
//! the first advert of a takeover: hareconcile vs Debian's keepalived, same
//! lab, VRRPv3 at 10 ms adverts (the shortest VRRPv3 allows). Prints a
//! Markdown table for docs/PERFORMANCE.md.
//!
//!   cargo bench --bench vrrp_cadence                 # 5 runs each, 60 s
//!   RUNS=1 SECS=20 cargo bench --bench vrrp_cadence  # a quick look
//!   LOAD=0 cargo bench --bench vrrp_cadence          # no spinning threads
//!
//! Two nodes (priority 110 and 100). Once n1 is the only master, `LOAD`
//! threads (default: one per CPU) spin beside the speakers and n2's eth0
//! is captured for `SECS` seconds: the mean period of n1's adverts (first
//! to last over their number) against the declared 10 ms, the longest gap
//! between two, and whether n2 ever advertised (a backup that did left
//! Backup: a false takeover). Then node loss detaches n1, and the capture,
//! still on n2, gives the time from n2's first advert to its first
//! gratuitous ARP for the VIP. hareconcile and keepalived alternate run by
//! run, so both see the same machine, each as shipped (the agent's VRRP
//! thread at SCHED_RR 10, keepalived without `vrrp_rt_priority`) and the
//! other way round (`--vrrp-rt-priority off`; `vrrp_rt_priority 10`).

mod common;

use std::net::Ipv4Addr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, SystemTime};

use common::capture::{Capture, Frame, Seen};
use common::{env_number, holds_vip, load_average, vip, wait_until, Speaker};
use hareconcile_lab::Lab;

const ADVERT: Duration = Duration::from_millis(10);

/// Busy threads beside the speakers until dropped, as another benchmark
/// or build on the machine would be.
struct Load {
    stop: Arc<AtomicBool>,
    threads: Vec<JoinHandle<()>>,
}

impl Load {
    fn start(threads: usize) -> Load {
        let stop = Arc::new(AtomicBool::new(false));
        let threads = (0..threads)
            .map(|_| {
                let stop = Arc::clone(&stop);
                std::thread::spawn(move || {
                    let mut x = 0u64;
                    while !stop.load(Ordering::Relaxed) {
                        x = std::hint::black_box(
                            x.wrapping_mul(6364136223846793005).wrapping_add(1),
                        );
                    }
                })
            })
            .collect();
        Load { stop, threads }
    }
}

impl Drop for Load {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        for thread in self.threads.drain(..) {
            let _ = thread.join();
        }
    }
}

/// One run of one speaker.
struct Sample {
    adverts: usize,
    mean_period: Duration,
    longest_gap: Duration,
    /// Adverts n2 sent while n1 was alive: each means n2 left Backup.
    backup_adverts: usize,
    /// From n2's first advert to its first gratuitous ARP, in ms (negative
    /// if the ARP went first).
    takeover: Takeover,
}

enum Takeover {
    GarpAfterAdvert(f64),
    /// n2 was advertising already when n1 was lost: no takeover to time.
    AlreadyMaster,
    NotSeen,
}

fn measure(speaker: Speaker, secs: u64, load: usize) -> Sample {
    let lab = Lab::builder()
        .nodes(2)
        .client(false)
        .build()
        .expect("lab (run as root)");
    let (n1, n2) = (lab.node(1), lab.node(2));
    let _speakers = [
        speaker.start(&lab, n1, ADVERT, 110),
        speaker.start(&lab, n2, ADVERT, 100),
    ];
    let converged = wait_until(Duration::from_secs(30), || holds_vip(n1) && !holds_vip(n2));
    assert!(converged, "{speaker:?}: n1 never became the only master");
    std::thread::sleep(Duration::from_secs(1));

    let load = Load::start(load);
    let capture = Capture::start(&n2.netns_path(), "eth0");
    std::thread::sleep(Duration::from_secs(secs));
    let lost_at = SystemTime::now();
    lab.node_loss(n1).unwrap();
    let took_over = wait_until(Duration::from_secs(10), || holds_vip(n2));
    assert!(took_over, "{speaker:?}: n2 never took over");
    // The first burst of gratuitous ARPs has long gone out by then.
    std::thread::sleep(Duration::from_millis(500));
    let frames = capture.stop();
    drop(load);
    analyse(&frames, lost_at, n1.ipv4(0), n2.ipv4(0))
}

fn analyse(frames: &[Frame], lost_at: SystemTime, n1: Ipv4Addr, n2: Ipv4Addr) -> Sample {
    let adverts_from = |node: Ipv4Addr, before: bool| -> Vec<SystemTime> {
        frames
            .iter()
            .filter(|f| (f.at < lost_at) == before)
            .filter(
                |f| matches!(f.seen, Seen::Advert { src, priority } if src == node && priority > 0),
            )
            .map(|f| f.at)
            .collect()
    };
    let sent = adverts_from(n1, true);
    assert!(sent.len() > 2, "n2 heard too few adverts from n1");
    let span = sent[sent.len() - 1].duration_since(sent[0]).unwrap();
    let longest_gap = sent
        .windows(2)
        .map(|w| w[1].duration_since(w[0]).unwrap_or_default())
        .max()
        .unwrap_or_default();
    let backup_sent = adverts_from(n2, true);
    let master_at_loss = backup_sent
        .last()
        .is_some_and(|last| lost_at.duration_since(*last).unwrap_or_default() < ADVERT * 10);
    let first_advert = adverts_from(n2, false).first().copied();
    let first_garp = frames
        .iter()
        .filter(|f| f.at >= lost_at)
        .find(|f| f.seen == Seen::GratuitousArp { address: vip() })
        .map(|f| f.at);
    let takeover = match first_advert.zip(first_garp) {
        _ if master_at_loss => Takeover::AlreadyMaster,
        None => Takeover::NotSeen,
        Some((advert, garp)) => Takeover::GarpAfterAdvert(match garp.duration_since(advert) {
            Ok(after) => after.as_secs_f64() * 1000.0,
            Err(before) => -before.duration().as_secs_f64() * 1000.0,
        }),
    };
    Sample {
        adverts: sent.len(),
        mean_period: span / (sent.len() as u32 - 1),
        longest_gap,
        backup_adverts: backup_sent.len(),
        takeover,
    }
}

fn main() {
    if !std::env::args().any(|a| a == "--bench") {
        return;
    }
    let runs = common::runs_wanted();
    let secs = env_number("SECS", 60);
    let cpus = std::thread::available_parallelism().map_or(2, |n| n.get());
    let load = env_number("LOAD", cpus as u64) as usize;
    eprintln!(
        "{runs} runs of {secs} s each at {} ms adverts, {load} spinning threads beside; load average {}",
        ADVERT.as_millis(),
        load_average()
    );
    println!("| speaker | run | adverts | mean period | vs declared | longest gap | backup left Backup | first advert → first GARP |");
    println!("|---|---|---|---|---|---|---|---|");
    for run in 1..=runs {
        for speaker in [
            Speaker::Hareconcile,
            Speaker::Keepalived,
            Speaker::HareconcileNormal,
            Speaker::KeepalivedRt,
        ] {
            let s = measure(speaker, secs, load);
            let period_ms = s.mean_period.as_secs_f64() * 1000.0;
            let declared_ms = ADVERT.as_secs_f64() * 1000.0;
            println!(
                "| {speaker:?} | {run} | {} | {period_ms:.3} ms | {:+.2} % | {:.1} ms | {} | {} |",
                s.adverts,
                (period_ms / declared_ms - 1.0) * 100.0,
                s.longest_gap.as_secs_f64() * 1000.0,
                match s.backup_adverts {
                    0 => "no".to_string(),
                    n => format!("**yes** ({n} adverts)"),
                },
                match s.takeover {
                    Takeover::GarpAfterAdvert(ms) => format!("{ms:.3} ms"),
                    Takeover::AlreadyMaster => "n2 was master already".to_string(),
                    Takeover::NotSeen => "not seen".to_string(),
                },
            );
        }
        eprintln!("after run {run}: load average {}", load_average());
    }
}
