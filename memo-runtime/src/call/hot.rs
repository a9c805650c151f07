//! The in-process tier: each cached function's recent results, by argument stream, in
//! front of the store. A warm hit is a map lookup and a decode — no hashing with blake3,
//! no storage engine.
//!
//! Entries belong to one store and one of its epochs: an invalidation, removal, `gc` or
//! `clear` starts a new epoch, so nothing removed from a store is served from here. The
//! tier is bounded process-wide by [`set_memory_budget`].

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use foldhash::fast::FixedState;

use crate::{Digest, KeyHasher, Store, clock};

/// Marks a key that is a digest (the stream was too long to keep) rather than a stream.
/// No stream starts with it: it is not a tag.
const DIGEST_KEY: u8 = 0xff;

/// One cached function's entries.
pub(crate) struct HotMap {
    entries: Mutex<HashMap<Box<[u8]>, HotEntry, FixedState>>,
}

/// What [`HotMap::get`] found.
pub(crate) struct HotHit {
    pub output: Digest,
    pub bytes: Arc<[u8]>,
    pub expires_ms: Option<u64>,
}

struct HotEntry {
    /// What this entry counts against the budget.
    cost: usize,
    store: u64,
    epoch: u64,
    output: Digest,
    bytes: Arc<[u8]>,
    expires_ms: Option<u64>,
}

/// Bytes and entries held by every function's map, against the budget.
static BYTES: AtomicUsize = AtomicUsize::new(0);
static ENTRIES: AtomicUsize = AtomicUsize::new(0);
static BUDGET: AtomicUsize = AtomicUsize::new(64 << 20);
/// What an entry costs besides its result and key bytes, for the budget: its map slot
/// (with the map's spare capacity) and the two allocations' headers, measured on x86-64.
const ENTRY_COST: usize = 192;

/// Sets how much memory the in-process tier may hold across all cached functions
/// (64 MiB by default); 0 turns the in-process tiers off, the per-thread ones included.
/// Results beyond it are served from the store. Each thread also keeps up to 1,024 recent
/// results of up to 16 KiB in its own tables, outside this budget.
///
/// ```
/// memo::set_memory_budget(16 << 20);
/// ```
pub fn set_memory_budget(bytes: usize) {
    BUDGET.store(bytes, Ordering::Relaxed);
}

/// The budget now; 0 when the in-process tiers are off.
#[inline]
pub(crate) fn budget() -> usize {
    BUDGET.load(Ordering::Relaxed)
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|poison| poison.into_inner())
}

impl HotMap {
    pub(crate) const fn new() -> HotMap {
        HotMap {
            entries: Mutex::new(HashMap::with_hasher(FixedState::with_seed(0x6d656d6f))),
        }
    }

    /// The stored bytes for `key` in `store` and when they expire, if this tier holds them,
    /// live.
    pub(crate) fn get(&self, store: &Store, key: &KeyHasher) -> Option<HotHit> {
        let id = hot_key(key);
        let mut entries = lock(&self.entries);
        let entry = entries.get(id.as_ref())?;
        if entry.store != store.id() || entry.epoch != store.epoch() {
            return None;
        }
        if entry.expires_ms.is_some_and(|at| at <= clock::now_ms()) {
            let removed = entries.remove(id.as_ref()).expect("found above");
            release(&removed);
            return None;
        }
        Some(HotHit {
            output: entry.output,
            bytes: Arc::clone(&entry.bytes),
            expires_ms: entry.expires_ms,
        })
    }

    /// Keeps `bytes` (content hash `output`) for `key` in `store`, within the budget.
    pub(crate) fn put(
        &self,
        store: &Store,
        key: &KeyHasher,
        output: Digest,
        bytes: Arc<[u8]>,
        expires_ms: Option<u64>,
    ) {
        let budget = BUDGET.load(Ordering::Relaxed);
        let cost = entry_cost(bytes.len(), key);
        if !store.keeps_hot() || cost > budget / 8 {
            return;
        }
        let id = hot_key(key);
        let mut entries = lock(&self.entries);
        if let Some(old) = entries.remove(id.as_ref()) {
            release(&old);
        }
        // Over budget: evict this function's entries, in no particular order, down to three
        // quarters of the budget in one pass, so that evicting stays O(1) per insert
        // (finding one victim at a time scans ever longer runs of emptied slots).
        let used = BYTES.load(Ordering::Relaxed);
        if used + cost > budget {
            let mut excess = (used + cost).saturating_sub(budget - budget / 4);
            entries.retain(|_, entry| {
                if excess == 0 {
                    return true;
                }
                excess = excess.saturating_sub(entry.cost);
                release(entry);
                false
            });
            if BYTES.load(Ordering::Relaxed) + cost > budget {
                return; // the rest of the budget is other functions'
            }
        }
        BYTES.fetch_add(cost, Ordering::Relaxed);
        ENTRIES.fetch_add(1, Ordering::Relaxed);
        entries.insert(
            id.into_owned().into_boxed_slice(),
            HotEntry {
                cost,
                store: store.id(),
                epoch: store.epoch(),
                output,
                bytes,
                expires_ms,
            },
        );
    }
}

fn entry_cost(bytes: usize, key: &KeyHasher) -> usize {
    bytes + key.stream().map_or(33, <[u8]>::len) + ENTRY_COST
}

fn release(entry: &HotEntry) {
    BYTES.fetch_sub(entry.cost, Ordering::Relaxed);
    ENTRIES.fetch_sub(1, Ordering::Relaxed);
}

/// The tier's key for a call: its argument stream, or for a long stream its digest.
fn hot_key(key: &KeyHasher) -> std::borrow::Cow<'_, [u8]> {
    match key.stream() {
        Some(stream) => std::borrow::Cow::Borrowed(stream),
        None => {
            let mut id = Vec::with_capacity(33);
            id.push(DIGEST_KEY);
            id.extend_from_slice(key.finish().as_bytes());
            std::borrow::Cow::Owned(id)
        }
    }
}

/// What the in-process tier holds, across all cached functions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MemoryUsage {
    /// Bytes of results, plus a fixed overhead per entry.
    pub bytes: usize,
    /// Results held.
    pub entries: usize,
    /// The budget `bytes` stays within.
    pub budget: usize,
}

/// What the in-process tier holds now.
///
/// ```
/// let usage = memo::memory_usage();
/// assert!(usage.bytes <= usage.budget);
/// ```
pub fn memory_usage() -> MemoryUsage {
    MemoryUsage {
        bytes: BYTES.load(Ordering::Relaxed),
        entries: ENTRIES.load(Ordering::Relaxed),
        budget: BUDGET.load(Ordering::Relaxed),
    }
}
