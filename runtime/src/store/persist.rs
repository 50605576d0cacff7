//! Durable storage of objects in an embedded, crash-safe database.
//!
//! redb commits are atomic and fsynced, so a batch apply is all or nothing
//! even when the agent is SIGKILLed mid-write: after a restart every
//! object is wholly present or absent.

use std::path::{Path, PathBuf};

use hareconcile_model::{Object, ObjectKey};
use redb::{Database, ReadableDatabase, ReadableTable, TableDefinition};

use super::StoreError;

/// Objects keyed by `Kind/name`, values are the object's JSON.
const OBJECTS: TableDefinition<&str, &[u8]> = TableDefinition::new("objects");
/// Store-wide counters (the last resourceVersion handed out).
const COUNTERS: TableDefinition<&str, u64> = TableDefinition::new("counters");
const RESOURCE_VERSION: &str = "resourceVersion";

pub(crate) struct Persistence {
    db: Database,
    path: PathBuf,
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
    pub(crate) fn open(path: &Path) -> Result<Self, StoreError> {
        let corrupt = |source: redb::Error| StoreError::Corrupt {
            path: path.to_path_buf(),
            detail: source.to_string(),
        };
        let db = Database::create(path).map_err(|e| match e {
            redb::DatabaseError::DatabaseAlreadyOpen => StoreError::Locked {
                path: path.to_path_buf(),
            },
            other => corrupt(other.into()),
        })?;
        let persistence = Persistence {
            db,
            path: path.to_path_buf(),
        };
        // Create the tables up front so readers never see them missing.
        let txn = persistence
            .db
            .begin_write()
            .map_err(|e| corrupt(e.into()))?;
        txn.open_table(OBJECTS).map_err(|e| corrupt(e.into()))?;
        txn.open_table(COUNTERS).map_err(|e| corrupt(e.into()))?;
        txn.commit().map_err(|e| corrupt(e.into()))?;
        Ok(persistence)
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
        let txn = self.db.begin_read().map_err(|e| self.io(e))?;
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

    /// Writes a batch and the new resourceVersion in one durable commit.
    pub(crate) fn commit(
        &self,
        writes: &[Write<'_>],
        resource_version: u64,
    ) -> Result<(), StoreError> {
        let txn = self.db.begin_write().map_err(|e| self.io(e))?;
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
