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
}
