//! CPU and memory of one node running 100 VRRP instances at 100 ms
//! adverts: one hareconcile agent vs Debian's keepalived with the same 100
//! instances, each alone on a lab node (so each is master of all 100 and
//! sends 1,000 adverts a second). Prints a Markdown table.
//!
//!   cargo bench --bench vrrp_load
//!
//! CPU is utime+stime of the process and its children over a 10 s window
//! after a 5 s settle; RSS is their summed VmRSS at the end.

mod common;

use std::time::Duration;

use hareconcile_lab::{ipv4, Host, Lab, Process, VrrpInstance};

const INSTANCES: u8 = 100;
const ADVERT_MS: u64 = 100;
const WINDOW: Duration = Duration::from_secs(10);

fn vip(i: u8) -> std::net::Ipv4Addr {
    ipv4(0, 100 + i)
}

fn start_hareconcile(lab: &Lab, host: &Host) -> Process {
    let mut text = format!(
        "apiVersion: hareconcile.io/v1alpha1\nkind: Cluster\nmetadata: {{name: lab}}\nspec:\n  nodes:\n    - {{name: {name}, address: {me}, priority: 110}}\n  vrrp: {{version: 3, advertInterval: {ADVERT_MS}ms}}\n",
        name = host.name(),
        me = host.ipv4(0),
    );
    for i in 1..=INSTANCES {
        text.push_str(&format!(
            "---\napiVersion: hareconcile.io/v1alpha1\nkind: VirtualIP\nmetadata: {{name: vip-{i}}}\nspec: {{cluster: lab, interface: eth0, vrid: {i}, addresses: [{}/24]}}\n",
            vip(i)
        ));
    }
    common::start_agent(lab, host, &text, &[])
}

fn start_keepalived(lab: &Lab, host: &Host) -> Process {
    let instances: Vec<VrrpInstance> = (1..=INSTANCES)
        .map(|i| {
            VrrpInstance::new(
                i,
                110,
                Duration::from_millis(ADVERT_MS),
                format!("{}/24", vip(i)),
            )
        })
        .collect();
    hareconcile_lab::start_keepalived(lab, host, 3, &instances).unwrap()
}

/// The process and every descendant.
fn tree(root: u32) -> Vec<u32> {
    let mut pids = vec![root];
    let mut i = 0;
    while i < pids.len() {
        let parent = pids[i];
        for entry in std::fs::read_dir("/proc").unwrap().flatten() {
            let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else {
                continue;
            };
            let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
                continue;
            };
            let after_name = &stat[stat.rfind(')').map_or(0, |i| i + 2)..];
            let ppid: u32 = after_name
                .split(' ')
                .nth(1)
                .and_then(|p| p.parse().ok())
                .unwrap_or(0);
            if ppid == parent && !pids.contains(&pid) {
                pids.push(pid);
            }
        }
        i += 1;
    }
    pids
}

/// utime + stime in clock ticks (100 Hz on Linux).
fn cpu_ticks(pids: &[u32]) -> u64 {
    pids.iter()
        .filter_map(|pid| std::fs::read_to_string(format!("/proc/{pid}/stat")).ok())
        .map(|stat| {
            let fields: Vec<&str> = stat[stat.rfind(')').unwrap() + 2..].split(' ').collect();
            fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap()
        })
        .sum()
}

fn rss_kib(pids: &[u32]) -> u64 {
    pids.iter()
        .filter_map(|pid| std::fs::read_to_string(format!("/proc/{pid}/status")).ok())
        .filter_map(|status| {
            status
                .lines()
                .find_map(|l| l.strip_prefix("VmRSS:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        })
        .sum()
}

fn holds_all(host: &Host) -> bool {
    let out = host
        .exec(&["ip", "-o", "-4", "addr", "show", "dev", "eth0"])
        .unwrap();
    (1..=INSTANCES).all(|i| out.stdout.contains(&format!(" {}/", vip(i))))
}

/// (CPU percent of one core, RSS MiB)
fn measure(start: fn(&Lab, &Host) -> Process) -> (f64, f64) {
    let lab = Lab::builder()
        .nodes(1)
        .client(false)
        .build()
        .expect("lab (run as root)");
    let host = lab.node(1);
    let process = start(&lab, host);
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while !holds_all(host) {
        assert!(
            std::time::Instant::now() < deadline,
            "not master of every instance:\n{}",
            process.log()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    std::thread::sleep(Duration::from_secs(5));
    let pids = tree(process.pid());
    let before = cpu_ticks(&pids);
    std::thread::sleep(WINDOW);
    let pids = tree(process.pid());
    let used = cpu_ticks(&pids) - before;
    let cpu = used as f64 / WINDOW.as_secs_f64();
    (cpu, rss_kib(&pids) as f64 / 1024.0)
}

fn main() {
    if !std::env::args().any(|a| a == "--bench") {
        return;
    }
    let (hc_cpu, hc_rss) = measure(start_hareconcile);
    let (ka_cpu, ka_rss) = measure(start_keepalived);
    println!("| {INSTANCES} instances at {ADVERT_MS} ms | CPU (% of one core) | RSS |");
    println!("|---|---|---|");
    println!("| hareconcile agent | {hc_cpu:.1} % | {hc_rss:.1} MiB |");
    println!("| keepalived (all processes) | {ka_cpu:.1} % | {ka_rss:.1} MiB |");
    println!(
        "| ratio | {:.2} | {:.2} |",
        hc_cpu / ka_cpu,
        hc_rss / ka_rss
    );
}
