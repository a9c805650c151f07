//! A damaged database heals: found at open or on any read or commit, it is moved aside
//! (the last one is kept, as `store.redb.damaged` or `store.sled.damaged`) and a fresh one
//! takes its place in the same run, so one bad sector costs the cache's contents, never
//! every later run.

use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;

use super::backend::{Backend, Engine};
use super::redb_file::RedbFile;
use super::{Database, EngineError, EngineResult, Options, Shared, contained};

/// How often, at most, a file redb refuses since an I/O error is opened again.
const REOPEN_EVERY_MS: u64 = 1_000;

/// How many times one process replaces a store's file: a disk that damages every fresh
/// file is left degraded (calls run uncached, with one warning) rather than churned.
const MAX_HEALS: u64 = 3;

/// A damaged file that was replaced.
pub(crate) struct Healed<'a> {
    /// What was wrong with it.
    pub detail: &'a str,
    /// Where it was moved, or `None` if it could not be (it was deleted instead).
    pub kept: Option<&'a Path>,
}

/// Opens the database of `engine` at `path` with its tables; a damaged one is replaced if
/// `options` say so.
pub(super) fn open_healing(
    engine: Engine,
    path: &Path,
    options: &Options,
) -> EngineResult<Box<dyn Backend>> {
    match contained(|| open_file(engine, path, options)) {
        Err(error) if options.heal && error.is_damage() => {
            let kept = move_aside(engine, path).map_err(|e| EngineError::Failed(Box::new(e)))?;
            let db = contained(|| open_file(engine, path, options))?;
            (options.on_heal)(&Healed {
                detail: &error.to_string(),
                kept: kept.as_deref(),
            });
            Ok(db)
        }
        other => other,
    }
}

fn open_file(engine: Engine, path: &Path, options: &Options) -> EngineResult<Box<dyn Backend>> {
    engine.open(path, options.cache_bytes, &options.seed)
}

/// Moves the database at `path` to its engine's damaged name beside it, replacing an
/// older one; where it cannot be moved it is deleted. `None` when it was deleted or not
/// there.
fn move_aside(engine: Engine, path: &Path) -> std::io::Result<Option<PathBuf>> {
    let kept = path.with_file_name(engine.damaged_name());
    if kept.is_dir() {
        // A directory is not replaced by a rename.
        let _ = std::fs::remove_dir_all(&kept);
    }
    match std::fs::rename(path, &kept) {
        Ok(()) => Ok(Some(kept)),
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(_) if path.is_dir() => std::fs::remove_dir_all(path).map(|()| None),
        Err(_) => std::fs::remove_file(path).map(|()| None),
    }
}

impl Shared {
    /// Runs `op`; if it finds the file damaged and the file is replaced for it (or redb
    /// refuses it since an I/O error, and it is opened again), runs it once more on the new
    /// handle.
    pub(super) fn healing<T>(&self, op: impl Fn() -> EngineResult<T>) -> EngineResult<T> {
        if self.detached.load(Ordering::Acquire) {
            self.reattach();
        }
        let seen = self.generation.load(Ordering::Acquire);
        match op() {
            Err(error) if self.recover(seen, &error) => op(),
            other => other,
        }
    }

    /// Replaces the file for `error`, seen while it was at heal count `seen`, if it is
    /// damage and the engine heals; whether the file is new since (by this call or
    /// another).
    pub(super) fn recover(&self, seen: u64, error: &EngineError) -> bool {
        if error.is_poisoned() {
            return self.reopen(seen);
        }
        error.is_damage() && self.options.heal && self.replace(seen, &error.to_string())
    }

    /// Moves the damaged file aside and opens a fresh one in its place; `false` if that
    /// failed, and the damaged file is still in use.
    fn replace(&self, seen: u64, detail: &str) -> bool {
        let mut db = self.db_mut();
        if self.generation.load(Ordering::Acquire) != seen {
            return true; // another thread replaced it meanwhile
        }
        if self.heals.load(Ordering::Acquire) >= MAX_HEALS {
            return false;
        }
        // No read transaction may outlive the file it reads.
        self.buffer.file_changed();
        let Ok(kept) = move_aside(self.engine, &self.path) else {
            return false;
        };
        let Ok(fresh) = contained(|| open_file(self.engine, &self.path, &self.options)) else {
            // The handle in use still reads and writes the moved file: it goes back.
            if self.path.is_dir() {
                let _ = std::fs::remove_dir_all(&self.path);
            } else {
                let _ = std::fs::remove_file(&self.path);
            }
            if let Some(kept) = &kept {
                let _ = std::fs::rename(kept, &self.path);
            }
            return false;
        };
        let old = std::mem::replace(&mut *db, fresh);
        self.heals.fetch_add(1, Ordering::AcqRel);
        self.generation.fetch_add(1, Ordering::AcqRel);
        self.detached.store(false, Ordering::Release);
        drop(db);
        drop(old);
        (self.options.on_swap)();
        (self.options.on_heal)(&Healed {
            detail,
            kept: kept.as_deref(),
        });
        true
    }
}

impl Shared {
    /// Whether opening the file again is due: not more often than every second, since
    /// opening a file a failed write left behind may check it.
    fn reopen_due(&self) -> bool {
        let now = self.opened.elapsed().as_millis() as u64 + REOPEN_EVERY_MS;
        let last = self.reopened_ms.load(Ordering::Acquire);
        now >= last + REOPEN_EVERY_MS
            && self
                .reopened_ms
                .compare_exchange(last, now, Ordering::AcqRel, Ordering::Acquire)
                .is_ok()
    }

    /// Opens the file again after redb refused it since an I/O error (a full disk, now
    /// perhaps with room); whether the new handle is the file. Where the file cannot be
    /// opened yet, an empty stand-in takes its place until [`Shared::reattach`] can.
    fn reopen(&self, seen: u64) -> bool {
        if self.generation.load(Ordering::Acquire) != seen {
            return true; // another thread has opened it again meanwhile
        }
        if !self.reopen_due() {
            return false;
        }
        let mut db = self.db_mut();
        if self.generation.load(Ordering::Acquire) != seen {
            return true;
        }
        // No read transaction may outlive its handle, and the old handle holds the
        // file's lock: it goes first, a stand-in keeping its place.
        self.buffer.file_changed();
        let Ok(stand_in) = contained(stand_in) else {
            return false;
        };
        drop(std::mem::replace(&mut *db, stand_in));
        self.generation.fetch_add(1, Ordering::AcqRel);
        // The old descriptor is closed: it must not be closed again in a child.
        (self.options.on_swap)();
        match contained(|| open_file(self.engine, &self.path, &self.options)) {
            Ok(again) => {
                *db = again;
                self.detached.store(false, Ordering::Release);
                (self.options.on_swap)();
                crate::warn::debug(|| {
                    format!("opened {} again after an I/O error", self.path.display())
                });
                true
            }
            Err(_) => {
                self.detached.store(true, Ordering::Release);
                false
            }
        }
    }

    /// Puts the file back in place of the stand-in, when opening it is due and works.
    fn reattach(&self) {
        if !self.reopen_due() {
            return;
        }
        let mut db = self.db_mut();
        if !self.detached.load(Ordering::Acquire) {
            return;
        }
        if let Ok(again) = contained(|| open_file(self.engine, &self.path, &self.options)) {
            self.buffer.file_changed();
            *db = again;
            self.generation.fetch_add(1, Ordering::AcqRel);
            self.detached.store(false, Ordering::Release);
            (self.options.on_swap)();
        }
    }
}

/// An empty database in memory, whatever the engine: it only has to answer until the
/// real one is back.
fn stand_in() -> EngineResult<Box<dyn Backend>> {
    Ok(Box::new(RedbFile::in_memory()?))
}

impl Database {
    /// Replaces the file, which the store found damaged (`detail`) in a way the engine
    /// cannot see; `false` if it could not.
    pub(crate) fn replace_damaged(&self, detail: &str) -> bool {
        let shared = &self.shared;
        shared.replace(shared.generation.load(Ordering::Acquire), detail)
    }

    /// How many times the file has been replaced: what a store keeps of the file (which
    /// functions it recorded) is stale once this changes.
    pub(crate) fn heals(&self) -> u64 {
        self.shared.heals.load(Ordering::Acquire)
    }
}
