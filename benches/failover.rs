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
//! from the bridge, halfway between two of n1's adverts (as seen on n2's
//! wire), so both speakers lose their master at the same phase of its
//! advert cycle. The figure is the longest window with no answer.

mod common;

use std::time::{Duration, Instant, SystemTime};

use common::capture::{Capture, Seen};
use common::{holds_vip, median, wait_until, Prober, Speaker, PORT};
use hareconcile_lab::{Host, Lab, NodeCommand};

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
        processes.push(speaker.start(&lab, host, advert, priority));
    }
    let (n1, n2) = (lab.node(1), lab.node(2));
    let converged = wait_until(Duration::from_secs(30), || holds_vip(n1) && !holds_vip(n2));
    assert!(converged, "{speaker:?}: n1 never became the only master");
    // Let the client learn the VIP's MAC and the backup settle.
    std::thread::sleep(Duration::from_secs(1));

    let prober = Prober::start(&lab.client().netns_path());
    std::thread::sleep(Duration::from_millis(500));
    sleep_until(midway_between_adverts(n1, n2, advert));
    let lost_at = Instant::now();
    lab.node_loss(n1).unwrap();
    let recovered = wait_until(Duration::from_secs(20), || holds_vip(n2));
    assert!(recovered, "{speaker:?}: n2 never took over");
    // Enough for the client to be answered again, then a margin.
    std::thread::sleep(Duration::from_secs(2) + advert * 4);
    let worst = prober.longest_gap(lost_at, &format!("{speaker:?}"));
    drop(processes);
    worst
}

/// The next moment halfway between two of `master`'s adverts, from the
/// last one `backup` received. The outage after node loss is the backup's
/// Master_Down_Interval less the time since the last advert it heard, so
/// losing the master at a fixed delay after it was elected would measure
/// where that delay falls in the advert cycle (which differs between
/// speakers: hareconcile's adverts keep a grid of their own) rather than
/// the failover.
fn midway_between_adverts(master: &Host, backup: &Host, advert: Duration) -> SystemTime {
    let capture = Capture::start(&backup.netns_path(), "eth0");
    std::thread::sleep(advert * 2 + Duration::from_millis(50));
    let source = master.ipv4(0);
    let last = capture
        .stop()
        .into_iter()
        .filter(|f| matches!(f.seen, Seen::Advert { src, .. } if src == source))
        .map(|f| f.at)
        .next_back()
        .expect("the backup heard no advert from the master");
    let mut at = last + advert / 2;
    while at < SystemTime::now() {
        at += advert;
    }
    at
}

fn sleep_until(at: SystemTime) {
    if let Ok(left) = at.duration_since(SystemTime::now()) {
        std::thread::sleep(left);
    }
}

fn main() {
    if !std::env::args().any(|a| a == "--bench") {
        return;
    }
    let runs = common::runs_wanted();
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
        let (ours, theirs) = (median(samples[0].clone()), median(samples[1].clone()));
        println!(
            "| {} ms | {:.0} ms | {:.0} ms | {:.2} | {} | {} |",
            advert.as_millis(),
            ours.as_secs_f64() * 1000.0,
            theirs.as_secs_f64() * 1000.0,
            ours.as_secs_f64() / theirs.as_secs_f64(),
            common::runs(&samples[0]),
            common::runs(&samples[1]),
        );
    }
}
