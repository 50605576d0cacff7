//! CPU and memory of one node running 100 VRRP instances at 100 ms
//! adverts: one hareconcile agent vs Debian's keepalived with the same 100
//! instances, each alone on a lab node (so each is master of all 100 and
//! sends 1,000 adverts a second). Prints a Markdown table.
//!
//!   cargo bench --bench vrrp_load
//!   RUNS=3 SOAK_SECS=600 cargo bench --bench vrrp_load   # RSS after 10 minutes
//!
//! CPU is utime+stime of the process and its children over a 10 s window
//! after a 5 s settle; RSS is their summed VmRSS at the end, after
//! `SOAK_SECS` more (default 0; a minute-by-minute trace goes to stderr),
//! split into anonymous memory and file-backed pages (mostly the binary's
//! text) from smaps_rollup. Each of the `RUNS` runs (default 5) measures
//! hareconcile and then keepalived, so both see the same machine load.

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

/// Resident memory of a process tree, KiB.
#[derive(Clone, Copy, Default)]
struct Rss {
    total: u64,
    anonymous: u64,
}

impl Rss {
    fn of(pids: &[u32]) -> Rss {
        let field = |text: &str, name: &str| -> u64 {
            text.lines()
                .find_map(|l| l.strip_prefix(name))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
                .unwrap_or(0)
        };
        let mut rss = Rss::default();
        for pid in pids {
            if let Ok(status) = std::fs::read_to_string(format!("/proc/{pid}/status")) {
                rss.total += field(&status, "VmRSS:");
            }
            if let Ok(rollup) = std::fs::read_to_string(format!("/proc/{pid}/smaps_rollup")) {
                rss.anonymous += field(&rollup, "Anonymous:");
            }
        }
        rss
    }

    fn mib(kib: u64) -> f64 {
        kib as f64 / 1024.0
    }

    fn total_mib(&self) -> f64 {
        Rss::mib(self.total)
    }

    /// `26.3 MiB (anon 9.1, file 17.2)`
    fn split(&self) -> String {
        format!(
            "{:.1} MiB (anon {:.1}, file {:.1})",
            self.total_mib(),
            Rss::mib(self.anonymous),
            Rss::mib(self.total.saturating_sub(self.anonymous))
        )
    }
}

fn holds_all(host: &Host) -> bool {
    let out = host
        .exec(&["ip", "-o", "-4", "addr", "show", "dev", "eth0"])
        .unwrap();
    (1..=INSTANCES).all(|i| out.stdout.contains(&format!(" {}/", vip(i))))
}

/// CPU percent of one core over the window, and the RSS at the end.
struct Sample {
    cpu: f64,
    rss: Rss,
}

fn measure(name: &str, start: fn(&Lab, &Host) -> Process, soak: Duration) -> Sample {
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
    let mut soaked = Duration::ZERO;
    while soaked < soak {
        let step = (soak - soaked).min(Duration::from_secs(60));
        std::thread::sleep(step);
        soaked += step;
        eprintln!(
            "{name} +{}s: {}",
            soaked.as_secs(),
            Rss::of(&tree(process.pid())).split()
        );
    }
    Sample {
        cpu,
        rss: Rss::of(&tree(process.pid())),
    }
}

fn main() {
    if !std::env::args().any(|a| a == "--bench") {
        return;
    }
    let runs = common::runs_wanted();
    let soak = Duration::from_secs(
        std::env::var("SOAK_SECS")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or(0),
    );
    let mut rows = Vec::new();
    for run in 1..=runs {
        let hc = measure("hareconcile", start_hareconcile, soak);
        let ka = measure("keepalived", start_keepalived, soak);
        eprintln!(
            "run {run}: hareconcile {:.1} % {}, keepalived {:.1} % {}",
            hc.cpu,
            hc.rss.split(),
            ka.cpu,
            ka.rss.split()
        );
        rows.push((hc, ka));
    }
    let list = |value: &dyn Fn(&(Sample, Sample)) -> f64, unit: &str| {
        let values: Vec<f64> = rows.iter().map(value).collect();
        let text: Vec<String> = values.iter().map(|v| format!("{v:.1}")).collect();
        format!(
            "{} {unit} (median {:.1} {unit})",
            text.join(" / "),
            common::median(values)
        )
    };
    let ratio = |value: &dyn Fn(&Sample) -> f64| {
        common::median(rows.iter().map(|(hc, ka)| value(hc) / value(ka)).collect())
    };
    println!(
        "| {INSTANCES} instances at {ADVERT_MS} ms | CPU (% of one core) | RSS {} s after election |",
        15 + soak.as_secs()
    );
    println!("|---|---|---|");
    println!(
        "| hareconcile agent | {} | {} |",
        list(&|(hc, _)| hc.cpu, "%"),
        list(&|(hc, _)| hc.rss.total_mib(), "MiB")
    );
    println!(
        "| keepalived (all processes) | {} | {} |",
        list(&|(_, ka)| ka.cpu, "%"),
        list(&|(_, ka)| ka.rss.total_mib(), "MiB")
    );
    println!(
        "| ratio (median of runs) | {:.2} | {:.2} |",
        ratio(&|s| s.cpu),
        ratio(&|s| s.rss.total_mib())
    );
}
