//! The in-memory tier: every cached function's recent results, in front of the store,
//! shared by the process's threads and bounded by one memory budget.
//!
//! It is a [`quick_cache`] cache: sharded, read-locked on a hit, weighted by what each
//! entry costs, and evicting by a frequency-aware, scan-resistant policy (CLOCK-Pro, with
//! a ghost list of recently evicted keys), so a working set larger than the budget keeps
//! its frequent keys and a one-off scan does not flush them. A result whose type is
//! `Clone + Send + Sync` is held as the value itself and cloned out on a hit — no blake3,
//! no decode; any other is held as its stored bytes and decoded.
//!
//! The cache is keyed by function, store and a 64-bit hash of the arguments — of the
//! arguments themselves for plain values (see [`exact`](super::exact)), else of their key
//! stream — so a lookup compares three words. The entry holds what was hashed and is
//! compared with the call's before it answers: two arguments with one hash never share a
//! result. Entries belong to one epoch of their store: an invalidation, removal, `gc`,
//! `clear` or refresh starts a new one, so nothing removed from a store is served here.
//!
//! Calls of plain words (integer arguments, a number result: see
//! [`exact`](super::exact)) are kept apart, each function's in a table of cache lines
//! that a hit reads without a lock (`words`); together they take what their sets in use
//! need, up to a quarter of the budget (`plain`), and the cache holds the rest.

use std::any::Any;
use std::hash::BuildHasher;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};

use foldhash::fast::FixedState;
use quick_cache::sync::Cache;
use quick_cache::{Lifecycle, OptionsBuilder, Weighter};

use crate::{Digest, KeyHasher, Store, clock};

mod plain;
mod share;
mod words;

pub(crate) use plain::{Cell as WordsCell, get as get_words, put as put_words};
pub(crate) use words::Shape;

pub use share::{Share, ShareBytes, ShareProbe, ShareTyped};

/// What an entry holds: a [`Slot`] of some key and value type, known to the call.
pub(crate) type Held = Arc<dyn Any + Send + Sync>;

/// An entry's key with its value: what was hashed, to be compared on a hit.
pub(crate) struct Slot<K, T> {
    pub(crate) key: K,
    pub(crate) value: T,
}

/// A result held as its stored bytes, decoded on a hit.
pub(crate) struct Encoded {
    pub(crate) output: Digest,
    pub(crate) bytes: Arc<[u8]>,
}

#[derive(Clone)]
struct Entry {
    epoch: u64,
    expires_ms: Option<u64>,
    /// When it was kept: a clock stepped back before it makes an expiring entry's age
    /// unknown, so the store is asked again.
    kept_ms: u64,
    /// What the entry counts against the budget.
    cost: u64,
    held: Held,
}

#[derive(Clone, Copy, PartialEq, Eq, Hash)]
struct TierKey {
    site: usize,
    store: u64,
    hash: u64,
}

#[derive(Clone)]
struct Cost;

impl Weighter<TierKey, Entry> for Cost {
    fn weight(&self, _key: &TierKey, entry: &Entry) -> u64 {
        entry.cost
    }
}

/// Gathers every entry the cache lets go of, to be dropped once its lock is released:
/// dropping a result may run user code that calls cached functions, which would take the
/// lock again. (The cache's default keeps two and drops the rest in place.)
#[derive(Clone)]
struct Release;

impl Lifecycle<TierKey, Entry> for Release {
    type RequestState = Vec<Entry>;

    fn on_evict(&self, released: &mut Vec<Entry>, _key: TierKey, entry: Entry) {
        released.push(entry);
    }
}

type Tier = Cache<TierKey, Entry, Cost, FixedState, Release>;

/// The budget a process starts with.
const DEFAULT_BUDGET: usize = 64 << 20;

static BUDGET: AtomicUsize = AtomicUsize::new(DEFAULT_BUDGET);
static TIER: OnceLock<Tier> = OnceLock::new();
/// What the cache of shared slots may hold of `budget`: what the tables of plain words
/// leave.
fn slots_capacity(budget: usize) -> u64 {
    plain::rest(budget) as u64
}

/// Gives the tables of plain words what they took: the cache of slots shrinks to the
/// rest. What it lets go of is dropped outside its locks.
fn leave_share() {
    if let Some(tier) = TIER.get() {
        tier.set_capacity(slots_capacity(budget()));
    }
}

/// What an entry costs besides its result and key bytes, for the budget: its slots in the
/// cache's table and list, the value's allocation, its share of the ghost list of evicted
/// keys and the allocator's rounding. Set from the resident memory of a full 64 MiB tier
/// of `u64` results on x86-64 (`benches/scale.rs`: 197 bytes of RSS an entry, 24 of them
/// key and value), so that the budget bounds memory, not just a count.
const ENTRY_COST: usize = 176;

/// What an average entry is assumed to cost when the tier is sized: it sets how many
/// evicted keys the policy remembers, not how many entries fit.
const TYPICAL_COST: usize = 256;

fn tier() -> &'static Tier {
    TIER.get_or_init(|| {
        let budget = BUDGET.load(Ordering::Relaxed);
        let options = OptionsBuilder::new()
            .estimated_items_capacity((budget / TYPICAL_COST).max(64))
            .weight_capacity(slots_capacity(budget))
            .build()
            .expect("a budget and an item count are all the options");
        Cache::with_options(options, Cost, FixedState::with_seed(0x6d656d6f), Release)
    })
}

/// Sets how much memory the in-memory tier may hold across all cached functions
/// (64 MiB by default); 0 turns it off. Results beyond it are served from the store.
///
/// ```
/// memo::set_memory_budget(16 << 20);
/// assert_eq!(memo::memory_usage().budget, 16 << 20);
/// ```
pub fn set_memory_budget(bytes: usize) {
    BUDGET.store(bytes, Ordering::Relaxed);
    plain::fit(bytes);
    if let Some(tier) = TIER.get() {
        // What it lets go of is dropped outside its locks (see `Release`). Off, it is
        // emptied but keeps its size: sized to nothing, the cache would forget how many
        // evicted keys to remember, and with them what makes it resist a scan.
        if bytes == 0 {
            drop(tier.drain().collect::<Vec<_>>());
        } else {
            tier.set_capacity(slots_capacity(bytes));
        }
    }
}

/// The budget now; 0 when the tier is off.
#[inline]
pub(crate) fn budget() -> usize {
    BUDGET.load(Ordering::Relaxed)
}

/// The entry for arguments hashing to `hash` of `site` in `store`, if it is live: of the
/// store's current epoch, not expired. The caller compares its key. Runs no user code.
#[inline]
pub(crate) fn get(site: usize, store: &Store, hash: u64) -> Option<Held> {
    let entry = TIER.get()?.get(&TierKey {
        site,
        store: store.id(),
        hash,
    })?;
    let live = entry.epoch == store.epoch()
        && entry.expires_ms.is_none_or(|at| {
            let now = clock::now_ms();
            at > now && entry.kept_ms <= now.saturating_add(clock::AHEAD_TOLERANCE_MS)
        });
    live.then_some(entry.held)
}

/// Keeps `held` for arguments hashing to `hash` of `site` in the store with id `store`,
/// as of its `epoch`; `cost` is what it counts against the budget. A result that would
/// take more than an eighth of the budget is left to the store.
pub(crate) fn put(
    site: usize,
    began: (u64, u64),
    hash: u64,
    held: Held,
    cost: usize,
    expires_ms: Option<u64>,
) {
    let (store, epoch) = began;
    let budget = budget();
    let cost = cost + ENTRY_COST;
    if budget == 0 || cost > budget / 8 {
        return;
    }
    let entry = Entry {
        epoch,
        expires_ms,
        kept_ms: if expires_ms.is_some() {
            clock::now_ms()
        } else {
            0
        },
        cost: cost as u64,
        held,
    };
    // What the cache lets go of is dropped with `released`, after its lock.
    let mut released = Vec::new();
    tier().insert_with_lifecycle(TierKey { site, store, hash }, entry, &mut released);
    drop(released);
}

/// The hash the tier keys a call by, of its argument stream.
#[inline]
pub(crate) fn stream_hash(stream: &[u8]) -> u64 {
    FixedState::with_seed(0x73747265616d).hash_one(stream)
}

/// The key bytes a call is kept under: its argument stream, or for a long stream its
/// digest, marked so that no stream reads the same.
pub(crate) fn stream_of(key: &KeyHasher) -> std::borrow::Cow<'_, [u8]> {
    match key.stream() {
        Some(stream) => std::borrow::Cow::Borrowed(stream),
        None => {
            let mut id = vec![DIGEST_KEY; 33];
            id[1..].copy_from_slice(key.finish().as_bytes());
            std::borrow::Cow::Owned(id)
        }
    }
}

/// Marks a key that is a digest (the stream was too long to keep) rather than a stream.
/// No stream starts with it: it is not a tag.
const DIGEST_KEY: u8 = 0xff;

/// What the in-memory tier holds, across all cached functions.
///
/// ```
/// let usage = memo::memory_usage();
/// assert!(usage.bytes <= usage.budget || usage.budget == 0);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MemoryUsage {
    /// Bytes of results (their encoded size), plus a fixed overhead per entry.
    pub bytes: usize,
    /// Results held.
    pub entries: usize,
    /// The budget `bytes` stays within.
    pub budget: usize,
}

/// What the in-memory tier holds now.
///
/// ```
/// let usage = memo::memory_usage();
/// assert!(usage.bytes <= usage.budget);
/// ```
pub fn memory_usage() -> MemoryUsage {
    let (bytes, entries) = TIER
        .get()
        .map_or((0, 0), |tier| (tier.weight() as usize, tier.len()));
    let (words, held) = plain::usage();
    let (bytes, entries) = (bytes + words, entries + held);
    MemoryUsage {
        bytes,
        entries,
        budget: budget(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A `u64` result's stored bytes.
    pub(super) fn bytes_of(value: u64) -> Arc<[u8]> {
        Arc::from(postcard::to_allocvec(&value).unwrap())
    }

    #[test]
    fn an_entry_belongs_to_its_function_store_epoch_and_lifetime() {
        let store = Store::temporary().unwrap();
        let other = Store::temporary().unwrap();
        let share = Share::<u64>::typed();
        let bytes = bytes_of(7);
        let output = Digest::of_bytes(&bytes);
        let hold = || share.hold(b"s", &7, output, &bytes).unwrap();
        let hash = stream_hash(b"s");
        let (held, cost) = hold();
        put(9_001, (store.id(), store.epoch()), hash, held, cost, None);
        assert!(get(9_001, &store, hash).is_some());
        assert!(get(9_002, &store, hash).is_none(), "another function");
        assert!(get(9_001, &other, hash).is_none(), "another store");
        assert!(get(9_001, &store, hash ^ 1).is_none(), "another hash");
        store.forget_hot();
        assert!(get(9_001, &store, hash).is_none(), "an earlier epoch");

        let (held, cost) = hold();
        let past = clock::now_ms() - 1;
        put(
            9_003,
            (store.id(), store.epoch()),
            hash,
            held,
            cost,
            Some(past),
        );
        assert!(get(9_003, &store, hash).is_none(), "expired");
        let (held, cost) = hold();
        let later = clock::now_ms() + 60_000;
        put(
            9_004,
            (store.id(), store.epoch()),
            hash,
            held,
            cost,
            Some(later),
        );
        assert!(get(9_004, &store, hash).is_some());
    }
}
