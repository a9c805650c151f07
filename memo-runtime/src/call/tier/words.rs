//! The tier's table for calls of plain words (see `exact::words`): each call's function,
//! store, epoch, arguments and result in one cache line that a hit reads without a lock
//! and without writing — a sequence number on the line, odd while a writer is there and
//! moved on by each write, tells a reader whether what it read is whole. No crate offers
//! a concurrent cache whose reads take no lock; this one holds only fixed-size words,
//! which is what makes it possible with plain atomics.
//!
//! Lines are grouped in sets of [`WAYS`]; a call may be in either of two sets, picked by
//! its arguments' hash and its function and store. A hit marks its line used, up to
//! [`MAX_USES`] (after which a hot line is not written again); a call is kept as used
//! once. A call kept where both sets are full takes their least-used line only once
//! that line is unused; otherwise it ages every line of both by one and is not kept. So a
//! key seen once does not push out keys seen often — a scan of
//! one-off keys ages a set once per key, and the set's frequent keys, hit again
//! meanwhile, stay — while a working set that changes for good moves in after a few
//! calls.

use std::hash::BuildHasher;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering, fence};

use foldhash::fast::FixedState;

/// Lines in a set.
pub(super) const WAYS: usize = 4;
/// What a line takes, one cache line.
pub(super) const LINE_BYTES: usize = size_of::<Line>();
/// Uses a line's count stops at.
const MAX_USES: u64 = 3;

/// One call: its tag (function and store), its store's epoch when it was kept, and its
/// words (the arguments' two, then the result's two).
#[repr(C, align(64))]
struct Line {
    /// Even when no writer is on the line; each write adds two.
    seq: AtomicU64,
    /// [`tag`] of the call's function and store; 0 when the line is empty.
    tag: AtomicU64,
    epoch: AtomicU64,
    /// How often it was hit lately, up to [`MAX_USES`]: a hint, outside the sequence.
    uses: AtomicU64,
    words: [AtomicU64; 4],
}

// SAFETY: every field is an atomic integer, for which all zero bits are a valid value
// (an empty line), so a table may be allocated zeroed — left to the system's zero pages
// until a line is written, which keeps an unused table out of resident memory.
unsafe impl bytemuck::Zeroable for Line {}

/// A line's content as one read saw it, whole.
struct Seen {
    tag: u64,
    epoch: u64,
    words: [u64; 4],
}

impl Line {
    /// What the line holds, if no writer was on it while it was read.
    #[inline]
    fn read(&self) -> Option<Seen> {
        let before = self.seq.load(Ordering::Acquire);
        if before & 1 == 1 {
            return None;
        }
        let seen = Seen {
            tag: self.tag.load(Ordering::Relaxed),
            epoch: self.epoch.load(Ordering::Relaxed),
            words: [
                self.words[0].load(Ordering::Relaxed),
                self.words[1].load(Ordering::Relaxed),
                self.words[2].load(Ordering::Relaxed),
                self.words[3].load(Ordering::Relaxed),
            ],
        };
        // Orders the loads above before the check below: a load that saw any part of a
        // later write makes the check see that write's odd sequence (or a later one).
        fence(Ordering::Acquire);
        (self.seq.load(Ordering::Relaxed) == before).then_some(seen)
    }

    /// Writes `tag`, `epoch` and `words` over the line, unless another writer is on it
    /// (then nothing: it is a cache); the tag it held before, when written.
    fn write(&self, tag: u64, epoch: u64, words: [u64; 4]) -> Option<u64> {
        let before = self.seq.load(Ordering::Relaxed);
        if before & 1 == 1
            || self
                .seq
                .compare_exchange(before, before + 1, Ordering::Relaxed, Ordering::Relaxed)
                .is_err()
        {
            return None;
        }
        // Makes the odd sequence visible to any reader that sees one of the stores below.
        fence(Ordering::Release);
        let was = self.tag.swap(tag, Ordering::Relaxed);
        self.epoch.store(epoch, Ordering::Relaxed);
        for (word, value) in self.words.iter().zip(words) {
            word.store(value, Ordering::Relaxed);
        }
        // A new call counts as used once, so that the next call into a full set ages it
        // rather than taking its line before it was ever asked for.
        self.uses.store(u64::from(tag != 0), Ordering::Relaxed);
        self.seq.store(before + 2, Ordering::Release);
        Some(was)
    }

    /// The line's sequence when no writer is on it.
    fn at_rest(&self) -> Option<u64> {
        let seq = self.seq.load(Ordering::Acquire);
        (seq & 1 == 0).then_some(seq)
    }

    /// Empties the line if it is still at sequence `seq`: nothing was written to it since
    /// it was read there.
    fn empty_if(&self, seq: u64) -> bool {
        if self
            .seq
            .compare_exchange(seq, seq + 1, Ordering::Relaxed, Ordering::Relaxed)
            .is_err()
        {
            return false;
        }
        fence(Ordering::Release);
        self.tag.store(0, Ordering::Relaxed);
        self.uses.store(0, Ordering::Relaxed);
        self.seq.store(seq + 2, Ordering::Release);
        true
    }

    #[inline]
    fn touch(&self) {
        let uses = self.uses.load(Ordering::Relaxed);
        if uses < MAX_USES {
            self.uses.store(uses + 1, Ordering::Relaxed);
        }
    }
}

/// A function's slot and a store's id as one word, when both fit in 32 bits (every
/// realistic process: both count up from 1); otherwise the call is not kept here.
#[inline]
pub(super) fn tag(site: usize, store: u64) -> Option<u64> {
    let site = u32::try_from(site).ok()?;
    let store = u32::try_from(store).ok()?;
    let tag = (u64::from(site) << 32) | u64::from(store);
    (tag != 0).then_some(tag)
}

/// Sets a table starts with (64 KiB): a small working set stays in few pages and cache
/// lines, which a table spread over its whole share would not.
const INITIAL_SETS: usize = 256;

/// The table: lines allocated for its whole share of the budget (zeroed, so untouched
/// pages cost nothing), of which the first `sets × WAYS` are in use. It doubles the sets
/// in use when half their lines hold a call, moving what they hold to where the larger
/// table looks for it, up to `cap`.
pub(super) struct Table {
    lines: Box<[Line]>,
    /// One word a set: a 16-bit print of the hash of the call each of its lines holds (0
    /// for none), so that a lookup reads only the line that may be its call's — a word
    /// of a small array, instead of every line of two sets. A hint: the line decides.
    prints: Box<[AtomicU64]>,
    /// Sets in use; 0 when the budget is.
    sets: AtomicUsize,
    /// The most sets the budget allows.
    cap: AtomicUsize,
    /// Lines that hold a call.
    held: AtomicUsize,
    /// Held by the one thread that moves the calls to a larger table, and while the
    /// budget changes it.
    resizing: Mutex<()>,
}

/// The hash a call's sets and print are picked by: of its function, store and
/// argument words.
#[inline]
fn hash(tag: u64, args: [u64; 2]) -> u64 {
    FixedState::with_seed(0x776f726473).hash_one((tag, args[0], args[1]))
}

/// A call's print in its set's word: never 0, which marks an empty line.
#[inline]
fn print(hash: u64) -> u64 {
    (hash >> 48).max(1)
}

impl Table {
    /// A table with room for `room` sets, all empty, in zeroed memory, of which it may
    /// use `cap` (until the budget changes).
    pub(super) fn new(room: usize, cap: usize) -> Table {
        let cap = cap.min(room);
        Table {
            lines: bytemuck::zeroed_slice_box(room * WAYS),
            prints: bytemuck::zeroed_slice_box(room),
            sets: AtomicUsize::new(cap.min(INITIAL_SETS)),
            cap: AtomicUsize::new(cap),
            held: AtomicUsize::new(0),
            resizing: Mutex::new(()),
        }
    }

    /// The sets a call hashing to `hash` may be in when `sets` are in use: the two (one,
    /// when they are the same) that two parts of the hash pick. Two choices keep a set
    /// from overflowing while the table is half full, which one does not (at that load,
    /// about one call in a hundred would find its one set full).
    #[inline]
    fn sets_of(sets: usize, hash: u64) -> [Option<usize>; 2] {
        let pick = |part: u64| ((u128::from(part) * sets as u128) >> 64) as usize;
        let first = pick(hash);
        let second = pick(hash.rotate_left(32).wrapping_mul(0x9e37_79b9_7f4a_7c15));
        [Some(first), (second != first).then_some(second)]
    }

    /// Every line (by index) of the sets a call hashing to `hash` may be in.
    fn ways(sets: usize, hash: u64) -> impl Iterator<Item = usize> {
        Self::sets_of(sets, hash)
            .into_iter()
            .flatten()
            .flat_map(|set| set * WAYS..(set + 1) * WAYS)
    }

    /// Sets the print of line `index` to `print`.
    fn mark(&self, index: usize, print: u64) {
        let shift = 16 * (index % WAYS);
        let Some(word) = self.prints.get(index / WAYS) else {
            return;
        };
        let _ = word.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |prints| {
            Some((prints & !(0xffff << shift)) | (print << shift))
        });
    }

    /// The result words kept for `args` of the function and store `tag` in `epoch`.
    #[inline]
    pub(super) fn get(&self, tag: u64, epoch: u64, args: [u64; 2]) -> Option<[u64; 2]> {
        let sets = self.sets.load(Ordering::Relaxed);
        if sets == 0 {
            return None;
        }
        let hash = hash(tag, args);
        let print = print(hash);
        for set in Self::sets_of(sets, hash).into_iter().flatten() {
            let prints = self.prints.get(set)?.load(Ordering::Relaxed);
            for way in 0..WAYS {
                if (prints >> (16 * way)) & 0xffff != print {
                    continue;
                }
                let line = self.lines.get(set * WAYS + way)?;
                let Some(seen) = line.read() else { continue };
                let [a, b, c, d] = seen.words;
                if seen.tag == tag && seen.epoch == epoch && [a, b] == args {
                    line.touch();
                    return Some([c, d]);
                }
            }
        }
        None
    }

    /// Keeps `result` for `args` of the function and store `tag` as of `epoch`, in the
    /// line of its sets that the policy (see the module) gives it, if any.
    pub(super) fn put(&self, tag: u64, epoch: u64, args: [u64; 2], result: [u64; 2]) {
        let sets = self.sets.load(Ordering::Relaxed);
        if sets == 0 {
            return;
        }
        let [a, b] = args;
        let [c, d] = result;
        let seen = Seen {
            tag,
            epoch,
            words: [a, b, c, d],
        };
        if self.place(sets, &seen) && self.held() * 2 > sets * WAYS {
            self.grow(sets);
        }
    }

    /// Writes `call` where the policy puts it among the sets in use, `sets`; whether it
    /// filled an empty line.
    fn place(&self, sets: usize, call: &Seen) -> bool {
        let args = [call.words[0], call.words[1]];
        let hash = hash(call.tag, args);
        let ways: Vec<(usize, &Line, Option<Seen>)> = Self::ways(sets, hash)
            .filter_map(|index| {
                let line = self.lines.get(index)?;
                Some((index, line, line.read()))
            })
            .collect();
        let same = |seen: &Seen| seen.tag == call.tag && seen.words[..2] == args;
        let dead = |seen: &Seen| seen.tag == 0 || (seen.tag == call.tag && seen.epoch < call.epoch);
        let uses = |line: &Line| line.uses.load(Ordering::Relaxed);
        let found = |pick: &dyn Fn(&Seen) -> bool| {
            ways.iter()
                .find(|(_, _, seen)| seen.as_ref().is_some_and(pick))
                .map(|(index, line, _)| (*index, *line))
        };
        // The call's own line (an older result or epoch), else an empty or dead one,
        // else the least used once it is unused.
        let chosen = found(&same).or_else(|| found(&dead)).or_else(|| {
            let (index, least, _) = ways.iter().min_by_key(|(_, line, _)| uses(line))?;
            if uses(least) == 0 {
                return Some((*index, *least));
            }
            for (_, line, _) in &ways {
                line.uses
                    .store(uses(line).saturating_sub(1), Ordering::Relaxed);
            }
            None
        });
        let Some((index, line)) = chosen else {
            return false;
        };
        let Some(was) = line.write(call.tag, call.epoch, call.words) else {
            return false;
        };
        self.mark(index, print(hash));
        if was == 0 {
            self.held.fetch_add(1, Ordering::Relaxed);
        }
        was == 0
    }

    /// Empties line `index` if nothing was written to it since it was at `seq`.
    fn empty(&self, index: usize, line: &Line, seq: u64) -> bool {
        if !line.empty_if(seq) {
            return false;
        }
        self.mark(index, 0);
        self.held.fetch_sub(1, Ordering::Relaxed);
        true
    }

    /// Doubles the sets in use, from `from`, within the cap, and moves each call to where
    /// the larger table looks for it; another thread's move already under way does it.
    /// Meanwhile a call not yet moved is a miss here, answered by the store.
    fn grow(&self, from: usize) {
        let Ok(_resizing) = self.resizing.try_lock() else {
            return;
        };
        let to = (from * 2).min(self.cap.load(Ordering::Relaxed));
        if self.sets.load(Ordering::Relaxed) != from || to <= from {
            return;
        }
        self.sets.store(to, Ordering::Relaxed);
        for (index, line) in self.lines.iter().enumerate().take(from * WAYS) {
            let Some(seq) = line.at_rest() else { continue };
            let Some(call) = line.read().filter(|seen| seen.tag != 0) else {
                continue;
            };
            let hash = hash(call.tag, [call.words[0], call.words[1]]);
            if Self::ways(to, hash).any(|way| way == index) {
                continue;
            }
            // Emptied only if no write came since it was read; then placed anew.
            if self.empty(index, line, seq) {
                self.place(to, &call);
            }
        }
    }

    /// Uses at most `sets` sets (no more than it has); 0 turns it off. A table that must
    /// shrink is emptied.
    pub(super) fn resize(&self, sets: usize) {
        let _resizing = self.resizing.lock().unwrap_or_else(|p| p.into_inner());
        let cap = sets.min(self.lines.len() / WAYS);
        self.cap.store(cap, Ordering::Relaxed);
        if self.sets.load(Ordering::Relaxed) > cap || cap == 0 {
            self.sets.store(0, Ordering::Relaxed);
            for (index, line) in self.lines.iter().enumerate() {
                if let Some(seq) = line.at_rest()
                    && line.tag.load(Ordering::Relaxed) != 0
                {
                    self.empty(index, line, seq);
                }
            }
            self.sets.store(cap.min(INITIAL_SETS), Ordering::Relaxed);
        } else if self.sets.load(Ordering::Relaxed) == 0 {
            self.sets.store(cap.min(INITIAL_SETS), Ordering::Relaxed);
        }
    }

    /// What the table may take of the budget: all its sets, in use or not.
    pub(super) fn bytes(&self) -> usize {
        self.cap.load(Ordering::Relaxed) * (WAYS * LINE_BYTES + size_of::<AtomicU64>())
    }

    /// How many calls it holds.
    pub(super) fn held(&self) -> usize {
        self.held.load(Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_call_is_found_only_by_its_function_store_epoch_and_arguments() {
        let table = Table::new(8, 8);
        let tag = tag(3, 1).unwrap();
        table.put(tag, 5, [1, 2], [10, 20]);
        assert_eq!(table.get(tag, 5, [1, 2]), Some([10, 20]));
        assert_eq!(
            table.get(tag, 5, [1, 3]),
            None,
            "other arguments, same hash"
        );
        assert_eq!(table.get(tag, 6, [1, 2]), None, "a later epoch");
        assert_eq!(table.get(tag + 1, 5, [1, 2]), None, "another store");
        assert_eq!(
            table.get(tag + (1 << 32), 5, [1, 2]),
            None,
            "another function"
        );
        // A newer result for the same call takes its line.
        table.put(tag, 6, [1, 2], [11, 21]);
        assert_eq!(table.get(tag, 6, [1, 2]), Some([11, 21]));
        assert_eq!(table.held(), 1);
    }

    #[test]
    fn tags_that_do_not_fit_are_not_kept() {
        assert_eq!(tag(1, u64::from(u32::MAX) + 1), None);
        assert_eq!(tag(usize::MAX, 1), None);
        assert_eq!(tag(0, 0), None);
        assert_ne!(tag(1, 2), tag(2, 1));
    }

    #[test]
    fn keys_hit_often_outlast_a_scan_of_keys_seen_once() {
        // One set: every call competes for its four lines.
        let table = Table::new(1, 1);
        let tag = tag(1, 1).unwrap();
        for key in 0..4 {
            table.put(tag, 1, [key, 0], [key * 10, 0]);
        }
        for _ in 0..3 {
            for key in 0..4 {
                assert!(table.get(tag, 1, [key, 0]).is_some());
            }
        }
        // A scan of one-off keys, the frequent keys hit as often as they come.
        for key in 100..120 {
            table.put(tag, 1, [key, 0], [0, 0]);
            for key in 0..4 {
                table.get(tag, 1, [key, 0]);
            }
        }
        for key in 0..4 {
            assert_eq!(table.get(tag, 1, [key, 0]), Some([key * 10, 0]));
        }
        // Keys that stop being hit give way to new ones that are.
        for round in 0..8 {
            for key in 200..204 {
                if table.get(tag, 1, [key, 0]).is_none() {
                    table.put(tag, 1, [key, 0], [key, round]);
                }
            }
        }
        for key in 200..204 {
            assert!(table.get(tag, 1, [key, 0]).is_some());
        }
        assert_eq!(table.held(), 4);
    }

    #[test]
    fn a_smaller_table_forgets_what_no_longer_fits_and_counts_it() {
        let table = Table::new(128, 64);
        let tag = tag(1, 1).unwrap();
        for key in 0..100 {
            table.put(tag, 1, [key, 0], [key, 0]);
        }
        let held = table.held();
        assert!(held > 90, "{held} of 100 held in 256 lines");
        table.resize(0);
        assert_eq!(table.held(), 0);
        assert!((0..100).all(|key| table.get(tag, 1, [key, 0]).is_none()));
        table.resize(64);
        for key in 0..100 {
            table.put(tag, 1, [key, 0], [key, 0]);
        }
        assert_eq!(table.held(), held, "back to its 64 sets, not more");
        // A larger budget lets it use the room it has.
        table.resize(128);
        for key in 100..400 {
            table.put(tag, 1, [key, 0], [key, 0]);
        }
        assert!(
            table.held() > held + 200,
            "{} held in 128 sets",
            table.held()
        );
        assert_eq!(table.bytes(), 128 * (WAYS * LINE_BYTES + 8));
    }

    #[test]
    fn a_table_grows_to_hold_its_calls_and_keeps_every_one() {
        let table = Table::new(8192, 8192);
        let tag = tag(2, 1).unwrap();
        assert_eq!(table.sets.load(Ordering::Relaxed), INITIAL_SETS);
        for key in 0..10_000 {
            table.put(tag, 1, [key, 1], [key * 3, 0]);
        }
        assert!(table.sets.load(Ordering::Relaxed) >= 10_000 / WAYS);
        // A call a move could not place is a miss, kept again when next computed.
        for key in 0..10_000 {
            if table.get(tag, 1, [key, 1]).is_none() {
                table.put(tag, 1, [key, 1], [key * 3, 0]);
            }
        }
        let found = (0..10_000)
            .filter(|&key| table.get(tag, 1, [key, 1]) == Some([key * 3, 0]))
            .count();
        assert!(found > 9_990, "{found} of 10,000 after growing");
        assert_eq!(table.held(), found);
    }

    #[test]
    fn a_table_growing_while_others_read_and_write_answers_only_what_was_kept() {
        let table = Table::new(1 << 14, 1 << 14);
        let tag = tag(3, 1).unwrap();
        std::thread::scope(|scope| {
            for thread in 0..3u64 {
                let table = &table;
                scope.spawn(move || {
                    for key in 0..30_000u64 {
                        let key = key * 3 + thread;
                        if let Some(found) = table.get(tag, 1, [key, 0]) {
                            assert_eq!(found, [key ^ 0x5555, key]);
                        } else {
                            table.put(tag, 1, [key, 0], [key ^ 0x5555, key]);
                        }
                    }
                });
            }
        });
        assert!(table.sets.load(Ordering::Relaxed) > INITIAL_SETS);
    }

    #[test]
    fn readers_never_see_half_of_a_write() {
        let table = Table::new(1, 1);
        let tag = tag(1, 1).unwrap();
        std::thread::scope(|scope| {
            for writer in 0..2u64 {
                let table = &table;
                scope.spawn(move || {
                    for round in 0..200_000u64 {
                        let value = round * 2 + writer;
                        table.put(tag, 1, [7, 0], [value, !value]);
                    }
                });
            }
            for _ in 0..2 {
                let table = &table;
                scope.spawn(move || {
                    for _ in 0..200_000 {
                        if let Some([value, check]) = table.get(tag, 1, [7, 0]) {
                            assert_eq!(check, !value, "a torn line");
                        }
                    }
                });
            }
        });
    }
}
