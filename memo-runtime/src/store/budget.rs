//! A size budget for a store: past `max_bytes` (`MEMO_MAX_SIZE`) or `max_entries`
//! (`MEMO_MAX_ENTRIES`), the least recently used entries are evicted by a thread of the
//! store's own, so a call never waits for it.
//!
//! Each stored entry adds its cost to a running estimate; when the estimate passes a
//! limit, the thread measures the store exactly (one pass over the entries) and evicts
//! from the least recently used until the store is back under 90% of each limit, so it is
//! not woken again by the next entry. It also looks every half minute, for what imports
//! and other processes added. An entry's cost is its result's bytes (a result shared by
//! several entries counted once) and [`ENTRY_COST`] for its key, record and index lines.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, PoisonError, Weak};
use std::time::Duration;

use super::{Inner, Store, files};
use crate::error::Result;
use crate::{Digest, warn};

/// What an entry takes beside its result: the key, the record and its index lines.
pub(crate) const ENTRY_COST: u64 = 160;

/// How often the thread looks without being woken.
const LOOK_EVERY: Duration = Duration::from_secs(30);

/// The limits of a store's size; either may be unset.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Limits {
    pub max_bytes: Option<u64>,
    pub max_entries: Option<u64>,
}

impl Limits {
    /// `MEMO_MAX_SIZE` (`10GiB`, `500 MB`, a number of bytes) and `MEMO_MAX_ENTRIES`; a
    /// value that does not read as one is said once and ignored.
    pub(crate) fn from_env() -> Limits {
        Limits {
            max_bytes: read_env("MEMO_MAX_SIZE", |raw| {
                raw.trim()
                    .parse::<bytesize::ByteSize>()
                    .ok()
                    .map(|size| size.as_u64())
            }),
            max_entries: read_env("MEMO_MAX_ENTRIES", |raw| {
                raw.trim().replace('_', "").parse::<u64>().ok()
            }),
        }
    }

    fn any(&self) -> bool {
        self.max_bytes.is_some() || self.max_entries.is_some()
    }

    fn over(&self, bytes: u64, entries: u64, share: f64) -> bool {
        let past = |limit: Option<u64>, value: u64| {
            limit.is_some_and(|limit| value as f64 > limit as f64 * share)
        };
        past(self.max_bytes, bytes) || past(self.max_entries, entries)
    }
}

fn read_env(name: &str, parse: impl Fn(&str) -> Option<u64>) -> Option<u64> {
    let raw = std::env::var(name)
        .ok()
        .filter(|raw| !raw.trim().is_empty())?;
    let parsed = parse(&raw);
    if parsed.is_none() {
        warn::once(name, || {
            format!("{name}={raw:?} is not a size (like 10GiB or 500MB); the store has no limit")
        });
    }
    parsed
}

/// A store's budget, and the estimate of its size that says when to look.
pub(crate) struct Budget {
    limits: Limits,
    /// The size the last look measured, `None` before the first.
    measured: Mutex<Option<(u64, u64)>>,
    /// Bytes and entries stored since.
    grown_bytes: AtomicU64,
    grown_entries: AtomicU64,
    /// Set to wake the thread.
    wake: (Mutex<bool>, Condvar),
}

impl Budget {
    /// A budget of `limits`, if it limits anything.
    pub(crate) fn new(limits: Limits) -> Option<Arc<Budget>> {
        limits.any().then(|| {
            Arc::new(Budget {
                limits,
                measured: Mutex::new(None),
                grown_bytes: AtomicU64::new(0),
                grown_entries: AtomicU64::new(0),
                wake: (Mutex::new(false), Condvar::new()),
            })
        })
    }

    /// Counts an entry stored with `bytes` of new result; wakes the thread once the store
    /// may be past its budget. Never waits.
    pub(crate) fn grew(&self, bytes: u64) {
        let bytes = self
            .grown_bytes
            .fetch_add(bytes + ENTRY_COST, Ordering::Relaxed)
            + bytes
            + ENTRY_COST;
        let entries = self.grown_entries.fetch_add(1, Ordering::Relaxed) + 1;
        // Being measured: the thread looks again when it is done (`past`).
        let Ok(measured) = self.measured.try_lock() else {
            return;
        };
        let Some((base_bytes, base_entries)) = *measured else {
            return; // the first look is under way
        };
        drop(measured);
        if self
            .limits
            .over(base_bytes + bytes, base_entries + entries, 1.0)
        {
            self.wake();
        }
    }

    /// Whether the store may be past its budget: what the last look left, and what was
    /// stored since.
    fn past(&self) -> bool {
        let measured = *self.measured.lock().unwrap_or_else(PoisonError::into_inner);
        measured.is_some_and(|(bytes, entries)| {
            self.limits.over(
                bytes + self.grown_bytes.load(Ordering::Relaxed),
                entries + self.grown_entries.load(Ordering::Relaxed),
                1.0,
            )
        })
    }

    fn wake(&self) {
        let (woken, condvar) = &self.wake;
        *woken.lock().unwrap_or_else(PoisonError::into_inner) = true;
        condvar.notify_one();
    }

    /// Waits until woken or [`LOOK_EVERY`] has passed.
    fn sleep(&self) {
        let (woken, condvar) = &self.wake;
        let guard = woken.lock().unwrap_or_else(PoisonError::into_inner);
        let (mut guard, _) = condvar
            .wait_timeout_while(guard, LOOK_EVERY, |woken| !*woken)
            .unwrap_or_else(PoisonError::into_inner);
        *guard = false;
    }
}

/// Starts the thread that keeps `inner` within its budget, if it has one. The thread
/// holds the store only while it looks, and ends once the store is gone.
pub(super) fn start(inner: &Arc<Inner>) {
    let Some(budget) = inner.budget.clone() else {
        return;
    };
    let weak: Weak<Inner> = Arc::downgrade(inner);
    let spawned = std::thread::Builder::new()
        .name("memo-budget".into())
        .spawn(move || {
            loop {
                let Some(inner) = weak.upgrade() else {
                    return;
                };
                let store = Store { inner };
                let trimmed = trim(&store, &budget);
                drop(store);
                match trimmed {
                    // What was stored while it looked may have passed the budget again.
                    Ok(_) if budget.past() => continue,
                    Ok(_) => {}
                    Err(error) => {
                        warn::debug(|| format!("keeping the store within its budget: {error}"));
                    }
                }
                budget.sleep();
            }
        });
    if let Err(error) = spawned {
        warn::once("budget thread", || {
            format!("the store's size budget is not kept: no thread for it ({error})")
        });
    }
}

/// One entry as a look sees it.
struct Row {
    last_used_ms: u64,
    key: Digest,
    /// The result's hash, when it is stored apart (shared); `None` when inline.
    blob: Option<Digest>,
    size: u64,
}

/// Measures the store; past its budget, evicts the least recently used entries until it
/// is under 90% of each limit. Returns how many went.
fn trim(store: &Store, budget: &Budget) -> Result<u64> {
    let inner = &*store.inner;
    inner.local()?;
    // What is stored from here on is growth past this look (some of it is counted in the
    // look as well: the estimate only ever errs high).
    budget.grown_bytes.store(0, Ordering::Relaxed);
    budget.grown_entries.store(0, Ordering::Relaxed);
    let mut measured = budget
        .measured
        .lock()
        .unwrap_or_else(PoisonError::into_inner);
    let mut rows = Vec::new();
    let mut blobs: HashMap<Digest, (u64, u32)> = HashMap::new();
    store.for_each_record(|key, record| {
        let blob = record.inline.is_none().then_some(record.output);
        if let Some(blob) = blob {
            blobs.entry(blob).or_insert((record.size, 0)).1 += 1;
        }
        rows.push(Row {
            last_used_ms: record.last_used_ms,
            key,
            blob,
            size: record.size,
        });
    })?;
    let mut entries = rows.len() as u64;
    let mut bytes = entries * ENTRY_COST
        + rows
            .iter()
            .filter(|row| row.blob.is_none())
            .map(|row| row.size)
            .sum::<u64>()
        + blobs.values().map(|(size, _)| size).sum::<u64>();
    *measured = Some((bytes, entries));
    if !budget.limits.over(bytes, entries, 1.0) {
        return Ok(0);
    }
    rows.sort_by_key(|row| row.last_used_ms);
    let mut evicted = 0;
    let trees = inner.trees();
    for row in rows {
        if !budget.limits.over(bytes, entries, 0.9) {
            break;
        }
        // Read again: since the look, it may have gone, or been written anew.
        let Some(record) = inner.read_entry(&row.key)? else {
            continue;
        };
        inner.remove_entry(&row.key, &record)?;
        evicted += 1;
        entries -= 1;
        bytes = bytes.saturating_sub(ENTRY_COST);
        match row.blob {
            None => bytes = bytes.saturating_sub(row.size),
            Some(blob) => {
                let (size, refs) = blobs.get_mut(&blob).expect("counted in the look");
                *refs -= 1;
                if *refs == 0 {
                    bytes = bytes.saturating_sub(*size);
                    trees.blobs.remove(blob).map_err(|e| inner.storage(e))?;
                    files::remove(&inner.dir, &blob);
                }
            }
        }
    }
    *measured = Some((bytes, entries));
    store.count_evictions(evicted);
    warn::debug(|| {
        format!(
            "evicted {evicted} least recently used entries from {} to keep it within its budget",
            inner.dir.display()
        )
    });
    Ok(evicted)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_are_passed_by_either_and_share_scales_them() {
        let limits = Limits {
            max_bytes: Some(1000),
            max_entries: Some(10),
        };
        assert!(!limits.over(1000, 10, 1.0));
        assert!(limits.over(1001, 1, 1.0));
        assert!(limits.over(1, 11, 1.0));
        assert!(limits.over(901, 1, 0.9));
        assert!(!Limits::default().any());
    }
}
