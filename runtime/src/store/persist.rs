//! Durable storage of objects in an embedded, crash-safe database.
//!
//! redb commits are atomic and fsynced, so a batch apply is all or nothing
//! even when the agent is SIGKILLed mid-write: after a restart every
//! object is wholly present or absent.
//!
//! Status writes are the exception to fsyncing every commit: controllers
//! rewrite status all the time (a hundred VRRP instances refresh theirs
//! every few seconds) and recompute it from the real system after a
//! restart, so an fsync each would cost more than all the adverts sent.
//! They commit without a sync, and the next durable commit (any spec
//! change, or a status write once [`STATUS_SYNC_EVERY`] has passed since
//! the last sync) makes them durable too. Waiting no longer than that also
//! bounds how far redb's file can grow, since pages freed by unsynced
//! commits are reused only after a synced one.
//!
//! A failed write (a full disk, say) leaves redb's handle refusing every
//! later transaction until it is reopened; the file itself keeps the last
//! good commit. So the handle is dropped on a failure and reopened by the
//! next commit, and the store is writable again as soon as the disk is,
//! without a restart. Whether the last commit failed is published
//! ([`Persistence::problem`]) for the agent to report.
//!
//! Opening verifies the whole file: a file damaged outside redb would
//! otherwise be trusted and could panic the agent at some later read.

use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use tokio::sync::watch;

use hareconcile_model::{Object, ObjectKey};
use redb::{Database, Durability, ReadableDatabase, ReadableTable, TableDefinition, TableHandle};

use super::schema::{self, Layout};
use super::StoreError;

/// Objects keyed by `Kind/name`, values are the object's JSON.
const OBJECTS: TableDefinition<&str, &[u8]> = TableDefinition::new("objects");
/// Store-wide counters (the last resourceVersion handed out).
const COUNTERS: TableDefinition<&str, u64> = TableDefinition::new("counters");
const RESOURCE_VERSION: &str = "resourceVersion";

const REDB_CACHE_BYTES: usize = 4 << 20;

/// The longest a status write stays unsynced.
pub(crate) const STATUS_SYNC_EVERY: Duration = Duration::from_secs(10);

pub(crate) struct Persistence {
    path: PathBuf,
    handle: Mutex<Handle>,
    /// Why the last commit failed; `None` once one succeeds.
    problem: watch::Sender<Option<String>>,
}

struct Handle {
    /// `None` after a failed commit, until the next one reopens the file.
    db: Option<Database>,
    last_sync: Instant,
}

/// How a commit reaches the disk.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Flush {
    /// fsynced before the commit returns: specs, deletions.
    Now,
    /// Synced with a later commit, at most [`STATUS_SYNC_EVERY`] later:
    /// status, which controllers recompute after a restart.
    Soon,
}

/// One change to write in a single transaction.
pub(crate) enum Write<'a> {
    Put(&'a Object),
    Delete(ObjectKey),
}

fn db_key(key: &ObjectKey) -> String {
    format!("{}/{}", key.kind, key.name)
}

impl Persistence {
    /// Opens (or creates) the file and brings it to the current layout; also
    /// says what that took.
    pub(crate) fn open(path: &Path) -> Result<(Self, Layout), StoreError> {
        let corrupt = |source: redb::Error| StoreError::Corrupt {
            path: path.to_path_buf(),
            detail: source.to_string(),
        };
        refuse_empty(path)?;
        let db = open_database(path)?;
        // Migrate, and create the tables up front so readers never see them
        // missing, in one durable transaction: a crash leaves the file as
        // it was.
        let txn = db.begin_write().map_err(|e| corrupt(e.into()))?;
        let layout = schema::prepare(&txn, path, &[OBJECTS.name(), COUNTERS.name()])?;
        txn.open_table(OBJECTS).map_err(|e| corrupt(e.into()))?;
        txn.open_table(COUNTERS).map_err(|e| corrupt(e.into()))?;
        txn.commit().map_err(|e| open_error(path, e.into()))?;
        let persistence = Persistence {
            path: path.to_path_buf(),
            handle: Mutex::new(Handle {
                db: Some(db),
                last_sync: Instant::now(),
            }),
            problem: watch::Sender::new(None),
        };
        Ok((persistence, layout))
    }

    /// Why the last commit failed, until one succeeds; follows changes.
    pub(crate) fn problem(&self) -> watch::Receiver<Option<String>> {
        self.problem.subscribe()
    }

    fn io(&self, e: impl Into<redb::Error>) -> StoreError {
        StoreError::Io {
            path: self.path.clone(),
            detail: e.into().to_string(),
        }
    }

    /// Reads every object. A value that does not decode is reported with
    /// the file and key, never dropped: losing an object silently would
    /// make the agent tear down what it declared.
    pub(crate) fn load(&self) -> Result<(Vec<Object>, u64), StoreError> {
        let handle = self.handle.lock().expect("store file lock");
        let db = handle.db.as_ref().expect("open until a commit fails");
        let txn = db.begin_read().map_err(|e| self.io(e))?;
        let table = txn.open_table(OBJECTS).map_err(|e| self.io(e))?;
        let mut objects = Vec::new();
        for entry in table.iter().map_err(|e| self.io(e))? {
            let (key, value) = entry.map_err(|e| self.io(e))?;
            let object: Object =
                serde_json::from_slice(value.value()).map_err(|e| StoreError::Corrupt {
                    path: self.path.clone(),
                    detail: format!("object {}: {e}", key.value()),
                })?;
            objects.push(object);
        }
        let counters = txn.open_table(COUNTERS).map_err(|e| self.io(e))?;
        let rv = counters
            .get(RESOURCE_VERSION)
            .map_err(|e| self.io(e))?
            .map(|v| v.value())
            .unwrap_or(0);
        Ok((objects, rv))
    }

    /// Writes a batch and the new resourceVersion in one atomic commit,
    /// synced to disk as `flush` says. A failure drops the file's handle,
    /// which the next commit opens again.
    pub(crate) fn commit(
        &self,
        writes: &[Write<'_>],
        resource_version: u64,
        flush: Flush,
    ) -> Result<(), StoreError> {
        let mut handle = self.handle.lock().expect("store file lock");
        let synced = flush == Flush::Now || handle.last_sync.elapsed() >= STATUS_SYNC_EVERY;
        let committed = match handle.db.take() {
            Some(db) => Ok(db),
            None => open_database(&self.path),
        }
        .and_then(|db| {
            self.write(&db, writes, resource_version, synced)?;
            Ok(db)
        });
        match committed {
            Ok(db) => {
                handle.db = Some(db);
                if synced {
                    handle.last_sync = Instant::now();
                }
                self.problem
                    .send_if_modified(|problem| problem.take().is_some());
                Ok(())
            }
            Err(e) => {
                let message = e.to_string();
                self.problem.send_if_modified(|problem| {
                    let changed = problem.as_deref() != Some(message.as_str());
                    *problem = Some(message);
                    changed
                });
                Err(e)
            }
        }
    }

    fn write(
        &self,
        db: &Database,
        writes: &[Write<'_>],
        resource_version: u64,
        synced: bool,
    ) -> Result<(), StoreError> {
        let mut txn = db.begin_write().map_err(|e| self.io(e))?;
        if !synced {
            txn.set_durability(Durability::None)
                .map_err(|e| self.io(redb::Error::from(e)))?;
        }
        {
            let mut table = txn.open_table(OBJECTS).map_err(|e| self.io(e))?;
            for write in writes {
                match write {
                    Write::Put(object) => {
                        let bytes = serde_json::to_vec(object).expect("objects always serialize");
                        table
                            .insert(db_key(&object.key()).as_str(), bytes.as_slice())
                            .map_err(|e| self.io(e))?;
                    }
                    Write::Delete(key) => {
                        table.remove(db_key(key).as_str()).map_err(|e| self.io(e))?;
                    }
                }
            }
            let mut counters = txn.open_table(COUNTERS).map_err(|e| self.io(e))?;
            counters
                .insert(RESOURCE_VERSION, resource_version)
                .map_err(|e| self.io(e))?;
        }
        txn.commit().map_err(|e| self.io(e))
    }
}

/// A store file of zero bytes is not a new store: redb would start an
/// empty database in it, and the agent would tear down everything its
/// objects declared. (A new store is created by redb with its header in
/// place; zero bytes means truncated by something else.)
fn refuse_empty(path: &Path) -> Result<(), StoreError> {
    match std::fs::metadata(path) {
        Ok(meta) if meta.is_file() && meta.len() == 0 => Err(StoreError::Corrupt {
            path: path.to_path_buf(),
            detail: "the file is empty (0 bytes)".into(),
        }),
        _ => Ok(()),
    }
}

/// Opens the file, verifying every page of it.
fn open_database(path: &Path) -> Result<Database, StoreError> {
    // Every object also lives in memory (the store serves reads from
    // there), so redb's page cache only needs room for a commit's pages;
    // its default (1 GiB) grows with every copy-on-write commit.
    Database::builder()
        .set_cache_size(REDB_CACHE_BYTES)
        .set_check_integrity_on_open(true)
        .create(path)
        .map_err(|e| match e {
            redb::DatabaseError::DatabaseAlreadyOpen => StoreError::Locked {
                path: path.to_path_buf(),
            },
            other => open_error(path, other.into()),
        })
}

/// An error opening the file: the disk's (read-only, full, unreadable)
/// when the system reported it, else the file's content (redb reports
/// some of that, a wrong magic number or a short file, as I/O errors too).
fn open_error(path: &Path, e: redb::Error) -> StoreError {
    match e {
        redb::Error::Io(io) if io.raw_os_error().is_some() => StoreError::Io {
            path: path.to_path_buf(),
            detail: io.to_string(),
        },
        other => StoreError::Corrupt {
            path: path.to_path_buf(),
            detail: other.to_string(),
        },
    }
}
