//! A SQLite writer inside a lab node, for the SQLite replication test and
//! the counter-example in `benches/replication.rs`.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use rusqlite::Connection;

/// Moves the calling thread into the mount namespace of process `pid`
/// (a node's): SQLite resolves symbolic links in a database's path, so it
/// cannot reach a node's files through `/proc/PID/root`.
pub fn enter_mount_namespace(pid: u32) {
    let ns = std::fs::File::open(format!("/proc/{pid}/ns/mnt")).unwrap();
    // SAFETY: plain syscalls on this thread's own attributes; unsharing
    // its filesystem attributes first is what lets one thread of a
    // process switch mount namespaces.
    unsafe {
        assert_eq!(libc::unshare(libc::CLONE_FS), 0, "unshare(CLONE_FS)");
        assert_eq!(
            libc::setns(std::os::fd::AsRawFd::as_raw_fd(&ns), libc::CLONE_NEWNS),
            0,
            "setns"
        );
    }
}

/// Commits rows 1, 2, 3... to `db` in WAL mode, one transaction each and
/// 20 in one every tenth time (a copy must hold those whole or not at
/// all: ten transactions hold 29 rows), from inside the node of process
/// `anchor`, until `stop`. Returns the last row committed.
pub fn commit_loop(anchor: u32, db: PathBuf, stop: Arc<AtomicBool>) -> i64 {
    enter_mount_namespace(anchor);
    let conn = Connection::open(&db).unwrap();
    conn.busy_timeout(Duration::from_secs(10)).unwrap();
    conn.pragma_update(None, "journal_mode", "WAL").unwrap();
    conn.execute_batch("CREATE TABLE IF NOT EXISTS t (n INTEGER PRIMARY KEY, pad BLOB)")
        .unwrap();
    let (mut n, mut transactions) = (0i64, 0u64);
    while !stop.load(Ordering::SeqCst) {
        let rows = if transactions % 10 == 9 { 20 } else { 1 };
        transactions += 1;
        let tx = conn.unchecked_transaction().unwrap();
        for _ in 0..rows {
            n += 1;
            tx.execute("INSERT INTO t VALUES (?1, zeroblob(10))", [n])
                .unwrap();
        }
        tx.commit().unwrap();
        // A small database: each pass copies it whole.
        std::thread::sleep(Duration::from_millis(20));
    }
    n
}

/// Whether `rows` are 1..=k with every 20-row transaction whole.
pub fn is_commit_prefix(rows: &[i64]) -> bool {
    rows.iter().enumerate().all(|(i, &n)| n == i as i64 + 1) && rows.len() % 29 <= 9
}
