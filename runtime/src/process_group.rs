//! Child processes that must not outlive their deadline or what started
//! them: each runs in a process group of its own, so a timeout, a
//! shutdown or a dropped handle kills it with everything it started (a
//! shell script's `sleep`, git's ssh), not only the direct child.
//!
//! A child that exits by itself leaves what it put in the background
//! alone: a hook may start a daemon on purpose.

use std::future::Future;
use std::process::{ExitStatus, Output, Stdio};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};
use tokio::process::{Child, ChildStdin, Command};

/// Why a bounded child did not finish by itself.
#[derive(Debug, thiserror::Error)]
pub enum Ended {
    #[error("cannot run {program}: {source}")]
    Spawn {
        program: String,
        source: std::io::Error,
    },
    #[error("did not finish within {0:?}: its process group was killed")]
    Timeout(Duration),
    #[error("stopped: its process group was killed")]
    Cancelled,
    #[error("waiting for it: {0}")]
    Wait(std::io::Error),
}

/// A started child, the leader of its own process group; dropped before
/// it was waited for, the group is killed.
pub struct GroupChild {
    child: Child,
    /// The group's id while its leader is not reaped (so it cannot be
    /// reused by an unrelated process).
    group: Option<i32>,
}

impl GroupChild {
    pub fn spawn(command: &mut Command) -> Result<GroupChild, Ended> {
        let program = command
            .as_std()
            .get_program()
            .to_string_lossy()
            .into_owned();
        let child = command
            .process_group(0)
            .kill_on_drop(true)
            .spawn()
            .map_err(|source| Ended::Spawn { program, source })?;
        let group = child.id().and_then(|pid| i32::try_from(pid).ok());
        Ok(GroupChild { child, group })
    }

    pub fn child_mut(&mut self) -> &mut Child {
        &mut self.child
    }

    /// Waits until the child exits, or kills its group at `timeout` or
    /// once `cancel` completes.
    pub async fn wait(
        &mut self,
        timeout: Duration,
        cancel: impl Future<Output = ()>,
    ) -> Result<ExitStatus, Ended> {
        let ended = tokio::select! {
            status = self.child.wait() => {
                self.group = None;
                return status.map_err(Ended::Wait);
            }
            () = tokio::time::sleep(timeout) => Ended::Timeout(timeout),
            () = cancel => Ended::Cancelled,
        };
        self.kill();
        Err(ended)
    }

    /// Kills the whole group (SIGKILL) and reaps the leader.
    pub fn kill(&mut self) {
        if let Some(group) = self.group.take() {
            // SAFETY: kill(2) of a group whose leader this handle started
            // and has not reaped, so the id is still this group's.
            unsafe { libc::kill(-group, libc::SIGKILL) };
            // Reaped by tokio once it has died (kill_on_drop's orphan queue).
            let _ = self.child.start_kill();
        }
    }
}

impl Drop for GroupChild {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Runs `command` with stdin closed, collecting its output, bounded by
/// `timeout` and `cancel` as [`GroupChild::wait`] is.
pub async fn output(
    command: &mut Command,
    timeout: Duration,
    cancel: impl Future<Output = ()>,
) -> Result<Output, Ended> {
    output_of(command, None, timeout, cancel).await
}

/// Runs `command` with `input` on its stdin (closed once written),
/// collecting its output, bounded as [`output`] is.
pub async fn output_with_input(
    command: &mut Command,
    input: &[u8],
    timeout: Duration,
    cancel: impl Future<Output = ()>,
) -> Result<Output, Ended> {
    output_of(command, Some(input), timeout, cancel).await
}

async fn output_of(
    command: &mut Command,
    input: Option<&[u8]>,
    timeout: Duration,
    cancel: impl Future<Output = ()>,
) -> Result<Output, Ended> {
    let stdin = match input {
        Some(_) => Stdio::piped(),
        None => Stdio::null(),
    };
    command
        .stdin(stdin)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = GroupChild::spawn(command)?;
    let stdin = child.child.stdin.take();
    child.collect(stdin.zip(input), timeout, cancel).await
}

impl GroupChild {
    /// Waits until the child exits and has closed the stdout and stderr
    /// it was spawned with piped (those not taken are collected; others
    /// stay empty), or kills its group at `timeout` or once `cancel`
    /// completes.
    pub async fn output(
        self,
        timeout: Duration,
        cancel: impl Future<Output = ()>,
    ) -> Result<Output, Ended> {
        self.collect(None, timeout, cancel).await
    }

    async fn collect(
        mut self,
        input: Option<(ChildStdin, &[u8])>,
        timeout: Duration,
        cancel: impl Future<Output = ()>,
    ) -> Result<Output, Ended> {
        let (mut stdout, mut stderr) = (self.child.stdout.take(), self.child.stderr.take());
        let (mut out, mut err) = (Vec::new(), Vec::new());
        let deadline = tokio::time::Instant::now() + timeout;
        // The pipes close when the group dies, or stay open as long as a
        // background child of the command holds them: the deadline covers
        // both. Input is written alongside, so a command that answers
        // before it has read everything cannot block on a full pipe.
        let reading = async {
            let feed = async {
                if let Some((mut stdin, input)) = input {
                    // A command that exits without reading all of it is
                    // judged by its exit status, not by the broken pipe.
                    let _ = stdin.write_all(input).await;
                }
            };
            let _ = tokio::join!(
                feed,
                read_all(stdout.as_mut(), &mut out),
                read_all(stderr.as_mut(), &mut err)
            );
        };
        let ended = tokio::select! {
            () = reading => None,
            () = tokio::time::sleep_until(deadline) => Some(Ended::Timeout(timeout)),
            () = cancel => Some(Ended::Cancelled),
        };
        if let Some(ended) = ended {
            self.kill();
            return Err(ended);
        }
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        let status = match self.wait(left, std::future::pending()).await {
            Err(Ended::Timeout(_)) => return Err(Ended::Timeout(timeout)),
            other => other?,
        };
        Ok(Output {
            status,
            stdout: out,
            stderr: err,
        })
    }
}

async fn read_all<R: AsyncRead + Unpin>(pipe: Option<&mut R>, into: &mut Vec<u8>) {
    if let Some(pipe) = pipe {
        let _ = pipe.read_to_end(into).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::testing::{assert_child_died, hung_command};

    /// The shell's background `sleep` holds the pipes and is in the group:
    /// both go at the deadline.
    #[tokio::test]
    async fn a_deadline_kills_the_whole_group() {
        let dir = tempfile::tempdir().unwrap();
        let pid_file = dir.path().join("pid");
        let argv = hung_command(&pid_file);
        let ended = output(
            Command::new(&argv[0]).args(&argv[1..]),
            Duration::from_millis(300),
            std::future::pending(),
        )
        .await;
        assert!(matches!(ended, Err(Ended::Timeout(_))), "{ended:?}");
        assert_child_died(&pid_file);
    }

    /// Input is written while the output is read: `cat` echoes more than
    /// a pipe holds before all its input is in.
    #[tokio::test]
    async fn input_goes_in_while_output_comes_out() {
        let input = vec![b'x'; 1 << 20];
        let out = output_with_input(
            &mut Command::new("cat"),
            &input,
            Duration::from_secs(60),
            std::future::pending(),
        )
        .await
        .unwrap();
        assert!(out.status.success());
        assert_eq!(out.stdout, input);
    }

    #[tokio::test]
    async fn cancelling_kills_and_says_so() {
        let ended = output(
            Command::new("sleep").arg("600"),
            Duration::from_secs(600),
            async {},
        )
        .await;
        assert!(matches!(ended, Err(Ended::Cancelled)), "{ended:?}");
    }

    #[tokio::test]
    async fn a_finished_command_gives_its_output() {
        let out = output(
            Command::new("sh").args(["-c", "echo out; echo err >&2; exit 3"]),
            Duration::from_secs(60),
            std::future::pending(),
        )
        .await
        .unwrap();
        assert_eq!(out.status.code(), Some(3));
        assert_eq!(out.stdout, b"out\n");
        assert_eq!(out.stderr, b"err\n");
    }
}
