//! Snapshot methods: a read-only snapshot of the source per pass, sent
//! incrementally (from the newest snapshot the target also has) into a
//! receive on the target. btrfs and zfs take the same path; only their
//! command lines differ, and those are built here.

use std::path::{Path, PathBuf};
use std::time::SystemTime;

use crate::remote::shell_line;
use crate::term::{unix_millis, Meta, Term, META_DIR};

/// Where and how one Replication's snapshots live.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Backend {
    /// `path` is a subvolume; snapshots are nested subvolumes in its
    /// metadata directory, so no snapshot contains another.
    Btrfs { path: PathBuf },
    /// `dataset` is mounted at the Replication's path; `recursive`: its
    /// descendants travel with it (`snapshot -r`, `send -R`, `destroy -r`).
    Zfs { dataset: String, recursive: bool },
}

/// Prefix of every snapshot this controller makes; others are left alone.
const PREFIX: &str = "hc-";

/// A snapshot's name: creation time first (zero-padded, so names sort in
/// time order), then the term that made it.
pub fn name(at: SystemTime, term: &Term) -> String {
    format!(
        "{PREFIX}{:013}-e{}-{}",
        unix_millis(at),
        term.epoch,
        term.node
    )
}

/// This controller's snapshot names among `names`, oldest first.
pub fn ours<S: AsRef<str>>(names: &[S]) -> Vec<String> {
    let mut ours: Vec<String> = names
        .iter()
        .map(|n| n.as_ref().trim())
        .filter(|n| n.starts_with(PREFIX))
        .map(str::to_string)
        .collect();
    ours.sort();
    ours
}

/// The newest of `local` that `remote` also has: the parent for an
/// incremental send (none: send everything).
pub fn common_parent<'a>(local: &'a [String], remote: &[String]) -> Option<&'a String> {
    local.iter().rev().find(|name| remote.contains(name))
}

/// Snapshots to delete so that `retain` remain (the newest ones).
pub fn expired(names: &[String], retain: u32) -> &[String] {
    &names[..names.len().saturating_sub(retain.max(1) as usize)]
}

impl Backend {
    fn snapshot_dir(path: &Path) -> PathBuf {
        Meta::of(path).snapshots()
    }

    fn btrfs_snapshot(path: &Path, name: &str) -> String {
        Self::snapshot_dir(path)
            .join(name)
            .to_string_lossy()
            .into_owned()
    }

    /// Takes the source snapshot (run locally; the directory must exist
    /// for btrfs, see [`Backend::prepare`]).
    pub fn create(&self, name: &str) -> Vec<String> {
        match self {
            Backend::Btrfs { path } => argv(&[
                "btrfs",
                "subvolume",
                "snapshot",
                "-r",
                &path.to_string_lossy(),
                &Self::btrfs_snapshot(path, name),
            ]),
            Backend::Zfs { dataset, recursive } => {
                let mut words = argv(&["zfs", "snapshot"]);
                if *recursive {
                    words.push("-r".into());
                }
                words.push(format!("{dataset}@{name}"));
                words
            }
        }
    }

    /// The local directory snapshots go to, if the backend needs one.
    pub fn prepare(&self) -> Option<PathBuf> {
        match self {
            Backend::Btrfs { path } => Some(Self::snapshot_dir(path)),
            Backend::Zfs { .. } => None,
        }
    }

    /// Streams snapshot `name` (incrementally from `parent`) to stdout.
    pub fn send(&self, name: &str, parent: Option<&str>) -> Vec<String> {
        match self {
            Backend::Btrfs { path } => {
                let mut words = argv(&["btrfs", "send", "-q"]);
                if let Some(parent) = parent {
                    words.extend(argv(&["-p", &Self::btrfs_snapshot(path, parent)]));
                }
                words.push(Self::btrfs_snapshot(path, name));
                words
            }
            Backend::Zfs { dataset, recursive } => {
                let mut words = argv(&["zfs", "send"]);
                if *recursive {
                    // A replication stream: every descendant, its
                    // snapshots and properties.
                    words.push("-R".into());
                }
                if let Some(parent) = parent {
                    words.extend(argv(&["-i", &format!("@{parent}")]));
                }
                words.push(format!("{dataset}@{name}"));
                words
            }
        }
    }

    /// Lists this backend's snapshots, one name a line (shell line, run
    /// locally or on a target).
    pub fn list_line(&self) -> String {
        match self {
            Backend::Btrfs { path } => format!(
                "ls -1 {} 2>/dev/null || true",
                shell_line(&[Self::snapshot_dir(path).to_string_lossy()])
            ),
            Backend::Zfs { dataset, .. } => format!(
                "zfs list -H -t snapshot -o name -s creation -d 1 {} | sed 's/^.*@//'",
                shell_line(&[dataset])
            ),
        }
    }

    /// Deletes snapshots (shell line).
    pub fn delete_line(&self, names: &[String]) -> Option<String> {
        if names.is_empty() {
            return None;
        }
        Some(match self {
            Backend::Btrfs { path } => {
                let mut words = argv(&["btrfs", "subvolume", "delete"]);
                words.extend(names.iter().map(|n| Self::btrfs_snapshot(path, n)));
                shell_line(&words)
            }
            Backend::Zfs { dataset, recursive } => names
                .iter()
                .map(|n| {
                    let snapshot = format!("{dataset}@{n}");
                    match recursive {
                        true => shell_line(&["zfs", "destroy", "-r", &snapshot]),
                        false => shell_line(&["zfs", "destroy", &snapshot]),
                    }
                })
                .collect::<Vec<_>>()
                .join(" && "),
        })
    }

    /// The receiving side on a target (a shell line run by the guard):
    /// receive the stream of snapshot `name`, bring the live copy to it,
    /// then prune the target's snapshots in `expired`. btrfs receives a
    /// read-only snapshot and rsyncs the path up to it with delayed
    /// renames, logging what that changed (so afterSync hooks run only for
    /// a snapshot that differs); zfs receives straight into the dataset
    /// (rolling back anything changed on the target since the last
    /// snapshot), and every receive counts as a change.
    pub fn receive_line(&self, name: &str, expired: &[String]) -> String {
        let receive = match self {
            Backend::Btrfs { path } => {
                let dir = Self::snapshot_dir(path).to_string_lossy().into_owned();
                let received = format!("{}/", Self::btrfs_snapshot(path, name));
                let live = format!("{}/", path.to_string_lossy());
                let [log, log_format] = crate::rsync::itemized_log(path);
                format!(
                    "mkdir -p {quoted_dir} && btrfs receive {quoted_dir} && {materialize}",
                    quoted_dir = shell_line(&[&dir]),
                    materialize = shell_line(&[
                        "rsync",
                        "--archive",
                        "--numeric-ids",
                        "--delay-updates",
                        "--delete-delay",
                        crate::rsync::EXACT_MTIME,
                        &format!("--exclude=/{META_DIR}/"),
                        &log,
                        &log_format,
                        &received,
                        &live,
                    ]),
                )
            }
            Backend::Zfs { dataset, .. } => shell_line(&["zfs", "receive", "-F", dataset]),
        };
        match self.delete_line(expired) {
            // Pruning is housekeeping: a failure must not fail the pass.
            Some(prune) => format!("{receive} && {{ {prune} >/dev/null 2>&1 || true; }}"),
            None => receive,
        }
    }
}

fn argv(words: &[&str]) -> Vec<String> {
    words.iter().map(|w| w.to_string()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, UNIX_EPOCH};

    fn zfs() -> Backend {
        Backend::Zfs {
            dataset: "tank/web".into(),
            recursive: false,
        }
    }

    fn btrfs() -> Backend {
        Backend::Btrfs {
            path: PathBuf::from("/srv/web"),
        }
    }

    fn names(list: &[&str]) -> Vec<String> {
        list.iter().map(|n| n.to_string()).collect()
    }

    #[test]
    fn names_sort_in_time_order_and_carry_the_term() {
        let term: Term = "3 n1".parse().unwrap();
        let early = name(UNIX_EPOCH + Duration::from_millis(999), &term);
        let late = name(UNIX_EPOCH + Duration::from_secs(1_700_000_000), &term);
        assert_eq!(early, "hc-0000000000999-e3-n1");
        assert_eq!(late, "hc-1700000000000-e3-n1");
        assert_eq!(
            ours(&[late.as_str(), "manual", early.as_str()]),
            vec![early, late]
        );
    }

    #[test]
    fn the_parent_is_the_newest_snapshot_both_sides_have() {
        let local = names(&["hc-1", "hc-2", "hc-3"]);
        assert_eq!(
            common_parent(&local, &names(&["hc-2", "hc-1"])),
            Some(&"hc-2".to_string())
        );
        assert_eq!(common_parent(&local, &names(&["hc-9"])), None);
        assert_eq!(expired(&local, 2), ["hc-1"]);
        assert!(expired(&local, 5).is_empty());
        assert_eq!(
            expired(&local, 0),
            ["hc-1", "hc-2"],
            "always keep the newest"
        );
    }

    #[test]
    fn zfs_command_lines() {
        assert_eq!(zfs().create("hc-2"), ["zfs", "snapshot", "tank/web@hc-2"]);
        assert_eq!(zfs().send("hc-2", None), ["zfs", "send", "tank/web@hc-2"]);
        assert_eq!(
            zfs().send("hc-2", Some("hc-1")),
            ["zfs", "send", "-i", "@hc-1", "tank/web@hc-2"]
        );
        assert_eq!(
            zfs().list_line(),
            "zfs list -H -t snapshot -o name -s creation -d 1 tank/web | sed 's/^.*@//'"
        );
        assert_eq!(
            zfs().receive_line("hc-3", &names(&["hc-1"])),
            "zfs receive -F tank/web && { zfs destroy tank/web@hc-1 >/dev/null 2>&1 || true; }"
        );
        assert_eq!(
            zfs().delete_line(&names(&["hc-1", "hc-2"])).unwrap(),
            "zfs destroy tank/web@hc-1 && zfs destroy tank/web@hc-2"
        );
        assert_eq!(zfs().prepare(), None);
    }

    #[test]
    fn recursive_zfs_takes_sends_and_prunes_the_whole_tree() {
        let tree = Backend::Zfs {
            dataset: "tank/pihole".into(),
            recursive: true,
        };
        assert_eq!(
            tree.create("hc-2"),
            ["zfs", "snapshot", "-r", "tank/pihole@hc-2"]
        );
        assert_eq!(
            tree.send("hc-2", Some("hc-1")),
            ["zfs", "send", "-R", "-i", "@hc-1", "tank/pihole@hc-2"]
        );
        assert_eq!(
            tree.send("hc-2", None),
            ["zfs", "send", "-R", "tank/pihole@hc-2"]
        );
        assert_eq!(
            tree.receive_line("hc-3", &names(&["hc-1"])),
            "zfs receive -F tank/pihole && { zfs destroy -r tank/pihole@hc-1 >/dev/null 2>&1 || true; }"
        );
    }

    #[test]
    fn btrfs_command_lines() {
        assert_eq!(
            btrfs().create("hc-2"),
            [
                "btrfs",
                "subvolume",
                "snapshot",
                "-r",
                "/srv/web",
                "/srv/web/.hareconcile/snapshots/hc-2"
            ]
        );
        assert_eq!(
            btrfs().send("hc-2", Some("hc-1")),
            [
                "btrfs",
                "send",
                "-q",
                "-p",
                "/srv/web/.hareconcile/snapshots/hc-1",
                "/srv/web/.hareconcile/snapshots/hc-2"
            ]
        );
        assert_eq!(
            btrfs().receive_line("hc-2", &[]),
            "mkdir -p /srv/web/.hareconcile/snapshots && btrfs receive /srv/web/.hareconcile/snapshots && \
             rsync --archive --numeric-ids --delay-updates --delete-delay --modify-window=-1 --exclude=/.hareconcile/ \
             --log-file=/srv/web/.hareconcile/pass.log '--log-file-format=%i %n' \
             /srv/web/.hareconcile/snapshots/hc-2/ /srv/web/"
        );
        assert_eq!(
            btrfs().delete_line(&names(&["hc-1"])).unwrap(),
            "btrfs subvolume delete /srv/web/.hareconcile/snapshots/hc-1"
        );
    }
}
