//! The agent colours its log on a terminal, unless NO_COLOR says not to
//! (issue 19).

use hareconcile_test_support as support;

use std::io::Read;
use std::os::fd::{FromRawFd, OwnedFd};
use std::process::{Command, Stdio};
use std::time::Duration;

/// What the agent writes to a terminal as its stderr until its API is up.
fn log_on_a_terminal(no_color: Option<&str>) -> String {
    let dir = tempfile::tempdir().unwrap();
    let (mut terminal, mut agent_side) = (0, 0);
    // SAFETY: openpty fills both descriptors on success; each is owned once.
    let opened = unsafe {
        libc::openpty(
            &mut terminal,
            &mut agent_side,
            std::ptr::null_mut(),
            std::ptr::null(),
            std::ptr::null(),
        )
    };
    assert_eq!(opened, 0);
    let (terminal, agent_side) = unsafe {
        (
            OwnedFd::from_raw_fd(terminal),
            OwnedFd::from_raw_fd(agent_side),
        )
    };
    let socket = dir.path().join("agent.sock");
    let mut command = Command::new(support::bin());
    command
        .args(["agent", "--node", "n1", "--state-dir"])
        .arg(dir.path().join("store"))
        .arg("--socket")
        .arg(&socket)
        .env_remove("NO_COLOR")
        .stdout(Stdio::null())
        .stderr(agent_side);
    if let Some(value) = no_color {
        command.env("NO_COLOR", value);
    }
    let mut child = command.spawn().unwrap();
    drop(command); // the parent's copy of the terminal's agent side
    assert!(support::wait_until(Duration::from_secs(20), || {
        std::os::unix::net::UnixStream::connect(&socket).is_ok()
    }));
    child.kill().unwrap();
    child.wait().unwrap();
    let mut log = Vec::new();
    // Reading the terminal ends with EIO once no process holds its other side.
    let _ = std::fs::File::from(terminal).read_to_end(&mut log);
    String::from_utf8_lossy(&log).into_owned()
}

#[test]
fn no_color_turns_the_agents_colours_off() {
    let coloured = log_on_a_terminal(None);
    assert!(coloured.contains("\x1b["), "{coloured:?}");
    let plain = log_on_a_terminal(Some("1"));
    assert!(!plain.is_empty() && !plain.contains("\x1b["), "{plain:?}");
}
