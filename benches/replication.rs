//! Replication lag and data lost on an unplanned failover, continuous rsync
//! mode, under a steady write load. Prints a Markdown table for
//! docs/PERFORMANCE.md.
//!
//!   cargo bench --bench replication            # 5 runs
//!   RUNS=9 LOAD_SECS=30 cargo bench --bench replication
//!   SQLITE=1 cargo bench --bench replication   # the live-SQLite counter-example
//!
//! With `SQLITE=1` it measures something else: a writer commits to a
//! WAL-mode SQLite database on n1 for `LOAD_SECS`, replicated once as plain
//! files (the database and its `-wal` copied like any file, the
//! counter-example) and once through `sqlite:` (online backups); every
//! state of the database seen on n2 is copied aside and checked afterwards
//! (opens, `PRAGMA integrity_check`, a prefix of the commits, no torn
//! transaction).
//!
//! Two nodes (priority 110 and 100, 100 ms adverts), each with its own tmpfs
//! at the replicated path and an sshd; a Replication with `continuous:
//! true, delete: true`. The bench writes 100 small files a second into n1's
//! copy (through /proc/PID/root of a process in n1's mount namespace) and
//! polls n2's copy every 5 ms: a file's lag is from its write to its first
//! sighting on n2. Then, with the load still steady, n1 is cut off the LAN
//! (its veth detached) at the moment the last write is acknowledged; once n2
//! serves as the new master, every acknowledged file missing on n2 counts as
//! lost (RPO). A failover that does not finish within 60 s is reported as
//! such, with both agents' logs and n2's sync processes on stderr, and the
//! other runs go on.

mod common;
#[path = "replication/sqlite.rs"]
mod sqlite;
#[path = "../tests/sqlite_writer/mod.rs"]
mod sqlite_writer;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use hareconcile_lab::{Host, Lab, NodeCommand, Process};

use common::support::lab_data::{private_mounts_lab, tmpfs_and_sshd_on_each};
use common::support::lab_manifests::{cluster_manifest, ssh_manifest, web_vip_manifest};
use common::support::LabAgent;
use common::{env_number, load_average, median};

const RATE: u32 = 100;
const POLL: Duration = Duration::from_millis(5);
const DEADLINE: Duration = Duration::from_secs(60);

struct Node {
    agent: LabAgent,
    /// A process that lives in the node's mount namespace, for /proc/PID/root.
    anchor: Process,
}

impl Node {
    /// `path` as this node sees it, from the bench's own namespace.
    fn view(&self, path: &Path) -> PathBuf {
        Path::new(&format!("/proc/{}/root", self.anchor.pid()))
            .join(path.strip_prefix("/").unwrap())
    }

    fn status(&self) -> serde_json::Value {
        self.agent.object("replication", "data")["status"].clone()
    }

    /// Source, caught up, term claimed.
    fn serves(&self) -> bool {
        let status = self.status();
        status["role"] == "source"
            && status["conditions"].as_array().is_some_and(|cs| {
                cs.iter()
                    .any(|c| c["type"] == "Ready" && c["status"] == "True")
            })
    }
}

fn wait_until(what: &str, done: impl FnMut() -> bool) {
    let what = format!("timed out waiting until {what}");
    common::support::eventually(DEADLINE, &what, &String::new, done);
}

/// The last `n` lines of `text`.
fn tail(text: &str, n: usize) -> String {
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

/// Why a failover did not finish: n2's events and what each agent
/// logged, and every process n2's agent and sshd run (a receive that
/// outlived its pusher, a probe waiting on a dead peer), with the locks.
fn explain_failover(n1: &Node, n2: &Node, n2_sshd: &Process) -> String {
    let pids: Vec<String> = [n2.agent.process.pid(), n2_sshd.pid()]
        .into_iter()
        .flat_map(hareconcile_lab::process_tree)
        .map(|pid| pid.to_string())
        .collect();
    let ps = std::process::Command::new("ps")
        .args(["-o", "pid,pgid,etimes,args", "-p", &pids.join(",")])
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
        .unwrap_or_default();
    format!(
        "--- n2 events\n{}\n--- n2 log (last 80 lines)\n{}\n--- n1 log (last 40 lines)\n{}\n\
         --- n2's agent and sshd, and their children\n{ps}\n--- /proc/locks\n{}",
        n2.agent.events(&["replication", "data"]),
        tail(&n2.agent.log(), 80),
        tail(&n1.agent.log(), 40),
        std::fs::read_to_string("/proc/locks").unwrap_or_default(),
    )
}

fn manifest(lab: &Lab, data: &Path) -> String {
    format!(
        "{cluster}{vip}---\napiVersion: hareconcile.io/v1alpha1\nkind: Replication\nmetadata: {{name: data}}\n\
         spec: {{cluster: lab, followVirtualIP: web, path: {data}, method: rsync, \
         rsync: {{continuous: true, interval: 30s, delete: true, ssh: {ssh}}}}}\n",
        cluster = cluster_manifest((110, 100), ""),
        vip = web_vip_manifest(", preempt: false"),
        data = data.display(),
        ssh = ssh_manifest(lab),
    )
}

fn start(lab: &Lab, host: &Host, data: &Path) -> Node {
    let agent = LabAgent::command(lab, host)
        .manifest(&manifest(lab, data))
        .env("HARECONCILE_LOG", "info,hareconcile_sync=debug")
        .start();
    let anchor = host.spawn(NodeCommand::new("sleep").arg("3600")).unwrap();
    Node { agent, anchor }
}

/// Writes `RATE` files a second into `dir` (named `PREFIX-N`) until
/// `stop`, counting them in `written`; returns each file's write time.
fn write_load(
    dir: PathBuf,
    prefix: &'static str,
    stop: Arc<AtomicBool>,
    written: Arc<Mutex<usize>>,
) -> Vec<Instant> {
    let period = Duration::from_secs(1) / RATE;
    let start = Instant::now();
    let mut times = Vec::new();
    let payload = [b'x'; 100];
    while !stop.load(Ordering::SeqCst) {
        let due = start + period * times.len() as u32;
        if let Some(wait) = due.checked_duration_since(Instant::now()) {
            std::thread::sleep(wait);
        }
        std::fs::write(dir.join(format!("{prefix}-{}", times.len())), payload).unwrap();
        times.push(Instant::now());
        *written.lock().unwrap() = times.len();
    }
    times
}

/// Polls `dir` for files `PREFIX-N` until every one written is seen;
/// returns first-sighting times by N.
fn watch_arrivals(
    dir: PathBuf,
    prefix: &'static str,
    writes: Arc<Mutex<usize>>,
    done: Arc<AtomicBool>,
) -> BTreeMap<usize, Instant> {
    let mut seen = BTreeMap::new();
    let mut next = 0;
    loop {
        let written = *writes.lock().unwrap();
        // Files arrive in batches, in any order within one: look at every
        // file not seen yet.
        for n in next..written {
            if !seen.contains_key(&n) && dir.join(format!("{prefix}-{n}")).exists() {
                seen.insert(n, Instant::now());
            }
        }
        while seen.contains_key(&next) {
            next += 1;
        }
        if done.load(Ordering::SeqCst) && next >= written {
            return seen;
        }
        std::thread::sleep(POLL);
    }
}

fn quantile(sorted: &[f64], q: f64) -> f64 {
    sorted[((sorted.len() - 1) as f64 * q).round() as usize]
}

struct Run {
    files: usize,
    median_ms: f64,
    p90_ms: f64,
    p99_ms: f64,
    max_ms: f64,
    /// Files missing on n2 once it serves; `None`: it did not serve
    /// within the deadline.
    lost: Option<usize>,
    acknowledged: usize,
}

fn one_run(load: Duration) -> Run {
    let lab = private_mounts_lab(2);
    let data = lab.dir().join("srv/data");
    let sshd = tmpfs_and_sshd_on_each(&lab, &data);
    let n1 = start(&lab, lab.node(1), &data);
    wait_until("n1 serves", || n1.serves());
    let n2 = start(&lab, lab.node(2), &data);
    let (source, target) = (n1.view(&data), n2.view(&data));
    std::fs::write(source.join("seed"), "x").unwrap();
    wait_until("the seed file reaches n2", || target.join("seed").exists());

    // Lag under steady load.
    let stop = Arc::new(AtomicBool::new(false));
    let written = Arc::new(Mutex::new(0usize));
    let writer = {
        let (stop, written, source) = (stop.clone(), written.clone(), source.clone());
        std::thread::spawn(move || write_load(source, "lag", stop, written))
    };
    let done = Arc::new(AtomicBool::new(false));
    let checker = {
        let (written, done, target) = (written.clone(), done.clone(), target.clone());
        std::thread::spawn(move || watch_arrivals(target, "lag", written, done))
    };
    std::thread::sleep(load);
    stop.store(true, Ordering::SeqCst);
    let times = writer.join().unwrap();
    done.store(true, Ordering::SeqCst);
    let seen = checker.join().unwrap();
    let mut lags: Vec<f64> = seen
        .iter()
        .map(|(n, at)| at.saturating_duration_since(times[*n]).as_secs_f64() * 1000.0)
        .collect();
    lags.sort_by(f64::total_cmp);

    // Unplanned failover under the same load: cut n1 off right after an
    // acknowledged write, then count what n2 has once it serves.
    let stop = Arc::new(AtomicBool::new(false));
    let writer = {
        let (stop, source) = (stop.clone(), source.clone());
        std::thread::spawn(move || write_load(source, "rpo", stop, Arc::default()))
    };
    std::thread::sleep(Duration::from_secs(5));
    stop.store(true, Ordering::SeqCst);
    let acknowledged = writer.join().unwrap().len();
    lab.node_loss(lab.node(1)).unwrap();
    let served = common::support::poll::wait_until(DEADLINE, || n2.serves());
    let lost = if served {
        Some(
            (0..acknowledged)
                .filter(|n| !target.join(format!("rpo-{n}")).exists())
                .count(),
        )
    } else {
        eprintln!(
            "n2 did not serve {}s after n1's loss:\n{}",
            DEADLINE.as_secs(),
            explain_failover(&n1, &n2, &sshd[1])
        );
        None
    };
    drop((n1, n2, sshd));
    Run {
        files: lags.len(),
        median_ms: quantile(&lags, 0.5),
        p90_ms: quantile(&lags, 0.9),
        p99_ms: quantile(&lags, 0.99),
        max_ms: *lags.last().unwrap(),
        lost,
        acknowledged,
    }
}

fn main() {
    // `cargo test --all-targets` runs bench targets without --bench: nothing to do.
    if !std::env::args().any(|a| a == "--bench") {
        return;
    }
    if !hareconcile_lab::privileged(hareconcile_lab::Need::Netns) {
        eprintln!("replication bench: needs root and network namespaces; skipped");
        return;
    }
    let runs = env_number("RUNS", 5);
    let load = Duration::from_secs(env_number("LOAD_SECS", 15));
    println!("load average before: {}", load_average());
    if std::env::var_os("SQLITE").is_some() {
        sqlite::counter_example(load);
        println!("load average after: {}", load_average());
        return;
    }
    println!("| run | files | lag median | lag p90 | lag p99 | lag max | lost on failover |");
    println!("|---|---|---|---|---|---|---|");
    let mut all = Vec::new();
    for run in 1..=runs {
        let r = one_run(load);
        let lost = match r.lost {
            Some(lost) => format!("{lost} of {}", r.acknowledged),
            None => format!("n2 not serving {}s after the loss", DEADLINE.as_secs()),
        };
        println!(
            "| {run} | {} | {:.0} ms | {:.0} ms | {:.0} ms | {:.0} ms | {lost} |",
            r.files, r.median_ms, r.p90_ms, r.p99_ms, r.max_ms
        );
        all.push(r);
    }
    let failovers: Vec<f64> = all
        .iter()
        .filter_map(|r| r.lost)
        .map(|l| l as f64)
        .collect();
    let lost = match failovers.len() {
        0 => "no failover finished".to_string(),
        n if n == all.len() => format!("{}", median(failovers)),
        n => format!(
            "{} ({n} of {} failovers finished)",
            median(failovers),
            all.len()
        ),
    };
    println!(
        "| median | | {:.0} ms | {:.0} ms | {:.0} ms | {:.0} ms | {lost} |",
        median(all.iter().map(|r| r.median_ms).collect()),
        median(all.iter().map(|r| r.p90_ms).collect()),
        median(all.iter().map(|r| r.p99_ms).collect()),
        median(all.iter().map(|r| r.max_ms).collect()),
    );
    println!("load average after: {}", load_average());
}
