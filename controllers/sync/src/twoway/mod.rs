//! Two-way sync (`direction: both`): a round between this node and one
//! peer makes each side's changes since their last sync reach the other,
//! and reports paths changed on both sides as conflicts, touching neither.
//! The design (what "the last sync" is, why no clock is compared across
//! hosts, how a node that was down rejoins) is in `docs/replication.md`.
//!
//! A round: take both copies' locks (in node-name order, so two nodes
//! starting rounds at once wait for each other instead of deadlocking),
//! read the pair's state, scan both sides, decide ([`decide`]), compare
//! the contents of paths both sides changed, copy files into the
//! receiving side's `.hareconcile/incoming/` with rsync, move them in
//! only where the path is still as scanned ([`side::apply_line`]), and
//! write the new state on both sides (`.hareconcile/pairs/PEER.json`,
//! temporary file, fsync, rename). A round cut off anywhere leaves the old
//! state; the next one finds the same or fewer differences.

mod decide;
mod side;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::time::Duration;

use hareconcile_model::Filter;

pub use decide::Agreed;
use decide::{decide, Action};
pub use side::Side;
use side::{apply_line, incoming, parse_outcomes, Change};

use crate::process;
use crate::remote::{rsync_shell, shell_quote, ssh_command, Link};
use crate::rsync::remote_dir;
use crate::term::{Meta, META_DIR};

/// How long a round waits for the other copy's lock.
const LOCK_WAIT: Duration = Duration::from_secs(60);
const TRANSFER_TIMEOUT: Duration = Duration::from_secs(3600);

/// The state of one pair as one side keeps it.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct PairState {
    /// By path: what both sides agreed on at their last sync, with this
    /// side's fingerprints as `local`.
    pub agreed: BTreeMap<String, Agreed>,
}

impl PairState {
    /// The same state as the other side keeps it.
    fn mirrored(&self) -> PairState {
        PairState {
            agreed: self
                .agreed
                .iter()
                .map(|(path, a)| {
                    (
                        path.clone(),
                        Agreed {
                            local: a.remote.clone(),
                            remote: a.local.clone(),
                        },
                    )
                })
                .collect(),
        }
    }
}

fn state_file(data: &Path, node: &str) -> PathBuf {
    Meta::of(data)
        .dir()
        .join("pairs")
        .join(format!("{node}.json"))
}

fn read_state(data: &Path, peer: &str) -> Result<Option<PairState>, String> {
    let path = state_file(data, peer);
    match std::fs::read(&path) {
        Ok(bytes) => serde_json::from_slice(&bytes)
            .map(Some)
            .map_err(|e| format!("{}: {e}", path.display())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(format!("{}: {e}", path.display())),
    }
}

/// Writes `state` durably, readable by the peer's ssh user once copied.
fn write_state(path: &Path, state: &PairState) -> Result<(), String> {
    let failed = |e: std::io::Error| format!("{}: {e}", path.display());
    let dir = path.parent().unwrap_or(Path::new("/"));
    std::fs::create_dir_all(dir).map_err(failed)?;
    let bytes = serde_json::to_vec(state).map_err(|e| e.to_string())?;
    hareconcile_fs::write_durably_shared(path, &bytes).map_err(failed)
}

/// Who settles the conflicts of a round (`hareconcile replication resolve`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resolution {
    /// This node's version wins (else the peer's).
    pub keep_local: bool,
    /// Only these paths; all conflicts when empty.
    pub paths: BTreeSet<String>,
}

/// What a round did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Round {
    /// Files copied to the peer, from it, and deleted on either side.
    pub pushed: usize,
    pub pulled: usize,
    pub deleted: usize,
    /// Of `deleted`, those on this node.
    pub deleted_here: usize,
    /// Paths changed on both sides since the last sync, left alone.
    pub conflicts: Vec<String>,
    /// Paths that changed again while the round ran: the next one retries.
    pub deferred: usize,
}

impl Round {
    /// Whether this node's copy changed (its afterSync hooks are due).
    pub fn changed_local(&self) -> bool {
        self.pulled > 0 || self.deleted_here > 0
    }

    /// Whether the peer's copy changed (its afterSync hooks are due).
    pub fn changed_remote(&self) -> bool {
        self.pushed > 0 || self.deleted > self.deleted_here
    }
}

/// One side's part of a pair.
pub struct Pair<'a> {
    pub data: &'a Path,
    pub node: &'a str,
    pub peer: &'a str,
    pub host: &'a str,
    pub link: &'a Link,
    pub filter: &'a Filter,
}

impl Pair<'_> {
    fn remote(&self) -> Side {
        Side::Remote {
            link: self.link.clone(),
            host: self.host.to_string(),
        }
    }

    /// Runs one round; `resolution` settles conflicts instead of reporting them.
    pub async fn round(&self, resolution: Option<&Resolution>) -> Result<Round, String> {
        let _locks = self.lock().await?;
        let state = self.state().await?;
        let peer = self.remote();
        let (local, remote) = tokio::join!(
            Side::Local.scan(self.data, self.filter),
            peer.scan(self.data, self.filter)
        );
        let (local, remote) = (local?, remote?);
        let actions = decide(&local, &remote, &state.agreed);
        let mut agreed = state.agreed.clone();
        let mut round = Round::default();
        let compare: Vec<&String> = actions
            .iter()
            .filter(|(_, a)| **a == Action::Compare)
            .map(|(p, _)| p)
            .collect();
        let (mine, theirs) = tokio::join!(
            Side::Local.digests(self.data, &compare),
            peer.digests(self.data, &compare)
        );
        let (mine, theirs) = (mine?, theirs?);
        let (mut pushes, mut pulls) = (Vec::new(), Vec::new());
        let (mut remote_changes, mut local_changes) = (Vec::new(), Vec::new());
        for (path, action) in &actions {
            let fingerprints = || Agreed {
                local: local.get(path).cloned().unwrap_or_default(),
                remote: remote.get(path).cloned().unwrap_or_default(),
            };
            let action = match action {
                Action::Compare
                    if mine.get(path) == theirs.get(path) && mine.contains_key(path) =>
                {
                    agreed.insert(path.clone(), fingerprints());
                    continue;
                }
                Action::Compare | Action::Conflict => {
                    match resolution.filter(|r| r.paths.is_empty() || r.paths.contains(path)) {
                        Some(r) => settle(r, local.get(path), remote.get(path)),
                        None => {
                            round.conflicts.push(path.clone());
                            continue;
                        }
                    }
                }
                other => other.clone(),
            };
            match action {
                Action::Push { expect } => {
                    pushes.push(path.clone());
                    remote_changes.push(Change::Install {
                        path: path.clone(),
                        expect,
                    });
                }
                Action::Pull { expect } => {
                    pulls.push(path.clone());
                    local_changes.push(Change::Install {
                        path: path.clone(),
                        expect,
                    });
                }
                Action::DeleteRemote { expect } => remote_changes.push(Change::Delete {
                    path: path.clone(),
                    expect,
                }),
                Action::DeleteLocal { expect } => local_changes.push(Change::Delete {
                    path: path.clone(),
                    expect,
                }),
                Action::Forget => {
                    agreed.remove(path);
                }
                Action::Keep | Action::Compare | Action::Conflict => {}
            }
        }
        self.transfer(&pushes, true).await?;
        self.transfer(&pulls, false).await?;
        let (to_remote, to_local) = tokio::join!(
            peer.run(apply_line(self.data, &remote_changes)),
            Side::Local.run(apply_line(self.data, &local_changes))
        );
        let (to_remote, to_local) = (parse_outcomes(&to_remote?), parse_outcomes(&to_local?));
        for (changes, outcomes, on_remote) in [
            (&remote_changes, &to_remote, true),
            (&local_changes, &to_local, false),
        ] {
            for (i, change) in changes.iter().enumerate() {
                let done = outcomes.get(&i).cloned().flatten();
                let (path, installed) = match change {
                    Change::Install { path, .. } => (path, true),
                    Change::Delete { path, .. } => (path, false),
                };
                let Some(fingerprint) = done else {
                    round.deferred += 1;
                    continue;
                };
                if !installed {
                    round.deleted += 1;
                    round.deleted_here += usize::from(!on_remote);
                    agreed.remove(path);
                    continue;
                }
                let entry = match on_remote {
                    true => {
                        round.pushed += 1;
                        Agreed {
                            local: local.get(path).cloned().unwrap_or_default(),
                            remote: fingerprint,
                        }
                    }
                    false => {
                        round.pulled += 1;
                        Agreed {
                            local: fingerprint,
                            remote: remote.get(path).cloned().unwrap_or_default(),
                        }
                    }
                };
                agreed.insert(path.clone(), entry);
            }
        }
        self.save(&PairState { agreed }).await?;
        Ok(round)
    }

    /// Both copies' locks, the lower node name's first.
    async fn lock(&self) -> Result<(crate::term::MetaLock, process::Held), String> {
        let meta = Meta::of(self.data);
        let remote_lock = || async {
            let line = format!(
                "mkdir -p {dir} && exec flock -w {secs} {lock} sh -c 'echo locked; exec cat >/dev/null'",
                dir = quote(meta.dir()),
                secs = LOCK_WAIT.as_secs(),
                lock = quote(&meta.lock_file()),
            );
            let mut argv = ssh_command(self.link, self.host);
            argv.extend([self.host.to_string(), line]);
            process::hold(&argv, "locked", LOCK_WAIT + Duration::from_secs(10))
                .await
                .map_err(|e| format!("locking {}'s copy: {e}", self.peer))
        };
        let local_lock = || async {
            meta.lock(LOCK_WAIT)
                .await
                .map_err(|e| format!("locking this copy: {e}"))
        };
        if self.peer < self.node {
            let remote = remote_lock().await?;
            Ok((local_lock().await?, remote))
        } else {
            let local = local_lock().await?;
            Ok((local, remote_lock().await?))
        }
    }

    /// The pair's state: this side's, else the peer's mirrored (this
    /// side lost its metadata), else nothing agreed yet.
    async fn state(&self) -> Result<PairState, String> {
        if let Some(state) = read_state(self.data, self.peer)? {
            return Ok(state);
        }
        let path = state_file(self.data, self.node);
        let line = format!("cat {} 2>/dev/null || true", quote(&path));
        let text = self.remote().run(line).await?;
        if text.trim().is_empty() {
            return Ok(PairState::default());
        }
        serde_json::from_str::<PairState>(&text)
            .map(|s| s.mirrored())
            .map_err(|e| format!("{}'s {}: {e}", self.peer, path.display()))
    }

    /// Writes the new state here and on the peer (where this node is its peer).
    async fn save(&self, state: &PairState) -> Result<(), String> {
        write_state(&state_file(self.data, self.peer), state)?;
        let outgoing = Meta::of(self.data)
            .dir()
            .join("pairs")
            .join(format!(".outgoing-{}.json", self.peer));
        write_state(&outgoing, &state.mirrored())?;
        let destination = state_file(self.data, self.node);
        let argv = vec![
            "rsync".to_string(),
            "--fsync".into(),
            "--mkpath".into(),
            "-e".into(),
            rsync_shell(self.link, self.host),
            outgoing.display().to_string(),
            remote_dir(self.host, &destination)
                .trim_end_matches('/')
                .to_string(),
        ];
        finish(
            process::run(&argv, TRANSFER_TIMEOUT).await,
            "recording the state",
        )
    }

    /// Copies `paths` from the sending side into the receiving side's
    /// incoming directory (emptied first).
    async fn transfer(&self, paths: &[String], push: bool) -> Result<(), String> {
        if paths.is_empty() {
            return Ok(());
        }
        let clear = format!("rm -rf {}", quote(&incoming(self.data)));
        match push {
            true => self.remote().run(clear).await?,
            false => Side::Local.run(clear).await?,
        };
        let list = Meta::of(self.data)
            .dir()
            .join(format!("files-{}", self.peer));
        let mut names = Vec::new();
        for path in paths {
            names.extend_from_slice(path.as_bytes());
            names.push(0);
        }
        std::fs::write(&list, names).map_err(|e| format!("{}: {e}", list.display()))?;
        let local_dir = format!("{}/", self.data.display());
        let incoming_dir = format!("{}/", incoming(self.data).display());
        let (from, to) = match push {
            true => (local_dir, remote_dir(self.host, &incoming(self.data))),
            false => (remote_dir(self.host, self.data), incoming_dir),
        };
        let argv = vec![
            "rsync".to_string(),
            "--archive".into(),
            "--numeric-ids".into(),
            "--mkpath".into(),
            "--from0".into(),
            format!("--files-from={}", list.display()),
            format!("--exclude=/{META_DIR}/"),
            "-e".into(),
            rsync_shell(self.link, self.host),
            from,
            to,
        ];
        finish(process::run(&argv, TRANSFER_TIMEOUT).await, "copying files")
    }
}

/// A conflict settled by `resolution`: the kept side's version, or its
/// deletion, over the other's current state.
fn settle(resolution: &Resolution, local: Option<&String>, remote: Option<&String>) -> Action {
    let expect = |fp: Option<&String>| fp.cloned().unwrap_or_default();
    match (resolution.keep_local, local, remote) {
        (true, Some(_), _) => Action::Push {
            expect: expect(remote),
        },
        (true, None, _) => Action::DeleteRemote {
            expect: expect(remote),
        },
        (false, _, Some(_)) => Action::Pull {
            expect: expect(local),
        },
        (false, _, None) => Action::DeleteLocal {
            expect: expect(local),
        },
    }
}

fn quote(path: &Path) -> String {
    shell_quote(&path.to_string_lossy())
}

fn finish(
    result: Result<process::Finished, process::ProcessError>,
    what: &str,
) -> Result<(), String> {
    match result {
        Ok(out) if out.success => Ok(()),
        Ok(out) => Err(format!("{what}: {}", out.complaint())),
        Err(e) => Err(format!("{what}: {e}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hareconcile_runtime::testing::write_executable;

    /// Two "nodes" on one host: n1's copy at `n1/data`, n2's at
    /// `n2/data`. An `ssh` first on PATH runs the remote command locally
    /// with n1's path swapped for n2's, so the round's real shell lines
    /// and rsync runs reach n2's copy as they would over ssh.
    struct TwoNodes {
        /// Held while the nodes exist: PATH is the process's.
        _serial: tokio::sync::MutexGuard<'static, ()>,
        _dir: tempfile::TempDir,
        n1: PathBuf,
        n2: PathBuf,
        link: Link,
    }

    /// PATH is the process's: one pair of nodes at a time changes it.
    static PATH_LOCK: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

    impl TwoNodes {
        async fn new() -> TwoNodes {
            let serial = PATH_LOCK.lock().await;
            let dir = tempfile::tempdir().unwrap();
            let (n1, n2) = (dir.path().join("n1/data"), dir.path().join("n2/data"));
            std::fs::create_dir_all(&n1).unwrap();
            std::fs::create_dir_all(&n2).unwrap();
            let bin = dir.path().join("bin");
            std::fs::create_dir_all(&bin).unwrap();
            let ssh = bin.join("ssh");
            write_executable(
                &ssh,
                &format!(
                    "#!/bin/sh\n\
                     while [ $# -gt 0 ]; do case $1 in -p|-l|-o|-i) shift 2;; *) break;; esac; done\n\
                     shift\n\
                     exec sh -c \"$(printf '%s' \"$*\" | sed 's|{n1}|{n2}|g')\"\n",
                    n1 = n1.display(),
                    n2 = n2.display()
                ),
            );
            let path = std::env::var("PATH").unwrap_or_default();
            if !path.starts_with(&bin.display().to_string()) {
                std::env::set_var("PATH", format!("{}:{path}", bin.display()));
            }
            TwoNodes {
                _serial: serial,
                _dir: dir,
                n1,
                n2,
                link: Link::new(Default::default(), None),
            }
        }

        async fn round(&self, resolution: Option<&Resolution>) -> Round {
            let filter = Filter::default();
            let pair = Pair {
                data: &self.n1,
                node: "n1",
                peer: "n2",
                host: "n2",
                link: &self.link,
                filter: &filter,
            };
            pair.round(resolution).await.unwrap()
        }

        fn write(&self, node: &Path, name: &str, content: &str) {
            let path = node.join(name);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            // A new file renamed into place, as editors and apps save.
            let temporary = node.join(format!(".{}.tmp", name.replace('/', "_")));
            std::fs::write(&temporary, content).unwrap();
            std::fs::rename(temporary, path).unwrap();
        }

        fn read(&self, node: &Path, name: &str) -> Option<String> {
            std::fs::read_to_string(node.join(name)).ok()
        }
    }

    #[tokio::test]
    async fn edits_flow_both_ways_and_conflicts_keep_both_copies_until_resolved() {
        let nodes = TwoNodes::new().await;
        let (n1, n2) = (&nodes.n1, &nodes.n2);
        nodes.write(n1, "lists/adlists.list", "one");
        nodes.write(n2, "custom.list", "10.0.0.5 nas");
        let round = nodes.round(None).await;
        assert_eq!((round.pushed, round.pulled), (1, 1), "{round:?}");
        assert!(round.changed_local() && round.changed_remote());
        assert_eq!(nodes.read(n2, "lists/adlists.list").as_deref(), Some("one"));
        assert_eq!(
            nodes.read(n1, "custom.list").as_deref(),
            Some("10.0.0.5 nas")
        );
        assert!(
            n2.join(".hareconcile/pairs/n1.json").exists(),
            "the state lives on both sides"
        );
        assert_eq!(
            nodes.round(None).await,
            Round::default(),
            "in sync: nothing to do"
        );

        // Both edit the same file: a conflict, both copies stay.
        nodes.write(n1, "custom.list", "10.0.0.5 nas\n10.0.0.6 printer");
        nodes.write(n2, "custom.list", "10.0.0.5 nas\n10.0.0.7 tv");
        // And each deletes or edits something the other did not touch.
        std::fs::remove_file(n2.join("lists/adlists.list")).unwrap();
        let round = nodes.round(None).await;
        assert_eq!(round.conflicts, ["custom.list"]);
        assert_eq!((round.deleted, round.deleted_here), (1, 1));
        assert!(
            round.changed_local() && !round.changed_remote(),
            "{round:?}"
        );
        assert!(
            !n1.join("lists/adlists.list").exists(),
            "a deletion of an unchanged file flows"
        );
        assert!(nodes.read(n1, "custom.list").unwrap().contains("printer"));
        assert!(nodes.read(n2, "custom.list").unwrap().contains("tv"));
        assert_eq!(
            nodes.round(None).await.conflicts,
            ["custom.list"],
            "until resolved"
        );

        // resolve --keep n2, from n1.
        let keep_n2 = Resolution {
            keep_local: false,
            paths: BTreeSet::new(),
        };
        let round = nodes.round(Some(&keep_n2)).await;
        assert_eq!((round.pulled, round.conflicts.len()), (1, 0), "{round:?}");
        assert!(nodes.read(n1, "custom.list").unwrap().contains("tv"));
        assert_eq!(nodes.round(None).await, Round::default());

        // An edit against a deletion is a conflict too: the edit survives.
        nodes.write(n1, "custom.list", "edited on n1");
        std::fs::remove_file(n2.join("custom.list")).unwrap();
        assert_eq!(nodes.round(None).await.conflicts, ["custom.list"]);
        assert_eq!(
            nodes.read(n1, "custom.list").as_deref(),
            Some("edited on n1")
        );
        let keep_n1 = Resolution {
            keep_local: true,
            paths: ["custom.list".to_string()].into(),
        };
        nodes.round(Some(&keep_n1)).await;
        assert_eq!(
            nodes.read(n2, "custom.list").as_deref(),
            Some("edited on n1")
        );
    }

    #[tokio::test]
    async fn a_node_that_was_away_rejoins_without_losing_either_sides_edits() {
        let nodes = TwoNodes::new().await;
        let (n1, n2) = (&nodes.n1, &nodes.n2);
        for name in ["a", "b", "c"] {
            nodes.write(n1, name, "v1");
        }
        nodes.round(None).await;
        // n2 is away (no rounds) while both sides go on editing.
        nodes.write(n1, "a", "n1's edit");
        nodes.write(n2, "b", "n2's edit");
        nodes.write(n2, "new-on-n2", "x");
        std::fs::remove_file(n1.join("c")).unwrap();
        let round = nodes.round(None).await;
        assert!(round.conflicts.is_empty(), "{round:?}");
        for node in [n1, n2] {
            assert_eq!(nodes.read(node, "a").as_deref(), Some("n1's edit"));
            assert_eq!(nodes.read(node, "b").as_deref(), Some("n2's edit"));
            assert_eq!(nodes.read(node, "new-on-n2").as_deref(), Some("x"));
            assert_eq!(nodes.read(node, "c"), None);
        }
        // The same edit made on both sides is no conflict.
        nodes.write(n1, "a", "same");
        nodes.write(n2, "a", "same");
        assert!(nodes.round(None).await.conflicts.is_empty());
    }

    #[tokio::test]
    async fn a_lost_state_is_read_back_from_the_peer() {
        let nodes = TwoNodes::new().await;
        let (n1, n2) = (&nodes.n1, &nodes.n2);
        nodes.write(n1, "a", "v1");
        nodes.round(None).await;
        std::fs::remove_file(n1.join(".hareconcile/pairs/n2.json")).unwrap();
        // Without the state, n2's edit would look like a conflict.
        nodes.write(n2, "a", "v2");
        let round = nodes.round(None).await;
        assert_eq!((round.pulled, round.conflicts.len()), (1, 0), "{round:?}");
        assert_eq!(nodes.read(n1, "a").as_deref(), Some("v2"));
    }
}
