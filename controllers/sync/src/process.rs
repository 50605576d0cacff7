//! Child processes of a pass (rsync, ssh, btrfs, zfs): run off the
//! reconcile path, bounded in time, killed if the pass is abandoned.

use std::process::Stdio;
use std::time::Duration;

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
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    command
}

fn finished(output: std::process::Output) -> Finished {
    Finished {
        success: output.status.success(),
        code: output.status.code(),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}

/// Runs `argv` to completion or kills it after `timeout`.
pub async fn run(argv: &[String], timeout: Duration) -> Result<Finished, ProcessError> {
    let program = argv[0].clone();
    let child = command(argv)
        .spawn()
        .map_err(|source| ProcessError::Spawn {
            program: program.clone(),
            source,
        })?;
    match tokio::time::timeout(timeout, child.wait_with_output()).await {
        Ok(Ok(output)) => Ok(finished(output)),
        Ok(Err(source)) => Err(ProcessError::Spawn { program, source }),
        Err(_) => Err(ProcessError::Timeout { program, timeout }),
    }
}

/// Runs `producer | consumer` (a snapshot stream into ssh); succeeds only
/// if both do. The consumer's output is the one reported, with the
/// producer's complaint prepended when it failed.
pub async fn pipe(
    producer: &[String],
    consumer: &[String],
    timeout: Duration,
) -> Result<Finished, ProcessError> {
    let spawn_error = |program: &String| {
        let program = program.clone();
        move |source| ProcessError::Spawn { program, source }
    };
    let mut first = command(producer)
        .spawn()
        .map_err(spawn_error(&producer[0]))?;
    let stream: Stdio = first
        .stdout
        .take()
        .and_then(|s| s.try_into().ok())
        .ok_or_else(|| ProcessError::Spawn {
            program: producer[0].clone(),
            source: std::io::Error::other("no stdout to pipe"),
        })?;
    let second = command(consumer)
        .stdin(stream)
        .spawn()
        .map_err(spawn_error(&consumer[0]))?;
    let both = async { tokio::join!(first.wait_with_output(), second.wait_with_output()) };
    match tokio::time::timeout(timeout, both).await {
        Ok((Ok(sent), Ok(received))) => {
            let sent = finished(sent);
            let mut received = finished(received);
            if !sent.success {
                received.success = false;
                received.stderr =
                    format!("{}: {}\n{}", producer[0], sent.complaint(), received.stderr);
            }
            Ok(received)
        }
        Ok((Err(source), _)) => Err(ProcessError::Spawn {
            program: producer[0].clone(),
            source,
        }),
        Ok((_, Err(source))) => Err(ProcessError::Spawn {
            program: consumer[0].clone(),
            source,
        }),
        Err(_) => Err(ProcessError::Timeout {
            program: format!("{} | {}", producer[0], consumer[0]),
            timeout,
        }),
    }
}

/// A process kept running until dropped (killed then): one holding a lock
/// on another node, which it releases when its stdin closes.
pub struct Held {
    _child: tokio::process::Child,
}

/// Starts `argv` and waits up to `timeout` for it to print the line
/// `ready` (e.g. once it holds its lock), keeping its stdin open.
pub async fn hold(argv: &[String], ready: &str, timeout: Duration) -> Result<Held, ProcessError> {
    use tokio::io::{AsyncBufReadExt, AsyncReadExt, BufReader};
    let program = argv[0].clone();
    let mut child = command(argv)
        .stdin(Stdio::piped())
        .spawn()
        .map_err(|source| ProcessError::Spawn {
            program: program.clone(),
            source,
        })?;
    let stdout = child.stdout.take().expect("piped");
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
        Ok(true) => Ok(Held { _child: child }),
        Ok(false) => {
            let mut stderr = String::new();
            if let Some(mut s) = child.stderr.take() {
                let _ = s.read_to_string(&mut stderr).await;
            }
            let output = Finished {
                success: false,
                code: child.wait().await.ok().and_then(|s| s.code()),
                stdout: String::new(),
                stderr,
            };
            Err(ProcessError::Ended {
                program,
                why: output.complaint(),
            })
        }
        Err(_) => Err(ProcessError::Timeout { program, timeout }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
        let slow = run(&argv(&["sleep", "30"]), Duration::from_millis(100)).await;
        assert!(matches!(slow, Err(ProcessError::Timeout { .. })));
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
