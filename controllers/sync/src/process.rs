//! Child processes of a pass (rsync, ssh, btrfs, zfs): run off the
//! reconcile path, bounded in time, killed if the pass is abandoned. Each
//! runs in a process group of its own, killed whole, so what it started
//! (ssh under rsync, a script's children) never outlives it.

use std::process::Stdio;
use std::time::Duration;

use hareconcile_runtime::process_group::{Ended, GroupChild};
use tokio::process::Command;

#[derive(Debug, thiserror::Error)]
pub enum ProcessError {
    #[error("cannot run {program}: {source}")]
    Spawn {
        program: String,
        source: std::io::Error,
    },
    #[error("{program} did not finish within {timeout:?}")]
    Timeout { program: String, timeout: Duration },
    #[error("{program} ended before it was ready: {why}")]
    Ended { program: String, why: String },
}

/// What a finished command said.
#[derive(Debug, Clone)]
pub struct Finished {
    pub success: bool,
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

impl Finished {
    /// The last lines of stderr, for an error message.
    pub fn complaint(&self) -> String {
        let lines: Vec<&str> = self.stderr.lines().filter(|l| !l.is_empty()).collect();
        let tail = lines[lines.len().saturating_sub(3)..].join("; ");
        match (tail.is_empty(), self.code) {
            (false, _) => tail,
            (true, Some(code)) => format!("exit status {code}"),
            (true, None) => "killed by a signal".into(),
        }
    }
}

fn command(argv: &[String]) -> Command {
    let mut command = Command::new(&argv[0]);
    command
        .args(&argv[1..])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    command
}

fn spawn(command: &mut Command) -> Result<GroupChild, ProcessError> {
    let program = command
        .as_std()
        .get_program()
        .to_string_lossy()
        .into_owned();
    GroupChild::spawn(command).map_err(|ended| ended_early(ended, &program))
}

/// Why `program`'s run did not finish; `Cancelled` cannot happen, as
/// nothing here cancels.
fn ended_early(ended: Ended, program: &str) -> ProcessError {
    match ended {
        Ended::Spawn { program, source } => ProcessError::Spawn { program, source },
        Ended::Timeout(timeout) => ProcessError::Timeout {
            program: program.to_string(),
            timeout,
        },
        Ended::Cancelled | Ended::Wait(_) => ProcessError::Ended {
            program: program.to_string(),
            why: ended.to_string(),
        },
    }
}

fn finished(output: std::process::Output) -> Finished {
    Finished {
        success: output.status.success(),
        code: output.status.code(),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}

/// Runs `argv` to completion, or kills it with all it started after
/// `timeout`.
pub async fn run(argv: &[String], timeout: Duration) -> Result<Finished, ProcessError> {
    spawn(&mut command(argv))?
        .output(timeout, std::future::pending())
        .await
        .map(finished)
        .map_err(|ended| ended_early(ended, &argv[0]))
}

/// Runs `producer | consumer` (a snapshot stream into ssh); succeeds only
/// if both do. The consumer's output is the one reported, with the
/// producer's complaint prepended when it failed. Each runs in a process
/// group of its own; at `timeout` both are killed whole.
pub async fn pipe(
    producer: &[String],
    consumer: &[String],
    timeout: Duration,
) -> Result<Finished, ProcessError> {
    let mut first = spawn(&mut command(producer))?;
    let stream: Stdio = first
        .child_mut()
        .stdout
        .take()
        .and_then(|s| s.try_into().ok())
        .ok_or_else(|| ProcessError::Spawn {
            program: producer[0].clone(),
            source: std::io::Error::other("no stdout to pipe"),
        })?;
    let second = spawn(command(consumer).stdin(stream))?;
    let never = std::future::pending;
    match tokio::join!(
        first.output(timeout, never()),
        second.output(timeout, never())
    ) {
        (Ok(sent), Ok(received)) => {
            let sent = finished(sent);
            let mut received = finished(received);
            if !sent.success {
                received.success = false;
                received.stderr =
                    format!("{}: {}\n{}", producer[0], sent.complaint(), received.stderr);
            }
            Ok(received)
        }
        (Err(Ended::Timeout(_)), _) | (_, Err(Ended::Timeout(_))) => Err(ProcessError::Timeout {
            program: format!("{} | {}", producer[0], consumer[0]),
            timeout,
        }),
        (Err(ended), _) => Err(ended_early(ended, &producer[0])),
        (_, Err(ended)) => Err(ended_early(ended, &consumer[0])),
    }
}

/// A process kept running until dropped (killed then, with all it
/// started): one holding a lock on another node, which it releases when
/// it ends.
pub struct Held {
    _child: GroupChild,
}

/// Starts `argv` and waits up to `timeout` for it to print the line
/// `ready` (e.g. once it holds its lock), keeping its stdin open.
pub async fn hold(argv: &[String], ready: &str, timeout: Duration) -> Result<Held, ProcessError> {
    use tokio::io::{AsyncBufReadExt, BufReader};
    let program = argv[0].clone();
    let mut child = spawn(command(argv).stdin(Stdio::piped()))?;
    let stdout = child.child_mut().stdout.take().expect("piped");
    let mut lines = BufReader::new(stdout).lines();
    let wait = async {
        while let Ok(Some(line)) = lines.next_line().await {
            if line.trim() == ready {
                return true;
            }
        }
        false
    };
    match tokio::time::timeout(timeout, wait).await {
        Ok(true) => return Ok(Held { _child: child }),
        Ok(false) => {}
        Err(_) => return Err(ProcessError::Timeout { program, timeout }),
    }
    // It closed its stdout without saying it is ready: it is ending.
    drop(child.child_mut().stdin.take());
    match child.output(timeout, std::future::pending()).await {
        Ok(output) => Err(ProcessError::Ended {
            program,
            why: finished(output).complaint(),
        }),
        Err(ended) => Err(ended_early(ended, &program)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use hareconcile_runtime::testing::{assert_child_died, hung_command};

    fn argv(words: &[&str]) -> Vec<String> {
        words.iter().map(|w| w.to_string()).collect()
    }

    #[tokio::test]
    async fn runs_pipes_and_bounds_commands() {
        let out = run(
            &argv(&["sh", "-c", "echo out; echo err >&2; exit 3"]),
            Duration::from_secs(10),
        )
        .await
        .unwrap();
        assert!(!out.success);
        assert_eq!(
            (out.stdout.as_str(), out.complaint()),
            ("out\n", "err".to_string())
        );
        let out = pipe(
            &argv(&["echo", "through"]),
            &argv(&["cat"]),
            Duration::from_secs(10),
        )
        .await
        .unwrap();
        assert!(out.success);
        assert_eq!(out.stdout, "through\n");
        let out = pipe(
            &argv(&["sh", "-c", "echo bad >&2; exit 1"]),
            &argv(&["cat"]),
            Duration::from_secs(10),
        )
        .await
        .unwrap();
        assert!(!out.success);
        assert!(out.complaint().contains("sh: bad"));
    }

    #[tokio::test]
    async fn hung_commands_die_with_their_children() {
        let dir = tempfile::tempdir().unwrap();
        let (alone, piped) = (dir.path().join("alone"), dir.path().join("piped"));
        let slow = run(&hung_command(&alone), Duration::from_millis(300)).await;
        assert!(
            matches!(slow, Err(ProcessError::Timeout { .. })),
            "{slow:?}"
        );
        assert_child_died(&alone);
        // A receive that never ends holds its sender up too.
        let slow = pipe(
            &argv(&["yes"]),
            &hung_command(&piped),
            Duration::from_millis(300),
        )
        .await;
        assert!(
            matches!(slow, Err(ProcessError::Timeout { .. })),
            "{slow:?}"
        );
        assert_child_died(&piped);
    }

    #[tokio::test]
    async fn a_held_lock_is_released_when_dropped() {
        let dir = tempfile::tempdir().unwrap();
        let lock = dir.path().join("lock").display().to_string();
        let holder = || {
            argv(&[
                "flock",
                "-w",
                "1",
                &lock,
                "sh",
                "-c",
                "echo locked; exec cat >/dev/null",
            ])
        };
        let held = hold(&holder(), "locked", Duration::from_secs(10))
            .await
            .unwrap();
        let second = hold(&holder(), "locked", Duration::from_secs(10)).await;
        assert!(
            matches!(second, Err(ProcessError::Ended { .. })),
            "flock -w 1 gave up"
        );
        drop(held);
        hold(&holder(), "locked", Duration::from_secs(10))
            .await
            .expect("free again");
    }
}
