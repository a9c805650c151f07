//! `Store::diagnose`: what state a store directory is in, told without changing it.

use std::path::{Path, PathBuf};
use std::time::SystemTime;

use super::problem::{self, Problem};
use super::{Engine, STORE_FORMAT_VERSION, Store, VerifyReport, open};
use crate::error::Error;

/// What [`Store::diagnose`] found in a store directory.
///
/// ```
/// let dir = tempfile::tempdir().unwrap();
/// drop(memo::Store::open(dir.path()).unwrap());
/// let found = memo::Store::diagnose(dir.path());
/// assert!(found.is_healthy(), "{found:?}");
/// ```
#[derive(Debug, Clone)]
pub struct Diagnosis {
    /// The store's directory.
    pub dir: PathBuf,
    /// The storage engine whose database the directory holds (`redb` when it holds
    /// none).
    pub engine: &'static str,
    /// The database: a file (`store.redb`) or a directory (`store.sled`).
    pub file: PathBuf,
    /// The bytes the database takes on disk, if it exists.
    pub file_bytes: Option<u64>,
    /// The store's format version, or why it could not be read (the store is held by
    /// another process that does not serve it, damaged, or of another version).
    pub format: Result<u32, String>,
    /// The process that holds the store, if one says it does, and whether it is running.
    pub holder: Option<Holder>,
    /// How many entries the store holds, when it could be opened.
    pub entries: Option<u64>,
    /// The last damaged file moved aside: its path, size and when it was moved.
    pub damaged_copy: Option<(PathBuf, u64, SystemTime)>,
    /// The last problem a program met with this store.
    pub last_problem: Option<Problem>,
}

/// A process that holds a store.
///
/// ```
/// let dir = tempfile::tempdir().unwrap();
/// let store = memo::Store::open(dir.path()).unwrap();
/// let holder = memo::Store::diagnose(dir.path()).holder;
/// assert!(holder.is_none_or(|h| h.pid == std::process::id()));
/// # drop(store);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Holder {
    /// Its pid.
    pub pid: u32,
    /// Whether a process with that pid is running now.
    pub running: bool,
}

impl Diagnosis {
    /// Whether the store opens and is of this version: nothing to repair.
    ///
    /// ```
    /// let dir = tempfile::tempdir().unwrap();
    /// std::fs::write(dir.path().join("store.redb"), b"not a database").unwrap();
    /// assert!(!memo::Store::diagnose(dir.path()).is_healthy());
    /// ```
    pub fn is_healthy(&self) -> bool {
        self.format == Ok(STORE_FORMAT_VERSION)
    }
}

impl Store {
    /// Examines the store in `dir` without repairing or creating anything: a damaged file
    /// is reported, not moved aside (`memo doctor`). The holder is read before the store
    /// is opened, so it is never this process unless it already held the store.
    ///
    /// ```
    /// let dir = tempfile::tempdir().unwrap();
    /// drop(memo::Store::open(dir.path()).unwrap());
    /// let diagnosis = memo::Store::diagnose(dir.path());
    /// assert!(diagnosis.is_healthy());
    /// assert_eq!(diagnosis.entries, Some(0));
    /// assert!(diagnosis.last_problem.is_none());
    /// ```
    pub fn diagnose(dir: impl AsRef<Path>) -> Diagnosis {
        let dir = dir.as_ref();
        let dir = std::fs::canonicalize(dir).unwrap_or_else(|_| dir.to_owned());
        let engine = Engine::found_in(&dir).unwrap_or(Engine::Redb);
        let file = engine.path_in(&dir);
        let holder = open::holder(&dir).map(|pid| Holder {
            pid,
            running: open::is_running(pid),
        });
        let (format, entries) = if file.exists() {
            match Store::builder(&dir)
                .heal(false)
                .in_memory_tier(false)
                .open()
            {
                Ok(store) => (
                    Ok(STORE_FORMAT_VERSION),
                    store.stats().ok().map(|stats| stats.entries),
                ),
                Err(Error::FormatVersion { found, .. }) => (
                    Err(format!(
                        "format version {found}, not {STORE_FORMAT_VERSION}"
                    )),
                    None,
                ),
                Err(error) => (Err(error.to_string()), None),
            }
        } else {
            (Err("there is no database file".into()), None)
        };
        let damaged = dir.join(engine.damaged_name());
        let damaged_copy = std::fs::metadata(&damaged).ok().map(|meta| {
            let when = meta.modified().unwrap_or(SystemTime::UNIX_EPOCH);
            let bytes = engine.size_on_disk(&damaged).unwrap_or(meta.len());
            (damaged, bytes, when)
        });
        Diagnosis {
            engine: engine.name(),
            file_bytes: engine.size_on_disk(&file).ok(),
            file,
            format,
            holder,
            entries,
            damaged_copy,
            last_problem: problem::last(&dir),
            dir,
        }
    }

    /// Repairs the store in `dir`, on demand, as a program does by itself when it finds
    /// damage (`memo verify --repair`): opens it, replacing a damaged database file with a
    /// fresh store (the damaged one kept as `store.redb.damaged`), then verifies every
    /// result, removing the damaged ones. `None` when the file was replaced; otherwise what
    /// the verification found and removed.
    ///
    /// ```
    /// let dir = tempfile::tempdir().unwrap();
    /// std::fs::write(dir.path().join("store.redb"), b"garbage").unwrap();
    /// assert!(memo::Store::repair(dir.path()).unwrap().is_none());
    /// assert!(memo::Store::diagnose(dir.path()).is_healthy());
    /// let report = memo::Store::repair(dir.path()).unwrap().expect("sound now");
    /// assert!(report.is_clean());
    /// ```
    pub fn repair(dir: impl AsRef<Path>) -> crate::Result<Option<VerifyReport>> {
        let dir = dir.as_ref();
        let engine = Engine::found_in(dir).unwrap_or(Engine::Redb);
        let damaged = dir.join(engine.damaged_name());
        let moved = || std::fs::metadata(&damaged).and_then(|m| m.modified()).ok();
        let before = moved();
        let store = Store::builder(dir).in_memory_tier(false).open()?;
        if moved() != before {
            return Ok(None); // found at open, and replaced
        }
        // Sound enough to open: a damaged page is found by reading every one, and the
        // read that finds it replaces the file (unless this process opened the store not
        // to heal).
        let heals = store.inner.heals();
        match store.verify(&mut |_, _| {}) {
            Err(Error::Corrupt { detail, .. }) => {
                if store.inner.heals() == heals && !store.inner.replace_damaged(&detail) {
                    return Err(Error::Corrupt {
                        dir: dir.to_owned(),
                        detail,
                    });
                }
                Ok(None)
            }
            Err(error) => Err(error),
            Ok(_) if store.inner.heals() != heals => Ok(None),
            Ok(report) => Ok(Some(report)),
        }
    }
}
