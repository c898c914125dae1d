//! The local checkpoint store: one redb file (ACID, crash-safe) under the state directory.

use super::{Checkpoint, CheckpointStore, StateError};
use redb::{Database, ReadableDatabase, ReadableTable, TableDefinition};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

const TABLE: TableDefinition<&str, &[u8]> = TableDefinition::new("checkpoints_v1");

/// Checkpoints in `{state dir}/checkpoints.redb`, JSON per pipeline.
pub struct LocalStore {
    db: Database,
    path: PathBuf,
}

impl LocalStore {
    /// Opens (creating the directory and file if missing) the store under `dir`.
    pub fn open(dir: &Path) -> Result<Self, StateError> {
        let path = dir.join("checkpoints.redb");
        let err = |message: String| StateError {
            path: path.display().to_string(),
            message,
        };
        std::fs::create_dir_all(dir).map_err(|e| err(format!("cannot create directory: {e}")))?;
        let db = Database::create(&path).map_err(|e| err(e.to_string()))?;
        Ok(LocalStore { db, path })
    }

    fn err(&self, e: impl std::fmt::Display) -> StateError {
        StateError {
            path: self.path.display().to_string(),
            message: e.to_string(),
        }
    }
}

impl CheckpointStore for LocalStore {
    fn load_all(&self) -> Result<BTreeMap<String, Checkpoint>, StateError> {
        let tx = self.db.begin_read().map_err(|e| self.err(e))?;
        let table = match tx.open_table(TABLE) {
            Ok(t) => t,
            Err(redb::TableError::TableDoesNotExist(_)) => return Ok(BTreeMap::new()),
            Err(e) => return Err(self.err(e)),
        };
        let mut out = BTreeMap::new();
        for row in table.iter().map_err(|e| self.err(e))? {
            let (k, v) = row.map_err(|e| self.err(e))?;
            let cp: Checkpoint = serde_json::from_slice(v.value())
                .map_err(|e| self.err(format!("checkpoint of {}: {e}", k.value())))?;
            out.insert(k.value().to_string(), cp);
        }
        Ok(out)
    }

    fn commit(&self, changes: &[(String, Checkpoint)]) -> Result<(), StateError> {
        if changes.is_empty() {
            return Ok(());
        }
        let tx = self.db.begin_write().map_err(|e| self.err(e))?;
        {
            let mut table = tx.open_table(TABLE).map_err(|e| self.err(e))?;
            for (k, cp) in changes {
                let bytes = serde_json::to_vec(cp).map_err(|e| self.err(e))?;
                table
                    .insert(k.as_str(), bytes.as_slice())
                    .map_err(|e| self.err(e))?;
            }
        }
        tx.commit().map_err(|e| self.err(e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::records::Millis;

    #[test]
    fn survives_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let mut cp = Checkpoint::default();
        cp.mark_in_flight("jr_1", Millis(5), "executing");
        {
            let s = LocalStore::open(dir.path()).unwrap();
            assert!(s.load_all().unwrap().is_empty());
            s.commit(&[("glue-job|1|r|j".into(), cp.clone())]).unwrap();
        }
        let s = LocalStore::open(dir.path()).unwrap();
        assert_eq!(s.load_all().unwrap()["glue-job|1|r|j"], cp);
    }
}
