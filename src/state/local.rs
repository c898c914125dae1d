//! The local checkpoint store: one redb file (ACID, crash-safe) under the state directory.
//!
//! Opening tells apart a first start, a store that exists, and a store that was lost (its file
//! vanished or is empty while the directory's marker says one was created there): the last one
//! re-exports everything inside the lookback, so the caller says so loudly. A damaged file is an
//! error that says what to do, never a panic (redb panics on some damaged pages; those panics
//! are caught here), and [`LocalStore::move_aside`] lets the operator start over.

use super::{Checkpoint, CheckpointStore, StateError};
use redb::{Database, ReadableDatabase, ReadableTable, TableDefinition};
use std::collections::BTreeMap;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};

const TABLE: TableDefinition<&str, &[u8]> = TableDefinition::new("checkpoints_v1");
const FILE: &str = "checkpoints.redb";
/// Written next to the store when it is created: a store missing while this exists was lost.
const MARKER: &str = "checkpoints.created";

/// Checkpoints in `{state dir}/checkpoints.redb`, JSON per pipeline.
pub struct LocalStore {
    /// `None` only while being reopened.
    db: std::sync::Mutex<Option<Database>>,
    path: PathBuf,
}

/// Where the checkpoints of an opened store come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoreOrigin {
    /// The store existed and was read.
    Existing,
    /// No store was ever created in this directory: a first start.
    New,
    /// A store was created here before but is gone or empty now: everything inside the lookback
    /// will be exported again.
    Lost(String),
}

/// An opened store and how it was found.
pub struct OpenedStore {
    pub store: LocalStore,
    pub origin: StoreOrigin,
    /// Everything the store holds, read and checked at open.
    pub checkpoints: BTreeMap<String, Checkpoint>,
}

fn panic_text(p: Box<dyn std::any::Any + Send>) -> String {
    p.downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| p.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "internal error".to_string())
}

/// Runs `f`, turning a panic (redb on a damaged page) into an error. The default panic hook
/// would print a panic report on stderr; it is silenced for the duration (this runs at start-up,
/// before any other thread of ours can panic).
fn no_panic<T>(f: impl FnOnce() -> Result<T, String>) -> Result<T, String> {
    let hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(|_| {}));
    let r = catch_unwind(AssertUnwindSafe(f));
    std::panic::set_hook(hook);
    r.unwrap_or_else(|p| Err(format!("the file is damaged ({})", panic_text(p))))
}

/// Like [`no_panic`] but leaves the panic hook alone (for use while other threads run).
fn no_panic_quiet<T>(f: impl FnOnce() -> Result<T, String>) -> Result<T, String> {
    catch_unwind(AssertUnwindSafe(f))
        .unwrap_or_else(|p| Err(format!("the file is damaged ({})", panic_text(p))))
}

impl LocalStore {
    /// The store's file under `dir`.
    pub fn file(dir: &Path) -> PathBuf {
        dir.join(FILE)
    }

    /// Opens (creating the directory and file if missing) the store under `dir`.
    pub fn open(dir: &Path) -> Result<Self, StateError> {
        Self::open_checked(dir).map(|o| o.store)
    }

    /// Opens the store under `dir`, reads every checkpoint, and says where they come from.
    pub fn open_checked(dir: &Path) -> Result<OpenedStore, StateError> {
        let path = Self::file(dir);
        let err = |message: String| StateError {
            path: path.display().to_string(),
            message,
        };
        std::fs::create_dir_all(dir).map_err(|e| err(format!("cannot create directory: {e}")))?;
        let marker = dir.join(MARKER);
        let origin = match std::fs::metadata(&path) {
            Ok(m) if m.len() == 0 => {
                StoreOrigin::Lost("the checkpoint file is empty (0 bytes)".to_string())
            }
            Ok(_) => StoreOrigin::Existing,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                if marker.exists() {
                    StoreOrigin::Lost("the checkpoint file vanished".to_string())
                } else {
                    StoreOrigin::New
                }
            }
            Err(e) => return Err(err(format!("cannot read: {e}"))),
        };
        if origin != StoreOrigin::Existing {
            // An empty file is not a redb file; start a fresh one in its place.
            let _ = std::fs::remove_file(&path);
        }
        let damaged = |detail: String| {
            err(format!(
                "{detail}. The checkpoints cannot be read. Move the file aside and start over \
                 (runs inside the lookback are exported again, with the same trace ids): \
                 `run --recover-state`, or `mv {p} {p}.damaged`",
                p = path.display()
            ))
        };
        let db = no_panic(|| Database::create(&path).map_err(|e| e.to_string())).map_err(|e| {
            match origin {
                StoreOrigin::Existing => damaged(e),
                _ => err(e),
            }
        })?;
        if !marker.exists() {
            let _ = std::fs::write(
                &marker,
                "pipeline-otel-bridge created its checkpoint store here\n",
            );
        }
        let store = LocalStore {
            db: std::sync::Mutex::new(Some(db)),
            path: path.clone(),
        };
        let checkpoints = no_panic(|| store.read_all().map_err(|e| e.message)).map_err(damaged)?;
        Ok(OpenedStore {
            store,
            origin,
            checkpoints,
        })
    }

    /// Renames a damaged store to `checkpoints.redb.damaged-{unix seconds}` so that the next
    /// open starts over; returns the new name.
    pub fn move_aside(dir: &Path) -> Result<PathBuf, StateError> {
        let path = Self::file(dir);
        let secs = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        let to = dir.join(format!("{FILE}.damaged-{secs}"));
        std::fs::rename(&path, &to).map_err(|e| StateError {
            path: path.display().to_string(),
            message: format!("cannot move the damaged store aside: {e}"),
        })?;
        Ok(to)
    }

    /// Closes and reopens the database file (redb allows one open handle per file).
    fn reopen(&self, guard: &mut Option<Database>) -> Result<(), StateError> {
        drop(guard.take());
        let db = no_panic_quiet(|| Database::create(&self.path).map_err(|e| e.to_string()))
            .map_err(|m| self.err(m))?;
        *guard = Some(db);
        Ok(())
    }

    fn err(&self, e: impl std::fmt::Display) -> StateError {
        StateError {
            path: self.path.display().to_string(),
            message: e.to_string(),
        }
    }

    fn read_all(&self) -> Result<BTreeMap<String, Checkpoint>, StateError> {
        let guard = self
            .db
            .lock()
            .map_err(|_| self.err("store lock poisoned"))?;
        let db = guard.as_ref().ok_or_else(|| self.err("store is closed"))?;
        let tx = db.begin_read().map_err(|e| self.err(e))?;
        let table = match tx.open_table(TABLE) {
            Ok(t) => t,
            Err(redb::TableError::TableDoesNotExist(_)) => return Ok(BTreeMap::new()),
            Err(e) => return Err(self.err(e)),
        };
        let mut out = BTreeMap::new();
        for row in table.iter().map_err(|e| self.err(e))? {
            let (k, v) = row.map_err(|e| self.err(e))?;
            let cp: Checkpoint = serde_json::from_slice(v.value()).map_err(|e| {
                self.err(format!("checkpoint of {}: {e}", k.value().escape_debug()))
            })?;
            out.insert(k.value().to_string(), cp.normalize());
        }
        Ok(out)
    }
}

impl CheckpointStore for LocalStore {
    fn load_all(&self) -> Result<BTreeMap<String, Checkpoint>, StateError> {
        no_panic_quiet(|| self.read_all().map_err(|e| e.message)).map_err(|m| self.err(m))
    }

    fn commit(&self, changes: &[(String, Checkpoint)]) -> Result<(), StateError> {
        if changes.is_empty() {
            return Ok(());
        }
        let mut guard = self
            .db
            .lock()
            .map_err(|_| self.err("store lock poisoned"))?;
        let write = |db: &Database| -> Result<(), StateError> {
            let tx = db.begin_write().map_err(|e| self.err(e))?;
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
        };
        if guard.is_none() {
            self.reopen(&mut guard)?; // an earlier reopen failed: try again first
        }
        let Some(db) = guard.as_ref() else {
            return Err(self.err("store is closed"));
        };
        // A panic inside redb (damage found while writing) must not take the daemon down:
        // the commit fails, the runs stay unacknowledged and are exported again.
        let r = catch_unwind(AssertUnwindSafe(|| write(db))).unwrap_or_else(|p| {
            Err(self.err(format!(
                "the file is damaged ({}); run with --recover-state to start over",
                panic_text(p)
            )))
        });
        if r.is_err() {
            // After an I/O error (disk full…) redb refuses every later write until the file is
            // reopened: reopen now, so the next cycle's commit can succeed once there is room.
            if let Err(e) = self.reopen(&mut guard) {
                tracing::warn!(error = %e, "cannot reopen the checkpoint store; retrying at the next commit");
            }
        }
        r
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::records::Millis;

    fn sample() -> Checkpoint {
        let mut cp = Checkpoint::default();
        cp.mark_in_flight("jr_1", Millis(5), "executing", Millis(10));
        cp
    }

    #[test]
    fn survives_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let cp = sample();
        {
            let o = LocalStore::open_checked(dir.path()).unwrap();
            assert_eq!(o.origin, StoreOrigin::New);
            assert!(o.checkpoints.is_empty());
            o.store
                .commit(&[("glue-job|1|r|j".into(), cp.clone())])
                .unwrap();
        }
        let o = LocalStore::open_checked(dir.path()).unwrap();
        assert_eq!(o.origin, StoreOrigin::Existing);
        assert_eq!(o.checkpoints["glue-job|1|r|j"], cp);
        assert_eq!(o.store.load_all().unwrap()["glue-job|1|r|j"], cp);
    }

    #[test]
    fn an_empty_or_vanished_store_is_reported_as_lost() {
        let dir = tempfile::tempdir().unwrap();
        {
            let s = LocalStore::open(dir.path()).unwrap();
            s.commit(&[("k".into(), sample())]).unwrap();
        }
        std::fs::write(LocalStore::file(dir.path()), b"").unwrap();
        let o = LocalStore::open_checked(dir.path()).unwrap();
        assert!(
            matches!(&o.origin, StoreOrigin::Lost(m) if m.contains("empty")),
            "{:?}",
            o.origin
        );
        assert!(o.checkpoints.is_empty());
        drop(o);
        std::fs::remove_file(LocalStore::file(dir.path())).unwrap();
        let o = LocalStore::open_checked(dir.path()).unwrap();
        assert!(
            matches!(&o.origin, StoreOrigin::Lost(m) if m.contains("vanished")),
            "{:?}",
            o.origin
        );
    }

    /// Overwrites every page but the first with garbage, one at a time, and opens the store:
    /// each open either reads the checkpoints or fails with the advice, never panics.
    #[test]
    fn a_damaged_page_is_an_error_that_says_what_to_do() {
        let dir = tempfile::tempdir().unwrap();
        {
            let s = LocalStore::open(dir.path()).unwrap();
            let many: Vec<(String, Checkpoint)> = (0..300)
                .map(|i| (format!("glue-job|1|r|job-{i:04}"), sample()))
                .collect();
            s.commit(&many).unwrap();
        }
        let file = LocalStore::file(dir.path());
        let good = std::fs::read(&file).unwrap();
        let pages = good.len() / 4096;
        assert!(pages > 2, "store has {pages} pages");
        let mut failures = 0;
        for page in 1..pages {
            let mut bad = good.clone();
            for (i, b) in bad[page * 4096..(page + 1) * 4096].iter_mut().enumerate() {
                *b = (i as u8).wrapping_mul(37).wrapping_add(page as u8);
            }
            std::fs::write(&file, &bad).unwrap();
            match LocalStore::open_checked(dir.path()) {
                Ok(o) => assert!(o.checkpoints.len() <= 300),
                Err(e) => {
                    failures += 1;
                    let m = e.to_string();
                    assert!(m.contains("--recover-state"), "{m}");
                    assert!(m.contains(&file.display().to_string()), "{m}");
                }
            }
        }
        assert!(failures > 0, "some damaged page must be detected");
        let moved = LocalStore::move_aside(dir.path()).unwrap();
        assert!(moved.exists());
        let o = LocalStore::open_checked(dir.path()).unwrap();
        assert!(matches!(o.origin, StoreOrigin::Lost(_)));
        assert!(o.checkpoints.is_empty());
    }
}
