//! rsync command lines (push to a target, pull from a newer peer) and
//! what its `--stats` say about a pass.

use std::path::Path;
use std::time::SystemTime;

use crate::remote::{guarded, rsync_shell, shell_line, Link};
use crate::sqlite::STAGING;
use crate::term::{Meta, Term, META_DIR};

/// What a push or pull does to the files, whichever way it goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Transfer<'a> {
    /// Remove files the source no longer has.
    pub delete: bool,
    /// `--include=`/`--exclude=` arguments, in order (see [`rules`]).
    pub rules: &'a [String],
    /// Carry the staged SQLite copies (see [`crate::sqlite`]), the one
    /// part of the metadata directory that travels.
    pub staging: bool,
}

/// The filter arguments of a Replication, in the order rsync tries them:
/// SQLite databases and their journals first (they travel as checked
/// copies, see [`crate::sqlite`], never as live files), then the
/// manifest's includes, then its excludes. Excluded files are neither
/// sent nor deleted on the target.
pub fn rules(sqlite: &[String], include: &[String], exclude: &[String]) -> Vec<String> {
    let databases = sqlite.iter().flat_map(|p| {
        ["", "-wal", "-shm", "-journal"].map(|suffix| format!("--exclude={p}{suffix}"))
    });
    databases
        .chain(include.iter().map(|p| format!("--include={p}")))
        .chain(exclude.iter().map(|p| format!("--exclude={p}")))
        .collect()
}

/// rsync skips a file whose size and modification time match, and by
/// default compares the times in whole seconds: a file rewritten with the
/// same size within the second of the copy already sent would never
/// travel (continuous mode ships changes well within a second). A
/// negative window compares nanoseconds (receiver rsync 3.1.3 or later).
pub const EXACT_MTIME: &str = "--modify-window=-1";

/// How long either end of a transfer waits without any data from the
/// other before it gives up (rsync `--timeout`, passed to the remote end
/// too; both send keep-alives while busy). Without it, a push cut off by
/// the loss of its source leaves the receiving rsync on the target waiting
/// forever on a connection nobody closes (sshd does not probe its
/// clients by default), holding the copy's lock: the target could never
/// catch up and claim the next term. As long as ssh's own dead-peer
/// detection (3 keepalives 5 s apart).
pub const IO_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(15);

/// Options for the receiving rsync of a push into the copy at `data`:
/// log every item the pass changes (created, updated, deleted, attributes)
/// to `META/pass.log`, from which the target's guard tells a pass that
/// changed the copy from one that found it in step (see
/// [`crate::remote::guarded`]). Unchanged items are never logged.
pub fn itemized_log(data: &Path) -> [String; 2] {
    let log = Meta::of(data).dir().join("pass.log");
    [
        format!("--log-file={}", log.to_string_lossy()),
        "--log-file-format=%i %n".into(),
    ]
}

/// `host:path/` as rsync reads a remote directory (IPv6 in brackets).
pub fn remote_dir(host: &str, path: &Path) -> String {
    let host = if host.contains(':') {
        format!("[{host}]")
    } else {
        host.to_string()
    };
    format!("{host}:{}", dir_arg(path))
}

/// A directory with its trailing slash: copy its contents, not itself.
fn dir_arg(path: &Path) -> String {
    let path = path.to_string_lossy();
    if path.ends_with('/') {
        path.into_owned()
    } else {
        format!("{path}/")
    }
}

/// Options common to both directions: archive mode; updated files land
/// under temporary names and are renamed into place together at the end
/// (`--delay-updates`), deletions too (`--delete-delay`), so a reader of
/// the copy never sees a half-written file; the metadata directory is
/// neither sent nor deleted; modification times compared to the
/// nanosecond ([`EXACT_MTIME`]).
fn common(transfer: Transfer, link: &Link, host: &str) -> Vec<String> {
    let mut args = vec![
        "rsync".to_string(),
        "--archive".into(),
        "--numeric-ids".into(),
        "--stats".into(),
        "--delay-updates".into(),
        EXACT_MTIME.into(),
        format!("--timeout={}", IO_TIMEOUT.as_secs()),
    ];
    if transfer.staging {
        args.extend([
            format!("--include=/{META_DIR}/"),
            format!("--include=/{META_DIR}/{STAGING}/***"),
            format!("--exclude=/{META_DIR}/*"),
        ]);
    } else {
        args.push(format!("--exclude=/{META_DIR}/"));
    }
    args.extend(transfer.rules.iter().cloned());
    if transfer.delete {
        args.push("--delete-delay".into());
    }
    args.extend(["-e".into(), rsync_shell(link, host)]);
    args
}

/// Pushes `path` to the same path on `host`, through the target's guard
/// (see [`crate::remote::guarded`]), which runs the shell line `install`
/// once the files arrived (see [`crate::sqlite::install_line`]).
pub fn push(
    path: &Path,
    (host, term, as_of): (&str, &Term, SystemTime),
    transfer: Transfer,
    install: &str,
    link: &Link,
) -> Vec<String> {
    let mut args = common(transfer, link, host);
    let mut receive = vec!["rsync".to_string()];
    receive.extend(itemized_log(path));
    args.push(format!(
        "--rsync-path={}",
        guarded(path, term, as_of, install, &shell_line(&receive))
    ));
    args.push(dir_arg(path));
    args.push(remote_dir(host, path));
    args
}

/// Pulls the copy at `path` on `host` over the local one (a new master
/// catching up with a peer that holds a newer term).
pub fn pull(path: &Path, host: &str, transfer: Transfer, link: &Link) -> Vec<String> {
    let mut args = common(transfer, link, host);
    args.push(remote_dir(host, path));
    args.push(dir_arg(path));
    args
}

/// The figures of one pass, from `--stats`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Stats {
    pub files: u64,
    pub bytes: u64,
    pub deleted: u64,
}

pub fn parse_stats(stdout: &str) -> Stats {
    let mut stats = Stats::default();
    for line in stdout.lines() {
        let Some((label, value)) = line.split_once(':') else {
            continue;
        };
        let number = || -> u64 {
            value
                .split_whitespace()
                .next()
                .map(|n| n.replace(',', ""))
                .and_then(|n| n.parse().ok())
                .unwrap_or(0)
        };
        match label.trim() {
            "Number of regular files transferred" => stats.files = number(),
            "Total transferred file size" => stats.bytes = number(),
            "Number of deleted files" => stats.deleted = number(),
            _ => {}
        }
    }
    stats
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::term::unix_millis;
    use hareconcile_runtime::testing::write_executable;
    use std::path::PathBuf;
    use std::time::{Duration, UNIX_EPOCH};

    fn ssh() -> Link {
        Link::new(Default::default(), None)
    }

    fn transfer(delete: bool) -> Transfer<'static> {
        Transfer {
            delete,
            rules: &[],
            staging: false,
        }
    }

    #[test]
    fn push_goes_through_the_guard_with_delayed_updates() {
        let term: Term = "3 n1".parse().unwrap();
        let args = push(
            Path::new("/srv/web data"),
            ("10.77.0.2", &term, UNIX_EPOCH + Duration::from_secs(1)),
            transfer(true),
            "",
            &ssh(),
        );
        assert_eq!(
            args[..9],
            [
                "rsync",
                "--archive",
                "--numeric-ids",
                "--stats",
                "--delay-updates",
                "--modify-window=-1",
                "--timeout=15",
                "--exclude=/.hareconcile/",
                "--delete-delay"
            ]
        );
        assert_eq!(args[9], "-e");
        let rsync_path = &args[11];
        assert!(rsync_path.starts_with("--rsync-path=mkdir -p '/srv/web data/.hareconcile' && exec flock -w 60 '/srv/web data/.hareconcile/lock' sh -c "));
        assert!(rsync_path.ends_with(
            " hareconcile-guard 3 n1 1000 '/srv/web data/.hareconcile' '' \
             rsync '--log-file=/srv/web data/.hareconcile/pass.log' '--log-file-format=%i %n'"
        ));
        assert_eq!(args[12..], ["/srv/web data/", "10.77.0.2:/srv/web data/"]);
    }

    #[test]
    fn pull_copies_the_peer_over_the_local_copy() {
        let args = pull(Path::new("/srv/web/"), "fd00::2", transfer(false), &ssh());
        assert!(!args.iter().any(|a| a.starts_with("--delete")));
        assert!(!args.iter().any(|a| a.starts_with("--rsync-path")));
        assert_eq!(args[args.len() - 2..], ["[fd00::2]:/srv/web/", "/srv/web/"]);
    }

    #[test]
    fn stats_give_files_bytes_and_deletions() {
        let out = "\nNumber of files: 1,004 (reg: 1,002, dir: 2)\n\
                   Number of created files: 4 (reg: 2, dir: 2)\n\
                   Number of deleted files: 3 (reg: 3)\n\
                   Number of regular files transferred: 1,002\n\
                   Total file size: 12,345 bytes\n\
                   Total transferred file size: 10,240 bytes\n\
                   Total bytes sent: 204\n";
        assert_eq!(
            parse_stats(out),
            Stats {
                files: 1002,
                bytes: 10240,
                deleted: 3
            }
        );
        assert_eq!(parse_stats("rsync error"), Stats::default());
    }

    /// A real push between two local directories through the guard, with
    /// `sh` standing in for ssh.
    fn rsync_missing() -> bool {
        let missing = std::process::Command::new("rsync")
            .arg("--version")
            .output()
            .is_err();
        if missing {
            eprintln!("rsync is not installed: skipped");
        }
        missing
    }

    /// A temporary directory and the `source` and `target` paths in it
    /// (the target exists); `None` without rsync.
    fn source_and_target() -> Option<(tempfile::TempDir, PathBuf, PathBuf)> {
        if rsync_missing() {
            return None;
        }
        let dir = tempfile::tempdir().unwrap();
        let (source, target) = (dir.path().join("source"), dir.path().join("target"));
        std::fs::create_dir_all(&target).unwrap();
        Some((dir, source, target))
    }

    /// Pushes `source` to `target` as node2 in `term` at `at`, with `sh`
    /// standing in for ssh.
    fn push_locally(
        (dir, source, target): (&Path, &Path, &Path),
        (term, at): (&Term, SystemTime),
        transfer: Transfer,
        install: &str,
    ) -> std::process::Output {
        let mut args = push(target, ("node2", term, at), transfer, install, &ssh());
        let fake_ssh = dir.join("ssh");
        write_executable(&fake_ssh, "#!/bin/sh\nshift\nexec sh -c \"$*\"\n");
        let e = args.iter().position(|a| a == "-e").unwrap();
        args[e + 1] = fake_ssh.display().to_string();
        let n = args.len();
        args[n - 2] = format!("{}/", source.display());
        let out = std::process::Command::new(&args[0])
            .args(&args[1..])
            .output()
            .unwrap();
        assert!(out.status.success(), "{out:?}");
        out
    }

    #[test]
    fn a_local_round_trip_copies_and_deletes_but_keeps_metadata() {
        let Some((dir, source, target)) = source_and_target() else {
            return;
        };
        std::fs::create_dir_all(source.join("sub")).unwrap();
        std::fs::write(source.join("sub/a"), "new").unwrap();
        std::fs::write(target.join("stale"), "old").unwrap();
        let term: Term = "1 n1".parse().unwrap();
        let paths = (dir.path(), source.as_path(), target.as_path());
        let out = push_locally(paths, (&term, UNIX_EPOCH), transfer(true), "");
        assert_eq!(
            std::fs::read_to_string(target.join("sub/a")).unwrap(),
            "new"
        );
        assert!(!target.join("stale").exists());
        assert_eq!(parse_stats(&String::from_utf8_lossy(&out.stdout)).files, 1);
        assert_eq!(
            crate::term::Meta::of(&target).term().unwrap(),
            term,
            "the guard recorded the pusher's term"
        );
    }

    /// A file rewritten with the same size within the same second as the
    /// copy already on the target still travels.
    #[test]
    fn a_same_size_rewrite_within_the_second_travels() {
        let Some((dir, source, target)) = source_and_target() else {
            return;
        };
        std::fs::create_dir_all(&source).unwrap();
        let file = source.join("list");
        let write = |content: &str, mtime: &str| {
            std::fs::write(&file, content).unwrap();
            let touched = std::process::Command::new("touch")
                .args(["-m", "-d", mtime])
                .arg(&file)
                .status()
                .unwrap();
            assert!(touched.success());
        };
        let term: Term = "1 n1".parse().unwrap();
        let push_now = || {
            let paths = (dir.path(), source.as_path(), target.as_path());
            push_locally(paths, (&term, UNIX_EPOCH), transfer(false), "");
            std::fs::read_to_string(target.join("list")).unwrap()
        };
        write("v1", "@1700000000.100000000");
        assert_eq!(push_now(), "v1");
        write("v2", "@1700000000.200000000");
        assert_eq!(push_now(), "v2");
    }

    /// The copy's `changed` record follows the passes that changed it
    /// (new file, mode, deletion, a database installed), and only those:
    /// `synced` follows every pass.
    #[test]
    fn only_a_pass_that_changes_the_copy_records_a_change() {
        let Some((dir, source, target)) = source_and_target() else {
            return;
        };
        let staging = source.join(META_DIR).join(STAGING);
        std::fs::create_dir_all(&staging).unwrap();
        let meta = Meta::of(&target);
        let term: Term = "1 n1".parse().unwrap();
        // With the staged databases travelling, as with `sqlite:`.
        let transfer = Transfer {
            delete: true,
            rules: &[],
            staging: true,
        };
        let pass = |millis: u64, install: &str| {
            let at = UNIX_EPOCH + Duration::from_millis(millis);
            let paths = (dir.path(), source.as_path(), target.as_path());
            push_locally(paths, (&term, at), transfer, install);
            let millis = |r: Option<crate::term::Synced>| r.map(|r| unix_millis(r.as_of));
            assert_eq!(millis(meta.synced().unwrap()), Some(unix_millis(at)));
            millis(meta.changed().unwrap())
        };
        std::fs::write(source.join("a"), "a").unwrap();
        assert_eq!(pass(1, ""), Some(1), "a new file");
        assert_eq!(pass(2, ""), Some(1), "nothing new");
        // The metadata directories differ (the guard writes into the
        // target's; here the source's changes): no change to the data.
        std::fs::write(source.join(META_DIR).join("unrelated"), "x").unwrap();
        assert_eq!(pass(3, ""), Some(1), "only metadata");
        std::fs::set_permissions(
            source.join("a"),
            std::os::unix::fs::PermissionsExt::from_mode(0o600),
        )
        .unwrap();
        assert_eq!(pass(4, ""), Some(4), "a mode");
        std::fs::remove_file(source.join("a")).unwrap();
        assert_eq!(pass(5, ""), Some(5), "a deletion");
        assert_eq!(pass(6, ""), Some(5));
        std::fs::write(staging.join("app.db"), "staged").unwrap();
        assert_eq!(pass(7, "true"), Some(7), "a database installed");
    }

    #[test]
    fn rules_put_databases_first_then_includes_then_excludes() {
        assert_eq!(
            rules(&["*.db".into()], &["keep.log".into()], &["*.log".into()]),
            [
                "--exclude=*.db",
                "--exclude=*.db-wal",
                "--exclude=*.db-shm",
                "--exclude=*.db-journal",
                "--include=keep.log",
                "--exclude=*.log"
            ]
        );
    }

    /// A real push between two local directories with filters: what they
    /// exclude neither travels nor is deleted on the target.
    #[test]
    fn filters_exclude_what_they_say() {
        let Some((dir, source, target)) = source_and_target() else {
            return;
        };
        for d in ["etc", "cache", "sub/cache"] {
            std::fs::create_dir_all(source.join(d)).unwrap();
        }
        std::fs::create_dir_all(target.join("cache")).unwrap();
        for f in [
            "etc/a.conf",
            "etc/debug.log",
            "etc/keep.log",
            "cache/big",
            "sub/cache/x",
            "gravity.db",
            "gravity.db-wal",
        ] {
            std::fs::write(source.join(f), f).unwrap();
        }
        // Excluded on the target too: delete must leave them alone.
        std::fs::write(target.join("cache/mine"), "target's").unwrap();
        std::fs::write(target.join("old.log"), "target's").unwrap();
        let rules = rules(
            &["gravity.db".into()],
            &["keep.log".into()],
            &["*.log".into(), "/cache/".into()],
        );
        let transfer = Transfer {
            delete: true,
            rules: &rules,
            staging: false,
        };
        let term = "1 n1".parse().unwrap();
        let paths = (dir.path(), source.as_path(), target.as_path());
        push_locally(paths, (&term, UNIX_EPOCH), transfer, "");
        let exists = |f: &str| target.join(f).exists();
        assert!(exists("etc/a.conf") && exists("etc/keep.log") && exists("sub/cache/x"));
        assert!(!exists("etc/debug.log"), "*.log is excluded");
        assert!(!exists("cache/big"), "/cache/ is excluded at the top only");
        assert!(
            !exists("gravity.db") && !exists("gravity.db-wal"),
            "databases travel as copies"
        );
        assert!(
            exists("cache/mine") && exists("old.log"),
            "excluded files are not deleted"
        );
    }
}
