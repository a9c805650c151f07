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

use std::any::Any;
use std::hash::BuildHasher;
use std::marker::PhantomData;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};

use foldhash::fast::FixedState;
use quick_cache::sync::Cache;
use quick_cache::{Lifecycle, OptionsBuilder, Weighter};

use crate::{Digest, KeyHasher, Store, clock};

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
    payload: Payload,
}

/// What an entry holds: a shared [`Slot`], or — for a call whose arguments and result are
/// plain words (see [`exact`](super::exact)) — the words themselves, so that a hit copies
/// them out of the cache without an allocation or a reference count to touch.
#[derive(Clone)]
enum Payload {
    Shared(Held),
    /// The arguments' two words, then the result's two.
    Words([u64; 4]),
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

static BUDGET: AtomicUsize = AtomicUsize::new(64 << 20);
static TIER: OnceLock<Tier> = OnceLock::new();

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
            .weight_capacity(budget as u64)
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
    if let Some(tier) = TIER.get() {
        // What it lets go of is dropped outside its locks (see `Release`). Off, it is
        // emptied but keeps its size: sized to nothing, the cache would forget how many
        // evicted keys to remember, and with them what makes it resist a scan.
        if bytes == 0 {
            drop(tier.drain().collect::<Vec<_>>());
        } else {
            tier.set_capacity(bytes as u64);
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
fn live(site: usize, store: &Store, hash: u64) -> Option<Payload> {
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
    live.then_some(entry.payload)
}

/// The shared slot kept for arguments hashing to `hash` of `site` in `store`, if one is
/// live (see `live`).
#[inline]
pub(crate) fn get(site: usize, store: &Store, hash: u64) -> Option<Held> {
    match live(site, store, hash)? {
        Payload::Shared(held) => Some(held),
        Payload::Words(_) => None,
    }
}

/// The words kept for arguments hashing to `hash` of `site` in `store`, if live: the
/// arguments' two, then the result's two.
#[inline]
pub(crate) fn get_words(site: usize, store: &Store, hash: u64) -> Option<[u64; 4]> {
    match live(site, store, hash)? {
        Payload::Words(words) => Some(words),
        Payload::Shared(_) => None,
    }
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
    keep(site, began, hash, Payload::Shared(held), cost, expires_ms);
}

/// Keeps a call's argument and result `words` for arguments hashing to `hash` of `site`,
/// as [`put`] does a slot.
pub(crate) fn put_words(site: usize, began: (u64, u64), hash: u64, words: [u64; 4]) {
    keep(
        site,
        began,
        hash,
        Payload::Words(words),
        size_of::<[u64; 4]>(),
        None,
    );
}

fn keep(
    site: usize,
    (store, epoch): (u64, u64),
    hash: u64,
    payload: Payload,
    cost: usize,
    expires_ms: Option<u64>,
) {
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
        payload,
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

/// How the tier holds one function's results by their key stream: as themselves when
/// the type is `Clone + Send + Sync + 'static`, as bytes otherwise, or not at all when
/// the exact path keeps them by their arguments. `#[cached]` settles it by the types,
/// with [`ShareProbe`].
pub struct Share<V> {
    kind: Kind<V>,
}

enum Kind<V> {
    Off,
    Bytes,
    Typed {
        wrap: fn(Box<[u8]>, &V) -> Held,
        matches: fn(&(dyn Any + Send + Sync), &[u8]) -> bool,
        take: fn(&(dyn Any + Send + Sync)) -> Option<V>,
    },
}

impl<V> Clone for Share<V> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<V> Copy for Share<V> {}

impl<V> Clone for Kind<V> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<V> Copy for Kind<V> {}

impl<V> Share<V> {
    /// Results held as bytes.
    pub const BYTES: Share<V> = Share { kind: Kind::Bytes };
    /// Results not held by their key stream: the exact path keeps them.
    pub const OFF: Share<V> = Share { kind: Kind::Off };

    /// Whether results are held by their key stream at all.
    pub(crate) fn is_on(&self) -> bool {
        !matches!(self.kind, Kind::Off)
    }

    /// Whether `held` is this function's result for `stream`. Runs no user code.
    pub(crate) fn matches(&self, held: &Held, stream: &[u8]) -> bool {
        match self.kind {
            Kind::Off => false,
            Kind::Bytes => held
                .downcast_ref::<Slot<Box<[u8]>, Encoded>>()
                .is_some_and(|slot| &*slot.key == stream),
            Kind::Typed { matches, .. } => matches(&**held, stream),
        }
    }

    /// The value in `held`, which [`matches`](Share::matches) the call, cloned or
    /// decoded; `None` if it does not decode.
    pub(crate) fn take<S: super::Stored<Value = V>>(&self, held: &Held) -> Option<V> {
        match self.kind {
            Kind::Off => None,
            Kind::Bytes => {
                let slot = held.downcast_ref::<Slot<Box<[u8]>, Encoded>>()?;
                super::stored::decode::<S>(&slot.value.bytes, slot.value.output)
            }
            Kind::Typed { take, .. } => take(&**held),
        }
    }

    /// What to hold for `stream`: the value, or its stored bytes. Runs the value's
    /// `Clone`: call it outside the thread's state.
    pub(crate) fn hold(
        &self,
        stream: &[u8],
        value: &V,
        output: Digest,
        bytes: &Arc<[u8]>,
    ) -> Option<(Held, usize)> {
        let key: Box<[u8]> = stream.into();
        match self.kind {
            Kind::Off => None,
            Kind::Bytes => Some((
                Arc::new(Slot {
                    key,
                    value: Encoded {
                        output,
                        bytes: Arc::clone(bytes),
                    },
                }),
                stream.len() + bytes.len(),
            )),
            Kind::Typed { wrap, .. } => Some((
                wrap(key, value),
                stream.len() + bytes.len() + size_of::<V>(),
            )),
        }
    }
}

impl<V: Clone + Send + Sync + 'static> Share<V> {
    /// Results held as themselves.
    pub fn typed() -> Share<V> {
        Share {
            kind: Kind::Typed {
                wrap: |key, value| {
                    Arc::new(Slot {
                        key,
                        value: value.clone(),
                    })
                },
                matches: |held, stream| {
                    held.downcast_ref::<Slot<Box<[u8]>, V>>()
                        .is_some_and(|slot| &*slot.key == stream)
                },
                take: |held| {
                    held.downcast_ref::<Slot<Box<[u8]>, V>>()
                        .map(|slot| slot.value.clone())
                },
            },
        }
    }
}

/// Picks a [`Share`] for `V` by autoref specialisation: `(&ShareProbe::<V>::new()).share()`
/// resolves to [`ShareTyped`] when `V` can be held as itself, to [`ShareBytes`] otherwise.
pub struct ShareProbe<V>(PhantomData<fn() -> V>);

impl<V> ShareProbe<V> {
    /// The probe for `V`.
    #[allow(clippy::new_without_default)]
    pub const fn new() -> ShareProbe<V> {
        ShareProbe(PhantomData)
    }
}

/// Holds results as themselves.
pub trait ShareTyped<V> {
    /// [`Share::typed`].
    fn share(&self) -> Share<V>;
}

impl<V: Clone + Send + Sync + 'static> ShareTyped<V> for ShareProbe<V> {
    fn share(&self) -> Share<V> {
        Share::typed()
    }
}

/// Holds results as bytes.
pub trait ShareBytes<V> {
    /// [`Share::BYTES`].
    fn share(&self) -> Share<V>;
}

impl<V> ShareBytes<V> for &ShareProbe<V> {
    fn share(&self) -> Share<V> {
        Share::BYTES
    }
}

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
    MemoryUsage {
        bytes,
        entries,
        budget: budget(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::call::Plain;

    fn bytes_of(value: u64) -> Arc<[u8]> {
        Arc::from(postcard::to_allocvec(&value).unwrap())
    }

    #[test]
    fn an_entry_answers_only_for_what_was_hashed() {
        for share in [Share::<u64>::typed(), Share::BYTES] {
            let value = 41u64;
            let bytes = bytes_of(value);
            let output = Digest::of_bytes(&bytes);
            let (held, cost) = share.hold(b"stream a", &value, output, &bytes).unwrap();
            assert!(cost >= b"stream a".len() + bytes.len());
            assert!(share.matches(&held, b"stream a"));
            // Another call's arguments whose hash collided: not its result.
            assert!(!share.matches(&held, b"stream b"));
            assert!(!share.matches(&held, b"stream a "));
            assert_eq!(share.take::<Plain<u64>>(&held), Some(41));
        }
        // The typed and the byte forms never read each other's entries.
        let bytes = bytes_of(1);
        let (typed, _) = Share::<u64>::typed()
            .hold(b"k", &1, Digest::of_bytes(&bytes), &bytes)
            .unwrap();
        assert!(!Share::<u64>::BYTES.matches(&typed, b"k"));
        let (held, _) = Share::<u64>::BYTES
            .hold(b"k", &1, Digest::of_bytes(&bytes), &bytes)
            .unwrap();
        assert!(!Share::<u64>::typed().matches(&held, b"k"));
        assert!(
            Share::<u64>::OFF
                .hold(b"k", &1, Digest::of_bytes(&bytes), &bytes)
                .is_none()
        );
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
