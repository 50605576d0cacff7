//! SQLite databases replicated while their application commits: a writer
//! on n1 commits in a loop to a WAL-mode database while continuous rsync
//! replication runs from the fixed source n1; every copy installed on n2
//! must open, pass `PRAGMA integrity_check` and hold a prefix of n1's
//! commits. Plain rsync of the live file does not give that (the
//! counter-example is in `benches/replication.rs`, not here).

mod sqlite_writer;
use hareconcile_test_support as support;

use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use hareconcile_lab::{require_privileges, NodeCommand};
use rusqlite::{Connection, OpenFlags};
use sqlite_writer::{commit_loop, is_commit_prefix};
use support::lab_data::{private_mounts_lab, tmpfs_and_sshd_on_each};
use support::lab_manifests::{cluster_manifest, ssh_manifest};
use support::LabAgent as Agent;

/// At least this many copies installed on n2 are checked.
const COPIES: usize = 200;
/// Bounds how long a broken build takes to fail, nothing else.
const DEADLINE: Duration = Duration::from_secs(300);

/// Opens a copy read-only as it is, checks it and returns its rows.
fn check_copy(copy: &Path) -> Result<Vec<i64>, String> {
    let uri = format!("file:{}?immutable=1", copy.display());
    let conn = Connection::open_with_flags(
        uri,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_URI,
    )
    .map_err(|e| format!("does not open: {e}"))?;
    let check: String = conn
        .query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .map_err(|e| format!("integrity_check failed: {e}"))?;
    if check != "ok" {
        return Err(format!("integrity_check: {check}"));
    }
    let mut stmt = conn
        .prepare("SELECT n FROM t ORDER BY n")
        .map_err(|e| e.to_string())?;
    let rows = stmt
        .query_map([], |r| r.get(0))
        .map_err(|e| e.to_string())?
        .collect::<Result<Vec<i64>, _>>()
        .map_err(|e| e.to_string())?;
    Ok(rows)
}

#[test]
fn every_installed_copy_of_a_database_in_use_is_whole_and_a_prefix_of_the_commits() {
    require_privileges!();
    let lab = private_mounts_lab(2);
    let data = lab.dir().join("srv/data");
    let _sshd = tmpfs_and_sshd_on_each(&lab, &data);
    let manifest = format!(
        "{cluster}---\napiVersion: hareconcile.io/v1alpha1\nkind: Replication\nmetadata: {{name: data}}\n\
         spec: {{cluster: lab, source: {{node: n1}}, path: {data}, method: rsync, sqlite: [app.db], \
         rsync: {{continuous: true, interval: 10s, delete: true, ssh: {ssh}}}}}\n",
        cluster = cluster_manifest((110, 100), ""),
        data = data.display(),
        ssh = ssh_manifest(&lab),
    );
    let (n1, n2) = (lab.node(1), lab.node(2));
    // Processes living in each node's mount namespace: the test reaches
    // their files through /proc/PID/root.
    let anchors = [n1, n2].map(|h| h.spawn(NodeCommand::new("sleep").arg("3600")).unwrap());
    let view = |i: usize, path: &Path| {
        Path::new(&format!("/proc/{}/root", anchors[i].pid())).join(path.strip_prefix("/").unwrap())
    };
    let (source, target) = (view(0, &data), view(1, &data));
    std::fs::write(source.join("notes.txt"), "x").unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let writer = {
        let (anchor, db, stop) = (anchors[0].pid(), data.join("app.db"), stop.clone());
        std::thread::spawn(move || commit_loop(anchor, db, stop))
    };
    // The first commit makes sure the writer runs before the agents start.
    let deadline = Instant::now() + DEADLINE;
    while !source.join("app.db-wal").exists() {
        assert!(
            Instant::now() < deadline && !writer.is_finished(),
            "the writer did not start"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    let start = |host| {
        Agent::command(&lab, host)
            .manifest(&manifest)
            .env("HARECONCILE_LOG", "info,hareconcile_sync=debug")
            .start()
    };
    let (a1, a2) = (start(n1), start(n2));
    let logs = || format!("--- n1\n{}\n--- n2\n{}", a1.log(), a2.log());

    // Each copy installed on n2 is a new file renamed over app.db: keep a
    // hard link to every one seen (on n2's filesystem, in the metadata
    // directory that replication never touches), check them afterwards.
    let captures = target.join(".hareconcile/captured");
    std::fs::create_dir_all(&captures).unwrap();
    let mut seen = std::collections::HashSet::new();
    let local = tempfile::tempdir().unwrap();
    let (mut checked, mut longest) = (0, 0);
    let deadline = Instant::now() + DEADLINE;
    while checked < COPIES {
        assert!(
            Instant::now() < deadline,
            "only {checked} copies installed on n2\n{}",
            logs()
        );
        let live = target.join("app.db");
        if let Ok(meta) = std::fs::metadata(&live) {
            let inode = std::os::unix::fs::MetadataExt::ino(&meta);
            if seen.insert(inode) {
                // A hard link holds that copy still; checked out of the
                // node at once (SQLite does not follow /proc/PID/root) and
                // let go, so n2's small tmpfs does not fill up.
                let captured = captures.join(inode.to_string());
                if std::fs::hard_link(&live, &captured).is_ok() {
                    let copy = local.path().join("copy.db");
                    std::fs::copy(&captured, &copy).unwrap();
                    std::fs::remove_file(&captured).unwrap();
                    let rows = check_copy(&copy)
                        .unwrap_or_else(|e| panic!("copy {}: {e}\n{}", checked + 1, logs()));
                    assert!(
                        is_commit_prefix(&rows),
                        "copy {} is not a prefix of the commits (or tears one): {} rows",
                        checked + 1,
                        rows.len()
                    );
                    longest = longest.max(rows.len());
                    checked += 1;
                }
            }
        }
        assert!(
            !target.join("app.db-wal").exists(),
            "the source's live WAL file reached n2"
        );
        std::thread::sleep(Duration::from_millis(2));
    }
    stop.store(true, Ordering::SeqCst);
    let committed = writer.join().unwrap();
    assert!(checked >= COPIES, "{checked} copies checked");
    assert!(longest as i64 <= committed);
    drop(anchors);
}
