//! The live-SQLite counter-example (`SQLITE=1`): what a target sees of a
//! database in use, copied as plain files and through `sqlite:`.

use std::collections::HashSet;
use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use hareconcile_lab::{Lab, NodeCommand};
use rusqlite::{Connection, OpenFlags};

use super::common::support::lab_data::{private_mounts_lab, tmpfs_and_sshd_on_each};
use super::common::support::lab_manifests::{cluster_manifest, ssh_manifest};
use super::common::support::LabAgent;
use super::sqlite_writer::{commit_loop, is_commit_prefix};
use super::wait_until;

/// What the checks found among the states seen on n2.
#[derive(Default)]
struct Verdicts {
    seen: usize,
    unopenable: usize,
    corrupt: usize,
    not_a_prefix: usize,
}

fn manifest(lab: &Lab, data: &Path, sqlite: bool) -> String {
    let databases = if sqlite { "sqlite: [app.db], " } else { "" };
    format!(
        "{cluster}---\napiVersion: hareconcile.io/v1alpha1\nkind: Replication\nmetadata: {{name: data}}\n\
         spec: {{cluster: lab, source: {{node: n1}}, path: {data}, method: rsync, {databases}\
         rsync: {{continuous: true, interval: 30s, delete: true, ssh: {ssh}}}}}\n",
        cluster = cluster_manifest((110, 100), ""),
        data = data.display(),
        ssh = ssh_manifest(lab),
    )
}

/// Which version of `file` is there (inode, mtime, size), if any.
fn version(file: &Path) -> Option<(u64, i64, u64)> {
    std::fs::metadata(file)
        .ok()
        .map(|m| (m.ino(), m.mtime_nsec(), m.len()))
}

/// Copies `app.db` and whatever `-wal` sits beside it on the target each
/// time either is replaced, into `into/N/`. In WAL mode the commits land
/// in the `-wal` and reach the database file only at checkpoints, so a
/// plain copy mostly changes the `-wal`.
fn capture(target: &Path, into: &Path, stop: Arc<AtomicBool>) {
    let mut seen = HashSet::new();
    while !stop.load(Ordering::SeqCst) {
        let db = version(&target.join("app.db"));
        if db.is_some() && seen.insert((db, version(&target.join("app.db-wal")))) {
            let dir = into.join(seen.len().to_string());
            std::fs::create_dir_all(&dir).unwrap();
            for file in ["app.db", "app.db-wal"] {
                let _ = std::fs::copy(target.join(file), dir.join(file));
            }
        }
        std::thread::sleep(Duration::from_millis(2));
    }
}

fn check(dir: &Path, verdicts: &mut Verdicts) {
    verdicts.seen += 1;
    let conn =
        match Connection::open_with_flags(dir.join("app.db"), OpenFlags::SQLITE_OPEN_READ_WRITE) {
            Ok(conn) => conn,
            Err(_) => return verdicts.unopenable += 1,
        };
    let check: Result<String, _> = conn.query_row("PRAGMA integrity_check", [], |r| r.get(0));
    if check.as_deref() != Ok("ok") {
        return verdicts.corrupt += 1;
    }
    let rows: Result<Vec<i64>, _> = conn
        .prepare("SELECT n FROM t ORDER BY n")
        .and_then(|mut s| s.query_map([], |r| r.get(0))?.collect());
    match rows {
        Ok(rows) if is_commit_prefix(&rows) => {}
        Ok(_) => verdicts.not_a_prefix += 1,
        Err(_) => verdicts.corrupt += 1,
    }
}

fn one(sqlite: bool, load: Duration) -> Verdicts {
    let lab = private_mounts_lab(2);
    let data = lab.dir().join("srv/data");
    let _sshd = tmpfs_and_sshd_on_each(&lab, &data);
    let anchors =
        [lab.node(1), lab.node(2)].map(|h| h.spawn(NodeCommand::new("sleep").arg("3600")).unwrap());
    let view = |i: usize| {
        Path::new(&format!("/proc/{}/root", anchors[i].pid())).join(data.strip_prefix("/").unwrap())
    };
    let (source, target) = (view(0), view(1));
    std::fs::write(source.join("seed"), "x").unwrap();
    let text = manifest(&lab, &data, sqlite);
    let _a1 = LabAgent::command(&lab, lab.node(1)).manifest(&text).start();
    let _a2 = LabAgent::command(&lab, lab.node(2)).manifest(&text).start();
    wait_until("the seed reaches n2", || target.join("seed").exists());
    let captures = tempfile::tempdir().unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let writer = {
        let (anchor, db, stop) = (anchors[0].pid(), data.join("app.db"), stop.clone());
        std::thread::spawn(move || commit_loop(anchor, db, stop))
    };
    let watcher = {
        let (target, into, stop) = (target.clone(), captures.path().to_path_buf(), stop.clone());
        std::thread::spawn(move || capture(&target, &into, stop))
    };
    std::thread::sleep(load);
    stop.store(true, Ordering::SeqCst);
    writer.join().unwrap();
    watcher.join().unwrap();
    let mut verdicts = Verdicts::default();
    for entry in std::fs::read_dir(captures.path()).unwrap() {
        check(&entry.unwrap().path(), &mut verdicts);
    }
    drop(anchors);
    verdicts
}

pub fn counter_example(load: Duration) {
    println!("| copied as | states seen on n2 | do not open | fail integrity_check | not a prefix of the commits |");
    println!("|---|---|---|---|---|");
    for (name, sqlite) in [
        ("plain files (db + -wal)", false),
        ("`sqlite:` backups", true),
    ] {
        let v = one(sqlite, load);
        println!(
            "| {name} | {} | {} | {} | {} |",
            v.seen, v.unopenable, v.corrupt, v.not_a_prefix
        );
    }
}
