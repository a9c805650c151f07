//! A store's counters of hits, misses and evictions since it was opened, and how much of
//! them is already persisted.
//!
//! Hits are counted on every warm hit by every thread, so they are striped: a thread
//! claims a cache line of its own — the same one in every store — and is the only one to
//! write it, with a plain load and store rather than a locked add; a reader sums the
//! stripes. Past [`STRIPES`] threads at once, the others share one more line, added to
//! atomically. A count is therefore exact the moment it is made — there is nothing pending
//! in some thread for `stats` or `close` to collect.

use std::cell::Cell;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use super::record::Counters;

/// How many threads at once count on a line of their own; the others share one.
const STRIPES: usize = 16;

/// Which lines a living thread owns.
static CLAIMED: [AtomicBool; STRIPES] = [const { AtomicBool::new(false) }; STRIPES];

#[repr(align(128))]
#[derive(Default)]
struct Line(AtomicU64);

/// A count that many threads add to at once without sharing a cache line.
#[derive(Default)]
struct Striped([Line; STRIPES + 1]);

impl Striped {
    #[inline]
    fn add(&self, n: u64) {
        let index = stripe();
        let line = &self.0[index].0;
        if index < STRIPES {
            // This thread alone writes this line (see `Stripe`).
            line.store(line.load(Ordering::Relaxed) + n, Ordering::Relaxed);
        } else {
            line.fetch_add(n, Ordering::Relaxed);
        }
    }

    fn sum(&self) -> u64 {
        self.0
            .iter()
            .map(|line| line.0.load(Ordering::Relaxed))
            .sum()
    }
}

/// A line a thread claimed, given back when the thread ends (after its last count, which
/// the next owner then reads).
struct Claim(usize);

impl Drop for Claim {
    fn drop(&mut self) {
        // The thread's later counts, from other destructors, go to the shared line.
        INDEX.set(STRIPES);
        CLAIMED[self.0].store(false, Ordering::Release);
    }
}

/// Not yet claimed: no line index is this large.
const UNCLAIMED: usize = usize::MAX;

thread_local! {
    /// The line this thread counts on. Read on every hit, so it has no destructor to
    /// register (its `Claim` does, once): reading it is one load.
    static INDEX: Cell<usize> = const { Cell::new(UNCLAIMED) };
    /// What gives the line back when the thread ends.
    static CLAIM: Cell<Option<Claim>> = const { Cell::new(None) };
}

/// This thread's stripe: claimed on its first count, or the shared one when every line
/// is taken or the thread is being torn down.
#[inline]
fn stripe() -> usize {
    match INDEX.get() {
        UNCLAIMED => claim(),
        index => index,
    }
}

#[cold]
fn claim() -> usize {
    let Some(index) = (0..STRIPES).find(|&i| {
        CLAIMED[i]
            .compare_exchange(false, true, Ordering::Acquire, Ordering::Relaxed)
            .is_ok()
    }) else {
        INDEX.set(STRIPES);
        return STRIPES;
    };
    if CLAIM
        .try_with(|claim| claim.set(Some(Claim(index))))
        .is_err()
    {
        // Torn down already: nothing would give the line back.
        CLAIMED[index].store(false, Ordering::Release);
        INDEX.set(STRIPES);
        return STRIPES;
    }
    INDEX.set(index);
    index
}

/// The counts since the store was opened.
#[derive(Default)]
pub(super) struct LiveCounters {
    hits: Striped,
    misses: AtomicU64,
    evictions: AtomicU64,
    refused: AtomicU64,
    /// What of them is already added to the stored totals.
    persisted: Mutex<Counters>,
}

impl LiveCounters {
    #[inline]
    pub(super) fn hit(&self) {
        self.hits.add(1);
    }

    pub(super) fn miss(&self) {
        self.misses.fetch_add(1, Ordering::Relaxed);
    }

    pub(super) fn evicted(&self, n: u64) {
        self.evictions.fetch_add(n, Ordering::Relaxed);
    }

    pub(super) fn refused(&self, n: u64) {
        self.refused.fetch_add(n, Ordering::Relaxed);
    }

    pub(super) fn snapshot(&self) -> Counters {
        Counters {
            hits: self.hits.sum(),
            misses: self.misses.load(Ordering::Relaxed),
            evictions: self.evictions.load(Ordering::Relaxed),
            refused: self.refused.load(Ordering::Relaxed),
        }
    }

    /// The stored totals `stored` with what has been counted since they were persisted.
    pub(super) fn with_stored(&self, stored: Counters) -> Counters {
        let live = self.snapshot();
        let persisted = *self.persisted();
        Counters {
            hits: stored.hits + live.hits - persisted.hits,
            misses: stored.misses + live.misses - persisted.misses,
            evictions: stored.evictions + live.evictions - persisted.evictions,
            refused: stored.refused + live.refused - persisted.refused,
        }
    }

    /// Persists the counts: `write` stores the new totals, given what was counted since
    /// the last time; nothing is written when nothing was counted.
    pub(super) fn persist<E>(
        &self,
        write: impl FnOnce(&dyn Fn(Counters) -> Counters) -> Result<(), E>,
    ) -> Result<(), E> {
        let mut persisted = self.persisted();
        let live = self.snapshot();
        if live == *persisted {
            return Ok(());
        }
        let since = *persisted;
        write(&|stored: Counters| Counters {
            hits: stored.hits + live.hits - since.hits,
            misses: stored.misses + live.misses - since.misses,
            evictions: stored.evictions + live.evictions - since.evictions,
            refused: stored.refused + live.refused - since.refused,
        })?;
        *persisted = live;
        Ok(())
    }

    fn persisted(&self) -> std::sync::MutexGuard<'_, Counters> {
        self.persisted
            .lock()
            .unwrap_or_else(|poison| poison.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hits_counted_on_many_threads_are_all_in_the_count_at_once() {
        let counters = LiveCounters::default();
        std::thread::scope(|scope| {
            for _ in 0..24 {
                scope.spawn(|| (0..1000).for_each(|_| counters.hit()));
            }
        });
        assert_eq!(counters.snapshot().hits, 24_000);
    }

    #[test]
    fn more_threads_than_stripes_lose_no_count_and_lines_pass_to_new_threads() {
        let counters = LiveCounters::default();
        for _ in 0..3 {
            std::thread::scope(|scope| {
                for _ in 0..(STRIPES * 2) {
                    scope.spawn(|| (0..5000).for_each(|_| counters.hit()));
                }
            });
        }
        assert_eq!(counters.snapshot().hits, 3 * STRIPES as u64 * 2 * 5000);
    }

    #[test]
    fn persisting_adds_only_what_was_counted_since_the_last_time() {
        let counters = LiveCounters::default();
        let mut stored = Counters {
            hits: 10,
            misses: 5,
            evictions: 1,
            refused: 0,
        };
        counters.hit();
        counters.miss();
        let write = |stored: &mut Counters| {
            counters.persist(|add| {
                *stored = add(*stored);
                Ok::<_, ()>(())
            })
        };
        write(&mut stored).unwrap();
        write(&mut stored).unwrap();
        assert_eq!((stored.hits, stored.misses, stored.evictions), (11, 6, 1));
        counters.hit();
        assert_eq!(counters.with_stored(stored).hits, 12);
        write(&mut stored).unwrap();
        assert_eq!(stored.hits, 12);
    }

    #[test]
    fn a_failed_write_leaves_the_counts_to_be_persisted_again() {
        let counters = LiveCounters::default();
        counters.evicted(3);
        assert_eq!(
            counters.persist(|_| Err::<(), _>("disk full")),
            Err("disk full")
        );
        let mut total = Counters::default();
        counters
            .persist(|add| {
                total = add(total);
                Ok::<_, ()>(())
            })
            .unwrap();
        assert_eq!(total.evictions, 3);
    }
}
