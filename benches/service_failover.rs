//! A Compose stack's client-observed outage when the master node is lost,
//! hareconcile (active-passive, warm, and warm with a paused standby) vs
//! the seeds' design (keepalived whose notify_master runs `docker-compose up -d
//! --no-recreate` and notify_backup `docker-compose down`), under the
//! standard benchmark conditions of DESIGN.md; and the time to start the
//! same stack, hareconcile's engine vs `docker-compose up -d`. Prints
//! Markdown tables for docs/PERFORMANCE.md.
//!
//!   cargo bench --bench service_failover              # 5 alternating runs each
//!   RUNS=9 PARTS=outage cargo bench --bench service_failover
//!   RUNS=1 SHOW_LOGS=1 PARTS=outage cargo bench --bench service_failover  # n2's log
//!
//! Lab: two nodes (priority 110 and 100), each with its own dockerd, and a
//! client; VRRPv3 at 50 ms adverts on both designs; the stack is busybox:
//! web (httpd on :8080, published) depending on a worker, and an idle
//! third service. The client fetches http://VIP:8080/ every 10 ms; node
//! loss detaches n1's veth from the bridge; the figure is the longest
//! window with no answer.

mod common;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use common::{holds_vip, median, vip, wait_until, Prober, VRID};
use hareconcile_compose::engine::Engine;
use hareconcile_compose::file::{load, LoadOptions};
use hareconcile_lab::{busybox_image, Dockerd, Host, Lab, Process, VrrpInstance};

const ADVERT: Duration = Duration::from_millis(50);
const PROJECT: &str = "shop";

#[derive(Clone, Copy, Debug, PartialEq)]
enum Design {
    ActivePassive,
    Warm,
    /// `warm` with `standby: paused`.
    WarmPaused,
    /// keepalived + docker-compose in notify scripts.
    Seeds,
}

fn write_compose(dir: &Path, image: &str) -> PathBuf {
    let path = dir.join("compose.yaml");
    std::fs::write(
        &path,
        format!(
            "services:\n  web:\n    image: {image}\n    command: httpd -f -p 8080 -h /www\n    ports: [\"8080:8080\"]\n    depends_on: [worker]\n    init: true\n    stop_grace_period: 1s\n  worker:\n    image: {image}\n    command: sleep 3600\n    init: true\n    stop_grace_period: 1s\n  idle:\n    image: {image}\n    command: sleep 3600\n    init: true\n    stop_grace_period: 1s\n"
        ),
    )
    .unwrap();
    path
}

fn start_agent(lab: &Lab, host: &Host, dockerd: &Dockerd, compose: &Path, mode: &str) -> Process {
    let service = format!(
        "---\napiVersion: hareconcile.io/v1alpha1\nkind: Service\nmetadata: {{name: shop}}\nspec:\n  cluster: lab\n  followVirtualIP: web\n  {mode}\n  compose: {{file: {compose}, project: {PROJECT}}}\n",
        compose = compose.display(),
    );
    let manifests = common::two_node_manifests(ADVERT) + &service;
    common::start_agent(lab, host, &manifests, &["--docker-host", dockerd.uri()])
}

/// keepalived with the seeds' notify scripts, talking to this node's
/// dockerd. keepalived runs notify scripts without waiting for the last
/// one: at start-up the `down` of entering BACKUP and the `up` of becoming
/// MASTER a moment later overlapped here and left the stack stopped, so
/// they take turns through flock(1) (uncontended on the failover itself).
fn start_seeds(lab: &Lab, host: &Host, dockerd: &Dockerd, compose: &Path, priority: u8) -> Process {
    let dir = lab.dir().join(format!("seeds-{}", host.name()));
    std::fs::create_dir_all(&dir).unwrap();
    let script = |name: &str, command: &str| {
        let path = dir.join(name);
        hareconcile_runtime::testing::write_executable(
            &path,
            &format!(
                "#!/bin/sh\nexport DOCKER_HOST={uri}\nexec flock {lock} docker-compose -p {PROJECT} -f {compose} {command} >>{log} 2>&1\n",
                lock = dir.join("notify.lock").display(),
                uri = dockerd.uri(),
                compose = compose.display(),
                log = dir.join(format!("{name}.log")).display(),
            ),
        );
        path.display().to_string()
    };
    let mut instance = VrrpInstance::new(VRID, priority, ADVERT, format!("{}/24", vip()));
    instance.notify_master = Some(script("notify-master.sh", "up -d --no-recreate"));
    instance.notify_backup = Some(script("notify-backup.sh", "down"));
    hareconcile_lab::start_keepalived(lab, host, 3, &[instance]).unwrap()
}

/// (all, running) container counts on a daemon.
/// How many of the daemon's containers exist, run, and are paused.
fn containers(dockerd: &Dockerd) -> (usize, usize, usize) {
    let count = |args: &[&str]| {
        dockerd
            .docker(args)
            .map(|o| o.stdout.lines().count())
            .unwrap_or(usize::MAX)
    };
    (
        count(&["ps", "-a", "--quiet"]),
        count(&["ps", "--quiet", "--filter", "status=running"]),
        count(&["ps", "--quiet", "--filter", "status=paused"]),
    )
}

/// One master node loss; the longest window without an answer.
fn outage(design: Design) -> Duration {
    let lab = Lab::builder()
        .nodes(2)
        .client(true)
        .build()
        .expect("lab (run as root)");
    let (n1, n2) = (lab.node(1), lab.node(2));
    let dockerds = [n1.start_dockerd().unwrap(), n2.start_dockerd().unwrap()];
    let image = busybox_image(dockerds[0].uri()).unwrap();
    busybox_image(dockerds[1].uri()).unwrap();
    let compose = write_compose(lab.dir(), &image);
    let mut processes = Vec::new();
    for (i, priority) in [(0, 110), (1, 100)] {
        let host = lab.node(i + 1);
        processes.push(match design {
            Design::ActivePassive => {
                start_agent(&lab, host, &dockerds[i], &compose, "mode: active-passive")
            }
            Design::Warm => start_agent(&lab, host, &dockerds[i], &compose, "mode: warm"),
            Design::WarmPaused => start_agent(
                &lab,
                host,
                &dockerds[i],
                &compose,
                "mode: warm\n  standby: paused",
            ),
            Design::Seeds => start_seeds(&lab, host, &dockerds[i], &compose, priority),
        });
        // n2 starts once n1 is master, so it never wins a start-up
        // election and races its own notify scripts (up, then down).
        if i == 0 {
            let elected = wait_until(Duration::from_secs(60), || holds_vip(n1));
            assert!(elected, "{design:?}: n1 never became master");
        }
    }
    // The backup's stack as each design leaves it: created and stopped
    // (warm), started and paused, or absent.
    let standby = match design {
        Design::Warm => (3, 0, 0),
        Design::WarmPaused => (3, 0, 3),
        _ => (0, 0, 0),
    };
    let prober = Prober::start(&lab.client().netns_path());
    let settled = wait_until(Duration::from_secs(90), || {
        holds_vip(n1)
            && !holds_vip(n2)
            && containers(&dockerds[0]) == (3, 3, 0)
            && containers(&dockerds[1]) == standby
            && prober.answered_after(Instant::now() - Duration::from_millis(100))
    });
    assert!(
        settled,
        "{design:?}: never settled with n1 serving: n1 {:?}, n2 {:?}",
        containers(&dockerds[0]),
        containers(&dockerds[1])
    );
    // Let the backup settle and the client be answered steadily.
    std::thread::sleep(Duration::from_secs(1));

    let lost_at = Instant::now();
    lab.node_loss(n1).unwrap();
    let served = wait_until(Duration::from_secs(60), || {
        prober.answered_after(lost_at + Duration::from_millis(50))
    });
    assert!(served, "{design:?}: n2 never served the stack");
    std::thread::sleep(Duration::from_millis(500));
    let worst = prober.longest_gap(lost_at, &format!("{design:?}"));
    if std::env::var_os("SHOW_LOGS").is_some() {
        // What n2's speaker did, to see where the time went.
        eprintln!(
            "--- {design:?} n2, {} ms:\n{}",
            common::ms(worst),
            processes[1].log()
        );
    }
    drop(processes);
    worst
}

fn docker_compose(dockerd: &Dockerd, compose: &Path, args: &[&str]) {
    let status = std::process::Command::new("docker-compose")
        .env("DOCKER_HOST", dockerd.uri())
        .args(["-p", PROJECT, "-f"])
        .arg(compose)
        .args(args)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .unwrap();
    assert!(status.success(), "docker-compose {args:?} failed");
}

/// Times to start the stack from nothing (no containers, no network):
/// hareconcile's engine (connect, load the file, up) and `docker-compose
/// up -d`, alternating.
fn start_times(runs: usize) -> (Vec<Duration>, Vec<Duration>) {
    let lab = Lab::builder().nodes(1).build().expect("lab (run as root)");
    let dockerd = lab.node(1).start_dockerd().unwrap();
    let image = busybox_image(dockerd.uri()).unwrap();
    let compose = write_compose(lab.dir(), &image);
    let tokio = tokio::runtime::Runtime::new().unwrap();
    let (mut ours, mut theirs) = (Vec::new(), Vec::new());
    for _ in 0..runs {
        docker_compose(&dockerd, &compose, &["down"]);
        let started = Instant::now();
        tokio.block_on(async {
            let engine = Engine::connect(dockerd.uri()).await.unwrap();
            let options = LoadOptions {
                project_name: Some(PROJECT.into()),
                ..LoadOptions::default()
            };
            let project = load(&compose, &options).unwrap();
            engine.up(&project).await.unwrap();
        });
        ours.push(started.elapsed());
        assert_eq!(containers(&dockerd), (3, 3, 0));

        docker_compose(&dockerd, &compose, &["down"]);
        let started = Instant::now();
        docker_compose(&dockerd, &compose, &["up", "-d"]);
        theirs.push(started.elapsed());
        assert_eq!(containers(&dockerd), (3, 3, 0));
    }
    (ours, theirs)
}

fn main() {
    if !std::env::args().any(|a| a == "--bench") {
        return;
    }
    let runs = common::runs_wanted();
    let parts = std::env::var("PARTS").unwrap_or_else(|_| "outage,start".into());
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    println!("load average at start: {}", load.trim());
    if parts.contains("outage") {
        let designs = [
            Design::ActivePassive,
            Design::Warm,
            Design::WarmPaused,
            Design::Seeds,
        ];
        let mut samples = [Vec::new(), Vec::new(), Vec::new(), Vec::new()];
        // Alternate so drift in machine load hits every design alike.
        for run in 0..runs {
            for (i, design) in designs.into_iter().enumerate() {
                let took = outage(design);
                eprintln!("run {run} {design:?}: {} ms", common::ms(took));
                samples[i].push(took);
            }
        }
        let seeds = median(samples[3].clone());
        println!("| design (50 ms adverts) | median outage | ratio to the seeds | runs (ms) |");
        println!("|---|---|---|---|");
        for (i, name) in [
            "hareconcile, active-passive",
            "hareconcile, warm",
            "hareconcile, warm with standby: paused",
            "seeds: keepalived + docker-compose",
        ]
        .into_iter()
        .enumerate()
        {
            let m = median(samples[i].clone());
            println!(
                "| {name} | {} ms | {:.2} | {} |",
                common::ms(m),
                m.as_secs_f64() / seeds.as_secs_f64(),
                common::runs(&samples[i]),
            );
        }
    }
    if parts.contains("start") {
        let (ours, theirs) = start_times(runs.max(7));
        let (m_ours, m_theirs) = (median(ours.clone()), median(theirs.clone()));
        println!("| start the 3-service stack | median | runs (ms) |");
        println!("|---|---|---|");
        println!(
            "| hareconcile engine | {} ms | {} |",
            common::ms(m_ours),
            common::runs(&ours)
        );
        println!(
            "| docker-compose up -d | {} ms | {} |",
            common::ms(m_theirs),
            common::runs(&theirs)
        );
        println!(
            "| ratio | {:.2} | |",
            m_ours.as_secs_f64() / m_theirs.as_secs_f64()
        );
    }
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    println!("load average at end: {}", load.trim());
}
