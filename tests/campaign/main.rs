//! A CTS-style randomized fault campaign (issue 18 item 6): a seeded run
//! picks faults from a menu (tests/campaign/faults.rs), injects each into
//! a lab (two nodes, or n1, n2 and a witness with etcd) while a client
//! writes numbered records through the VIP, heals it, waits until the
//! cluster settles and audits it (tests/campaign/audit.rs). Any failed
//! audit stops the run with the seed to replay it; the exit status is
//! non-zero.
//!
//! ```sh
//! cargo test --test campaign                                  # CI: a short run, random seed
//! CAMPAIGN_ITERATIONS=200 cargo test --test campaign          # the long run
//! CAMPAIGN_LAB=quorum cargo test --test campaign              # against the three-node quorum lab
//! CAMPAIGN_SEED=1234 CAMPAIGN_ITERATIONS=20 cargo test --test campaign   # a replay
//! cargo test --test campaign -- --seed 1234 --iterations 20 --lab pair   # the same
//! ```
//!
//! A test without the libtest harness: it prints as it goes and its
//! summary is the result (docs/RELIABILITY.md).

mod audit;
mod faults;
mod rig;
mod seed;
mod writer;

use std::collections::BTreeMap;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use hareconcile_lab::{privileged, Need};

use faults::{Fault, Kind};
use rig::{Rig, Topology};
use seed::Rng;

/// What `cargo test` runs in CI: a few minutes on a 2-core box.
const DEFAULT_ITERATIONS: u32 = 10;

struct Config {
    seed: u64,
    iterations: u32,
    topology: Topology,
}

impl Config {
    /// `--seed N` / `--iterations N` / `--lab pair|quorum`, else
    /// `CAMPAIGN_SEED` / `CAMPAIGN_ITERATIONS` / `CAMPAIGN_LAB`, else a
    /// fresh seed, the CI default and the two-node lab. Other arguments
    /// (cargo test's filters) are ignored.
    fn read() -> Result<Config, String> {
        let args: Vec<String> = std::env::args().skip(1).collect();
        let given = |flag: &str, env: &str| -> Option<String> {
            args.iter()
                .position(|a| a == flag)
                .and_then(|i| args.get(i + 1).cloned())
                .or_else(|| std::env::var(env).ok().filter(|v| !v.is_empty()))
        };
        let number = |flag: &str, env: &str| -> Result<Option<u64>, String> {
            given(flag, env)
                .map(|v| {
                    v.parse()
                        .map_err(|_| format!("{flag} / {env}: {v:?} is not a whole number"))
                })
                .transpose()
        };
        let topology = match given("--lab", "CAMPAIGN_LAB").as_deref() {
            None | Some("pair") => Topology::Pair,
            Some("quorum") => Topology::Quorum,
            Some(other) => {
                return Err(format!(
                    "--lab / CAMPAIGN_LAB: {other:?} is neither pair nor quorum"
                ))
            }
        };
        Ok(Config {
            topology,
            seed: number("--seed", "CAMPAIGN_SEED")?.unwrap_or_else(seed::fresh),
            iterations: number("--iterations", "CAMPAIGN_ITERATIONS")?
                .map(|n| u32::try_from(n).map_err(|_| format!("{n} iterations is too many")))
                .transpose()?
                .unwrap_or(DEFAULT_ITERATIONS),
        })
    }

    fn replay(&self) -> String {
        let lab = match self.topology {
            Topology::Pair => "",
            Topology::Quorum => "CAMPAIGN_LAB=quorum ",
        };
        format!(
            "{lab}CAMPAIGN_SEED={} CAMPAIGN_ITERATIONS={} cargo test --test campaign",
            self.seed, self.iterations
        )
    }
}

/// The run's figures, for the summary.
#[derive(Default)]
struct Tally {
    iterations: u32,
    faults: BTreeMap<Kind, u32>,
    audits_passed: u32,
    settle_times: Vec<Duration>,
    peak: (usize, u64),
}

fn main() -> ExitCode {
    // What libtest answers to `cargo test -- --list`: one test.
    if std::env::args().any(|a| a == "--list") {
        println!("campaign: test");
        return ExitCode::SUCCESS;
    }
    let config = match Config::read() {
        Ok(config) => config,
        Err(e) => {
            eprintln!("campaign: {e}");
            return ExitCode::from(2);
        }
    };
    println!(
        "campaign: seed {} for {} iterations on the {:?} lab; replay: {}",
        config.seed,
        config.iterations,
        config.topology,
        config.replay()
    );
    if !privileged(Need::Docker) {
        return ExitCode::SUCCESS;
    }
    let started = Instant::now();
    let mut tally = Tally::default();
    let mut ledger = audit::Ledger::new(config.topology == Topology::Quorum);
    let outcome = run(&config, &mut tally, &mut ledger);
    println!(
        "campaign summary: seed {seed}, {done}/{planned} iterations in {mins:.1} min; \
         faults {faults}; audits passed {audits}; writes committed {committed}, \
         checked {checks} times, lost {lost}; acknowledged but never copied (lost with \
         their master, not promised without quorum) {unreplicated}; settle median {median:?}, \
         max {max:?}; agent peak {fds} fds, {rss} KiB RSS",
        seed = config.seed,
        done = tally.iterations,
        planned = config.iterations,
        mins = started.elapsed().as_secs_f64() / 60.0,
        faults = tally
            .faults
            .iter()
            .map(|(k, n)| format!("{k} {n}"))
            .collect::<Vec<_>>()
            .join(", "),
        audits = tally.audits_passed,
        committed = ledger.committed.len(),
        checks = ledger.checks,
        lost = ledger.lost,
        unreplicated = ledger.unreplicated_lost,
        median = median(&mut tally.settle_times),
        max = tally.settle_times.iter().max().copied().unwrap_or_default(),
        fds = tally.peak.0,
        rss = tally.peak.1,
    );
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("campaign FAILED: {e}\nreplay: {}", config.replay());
            ExitCode::FAILURE
        }
    }
}

fn median(times: &mut [Duration]) -> Duration {
    times.sort();
    times.get(times.len() / 2).copied().unwrap_or_default()
}

fn run(config: &Config, tally: &mut Tally, ledger: &mut audit::Ledger) -> Result<(), String> {
    let mut rng = Rng::new(config.seed);
    let mut rig = Rig::start(config.topology);
    let (master, took) = audit::settle(&rig).map_err(|e| fail(&rig, "start", &e))?;
    println!(
        "campaign: settled on {} in {took:.1?}",
        rig.node(master).name()
    );
    let writer = writer::Writer::start(rig.lab.client());
    let mut terms = [None, None];
    for iteration in 1..=config.iterations {
        let at = format!("iteration {iteration}");
        let committed = ledger
            .commit(&rig, &writer.acked())
            .map_err(|e| fail(&rig, &at, &e))?;
        let fault = Fault::pick(&mut rng, config.topology);
        let what = fault.describe(&rig);
        fault.inject(&mut rig);
        std::thread::sleep(fault.hold);
        let at = format!("{at} ({what})");
        fault.heal(&mut rig).map_err(|e| fail(&rig, &at, &e))?;
        *tally.faults.entry(fault.kind).or_default() += 1;
        let (master, took) = audit::settle(&rig).map_err(|e| fail(&rig, &at, &e))?;
        tally.settle_times.push(took);
        // One master, the Service on one node: settling checked both.
        tally.audits_passed += 2;
        let audits = [
            audit::no_stray_vip(&rig, master),
            audit::terms_grow(&rig, &mut terms),
            ledger.check(&rig, master, &writer.acked()),
            audit::agents_healthy(&mut rig, &mut tally.peak),
        ];
        for result in audits {
            result.map_err(|e| fail(&rig, &at, &e))?;
            tally.audits_passed += 1;
        }
        tally.iterations = iteration;
        println!(
            "iteration {iteration}/{n}: {what} for {hold:.1?}; settled on {master} in \
             {took:.1?}; +{committed} writes committed ({total} in all), {unreplicated} \
             never copied; terms {terms:?}",
            n = config.iterations,
            hold = fault.hold,
            master = rig.node(master).name(),
            total = ledger.committed.len(),
            unreplicated = ledger.unreplicated_lost,
        );
    }
    let attempted = writer.stop();
    println!("campaign: the client attempted {attempted} writes");
    Ok(())
}

/// Prints what the agents last logged and returns the failure to report.
fn fail(rig: &Rig, at: &str, what: &str) -> String {
    eprintln!("{}", rig.logs(60));
    format!("{at}: {what}")
}
