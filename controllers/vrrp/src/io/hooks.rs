//! Notify commands: one runner task per instance runs them one at a time,
//! so a slow script delays the next script and nothing else (never an
//! advert or a timer).
//!
//! A hook says "this node entered state X": once a later transition is
//! queued, an earlier one still waiting is stale. So the queue coalesces:
//! while a hook runs, only the newest transition waits behind it. Each
//! hook runs in a process group of its own and is killed with everything
//! it started at its timeout, so one hung MASTER hook delays the next
//! hook by the timeout, never forever. STOP (the instance stopping, on
//! agent shutdown) kills whatever hook is still running and always runs.

use std::process::Stdio;
use std::time::Duration;

use hareconcile_runtime::process_group::GroupChild;
use tokio::process::Command;
use tokio::sync::{mpsc, oneshot, watch};
use tokio::task::JoinHandle;
use tracing::{info, warn};

use crate::core::Hook;

/// How long a hook may run when the VirtualIP does not say
/// (`notify.timeout`).
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(60);

/// The argv to run on entering each state (empty runs nothing), and how
/// long each may run.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NotifyCommands {
    pub master: Vec<String>,
    pub backup: Vec<String>,
    pub fault: Vec<String>,
    pub stop: Vec<String>,
    pub timeout: Duration,
}

impl Default for NotifyCommands {
    fn default() -> Self {
        NotifyCommands {
            master: Vec::new(),
            backup: Vec::new(),
            fault: Vec::new(),
            stop: Vec::new(),
            timeout: DEFAULT_TIMEOUT,
        }
    }
}

impl NotifyCommands {
    fn argv(&self, hook: Hook) -> &[String] {
        match hook {
            Hook::Master => &self.master,
            Hook::Backup => &self.backup,
            Hook::Fault => &self.fault,
            Hook::Stop => &self.stop,
        }
    }
}

/// Queues hooks for the runner; dropping it lets the runner finish what
/// is queued and end.
pub struct HookQueue {
    sender: mpsc::UnboundedSender<Hook>,
}

impl HookQueue {
    /// Starts the runner for the instance called `instance` (it and the new
    /// state reach the command as `HARECONCILE_INSTANCE` and `HARECONCILE_STATE`).
    /// Each hook runs the command `commands` holds when its turn comes, so
    /// changing them needs no restart of the instance.
    pub fn start(
        instance: String,
        commands: watch::Receiver<NotifyCommands>,
    ) -> (HookQueue, JoinHandle<()>) {
        let (sender, receiver) = mpsc::unbounded_channel();
        let runner = tokio::spawn(run(instance, commands, receiver));
        (HookQueue { sender }, runner)
    }

    /// Never waits: the hook runs when the one running is done.
    pub fn push(&self, hook: Hook) {
        // The runner only ends once every queue handle is gone.
        let _ = self.sender.send(hook);
    }
}

/// The hook waiting behind the running one, if any.
#[derive(Default)]
struct Waiting {
    hook: Option<Hook>,
    /// The queue has closed: nothing more comes.
    closed: bool,
}

impl Waiting {
    /// `hook` replaces the one waiting, except that STOP, the last hook
    /// an instance runs, is never replaced.
    fn queue(&mut self, hook: Hook) {
        if self.hook != Some(Hook::Stop) {
            self.hook = Some(hook);
        }
    }

    fn receive(&mut self, received: Option<Hook>) {
        match received {
            Some(hook) => self.queue(hook),
            None => self.closed = true,
        }
    }
}

async fn run(
    instance: String,
    commands: watch::Receiver<NotifyCommands>,
    mut receiver: mpsc::UnboundedReceiver<Hook>,
) {
    let mut waiting = Waiting::default();
    loop {
        if waiting.hook.is_none() && !waiting.closed {
            waiting.receive(receiver.recv().await);
        }
        // Whatever else is queued already: the newest wins.
        while let Ok(hook) = receiver.try_recv() {
            waiting.queue(hook);
        }
        let Some(hook) = waiting.hook.take() else {
            return;
        };
        let (argv, timeout) = {
            let commands = commands.borrow();
            (commands.argv(hook).to_vec(), commands.timeout)
        };
        // Fires when STOP is queued behind this hook: the instance is
        // stopping, and what this hook does is obsolete.
        let (interrupt, interrupted) = oneshot::channel::<()>();
        let mut interrupt = Some(interrupt);
        let running = run_one(&instance, hook, &argv, timeout, async {
            let _ = interrupted.await;
        });
        tokio::pin!(running);
        loop {
            tokio::select! {
                () = &mut running => break,
                received = receiver.recv(), if !waiting.closed => {
                    waiting.receive(received);
                    if waiting.hook == Some(Hook::Stop) {
                        if let Some(interrupt) = interrupt.take() {
                            let _ = interrupt.send(());
                        }
                    }
                }
            }
        }
    }
}

async fn run_one(
    instance: &str,
    hook: Hook,
    argv: &[String],
    timeout: Duration,
    interrupted: impl std::future::Future<Output = ()>,
) {
    let Some((program, args)) = argv.split_first() else {
        return;
    };
    let state = match hook {
        Hook::Master => "MASTER",
        Hook::Backup => "BACKUP",
        Hook::Fault => "FAULT",
        Hook::Stop => "STOP",
    };
    let mut command = Command::new(program);
    command
        .args(args)
        .env("HARECONCILE_INSTANCE", instance)
        .env("HARECONCILE_STATE", state)
        .stdin(Stdio::null());
    let mut child = match GroupChild::spawn(&mut command) {
        Ok(child) => child,
        Err(error) => {
            warn!(instance, state, program, %error, "notify hook did not start");
            return;
        }
    };
    match child.wait(timeout, interrupted).await {
        Ok(status) if status.success() => info!(instance, state, program, "notify hook done"),
        Ok(status) => warn!(instance, state, program, %status, "notify hook failed"),
        Err(error) => warn!(instance, state, program, %error, "notify hook killed"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use std::path::Path;

    /// A hook that logs `word` on start and end, and sleeps between for
    /// `seconds` (a background `sleep` in its group, whose pid it writes
    /// to `DIR/word.pid` before it logs the start, so a started hook's pid
    /// can be read).
    fn script(dir: &Path, word: &str, seconds: u32) -> Vec<String> {
        let (log, pid) = (dir.join("log"), dir.join(format!("{word}.pid")));
        vec![
            "sh".to_string(),
            "-c".to_string(),
            format!(
                "sleep {seconds} & echo $! > {pid}; echo start-{word} >> {log}; wait; echo end-{word} >> {log}",
                log = log.display(),
                pid = pid.display(),
            ),
        ]
    }

    /// A hook that logs `word` on start and end and, between, waits until
    /// the file `DIR/release` exists.
    fn gated(dir: &Path, word: &str) -> Vec<String> {
        let (log, release) = (dir.join("log"), dir.join("release"));
        vec![
            "sh".to_string(),
            "-c".to_string(),
            format!(
                "echo start-{word} >> {log}; until [ -e {release} ]; do sleep 0.01; done; echo end-{word} >> {log}",
                log = log.display(),
                release = release.display(),
            ),
        ]
    }

    fn lines(dir: &Path) -> Vec<String> {
        std::fs::read_to_string(dir.join("log"))
            .unwrap_or_default()
            .lines()
            .map(str::to_string)
            .collect()
    }

    /// Whether the process whose pid the hook `word` wrote still runs (a
    /// zombie waiting for init to reap it does not).
    fn still_runs(dir: &Path, word: &str) -> bool {
        let pid = std::fs::read_to_string(dir.join(format!("{word}.pid"))).unwrap();
        let stat = std::fs::read_to_string(format!("/proc/{}/stat", pid.trim()));
        stat.is_ok_and(|s| {
            s.rsplit_once(')')
                .and_then(|(_, rest)| rest.split_whitespace().next())
                .is_some_and(|state| state != "Z")
        })
    }

    fn start(
        commands: NotifyCommands,
    ) -> (watch::Sender<NotifyCommands>, HookQueue, JoinHandle<()>) {
        let (keep, commands) = watch::channel(commands);
        let (queue, runner) = HookQueue::start("web".into(), commands);
        (keep, queue, runner)
    }

    /// Written by a hook once it has started; the runner's next steps
    /// depend on it being under way.
    async fn until_started(dir: &Path, word: &str) {
        while !lines(dir).contains(&format!("start-{word}")) {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// SIGKILL takes effect when the process is next scheduled: waits for
    /// that, and fails if it never comes.
    async fn until_gone(dir: &Path, word: &str) {
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        while still_runs(dir, word) {
            assert!(
                std::time::Instant::now() < deadline,
                "hook {word}'s background process survived"
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    #[tokio::test]
    async fn hooks_run_one_at_a_time_and_only_the_newest_waits() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        let (_keep, queue, runner) = start(NotifyCommands {
            master: script(d, "master", 0),
            backup: gated(d, "backup"),
            fault: script(d, "fault", 0),
            stop: Vec::new(),
            timeout: Duration::from_secs(600),
        });
        queue.push(Hook::Backup);
        until_started(d, "backup").await;
        // Queued while BACKUP runs: FAULT is stale once MASTER follows it.
        queue.push(Hook::Fault);
        queue.push(Hook::Master);
        drop(queue);
        std::fs::write(d.join("release"), "").unwrap();
        runner.await.unwrap();
        assert_eq!(
            lines(d),
            ["start-backup", "end-backup", "start-master", "end-master"]
        );
    }

    /// Queue and runner (and the directory the hooks log to) with MASTER
    /// under way and hanging (a `sleep 3600` in its group); `others` gives
    /// the other hooks and the timeout.
    async fn hung_master(
        others: impl FnOnce(&Path) -> NotifyCommands,
    ) -> (
        tempfile::TempDir,
        watch::Sender<NotifyCommands>,
        HookQueue,
        JoinHandle<()>,
    ) {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        let (keep, queue, runner) = start(NotifyCommands {
            master: script(d, "master", 3600),
            ..others(d)
        });
        queue.push(Hook::Master);
        until_started(d, "master").await;
        (dir, keep, queue, runner)
    }

    /// Ends the queue, waits for the runner to finish what is queued, and
    /// gives the log.
    async fn finished(dir: &Path, queue: HookQueue, runner: JoinHandle<()>) -> Vec<String> {
        drop(queue);
        runner.await.unwrap();
        lines(dir)
    }

    #[tokio::test]
    async fn a_hung_hook_is_killed_at_its_timeout_with_its_group_and_the_next_runs() {
        let (dir, _keep, queue, runner) = hung_master(|d| NotifyCommands {
            backup: script(d, "backup", 0),
            timeout: Duration::from_millis(500),
            ..NotifyCommands::default()
        })
        .await;
        queue.push(Hook::Backup);
        let log = finished(dir.path(), queue, runner).await;
        assert_eq!(log, ["start-master", "start-backup", "end-backup"]);
        until_gone(dir.path(), "master").await;
    }

    #[tokio::test]
    async fn stop_kills_the_running_hook_and_always_runs() {
        let (dir, _keep, queue, runner) = hung_master(|d| NotifyCommands {
            backup: script(d, "backup", 0),
            stop: script(d, "stop", 0),
            timeout: Duration::from_secs(3600),
            ..NotifyCommands::default()
        })
        .await;
        // BACKUP is dropped: STOP, the instance stopping, comes last.
        queue.push(Hook::Backup);
        queue.push(Hook::Stop);
        let log = finished(dir.path(), queue, runner).await;
        assert_eq!(log, ["start-master", "start-stop", "end-stop"]);
        until_gone(dir.path(), "master").await;
    }

    #[tokio::test]
    async fn a_runner_dropped_mid_hook_kills_the_hook() {
        let (dir, _keep, queue, runner) = hung_master(|_| NotifyCommands {
            timeout: Duration::from_secs(3600),
            ..NotifyCommands::default()
        })
        .await;
        // As when the agent's runtime ends under a running hook.
        runner.abort();
        let _ = runner.await;
        drop(queue);
        until_gone(dir.path(), "master").await;
    }
}
