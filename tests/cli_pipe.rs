//! A reader that goes away (`hareconcile ... | head -1`) ends a command
//! quietly: exit 0, nothing on stderr, no panic (issue 19).

use hareconcile_test_support as support;

use std::os::fd::{FromRawFd, OwnedFd};
use std::process::{Command, Output};

use support::{expect_code, Agent, CLUSTER};

/// Runs `command` with stdout a pipe whose reading end is already closed,
/// so that its first write fails with EPIPE, as `| head -1` does once head
/// has its line (and without the race of closing it while it writes).
fn into_closed_pipe(mut command: Command) -> Output {
    let mut fds = [0; 2];
    // SAFETY: pipe(2) fills both descriptors on success; each is owned once.
    assert_eq!(unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) }, 0);
    let (reader, writer) = unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) };
    drop(reader);
    command.stdout(writer).output().expect("run hareconcile")
}

fn assert_quiet(out: &Output, what: &str) {
    assert_eq!(
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stderr).as_ref()
        ),
        (Some(0), ""),
        "{what} into a closed pipe"
    );
}

#[test]
fn commands_without_an_agent_end_quietly_on_a_closed_pipe() {
    for args in [
        &["schema", "virtualip"][..],
        &["validate", "-f", "manifests"],
        &["completions", "bash"],
    ] {
        let mut command = Command::new(support::bin());
        command.args(args).current_dir(env!("CARGO_MANIFEST_DIR"));
        assert_quiet(&into_closed_pipe(command), &args.join(" "));
    }
}

#[test]
fn get_ends_quietly_on_a_closed_pipe() {
    let dir = tempfile::tempdir().unwrap();
    let agent = Agent::start(dir.path(), &[]);
    let cluster = support::write_file(dir.path(), "cluster.yaml", CLUSTER);
    expect_code(&agent.hc(&["apply", "-f", cluster.to_str().unwrap()]), 0);
    for args in [
        &["get", "all", "-o", "yaml"][..],
        &["get", "cluster"],
        &["describe", "cluster", "home"],
    ] {
        let mut command = support::cli(&agent.socket);
        command.args(args);
        assert_quiet(&into_closed_pipe(command), &args.join(" "));
    }
}
