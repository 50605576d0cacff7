//! Notify commands: one runner task per instance runs them in the order the
//! transitions happened, one at a time, so a slow script delays the next
//! script and nothing else (never an advert or a timer).

use tokio::process::Command;
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;
use tracing::{info, warn};

use crate::core::Hook;

/// The argv to run on entering each state; empty runs nothing.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct NotifyCommands {
    pub master: Vec<String>,
    pub backup: Vec<String>,
    pub fault: Vec<String>,
    pub stop: Vec<String>,
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

/// Queues hooks for the runner; dropping it lets the runner finish the
/// queue and end.
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

    /// Never waits: the hook runs when the ones before it are done.
    pub fn push(&self, hook: Hook) {
        // The runner only ends once every queue handle is gone.
        let _ = self.sender.send(hook);
    }
}

async fn run(
    instance: String,
    commands: watch::Receiver<NotifyCommands>,
    mut receiver: mpsc::UnboundedReceiver<Hook>,
) {
    // The channel is the queue: the next hook waits until this one exits.
    while let Some(hook) = receiver.recv().await {
        let argv = commands.borrow().argv(hook).to_vec();
        run_one(&instance, hook, &argv).await;
    }
}

async fn run_one(instance: &str, hook: Hook, argv: &[String]) {
    let Some((program, args)) = argv.split_first() else {
        return;
    };
    let state = match hook {
        Hook::Master => "MASTER",
        Hook::Backup => "BACKUP",
        Hook::Fault => "FAULT",
        Hook::Stop => "STOP",
    };
    let status = Command::new(program)
        .args(args)
        .env("HARECONCILE_INSTANCE", instance)
        .env("HARECONCILE_STATE", state)
        .kill_on_drop(false)
        .status()
        .await;
    match status {
        Ok(status) if status.success() => info!(instance, state, program, "notify hook done"),
        Ok(status) => warn!(instance, state, program, %status, "notify hook failed"),
        Err(error) => warn!(instance, state, program, %error, "notify hook did not start"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn hooks_run_in_order_one_at_a_time() {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("log");
        let script = |word: &str| {
            vec![
                "sh".to_string(),
                "-c".to_string(),
                format!(
                    "echo start-{word} >> {log}; sleep 0.05; echo end-{word} >> {log}",
                    log = log.display()
                ),
            ]
        };
        let commands = NotifyCommands {
            master: script("master"),
            backup: script("backup"),
            fault: Vec::new(),
            stop: script("stop"),
        };
        let (_keep, commands) = watch::channel(commands);
        let (queue, runner) = HookQueue::start("web".into(), commands);
        for hook in [Hook::Backup, Hook::Fault, Hook::Master, Hook::Stop] {
            queue.push(hook);
        }
        drop(queue);
        runner.await.unwrap();
        let lines = std::fs::read_to_string(&log).unwrap();
        assert_eq!(
            lines.lines().collect::<Vec<_>>(),
            [
                "start-backup",
                "end-backup",
                "start-master",
                "end-master",
                "start-stop",
                "end-stop"
            ]
        );
    }
}
