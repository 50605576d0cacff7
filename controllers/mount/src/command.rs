//! mount(8) and umount(8), each bounded in time: a mount helper waiting
//! on a dead server is killed, with what it started, rather than waited
//! for.

use std::io::{Read, Seek, SeekFrom};
use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use hareconcile_model::redact;
use hareconcile_runtime::process_group::{Ended, GroupChild};
use tokio::process::Command;

use crate::desired::DesiredMount;

#[derive(Debug, thiserror::Error)]
pub enum CommandError {
    #[error("{command}: cannot run it: {source}")]
    Spawn {
        command: String,
        source: std::io::Error,
    },
    #[error("{command} failed ({status}): {stderr}")]
    Failed {
        command: String,
        status: std::process::ExitStatus,
        stderr: String,
    },
    #[error("{command} did not finish within {timeout:?}: killed")]
    TimedOut { command: String, timeout: Duration },
    #[error(transparent)]
    Credentials(#[from] hareconcile_fs::SecretError),
}

impl From<CommandError> for hareconcile_runtime::ReconcileError {
    fn from(error: CommandError) -> Self {
        hareconcile_runtime::ReconcileError::system(error)
    }
}

/// How to take a mount away.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unmount {
    /// A plain umount: fails while the mount is busy, so data in use is
    /// never pulled from under a process.
    Clean,
    /// For a stale or hung mount: force aborts requests pending on the dead
    /// server (NFS, FUSE), lazy detaches it even while busy.
    Detach,
}

async fn run(program: &str, args: &[String], timeout: Duration) -> Result<(), CommandError> {
    run_with_env(program, args, &[], timeout).await
}

/// Runs `program`; messages show it with its secrets redacted.
async fn run_with_env(
    program: &str,
    args: &[String],
    env: &[(&str, String)],
    timeout: Duration,
) -> Result<(), CommandError> {
    let command = redact::command_line(program, args.iter().map(String::as_str));
    let spawn_error = |source| CommandError::Spawn {
        command: command.clone(),
        source,
    };
    // stderr goes to a file, not a pipe: a FUSE helper leaves daemons
    // (sshfs, its ssh) holding it open, so a pipe would never reach EOF.
    let mut stderr = tempfile::tempfile().map_err(spawn_error)?;
    let failed = |ended: Ended| match ended {
        Ended::Timeout(_) => CommandError::TimedOut {
            command: command.clone(),
            timeout,
        },
        Ended::Spawn { source, .. } | Ended::Wait(source) => spawn_error(source),
        cancelled @ Ended::Cancelled => spawn_error(std::io::Error::other(cancelled.to_string())),
    };
    // A group of its own: a FUSE helper's daemons die with it at the
    // deadline rather than hang on (they are left alone once it succeeds).
    let mut child = GroupChild::spawn(
        Command::new(program)
            .args(args)
            .envs(env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(stderr.try_clone().map_err(spawn_error)?),
    )
    .map_err(failed)?;
    let status = child
        .wait(timeout, std::future::pending())
        .await
        .map_err(failed)?;
    if status.success() {
        return Ok(());
    }
    let mut message = String::new();
    let _ = stderr
        .seek(SeekFrom::Start(0))
        .and_then(|_| stderr.read_to_string(&mut message));
    Err(CommandError::Failed {
        command,
        status,
        stderr: message.trim().to_string(),
    })
}

/// Creates the mount point if needed, then mounts; a credentials file
/// others may read is refused before the helper sees it.
pub async fn mount(desired: &DesiredMount, timeout: Duration) -> Result<(), CommandError> {
    if let Some(file) = &desired.credentials_file {
        hareconcile_fs::read_secret(file)?;
    }
    let path = desired.path.to_string_lossy().into_owned();
    run("mkdir", &["-p".into(), "--".into(), path], timeout).await?;
    let invocation = desired.invocation();
    run_with_env("mount", &invocation.args, &invocation.env, timeout).await
}

pub async fn unmount(path: &Path, how: Unmount, timeout: Duration) -> Result<(), CommandError> {
    // -c: resolving the path would stat the mount point, which hangs on a
    // hung mount; the path is the absolute one mountinfo lists.
    let mut args = vec!["-c".to_string()];
    if how == Unmount::Detach {
        args.extend(["-f".to_string(), "-l".to_string()]);
    }
    args.push(path.to_string_lossy().into_owned());
    run("umount", &args, timeout).await
}

#[cfg(test)]
mod tests {
    use super::*;

    use hareconcile_runtime::testing::{assert_child_died, hung_command};

    #[tokio::test]
    async fn a_command_that_outlives_its_time_is_killed_with_its_children() {
        let dir = tempfile::tempdir().unwrap();
        let pid_file = dir.path().join("pid");
        let argv = hung_command(&pid_file);
        let error = run(&argv[0], &argv[1..], Duration::from_millis(300))
            .await
            .unwrap_err();
        assert!(matches!(error, CommandError::TimedOut { .. }), "{error}");
        assert_child_died(&pid_file);
    }

    /// The message of `program`'s failure with `args`.
    async fn failure(program: &str, args: &[&str]) -> String {
        let args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
        let error = run(program, &args, Duration::from_secs(10)).await;
        error.unwrap_err().to_string()
    }

    #[tokio::test]
    async fn failures_carry_the_command_and_its_stderr() {
        let message = failure("sh", &["-c", "echo no such export >&2; exit 32"]).await;
        assert!(message.starts_with("sh -c"), "{message}");
        assert!(message.ends_with(": no such export"), "{message}");
    }

    #[tokio::test]
    async fn failures_show_the_command_without_its_secrets() {
        let message = failure("false", &["-o", "vers=3.0,password=s3cret"]).await;
        assert!(!message.contains("s3cret"), "{message}");
        assert!(
            message.starts_with("false -o vers=3.0,password=<redacted> failed"),
            "{message}"
        );
    }
}
