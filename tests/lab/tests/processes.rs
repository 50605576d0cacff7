//! Running programs in a host: one-shot commands with their output, and
//! long-running ones that die with their handle.

use std::time::Duration;

use hareconcile_lab::{require_privileges, Lab, NodeCommand};

#[test]
fn exec_runs_in_the_host_with_the_given_environment() {
    require_privileges!();
    let lab = Lab::builder().nodes(1).client(false).build().unwrap();
    let n1 = lab.node(1);

    let addr = n1
        .exec(&["ip", "-o", "-4", "address", "show", "dev", "eth0"])
        .unwrap();
    assert!(addr.success());
    assert!(addr.stdout.contains("10.77.0.1/24"), "{}", addr.stdout);

    let cmd = NodeCommand::new("sh")
        .args(["-c", "echo \"$GREETING\"; cat; echo oops >&2; exit 3"])
        .env("GREETING", "hello")
        .stdin("from stdin\n");
    let out = n1.exec(cmd.clone()).unwrap();
    assert_eq!(out.stdout, "hello\nfrom stdin\n");
    assert_eq!(out.stderr, "oops\n");
    assert_eq!(out.status.code(), Some(3));
    let error = n1.exec_ok(cmd).unwrap_err().to_string();
    assert!(error.contains("sh -c") && error.contains("oops"), "{error}");
}

#[test]
fn a_spawned_process_logs_and_dies_with_its_handle() {
    require_privileges!();
    let lab = Lab::builder().nodes(1).client(false).build().unwrap();
    let mut child = lab
        .node(1)
        .spawn(&["sh", "-c", "echo started; sleep 600 & wait"])
        .unwrap();
    assert_eq!(
        child.wait_timeout(Duration::from_millis(200)).unwrap(),
        None
    );
    assert_eq!(child.log(), "started\n");

    // Processes whose network namespace is n1's: the shell and its sleep.
    let in_n1 = || -> Vec<String> {
        let out = std::process::Command::new("ip")
            .args(["netns", "pids", lab.node(1).netns()])
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout)
            .split_whitespace()
            .map(str::to_owned)
            .collect()
    };
    assert!(in_n1().contains(&child.pid().to_string()));
    assert_eq!(in_n1().len(), 2, "{:?}", in_n1());
    drop(child);
    // The killed sleep is reaped by init, not by us: give it a moment.
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while !in_n1().is_empty() && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(
        in_n1().is_empty(),
        "the shell's sleep outlived it: {:?}",
        in_n1()
    );
}
