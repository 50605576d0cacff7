//! Time from a partition to the surviving side serving again through the
//! VIP, with the quorum of `docs/quorum.md` (issue 18). Prints a Markdown
//! table for docs/PERFORMANCE.md.
//!
//!   cargo bench --bench partition            # 5 partitions
//!   RUNS=9 cargo bench --bench partition
//!   RUNS=1 SHOW_EVENTS=1 cargo bench --bench partition   # where the time goes
//!
//! The three-node quorum lab (`hareconcile_test_support::lab_quorum`): n1,
//! n2 and a witness each run an etcd member, leases of 4 s, the store an
//! exclusive Service that requires the Replication. The client fetches
//! http://VIP:8080/ every 10 ms. Each run cuts the master off from the
//! standby, the witness and the client; the master fences itself at half
//! its lease, the standby takes the writer lock once that lease is over,
//! becomes master, starts the store. The figure is the longest window with
//! no answer; beside it, when the survivor took the VIP. After each run the
//! partition heals and the next run cuts the new master off.

mod common;

use std::time::{Duration, Instant};

use common::support::lab_quorum::{QuorumLab, LEASE_TTL, SETTLE};
use common::{env_number, load_average, median, ms, Prober};

struct Run {
    outage: Duration,
    vip_at: Duration,
}

/// Cuts node `master` off and waits until the other serves; the figures.
fn one_partition(lab: &QuorumLab, master: usize) -> Run {
    let survivor = 3 - master;
    let prober = Prober::start(&lab.lab.client().netns_path());
    assert!(
        common::wait_until(SETTLE, || prober
            .answered_after(Instant::now() - Duration::from_millis(100))),
        "the client is not answered before the partition"
    );
    std::thread::sleep(Duration::from_millis(500));
    let (cut, others) = (lab.node(master), [lab.node(survivor), lab.witness()]);
    let cut_at = Instant::now();
    lab.lab
        .partition(&[cut], &[others[0], others[1], lab.lab.client()])
        .unwrap();
    let mut vip_at = None;
    let served = common::wait_until(SETTLE, || {
        if vip_at.is_none() && lab.holds_vip(survivor) {
            vip_at = Some(cut_at.elapsed());
        }
        vip_at.is_some() && prober.answered_after(cut_at + Duration::from_millis(50))
    });
    assert!(served, "n{survivor} never served\n{}", lab.logs());
    std::thread::sleep(Duration::from_millis(500));
    let outage = prober.longest_gap(cut_at, &format!("cut n{master}"));
    if std::env::var_os("SHOW_EVENTS").is_some() {
        eprintln!(
            "--- n{survivor}'s events, {} ms after the cut\n{}",
            ms(cut_at.elapsed()),
            lab.agent(survivor).events(&[])
        );
    }
    lab.lab.heal_partitions().unwrap();
    lab.await_serving(survivor, "the survivor did not keep serving after the heal");
    Run {
        outage,
        vip_at: vip_at.unwrap(),
    }
}

fn main() {
    if !std::env::args().any(|a| a == "--bench") {
        return;
    }
    if !hareconcile_lab::privileged(hareconcile_lab::Need::Netns) {
        eprintln!("partition bench: needs root and network namespaces; skipped");
        return;
    }
    let runs = env_number("RUNS", 5) as usize;
    println!("load average before: {}", load_average());
    let lab = QuorumLab::start();
    let mut master = 1;
    let mut all = Vec::new();
    println!("| run | master cut off | survivor has the VIP | client's outage |");
    println!("|---|---|---|---|");
    for run in 1..=runs {
        let r = one_partition(&lab, master);
        println!(
            "| {run} | n{master} | {} ms | {} ms |",
            ms(r.vip_at),
            ms(r.outage)
        );
        all.push(r);
        master = 3 - master;
    }
    let outage = median(all.iter().map(|r| r.outage).collect());
    let vip_at = median(all.iter().map(|r| r.vip_at).collect());
    println!(
        "| **median** | | {} ms | **{} ms** |",
        ms(vip_at),
        ms(outage)
    );
    println!(
        "lease TTL {} s: 2 × TTL = {} ms; the store started {} ms (median) after the VIP moved",
        LEASE_TTL.as_secs(),
        ms(LEASE_TTL * 2),
        ms(outage.saturating_sub(vip_at))
    );
    println!("load average after: {}", load_average());
    lab.stop();
}
