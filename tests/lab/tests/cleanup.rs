//! Nothing of a lab survives it: not after a normal drop, not after a panic,
//! not after its whole process was SIGKILLed (the next build sweeps it).

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::Mutex;

use hareconcile_lab::{leftovers, require_privileges, Lab, LabId};

const VICTIM_ENV: &str = "HARECONCILE_LAB_VICTIM";

/// A lab with a long-running process in a node, as tests leave them.
fn busy_lab() -> (Lab, hareconcile_lab::Process) {
    let lab = Lab::builder().nodes(2).client(true).build().unwrap();
    let sleeper = lab
        .node(1)
        .spawn(&["sh", "-c", "sleep 600 & sleep 600"])
        .unwrap();
    (lab, sleeper)
}

#[test]
fn a_dropped_lab_leaves_nothing_behind() {
    require_privileges!();
    let (lab, sleeper) = busy_lab();
    let id = lab.id().clone();
    let before = leftovers(&id);
    assert_eq!(before.namespaces.len(), 4, "{before:?}");
    assert!(before.processes.contains(&sleeper.pid()), "{before:?}");
    assert!(
        before.links.is_empty(),
        "no veth stays in the root namespace: {before:?}"
    );

    // The lab goes first: it must kill the process even while its handle lives.
    drop(lab);
    let after = leftovers(&id);
    assert!(after.is_empty(), "{after:?}");
    drop(sleeper);
}

#[test]
fn a_panicking_test_leaves_nothing_behind() {
    require_privileges!();
    let id = Mutex::new(None);
    let result = std::panic::catch_unwind(|| {
        let (lab, _sleeper) = busy_lab();
        *id.lock().unwrap() = Some(lab.id().clone());
        panic!("the test fails with a lab in scope");
    });
    assert!(result.is_err());
    let id = id.into_inner().unwrap().expect("the lab was built");
    let after = leftovers(&id);
    assert!(after.is_empty(), "{after:?}");
}

/// Run by `a_sigkilled_test_run_is_swept_by_the_next_build` in a child
/// process: builds a lab, reports its id and waits to be killed.
#[test]
#[ignore = "helper, started by a_sigkilled_test_run_is_swept_by_the_next_build"]
fn victim_holds_a_lab_until_killed() {
    if std::env::var_os(VICTIM_ENV).is_none() {
        return;
    }
    let (lab, _sleeper) = busy_lab();
    println!("LAB_ID={}", lab.id());
    std::thread::sleep(std::time::Duration::from_secs(600));
}

#[test]
fn a_sigkilled_test_run_is_swept_by_the_next_build() {
    require_privileges!();
    let mut victim = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "victim_holds_a_lab_until_killed",
            "--ignored",
            "--nocapture",
        ])
        .env(VICTIM_ENV, "1")
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let id_line = BufReader::new(victim.stdout.take().unwrap())
        .lines()
        .map(Result::unwrap)
        .find_map(|line| line.strip_prefix("LAB_ID=").map(str::to_owned))
        .expect("the victim reports its lab");
    let id = LabId::owner_of(&id_line).unwrap();
    assert_eq!(id.creator_pid(), victim.id());

    victim.kill().unwrap();
    victim.wait().unwrap();
    let orphaned = leftovers(&id);
    assert!(
        !orphaned.namespaces.is_empty() && !orphaned.processes.is_empty(),
        "{orphaned:?}"
    );

    let _next = Lab::builder().nodes(1).client(false).build().unwrap();
    let after = leftovers(&id);
    assert!(after.is_empty(), "{after:?}");
}
