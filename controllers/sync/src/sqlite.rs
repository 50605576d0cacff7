//! SQLite databases named by a Replication's `sqlite` patterns travel as
//! consistent copies, never as live files: rsync reading a database while
//! its application commits can ship a torn file that will not open, or one
//! whose last transactions sit in a `-wal` file copied at another moment.
//!
//! On the source, each database that changed since its last copy is read
//! through SQLite's online backup in one step (one read transaction: in
//! WAL mode the writer goes on meanwhile; in rollback mode it waits for the
//! copy), into `PATH/.hareconcile/sqlite/REL.tmp`; the copy must pass
//! `PRAGMA quick_check`, is fsynced and renamed to `PATH/.hareconcile/sqlite/REL`.
//! The push excludes the live databases and their `-wal`, `-shm` and
//! `-journal` files, and carries that staging directory instead (rsync
//! verifies every file it sends against its checksum). On the target, under
//! the guard and before the push counts as complete, each new copy is
//! copied beside the live one, fsynced, the live one's `-wal`, `-shm` and
//! `-journal` are removed (a stale WAL file must never meet the new
//! database: SQLite would replay it over it), and the copy is renamed over
//! the live file: a reader opens either the old or the new database.
//!
//! The target's copy must not be held open by a running application while
//! it is replaced (an active-passive stack is stopped there; an active-active
//! one reloads it from an `afterSync` hook).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use hareconcile_model::{Filter, Pattern};
use rusqlite::backup::{Backup, StepResult};
use rusqlite::{Connection, OpenFlags};

use crate::remote::shell_quote;
use crate::term::{Meta, META_DIR};

/// The staging directory's name inside the metadata directory: the only
/// part of it a push carries.
pub const STAGING: &str = "sqlite";

/// How long the backup waits for a lock a writer holds (rollback mode).
const BUSY_TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Debug, thiserror::Error)]
pub enum SqliteError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: {source}")]
    Sqlite {
        path: PathBuf,
        source: rusqlite::Error,
    },
    #[error("{path}: the copy failed PRAGMA quick_check ({result}); the target keeps its copy")]
    Check { path: PathBuf, result: String },
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> SqliteError + '_ {
    move |source| SqliteError::Io {
        path: path.to_path_buf(),
        source,
    }
}

fn sql(path: &Path) -> impl FnOnce(rusqlite::Error) -> SqliteError + '_ {
    move |source| SqliteError::Sqlite {
        path: path.to_path_buf(),
        source,
    }
}

/// The state of a live database and its WAL as this host sees them: a
/// change of either means a new copy is due. Compared on the same host
/// only, so clocks do not matter.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Fingerprint(Vec<Option<(u64, u64, SystemTime)>>);

fn fingerprint(db: &Path) -> Fingerprint {
    use std::os::unix::fs::MetadataExt;
    let files = [db.to_path_buf(), with_suffix(db, "-wal")];
    Fingerprint(
        files
            .iter()
            .map(|f| {
                let m = std::fs::metadata(f).ok()?;
                Some((m.ino(), m.len(), m.modified().ok()?))
            })
            .collect(),
    )
}

fn with_suffix(path: &Path, suffix: &str) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(suffix);
    PathBuf::from(name)
}

/// The staged copies of one source and what each target has installed.
#[derive(Debug, Default)]
pub struct Stage {
    /// By path relative to the data: the live state copied last, and a
    /// number that grows with each new copy.
    staged: BTreeMap<PathBuf, (Fingerprint, u64)>,
    next: u64,
    /// By target: the copy number of each database it installed.
    installed: BTreeMap<String, BTreeMap<PathBuf, u64>>,
}

impl Stage {
    /// Copies every database of `data` matching `patterns` whose live
    /// state changed since its last copy. Blocking: run it off the async
    /// threads.
    pub fn refresh(&mut self, data: &Path, patterns: &[String]) -> Result<(), SqliteError> {
        let found = find(data, patterns)?;
        self.staged.retain(|rel, _| found.contains(rel));
        for rel in found {
            let now = fingerprint(&data.join(&rel));
            if self.staged.get(&rel).is_some_and(|(seen, _)| *seen == now) {
                continue;
            }
            backup(&data.join(&rel), &staged_path(data, &rel))?;
            self.next += 1;
            self.staged.insert(rel, (now, self.next));
        }
        Ok(())
    }

    /// The databases `target` has not installed in their latest copy.
    pub fn due(&self, target: &str) -> Vec<PathBuf> {
        let installed = self.installed.get(target);
        self.staged
            .iter()
            .filter(|(rel, (_, n))| installed.and_then(|i| i.get(*rel)) != Some(n))
            .map(|(rel, _)| rel.clone())
            .collect()
    }

    /// A push that installed `rels` on `target` succeeded.
    pub fn installed(&mut self, target: &str, rels: &[PathBuf]) {
        let installed = self.installed.entry(target.to_string()).or_default();
        for rel in rels {
            if let Some((_, n)) = self.staged.get(rel) {
                installed.insert(rel.clone(), *n);
            }
        }
    }
}

fn staged_path(data: &Path, rel: &Path) -> PathBuf {
    Meta::of(data).dir().join(STAGING).join(rel)
}

/// The databases below `data` that `patterns` name (rsync's matching),
/// relative to `data`, never inside the metadata directory.
pub fn find(data: &Path, patterns: &[String]) -> Result<Vec<PathBuf>, SqliteError> {
    let patterns: Vec<Pattern> = patterns
        .iter()
        .filter_map(|p| Pattern::parse(p).ok())
        .collect();
    // A database is copied when a pattern matches it: the patterns are
    // the includes of a filter that excludes everything else.
    let wanted = Filter::new(&patterns, &[]);
    let mut found = Vec::new();
    let mut pending = vec![PathBuf::new()];
    while let Some(dir) = pending.pop() {
        let full = data.join(&dir);
        for entry in std::fs::read_dir(&full).map_err(io(&full))? {
            let entry = entry.map_err(io(&full))?;
            let rel = dir.join(entry.file_name());
            if rel.as_os_str() == META_DIR {
                continue;
            }
            let kind = entry.file_type().map_err(io(&full))?;
            if kind.is_dir() {
                pending.push(rel);
            } else if kind.is_file()
                && patterns
                    .iter()
                    .any(|p| p.matches(&rel.to_string_lossy(), false))
                && wanted.copies(&rel.to_string_lossy(), false)
            {
                found.push(rel);
            }
        }
    }
    found.sort();
    Ok(found)
}

/// Copies the live database `db` to `to` through the online backup, in
/// one step, and keeps it only if it passes `PRAGMA quick_check`.
pub fn backup(db: &Path, to: &Path) -> Result<(), SqliteError> {
    let parent = to.parent().unwrap_or(Path::new("/"));
    std::fs::create_dir_all(parent).map_err(io(parent))?;
    let temporary = with_suffix(to, ".tmp");
    let _ = std::fs::remove_file(&temporary);
    let source = Connection::open_with_flags(
        db,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(sql(db))?;
    source.busy_timeout(BUSY_TIMEOUT).map_err(sql(db))?;
    let mut copy = Connection::open(&temporary).map_err(sql(&temporary))?;
    {
        let backup = Backup::new(&source, &mut copy).map_err(sql(&temporary))?;
        // All pages in one step: one read transaction, one consistent state.
        loop {
            match backup.step(-1).map_err(sql(db))? {
                StepResult::Done => break,
                // Busy or locked: a writer holds the lock (rollback mode).
                _ => std::thread::sleep(Duration::from_millis(10)),
            }
        }
    }
    let result: String = copy
        .query_row("PRAGMA quick_check", [], |row| row.get(0))
        .map_err(sql(&temporary))?;
    drop(copy);
    // Closing the last connection folded any WAL back into the file.
    for suffix in ["-wal", "-shm", "-journal"] {
        let _ = std::fs::remove_file(with_suffix(&temporary, suffix));
    }
    if result != "ok" {
        let _ = std::fs::remove_file(&temporary);
        return Err(SqliteError::Check {
            path: db.to_path_buf(),
            result,
        });
    }
    std::fs::File::open(&temporary)
        .and_then(|f| f.sync_all())
        .map_err(io(&temporary))?;
    std::fs::rename(&temporary, to).map_err(io(to))
}

/// The shell line the target's guard runs once the push arrived and
/// before it counts as complete: installs each of `rels` from the staging
/// directory over the live database (see the module docs for the order).
/// Empty when there is nothing to install: the guard counts a pass that
/// runs one as a change of the copy.
pub fn install_line(data: &Path, rels: &[PathBuf]) -> String {
    if rels.is_empty() {
        return String::new();
    }
    let meta = Meta::of(data);
    let work = meta.dir().join("sqlite-install");
    let mut line = format!("mkdir -p {}", quote(&work));
    for (i, rel) in rels.iter().enumerate() {
        let (staged, live) = (staged_path(data, rel), data.join(rel));
        let new = work.join(i.to_string());
        let parent = live.parent().unwrap_or(data);
        line.push_str(&format!(
            " && cp {staged} {new} && sync {new} && mkdir -p {parent} && rm -f {wal} {shm} {journal} && mv -f {new} {live}",
            staged = quote(&staged),
            new = quote(&new),
            parent = quote(parent),
            wal = quote(&with_suffix(&live, "-wal")),
            shm = quote(&with_suffix(&live, "-shm")),
            journal = quote(&with_suffix(&live, "-journal")),
            live = quote(&live),
        ));
    }
    line
}

fn quote(path: &Path) -> String {
    shell_quote(&path.to_string_lossy())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn writer(db: &Path) -> Connection {
        let conn = Connection::open(db).unwrap();
        conn.pragma_update(None, "journal_mode", "WAL").unwrap();
        conn.execute_batch("CREATE TABLE IF NOT EXISTS t (n INTEGER PRIMARY KEY, pad TEXT)")
            .unwrap();
        conn
    }

    fn rows(db: &Path) -> Vec<i64> {
        let conn = Connection::open(db).unwrap();
        let check: String = conn
            .query_row("PRAGMA integrity_check", [], |r| r.get(0))
            .unwrap();
        assert_eq!(check, "ok");
        let mut stmt = conn.prepare("SELECT n FROM t ORDER BY n").unwrap();
        let rows = stmt.query_map([], |r| r.get(0)).unwrap();
        rows.map(Result::unwrap).collect()
    }

    #[test]
    fn a_backup_of_a_database_in_use_is_a_consistent_prefix() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("app.db");
        let conn = writer(&db);
        for n in 1..=50 {
            conn.execute("INSERT INTO t VALUES (?1, 'x')", [n]).unwrap();
        }
        // Committed rows still in the WAL, the writer holding it open.
        assert!(with_suffix(&db, "-wal").exists());
        let copy = dir.path().join("copy.db");
        backup(&db, &copy).unwrap();
        assert_eq!(rows(&copy), (1..=50).collect::<Vec<_>>());
        assert!(!with_suffix(&copy, "-wal").exists());
        assert!(!with_suffix(&copy, ".tmp").exists());
    }

    #[test]
    fn backups_taken_while_another_connection_commits_are_consistent() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("app.db");
        drop(writer(&db));
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let commits = {
            let (db, stop) = (db.clone(), stop.clone());
            std::thread::spawn(move || {
                let conn = writer(&db);
                conn.busy_timeout(Duration::from_secs(10)).unwrap();
                let mut n = 0;
                while !stop.load(std::sync::atomic::Ordering::SeqCst) {
                    n += 1;
                    conn.execute("INSERT INTO t VALUES (?1, 'x')", [n]).unwrap();
                }
            })
        };
        for i in 0..30 {
            let copy = dir.path().join(format!("copy{i}.db"));
            backup(&db, &copy).unwrap();
            let rows = rows(&copy);
            assert_eq!(rows, (1..=rows.len() as i64).collect::<Vec<_>>());
        }
        stop.store(true, std::sync::atomic::Ordering::SeqCst);
        commits.join().unwrap();
    }

    #[test]
    fn databases_are_found_by_rsync_patterns_outside_the_metadata() {
        let dir = tempfile::tempdir().unwrap();
        for f in [
            "gravity.db",
            "gravity.db-wal",
            "etc/pihole-FTL.db",
            "etc/notes.txt",
            ".hareconcile/sqlite/gravity.db",
        ] {
            let path = dir.path().join(f);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, "").unwrap();
        }
        let found = find(dir.path(), &["*.db".into()]).unwrap();
        assert_eq!(
            found,
            [PathBuf::from("etc/pihole-FTL.db"), "gravity.db".into()]
        );
        assert_eq!(
            find(dir.path(), &["/gravity.db".into()]).unwrap(),
            [PathBuf::from("gravity.db")]
        );
    }

    #[test]
    fn only_changed_databases_are_copied_again_and_each_target_gets_each_copy_once() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("app.db");
        let conn = writer(&db);
        conn.execute("INSERT INTO t VALUES (1, 'x')", []).unwrap();
        let mut stage = Stage::default();
        stage.refresh(dir.path(), &["app.db".into()]).unwrap();
        let due = stage.due("n2");
        assert_eq!(due, [PathBuf::from("app.db")]);
        stage.installed("n2", &due);
        assert!(stage.due("n2").is_empty());
        assert_eq!(stage.due("n3").len(), 1, "another target still needs it");
        stage.refresh(dir.path(), &["app.db".into()]).unwrap();
        assert!(stage.due("n2").is_empty(), "unchanged: not copied again");
        conn.execute("INSERT INTO t VALUES (2, 'x')", []).unwrap();
        stage.refresh(dir.path(), &["app.db".into()]).unwrap();
        assert_eq!(stage.due("n2").len(), 1);
        assert_eq!(rows(&staged_path(dir.path(), Path::new("app.db"))), [1, 2]);
    }

    #[test]
    fn the_install_line_replaces_the_database_and_drops_its_stale_journals() {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("my data");
        let (source, target) = (dir.path().join("source.db"), data.join("sub/app.db"));
        let conn = writer(&source);
        conn.execute("INSERT INTO t VALUES (7, 'x')", []).unwrap();
        backup(&source, &staged_path(&data, Path::new("sub/app.db"))).unwrap();
        std::fs::create_dir_all(target.parent().unwrap()).unwrap();
        std::fs::write(&target, "old").unwrap();
        std::fs::write(with_suffix(&target, "-wal"), "stale frames").unwrap();
        let line = install_line(&data, &[PathBuf::from("sub/app.db")]);
        let status = std::process::Command::new("sh")
            .args(["-c", &line])
            .status()
            .unwrap();
        assert!(status.success());
        assert!(!with_suffix(&target, "-wal").exists());
        assert_eq!(rows(&target), [7]);
        assert!(
            staged_path(&data, Path::new("sub/app.db")).exists(),
            "kept for rsync's deltas"
        );
        assert_eq!(install_line(&data, &[]), "", "nothing to install");
    }
}
