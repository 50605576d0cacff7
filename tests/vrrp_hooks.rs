//! Notify hooks of a running agent: a hook that hangs is killed at
//! `notify.timeout` with what it started and the next hook runs; on
//! SIGTERM the hook still running is killed, the STOP hook runs, and no
//! hook process outlives the agent. Hooks run at normal priority, while
//! the VRRP thread that starts them is real-time.

mod vrrp_lab;

use hareconcile_runtime::testing::{assert_dies, runs, write_executable};
use vrrp_lab::*;

/// The pids of the processes whose command line mentions `path`.
fn running_with(path: &Path) -> Vec<i32> {
    let needle = path.display().to_string();
    std::fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .filter_map(|entry| entry.file_name().to_str()?.parse::<i32>().ok())
        .filter(|pid| {
            let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
            String::from_utf8_lossy(&cmdline).contains(&needle) && runs(*pid)
        })
        .collect()
}

/// Writes an executable shell script `dir/name`.
fn script(dir: &Path, name: &str, body: &str) -> PathBuf {
    let path = dir.join(name);
    write_executable(&path, &format!("#!/bin/sh\n{body}"));
    path
}

#[test]
fn a_hung_hook_is_killed_later_hooks_run_and_stop_runs_at_shutdown() {
    let lab = two_nodes!();
    let (n1, _) = lab.pair();
    let hooks = Agent::dir_of(&lab, n1).join("hooks");
    std::fs::create_dir_all(&hooks).unwrap();
    let log = hooks.join("log");
    // MASTER and BACKUP hang on a background sleep, which outlives the
    // script unless its whole group dies; each logs `STATE SLEEP_PID`,
    // and `end STATE` if it ever finishes. STOP logs and returns.
    let hang = script(
        &hooks,
        "hang.sh",
        &format!(
            "sleep 1000 &\n\
             echo \"$HARECONCILE_STATE $!\" >> {log}\n\
             wait\n\
             echo \"end $HARECONCILE_STATE\" >> {log}\n",
            log = log.display()
        ),
    );
    let stop = script(
        &hooks,
        "stop.sh",
        &format!("echo STOP >> {}\n", log.display()),
    );
    let notify = format!(
        ", notify: {{master: [{hang}], backup: [{hang}], stop: [{stop}], timeout: 2s}}",
        hang = hang.display(),
        stop = stop.display()
    );
    let manifest = |more: &str| {
        let vip = web_vip_manifest(&format!("{notify}{more}"));
        Agent::write_manifest(&lab, n1, &(cluster_manifest((110, 100), "") + &vip));
    };
    manifest("");
    let lines = || {
        std::fs::read_to_string(&log)
            .unwrap_or_default()
            .lines()
            .map(str::to_string)
            .collect::<Vec<_>>()
    };
    // `(state, pid of its sleep)` of each hook started so far.
    let started = || {
        lines()
            .iter()
            .filter_map(|line| {
                let (state, pid) = line.split_once(' ')?;
                Some((state.to_string(), pid.parse::<i32>().ok()?))
            })
            .collect::<Vec<_>>()
    };

    // n2 runs no agent: n1 starts as backup and becomes master on its
    // own, each hook hanging until its timeout kills it.
    let mut agent = Agent::start_with_manifests(&lab, n1);
    assert!(
        wait_until(CONVERGE * 3, || started()
            .last()
            .is_some_and(|(state, _)| state == "MASTER")),
        "the MASTER hook never ran: {:?}\n{}",
        lines(),
        agent.log()
    );
    for (_, sleep) in started() {
        assert_dies(sleep);
    }
    assert!(
        agent.log().contains("notify hook killed"),
        "{}",
        agent.log()
    );

    // The next transition's hook runs after the killed ones.
    let before = started().len();
    manifest(", control: {forceBackup: [n1]}");
    assert!(
        wait_until(CONVERGE * 3, || started().len() > before),
        "no hook ran after the killed ones: {:?}\n{}",
        lines(),
        agent.log()
    );
    let (state, sleep) = started().last().cloned().unwrap();
    assert_eq!(state, "BACKUP");
    assert!(runs(sleep), "the BACKUP hook hangs until stopped");

    // SIGTERM while the BACKUP hook hangs: it is killed, STOP runs, and
    // the agent exits.
    agent.process.signal(libc::SIGTERM);
    let exited = agent.process.wait_timeout(Duration::from_secs(60)).unwrap();
    assert!(
        exited.is_some_and(|status| status.success()),
        "{exited:?}\n{}",
        agent.log()
    );
    assert_dies(sleep);
    assert_eq!(
        lines().last().map(String::as_str),
        Some("STOP"),
        "{:?}",
        lines()
    );
    assert!(
        !lines().iter().any(|l| l.starts_with("end ")),
        "a hook finished instead of being killed: {:?}",
        lines()
    );
    let survivors = running_with(&hooks);
    assert!(
        survivors.is_empty(),
        "hook processes outlived the agent: {survivors:?}"
    );
}

/// `(rt_priority, policy)` from a `/proc/.../stat` line: fields 40 and 41,
/// counted after the command name, which may hold spaces.
fn scheduling_in(stat: &str) -> (u32, u32) {
    let after_name = &stat[stat.rfind(')').expect("a stat line") + 2..];
    let fields: Vec<&str> = after_name.split_whitespace().collect();
    // `after_name` starts at field 3, the state.
    (
        fields[40 - 3].parse().unwrap(),
        fields[41 - 3].parse().unwrap(),
    )
}

/// Every thread of `pid`: its name and `(rt_priority, policy)`.
fn threads_of(pid: u32) -> Vec<(String, (u32, u32))> {
    std::fs::read_dir(format!("/proc/{pid}/task"))
        .unwrap()
        .flatten()
        .filter_map(|task| {
            let comm = std::fs::read_to_string(task.path().join("comm")).ok()?;
            let stat = std::fs::read_to_string(task.path().join("stat")).ok()?;
            Some((comm.trim_end().to_string(), scheduling_in(&stat)))
        })
        .collect()
}

#[test]
fn the_vrrp_thread_runs_at_real_time_priority_and_its_hooks_do_not() {
    let lab = two_nodes!();
    let (n1, _) = lab.pair();
    let hooks = Agent::dir_of(&lab, n1).join("hooks");
    std::fs::create_dir_all(&hooks).unwrap();
    // The MASTER hook keeps its own scheduling, as /proc shows it.
    let stat = hooks.join("master.stat");
    let master = script(
        &hooks,
        "master.sh",
        &format!(
            "cat /proc/$$/stat > {stat}.part && mv {stat}.part {stat}\n",
            stat = stat.display()
        ),
    );
    let notify = format!(", notify: {{master: [{}]}}", master.display());
    let vip = web_vip_manifest(&notify);
    Agent::write_manifest(&lab, n1, &(cluster_manifest((110, 100), "") + &vip));
    let agent = Agent::start_with_manifests(&lab, n1);
    assert!(
        wait_until(CONVERGE * 3, || stat.exists()),
        "the MASTER hook never ran\n{}",
        agent.log()
    );

    if agent.log().contains("VRRP thread at normal priority") {
        let why = "the kernel refused SCHED_RR here (no CAP_SYS_NICE, or a cgroup without real-time budget)";
        assert!(std::env::var_os("CI").is_none(), "{why}\n{}", agent.log());
        eprintln!("skipping: {why}");
        return;
    }
    const SCHED_OTHER: u32 = 0;
    const SCHED_RR: u32 = 2;
    let threads = threads_of(agent.process.pid());
    let vrrp: Vec<_> = threads.iter().filter(|(name, _)| name == "vrrp").collect();
    assert_eq!(
        vrrp,
        [&("vrrp".to_string(), (10, SCHED_RR))],
        "one VRRP thread at SCHED_RR 10 (the default --vrrp-rt-priority): {threads:?}"
    );
    let others: Vec<_> = threads
        .iter()
        .filter(|(name, scheduling)| name != "vrrp" && *scheduling != (0, SCHED_OTHER))
        .collect();
    assert!(
        others.is_empty(),
        "only the VRRP thread is real-time: {threads:?}"
    );
    let hook = std::fs::read_to_string(&stat).unwrap();
    assert_eq!(
        scheduling_in(&hook),
        (0, SCHED_OTHER),
        "a hook must never run at real-time priority: {hook}"
    );
    let metrics = agent.metrics();
    assert!(
        metrics.contains("\nhareconcile_vrrp_rt_priority{node=\"n1\"} 10\n"),
        "{metrics}"
    );
}
