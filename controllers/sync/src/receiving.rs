//! Pushes still being received into this node's copy, and ending them
//! when this node becomes master.
//!
//! A push cut off by the loss of its source leaves its receiving end (the
//! guard, see [`crate::remote::guarded`], and the rsync or snapshot
//! receive under it) running on the target, holding the copy's lock: sshd
//! does not probe its clients by default, and rsync's `--timeout` does not
//! end a receiver whose generator keeps writing keep-alives into the dead
//! session (each write lands in sshd's buffers and counts as I/O). It
//! lives until the kernel gives up retransmitting to the vanished peer,
//! about a quarter of an hour, and a new master must take that lock to
//! catch up and claim its term. So the new master ends them: once this
//! node is master, any push into its copy comes from a node that no longer
//! is, whose term is over (rule 3 of the crate docs refuses its next push
//! anyway).
//!
//! A receive is a guard's process (its command line: `GUARD_NAME EPOCH
//! NODE MILLIS META ...`, on `flock` and on the shell under it) that holds
//! this copy's lock file open, waiting for the lock or holding it: found
//! through /proc whatever mount namespace sshd gives its sessions (the
//! agent must share the PID namespace of sshd, as it does on a host).

use std::collections::BTreeSet;
use std::os::unix::fs::MetadataExt;
use std::path::Path;

use hareconcile_runtime::process_tree::{kill_trees, processes};

use crate::remote::GUARD_NAME;
use crate::term::Term;

/// The pusher's term, if `args` are a guard's.
fn guard_term(args: &[String]) -> Option<Term> {
    let at = args.iter().position(|a| a == GUARD_NAME)?;
    let [epoch, node] = args.get(at + 1..at + 3)? else {
        return None;
    };
    format!("{epoch} {node}").parse().ok()
}

/// Whether process `pid` has the file `(device, inode)` open.
fn holds_open(pid: i32, (device, inode): (u64, u64)) -> bool {
    let Ok(fds) = std::fs::read_dir(format!("/proc/{pid}/fd")) else {
        return false;
    };
    fds.flatten()
        .any(|fd| std::fs::metadata(fd.path()).is_ok_and(|m| m.dev() == device && m.ino() == inode))
}

/// Kills every receive into the copy whose lock file is `lock`, with all
/// it started (the rsync under the guard holds the lock too); returns the
/// terms of their pushers. The lock is free once the kernel has reaped
/// them, which [`crate::term::Meta::lock`] waits for.
pub fn end_receives(lock: &Path) -> BTreeSet<Term> {
    let Ok(lock) = std::fs::metadata(lock) else {
        return BTreeSet::new();
    };
    let file = (lock.dev(), lock.ino());
    let mut pushers = BTreeSet::new();
    let mut doomed: Vec<i32> = Vec::new();
    for process in &processes() {
        if let Some(term) = guard_term(&process.args).filter(|_| holds_open(process.pid, file)) {
            pushers.insert(term);
            doomed.push(process.pid);
        }
    }
    kill_trees(doomed);
    pushers
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::remote::guarded;
    use crate::term::Meta;
    use std::process::{Command, Stdio};
    use std::time::{Duration, SystemTime};

    /// A push whose receive never ends (its pusher vanished), into `data`.
    fn stuck_receive(data: &Path, term: &str) -> std::process::Child {
        let line = guarded(
            data,
            &term.parse().unwrap(),
            SystemTime::now(),
            "",
            "sleep 3600",
        );
        Command::new("sh")
            .args(["-c", &line])
            .stdin(Stdio::null())
            .spawn()
            .unwrap()
    }

    async fn wait_locked(meta: &Meta) {
        while meta.lock(Duration::ZERO).await.is_ok() {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    #[tokio::test]
    async fn a_receive_that_outlived_its_pusher_is_ended_and_frees_the_lock() {
        let dir = tempfile::tempdir().unwrap();
        let (data, other) = (dir.path().join("data"), dir.path().join("other"));
        let (meta, other_meta) = (Meta::of(&data), Meta::of(&other));
        let mut stuck = stuck_receive(&data, "4 n1");
        let mut elsewhere = stuck_receive(&other, "4 n1");
        wait_locked(&meta).await;
        wait_locked(&other_meta).await;

        let pushers = end_receives(&meta.lock_file());
        assert_eq!(
            pushers
                .into_iter()
                .map(|t| t.to_string())
                .collect::<Vec<_>>(),
            ["4 n1"]
        );
        assert!(stuck.wait().unwrap().code().is_none(), "killed");
        // The `sleep` under the guard held the lock too: it is gone.
        meta.lock(Duration::from_secs(60))
            .await
            .expect("the lock is free");
        assert!(
            matches!(elsewhere.try_wait(), Ok(None)),
            "a receive into another copy is left alone"
        );
        assert!(end_receives(&meta.lock_file()).is_empty());
        end_receives(&other_meta.lock_file());
        elsewhere.wait().unwrap();
    }
}
