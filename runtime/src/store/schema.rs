//! The layout version of the state file, and the migrations between
//! versions.
//!
//! Each state file records the version of the layout it was written in
//! (its tables, their keys, how objects are encoded). An agent opening a
//! file of an older layout migrates it in the transaction that opens it,
//! so a crash during the upgrade leaves the old layout whole; a file of a
//! newer layout, written by a newer agent, is refused: reading it could
//! misread objects and tear down what they declare.
//!
//! Version 0 is the layout of hareconcile 0.1.0, which had no version
//! record: the `objects` and `counters` tables. A change to the layout
//! bumps [`SCHEMA_VERSION`] and adds its step to [`MIGRATIONS`].

use std::path::Path;

use redb::{ReadableTable, TableDefinition, TableHandle, WriteTransaction};

use super::StoreError;

/// The layout this agent writes and reads.
pub const SCHEMA_VERSION: u64 = 1;

/// Facts about the file itself.
const META: TableDefinition<&str, u64> = TableDefinition::new("meta");
const SCHEMA_VERSION_KEY: &str = "schemaVersion";

/// One migration: turns a file of version `i` into version `i + 1`.
type Migration = fn(&WriteTransaction) -> Result<(), redb::Error>;

/// `MIGRATIONS[i]` migrates version `i` to `i + 1`.
const MIGRATIONS: [Migration; SCHEMA_VERSION as usize] = [record_version];

/// 0 → 1: 0.1.0's tables are unchanged; the file gains its version
/// record, which the caller writes after the last step.
fn record_version(txn: &WriteTransaction) -> Result<(), redb::Error> {
    txn.open_table(META)?;
    Ok(())
}

/// What opening did to the file's layout.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Layout {
    /// A new file, written in the current layout.
    Created,
    /// Already the current layout.
    Current,
    /// Migrated from this version to [`SCHEMA_VERSION`].
    Migrated { from: u64 },
}

/// Brings the file written through `txn` to [`SCHEMA_VERSION`], or refuses
/// it when a newer agent wrote it. `tables` are the data tables the
/// caller creates: a file holding none of them is new.
pub(crate) fn prepare(
    txn: &WriteTransaction,
    path: &Path,
    tables: &[&str],
) -> Result<Layout, StoreError> {
    let corrupt = |e: redb::Error| StoreError::Corrupt {
        path: path.to_path_buf(),
        detail: e.to_string(),
    };
    let existing: Vec<String> = txn
        .list_tables()
        .map_err(|e| corrupt(e.into()))?
        .map(|t| t.name().to_owned())
        .collect();
    let found = {
        let meta = txn.open_table(META).map_err(|e| corrupt(e.into()))?;
        let recorded = meta
            .get(SCHEMA_VERSION_KEY)
            .map_err(|e| corrupt(e.into()))?
            .map(|v| v.value());
        recorded
    };
    let layout = match found {
        Some(version) if version > SCHEMA_VERSION => {
            return Err(StoreError::NewerSchema {
                path: path.to_path_buf(),
                found: version,
                supported: SCHEMA_VERSION,
            })
        }
        Some(SCHEMA_VERSION) => return Ok(Layout::Current),
        Some(version) => Layout::Migrated { from: version },
        None if existing.iter().any(|t| tables.contains(&t.as_str())) => {
            Layout::Migrated { from: 0 }
        }
        None => Layout::Created,
    };
    if let Layout::Migrated { from } = layout {
        for step in &MIGRATIONS[from as usize..] {
            step(txn).map_err(|e| StoreError::Migration {
                path: path.to_path_buf(),
                from,
                to: SCHEMA_VERSION,
                detail: e.to_string(),
            })?;
        }
    }
    let mut meta = txn.open_table(META).map_err(|e| corrupt(e.into()))?;
    meta.insert(SCHEMA_VERSION_KEY, SCHEMA_VERSION)
        .map_err(|e| corrupt(e.into()))?;
    Ok(layout)
}

/// Records `version` as the file's layout, as an agent of that version
/// would: for tests of what older and newer agents find.
#[cfg(test)]
pub(crate) fn stamp(path: &Path, version: u64) {
    let db = redb::Database::create(path).unwrap();
    let txn = db.begin_write().unwrap();
    txn.open_table(META)
        .unwrap()
        .insert(SCHEMA_VERSION_KEY, version)
        .unwrap();
    txn.commit().unwrap();
}
