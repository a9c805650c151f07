//! A damaged file heals: found at open or on any read or commit, it is moved aside (the
//! last one is kept, as `store.redb.damaged`) and a fresh file takes its place in the same
//! run, so one bad sector costs the cache's contents, never every later run.

use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;

use redb::ReadableDatabase;

use super::{Engine, EngineError, EngineResult, Options, Shared, Table, contained};

/// The name a damaged database file is moved to, beside the store's.
pub(crate) const DAMAGED_FILE: &str = "store.redb.damaged";

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

/// Opens the file at `path` with its tables; a damaged one is replaced if `options` say so.
pub(super) fn open_healing(path: &Path, options: &Options) -> EngineResult<redb::Database> {
    match contained(|| open_file(path, options)) {
        Err(error) if options.heal && error.is_damage() => {
            let kept = move_aside(path).map_err(|e| EngineError::Failed(Box::new(e)))?;
            let db = contained(|| open_file(path, options))?;
            (options.on_heal)(&Healed {
                detail: &error.to_string(),
                kept: kept.as_deref(),
            });
            Ok(db)
        }
        other => other,
    }
}

/// Opens (creating if needed) the file at `path`. Every table exists from the start, so
/// reads never meet a missing one; only a new file needs the (durable, so slower)
/// transaction that creates them, which also writes its seed.
fn open_file(path: &Path, options: &Options) -> EngineResult<redb::Database> {
    let db = redb::Database::builder()
        .set_cache_size(usize::try_from(options.cache_bytes).unwrap_or(usize::MAX))
        .create(path)?;
    let read = db.begin_read()?;
    let missing: Vec<Table> = Table::ALL
        .into_iter()
        .filter(|table| read.open_table(table.definition()).is_err())
        .collect();
    drop(read);
    if !missing.is_empty() {
        let mut txn = db.begin_write()?;
        txn.set_quick_repair(true);
        for table in Table::ALL {
            txn.open_table(table.definition())?;
        }
        // Only a file that had none of the tables is new: one that lost some is not
        // stamped as sound.
        if missing.len() == Table::ALL.len() {
            for (table, key, value) in &options.seed {
                txn.open_table(table.definition())?
                    .insert(&key[..], &value[..])?;
            }
        }
        txn.commit()?;
    }
    Ok(db)
}

/// Moves the file at `path` to [`DAMAGED_FILE`] beside it, replacing an older one; where
/// it cannot be moved it is deleted. `None` when it was deleted or not there.
fn move_aside(path: &Path) -> std::io::Result<Option<PathBuf>> {
    let kept = path.with_file_name(DAMAGED_FILE);
    match std::fs::rename(path, &kept) {
        Ok(()) => Ok(Some(kept)),
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => Ok(None),
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
        let mut db = self.db.write().unwrap_or_else(|poison| poison.into_inner());
        if self.generation.load(Ordering::Acquire) != seen {
            return true; // another thread replaced it meanwhile
        }
        if self.heals.load(Ordering::Acquire) >= MAX_HEALS {
            return false;
        }
        // No read transaction may outlive the file it reads.
        self.buffer.file_changed();
        let Ok(kept) = move_aside(&self.path) else {
            return false;
        };
        let Ok(fresh) = contained(|| open_file(&self.path, &self.options)) else {
            // The handle in use still reads and writes the moved file: it goes back.
            let _ = std::fs::remove_file(&self.path);
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
        let mut db = self.db.write().unwrap_or_else(|poison| poison.into_inner());
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
        match contained(|| open_file(&self.path, &self.options)) {
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
        let mut db = self.db.write().unwrap_or_else(|poison| poison.into_inner());
        if !self.detached.load(Ordering::Acquire) {
            return;
        }
        if let Ok(again) = contained(|| open_file(&self.path, &self.options)) {
            self.buffer.file_changed();
            *db = again;
            self.generation.fetch_add(1, Ordering::AcqRel);
            self.detached.store(false, Ordering::Release);
            (self.options.on_swap)();
        }
    }
}

/// An empty database in memory.
fn stand_in() -> EngineResult<redb::Database> {
    let db =
        redb::Database::builder().create_with_backend(redb::backends::InMemoryBackend::new())?;
    let txn = db.begin_write()?;
    for table in Table::ALL {
        txn.open_table(table.definition())?;
    }
    txn.commit()?;
    Ok(db)
}

impl Engine {
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
