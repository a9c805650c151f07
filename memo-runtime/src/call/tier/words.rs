//! A function's table for its calls of plain words (see `exact::words`): their argument
//! and result words packed into sets of one cache line each, which a hit reads without a
//! lock and without writing. Each set begins with a head word — a sequence number, odd
//! while a writer is there and moved on by each write, the generation its calls belong
//! to and which of its slots hold one — so a reader that sees the same head before and
//! after reading a slot knows it read it whole. No crate offers a concurrent cache whose
//! reads take no lock; fixed-size words make it possible with plain atomics.
//!
//! A table belongs to one function, so its calls carry no function; and to one store and
//! epoch at a time, its binding, so they carry neither: a call of `u64 → u64` is its two
//! words, three to a cache line, about as dense as a map of them. Binding it to another
//! store or epoch starts a new generation, in which every set written before reads empty.
//!
//! A call may be in either of two sets, picked by its arguments' hash; two choices keep a
//! set from overflowing while the table is three quarters full, which one does not. A hit
//! marks its slot used, up to [`MAX_USES`] (after which a hot slot is not written again);
//! a call is kept as used once. A call kept where both sets are full moves one of their
//! calls to its other set if that has room; failing that it takes their least-used slot
//! if it is unused, and otherwise ages one of their slots by one, in turn, and is not
//! kept. So a key seen once does not push out keys seen often — a scan ages one slot per
//! key it brings, and frequent keys hit meanwhile stay — a working set larger than the
//! table keeps the part it holds, and one that changes for good moves in after a few
//! calls.

use std::hash::BuildHasher;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering, fence};
use std::sync::{Mutex, OnceLock};

use foldhash::fast::FixedState;

/// What a set takes: one cache line.
pub(super) const SET_BYTES: usize = size_of::<Set>();
/// Words of calls in a set.
const SET_WORDS: usize = 6;
/// Sets a table starts with (4 KiB).
pub(super) const INITIAL_SETS: usize = 64;
/// Uses a slot's count stops at.
const MAX_USES: u64 = 3;

/// How a function's calls are laid out: how many words its arguments and its result take
/// (one or two each), and so how many calls a set holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Shape {
    args: usize,
    result: usize,
}

impl Shape {
    /// Calls whose arguments take `args` words and whose result takes `result` (0 counts
    /// as 1; more than 2 as 2).
    pub const fn new(args: usize, result: usize) -> Shape {
        const fn clamp(n: usize) -> usize {
            if n == 0 {
                1
            } else if n > 2 {
                2
            } else {
                n
            }
        }
        Shape {
            args: clamp(args),
            result: clamp(result),
        }
    }

    /// Calls a set holds: three of one word and one, two of three words, one of four.
    const fn per_set(self) -> usize {
        SET_WORDS / (self.args + self.result)
    }

    const fn width(self) -> usize {
        self.args + self.result
    }
}

/// A set's calls: a head word, the calls' words and their slots' uses.
#[repr(C, align(64))]
struct Set {
    /// Bits 0–31 the sequence, 32–55 the generation, 56–58 which slots hold a call.
    head: AtomicU64,
    words: [AtomicU64; SET_WORDS],
    /// Two bits a slot: how often it was hit lately, up to [`MAX_USES`]. A hint, outside
    /// the sequence.
    uses: AtomicU64,
}

// SAFETY: every field is an atomic integer, for which all zero bits are a valid value
// (an empty set), so a table may be allocated zeroed — left to the system's zero pages
// until a set is written, which keeps the part of a table not in use out of memory.
unsafe impl bytemuck::Zeroable for Set {}

/// The generations a head can name; a table wrapping around is emptied first.
const GENERATIONS: u64 = 1 << 24;

#[derive(Clone, Copy)]
struct Head(u64);

impl Head {
    fn writing(self) -> bool {
        self.0 & 1 == 1
    }
    fn generation(self) -> u64 {
        (self.0 >> 32) & (GENERATIONS - 1)
    }
    fn holds(self, slot: usize) -> bool {
        (self.0 >> (56 + slot)) & 1 == 1
    }
    /// This head after one more write, of `generation` with `slots` held.
    fn next(self, generation: u64, slots: u64) -> Head {
        let seq = (self.0 as u32).wrapping_add(2) as u64 & !1;
        Head(seq | (generation << 32) | (slots << 56))
    }
    fn slots(self) -> u64 {
        (self.0 >> 56) & 0b111
    }
}

/// A slot's call as read: its argument and result words.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(super) struct Call {
    pub(super) args: [u64; 2],
    pub(super) result: [u64; 2],
}

impl Set {
    /// The words of slot `slot` in a set of `shape`.
    fn slot(&self, shape: Shape, slot: usize) -> &[AtomicU64] {
        let at = slot * shape.width();
        &self.words[at..at + shape.width()]
    }

    fn load(&self, shape: Shape, slot: usize) -> Call {
        let words = self.slot(shape, slot);
        let word = |i: usize| words.get(i).map_or(0, |w| w.load(Ordering::Relaxed));
        let (args, result) = if shape.args == 2 {
            ([word(0), word(1)], [word(2), word(3)])
        } else {
            ([word(0), 0], [word(1), word(2)])
        };
        let result = if shape.result == 2 {
            result
        } else {
            [result[0], 0]
        };
        Call { args, result }
    }

    /// The result of `args` in generation `generation`, and its slot, if the set holds it.
    #[inline]
    fn find(&self, shape: Shape, generation: u64, args: [u64; 2]) -> Option<(usize, [u64; 2])> {
        // Each shape with its own code, whose loop over slots the compiler unrolls.
        match (shape.args, shape.result) {
            (1, 1) => self.find_in::<1, 1>(generation, args),
            (2, 1) => self.find_in::<2, 1>(generation, args),
            (1, _) => self.find_in::<1, 2>(generation, args),
            _ => self.find_in::<2, 2>(generation, args),
        }
    }

    #[inline]
    fn find_in<const ARGS: usize, const RESULT: usize>(
        &self,
        generation: u64,
        args: [u64; 2],
    ) -> Option<(usize, [u64; 2])> {
        let width = ARGS + RESULT;
        let head = Head(self.head.load(Ordering::Acquire));
        if head.writing() || head.generation() != generation {
            return None;
        }
        let word = |i: usize| self.words[i.min(SET_WORDS - 1)].load(Ordering::Relaxed);
        // Which slots hold `args`, compared without a branch on each: which slot a call is
        // in cannot be predicted, and a mispredicted branch would cost more than the loads.
        let mut matching = 0u32;
        for slot in 0..SET_WORDS / width {
            let at = slot * width;
            let second = ARGS == 1 || word(at + 1) == args[1];
            let held = head.holds(slot) & (word(at) == args[0]) & second;
            matching |= u32::from(held) << slot;
        }
        if matching == 0 {
            return None;
        }
        let slot = matching.trailing_zeros() as usize;
        let at = slot * width + ARGS;
        let second = if RESULT == 2 { word(at + 1) } else { 0 };
        let found = (slot, [word(at), second]);
        // Orders the loads above before the check below: a load that saw any part of a
        // later write makes the check see that write's head (or a later one).
        fence(Ordering::Acquire);
        (self.head.load(Ordering::Relaxed) == head.0).then_some(found)
    }

    /// The set's head and its calls of `generation`, by slot, as one read saw them whole.
    fn read(&self, shape: Shape, generation: u64) -> Option<(Head, [Option<Call>; 3])> {
        let head = Head(self.head.load(Ordering::Acquire));
        if head.writing() {
            return None;
        }
        let mut calls = [None; 3];
        if head.generation() == generation {
            for (slot, call) in calls.iter_mut().enumerate().take(shape.per_set()) {
                *call = head.holds(slot).then(|| self.load(shape, slot));
            }
        }
        fence(Ordering::Acquire);
        (self.head.load(Ordering::Relaxed) == head.0).then_some((head, calls))
    }

    /// Writes `call` into `slot` of a set last seen at `seen`, for `generation` (the
    /// set's other calls go if theirs was another), unless the set changed since (then
    /// nothing: it is a cache). Whether it was written.
    fn write(&self, shape: Shape, seen: Head, generation: u64, slot: usize, call: Call) -> bool {
        if self
            .head
            .compare_exchange(seen.0, seen.0 | 1, Ordering::Relaxed, Ordering::Relaxed)
            .is_err()
        {
            return false;
        }
        // Makes the odd head visible to any reader that sees one of the stores below.
        fence(Ordering::Release);
        let [a, b] = call.args;
        let [c, d] = call.result;
        let words: [u64; 4] = if shape.args == 2 {
            [a, b, c, d]
        } else {
            [a, c, d, 0]
        };
        for (word, value) in self.slot(shape, slot).iter().zip(words) {
            word.store(value, Ordering::Relaxed);
        }
        let kept = if seen.generation() == generation {
            seen.slots()
        } else {
            self.uses.store(0, Ordering::Relaxed);
            0
        };
        self.set_uses(slot, 1);
        let head = seen.next(generation, kept | (1 << slot));
        self.head.store(head.0, Ordering::Release);
        true
    }

    /// Empties `slot` of a set last seen at `seen`, unless it changed since.
    fn empty(&self, seen: Head, slot: usize) -> bool {
        let head = seen.next(seen.generation(), seen.slots() & !(1 << slot));
        self.head
            .compare_exchange(seen.0, head.0, Ordering::Release, Ordering::Relaxed)
            .is_ok()
    }

    #[inline]
    fn uses(&self, slot: usize) -> u64 {
        (self.uses.load(Ordering::Relaxed) >> (2 * slot)) & 0b11
    }

    fn set_uses(&self, slot: usize, uses: u64) {
        let _ = self
            .uses
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |all| {
                Some((all & !(0b11 << (2 * slot))) | (uses << (2 * slot)))
            });
    }

    #[inline]
    fn touch(&self, slot: usize) {
        let uses = self.uses(slot);
        if uses < MAX_USES {
            self.set_uses(slot, uses + 1);
        }
    }
}

/// The store and epoch a table's calls belong to, and their generation: read whole by a
/// sequence, as a set is.
#[derive(Default)]
struct Binding {
    seq: AtomicU64,
    store: AtomicU64,
    epoch: AtomicU64,
    generation: AtomicU64,
}

impl Binding {
    #[inline]
    fn read(&self) -> Option<(u64, u64, u64)> {
        let before = self.seq.load(Ordering::Acquire);
        if before & 1 == 1 {
            return None;
        }
        let bound = (
            self.store.load(Ordering::Relaxed),
            self.epoch.load(Ordering::Relaxed),
            self.generation.load(Ordering::Relaxed),
        );
        fence(Ordering::Acquire);
        (self.seq.load(Ordering::Relaxed) == before).then_some(bound)
    }

    /// Binds to `store` and `epoch` with `generation`. Only under the table's lock.
    fn write(&self, store: u64, epoch: u64, generation: u64) {
        let before = self.seq.load(Ordering::Relaxed);
        self.seq.store(before + 1, Ordering::Relaxed);
        fence(Ordering::Release);
        self.store.store(store, Ordering::Relaxed);
        self.epoch.store(epoch, Ordering::Relaxed);
        self.generation.store(generation, Ordering::Relaxed);
        self.seq.store(before + 2, Ordering::Release);
    }
}

/// What [`Table::put`] asks of its caller: nothing, or to let it double from `from` sets.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Wants {
    Nothing,
    Grow { from: usize },
}

/// How many segments a table may have: its sets number up to `INITIAL_SETS << 39`.
const SEGMENTS: usize = 40;

/// A function's table: its sets in segments, each as large as all before it (the first
/// two of [`INITIAL_SETS`]), allocated as it grows — so a table never moves — and kept
/// once allocated (a table emptied for a smaller budget grows into them again); the first
/// `sets` are in use.
pub(crate) struct Table {
    shape: Shape,
    segments: [OnceLock<Box<[Set]>>; SEGMENTS],
    sets: AtomicUsize,
    /// Calls of the current generation it holds.
    held: AtomicUsize,
    /// Turned once a call is refused: which slot of its sets that ages.
    hand: AtomicUsize,
    binding: Binding,
    /// Held to bind, grow, shrink or empty it.
    lock: Mutex<()>,
}

/// The hash a call's sets are picked by, of its argument words.
#[inline]
fn hash(args: [u64; 2]) -> u64 {
    FixedState::with_seed(0x776f726473).hash_one((args[0], args[1]))
}

impl Table {
    /// A table for calls of `shape`, with no sets in use until [`reset`](Table::reset)
    /// gives it some.
    pub(super) fn new(shape: Shape) -> Table {
        let binding = Binding::default();
        // Generation 0 is what a zeroed set has: a table starts at 1, bound to no store.
        binding.generation.store(1, Ordering::Relaxed);
        Table {
            shape,
            segments: [const { OnceLock::new() }; SEGMENTS],
            sets: AtomicUsize::new(0),
            held: AtomicUsize::new(0),
            hand: AtomicUsize::new(0),
            binding,
            lock: Mutex::new(()),
        }
    }

    /// The segment of set `index` and its place there.
    #[inline]
    fn segment_of(index: usize) -> (usize, usize) {
        if index < INITIAL_SETS {
            (0, index)
        } else {
            let segment = (index / INITIAL_SETS).ilog2() as usize + 1;
            (segment, index - (INITIAL_SETS << (segment - 1)))
        }
    }

    /// Set `index`, if its segment is allocated.
    #[inline]
    fn set(&self, index: usize) -> Option<&Set> {
        let (segment, at) = Self::segment_of(index);
        self.segments.get(segment)?.get()?.get(at)
    }

    /// Allocates the segments the first `sets` sets are in (zeroed: untouched pages cost
    /// nothing); whether they all are. One that cannot be allocated is left out, and the
    /// table stays as it was.
    fn allocate(&self, sets: usize) -> bool {
        if sets == 0 {
            return true;
        }
        let (last, _) = Self::segment_of(sets - 1);
        (0..=last).all(|segment| {
            let Some(cell) = self.segments.get(segment) else {
                return false;
            };
            if cell.get().is_some() {
                return true;
            }
            let len = if segment == 0 {
                INITIAL_SETS
            } else {
                INITIAL_SETS << (segment - 1)
            };
            match bytemuck::allocation::try_zeroed_slice_box::<Set>(len) {
                Ok(sets) => cell.set(sets).is_ok(),
                Err(()) => false,
            }
        })
    }

    /// Every allocated set, by index.
    fn all_sets(&self) -> impl Iterator<Item = (usize, &Set)> {
        self.segments
            .iter()
            .map_while(OnceLock::get)
            .flat_map(|segment| segment.iter())
            .enumerate()
    }

    /// The sets a call hashing to `hash` may be in when `sets` are in use: the two (one,
    /// when they are the same) that two parts of the hash pick.
    #[inline]
    fn sets_of(sets: usize, hash: u64) -> [Option<usize>; 2] {
        let first = Self::pick(sets, hash);
        let second = Self::pick_second(sets, hash);
        [Some(first), (second != first).then_some(second)]
    }

    /// A call's first set among `sets`.
    #[inline]
    fn pick(sets: usize, hash: u64) -> usize {
        ((u128::from(hash) * sets as u128) >> 64) as usize
    }

    /// A call's second set among `sets`, from the other half of its hash.
    #[inline]
    fn pick_second(sets: usize, hash: u64) -> usize {
        Self::pick(
            sets,
            hash.rotate_left(32).wrapping_mul(0x9e37_79b9_7f4a_7c15),
        )
    }

    /// The result words kept for `args` in `store` at `epoch`.
    #[inline]
    pub(super) fn get(&self, store: u64, epoch: u64, args: [u64; 2]) -> Option<[u64; 2]> {
        let (bound, at, generation) = self.binding.read()?;
        if bound != store || at != epoch {
            return None;
        }
        let sets = self.sets.load(Ordering::Relaxed);
        let hash = hash(args);
        for set in Self::sets_of(sets, hash).into_iter().flatten() {
            let set = self.set(set)?;
            if let Some((slot, result)) = set.find(self.shape, generation, args) {
                set.touch(slot);
                return Some(result);
            }
        }
        None
    }

    /// The generation calls of `store` at `epoch` go in: the table's, bound to them anew
    /// if it was bound to another store or an earlier epoch; `None` for an epoch earlier
    /// than its own (the call began before an invalidation).
    fn generation_for(&self, store: u64, epoch: u64) -> Option<u64> {
        match self.binding.read() {
            Some((bound, at, generation)) if bound == store && at == epoch => {
                return Some(generation);
            }
            Some((bound, at, _)) if bound == store && at > epoch => return None,
            _ => {}
        }
        let _lock = self.lock.lock().unwrap_or_else(|p| p.into_inner());
        let (bound, at, generation) = self.binding.read()?;
        if bound == store && at == epoch {
            return Some(generation);
        }
        if bound == store && at > epoch {
            return None;
        }
        let mut next = generation + 1;
        if next == GENERATIONS {
            // Wrapped: sets of the first generations must not read as this one's.
            self.empty_all();
            next = 1;
        }
        self.binding.write(store, epoch, next);
        self.held.store(0, Ordering::Relaxed);
        Some(next)
    }

    /// Keeps `call` for `store` as of `epoch`, where the policy (see the module) gives it
    /// a slot, if any; and says whether the table would grow.
    pub(super) fn put(&self, store: u64, epoch: u64, call: Call) -> Wants {
        let Some(generation) = self.generation_for(store, epoch) else {
            return Wants::Nothing;
        };
        let sets = self.sets.load(Ordering::Relaxed);
        if sets == 0 {
            return Wants::Nothing;
        }
        let filled = self.place(sets, generation, call);
        let capacity = sets * self.shape.per_set();
        if filled && self.held() * 4 > capacity * 3 {
            Wants::Grow { from: sets }
        } else {
            Wants::Nothing
        }
    }

    /// Writes `call` where the policy puts it among the first `sets`; whether it is a
    /// call the table did not hold.
    fn place(&self, sets: usize, generation: u64, call: Call) -> bool {
        let shape = self.shape;
        let hash = hash(call.args);
        // Most calls are kept where the first set has room (or holds them): that set
        // alone is read, not both.
        if let Some(set) = self.set(Self::pick(sets, hash))
            && let Some((head, calls)) = set.read(shape, generation)
        {
            let calls = &calls[..shape.per_set()];
            let own = calls
                .iter()
                .position(|held| held.is_some_and(|held| held.args == call.args));
            if let Some(slot) = own.or_else(|| calls.iter().position(Option::is_none)) {
                let new = own.is_none();
                let written = set.write(shape, head, generation, slot, call);
                if written && new {
                    self.held.fetch_add(1, Ordering::Relaxed);
                }
                return written && new;
            }
        }
        let candidates = Self::sets_of(sets, hash).map(|index| {
            let set = self.set(index?)?;
            let (head, calls) = set.read(shape, generation)?;
            Some((set, head, calls))
        });
        let slots = || {
            candidates.iter().flatten().flat_map(|(set, head, calls)| {
                (0..shape.per_set()).map(move |slot| (*set, *head, slot, calls[slot]))
            })
        };
        // The call's own slot, else an empty one, else one whose call moves to an empty
        // slot of its other set, else the least used once it is unused.
        let same = slots().find(|(.., held)| held.is_some_and(|held| held.args == call.args));
        let empty = || slots().find(|(.., held)| held.is_none());
        let moved = || {
            let found = slots().find(|&(set, .., held)| {
                held.is_some_and(|held| self.move_on(sets, generation, set, held))
            });
            if found.is_some() {
                // The call moved on is in its other set now, written or not over here.
                self.held.fetch_add(1, Ordering::Relaxed);
            }
            found
        };
        let least = || {
            let least = slots().min_by_key(|(set, _, slot, _)| set.uses(*slot))?;
            if least.0.uses(least.2) == 0 {
                return Some(least);
            }
            // A call refused ages one slot of its sets, the next a clock's hand points at
            // (a hand each table turns once a refusal), not every slot: a working set
            // larger than the table keeps the part it holds, hit once a round, rather
            // than churning all of it, and a slot no longer hit is aged in its turn.
            let count = slots().count();
            let turn = self.hand.fetch_add(1, Ordering::Relaxed) % count.max(1);
            if let Some((set, _, slot, _)) = slots().nth(turn) {
                let uses = set.uses(slot);
                if uses > 0 {
                    set.set_uses(slot, uses - 1);
                }
            }
            None
        };
        // Whether the slot taken adds a call: only an empty one does.
        let (chosen, adds) = match same {
            Some(same) => (Some(same), false),
            None => match empty() {
                Some(empty) => (Some(empty), true),
                None => (moved().or_else(least), false),
            },
        };
        let Some((set, head, slot, _)) = chosen else {
            return false;
        };
        let written = set.write(shape, head, generation, slot, call);
        if written && adds {
            self.held.fetch_add(1, Ordering::Relaxed);
        }
        written && same.is_none()
    }

    /// Writes `call`, held in `from`, to an empty slot of the other set it may be in, if
    /// that has one; whether it did. Its slot in `from` is then the next call's to take.
    fn move_on(&self, sets: usize, generation: u64, from: &Set, call: Call) -> bool {
        let shape = self.shape;
        let other = Self::sets_of(sets, hash(call.args))
            .into_iter()
            .flatten()
            .filter_map(|index| self.set(index))
            .find(|set| !std::ptr::eq(*set, from));
        let Some(other) = other else {
            return false;
        };
        let Some((head, calls)) = other.read(shape, generation) else {
            return false;
        };
        let Some(slot) = (0..shape.per_set()).find(|&slot| calls[slot].is_none()) else {
            return false;
        };
        other.write(shape, head, generation, slot, call)
    }

    /// Doubles the sets in use from `from` (if no other thread did), within `cap`, and
    /// moves each call to where the larger table looks for it; the sets added. Meanwhile
    /// a call not yet moved is a miss here, answered by the store.
    pub(super) fn grow(&self, from: usize, cap: usize) -> usize {
        let Ok(_lock) = self.lock.try_lock() else {
            return 0;
        };
        let to = (from * 2).min(cap);
        if self.sets.load(Ordering::Relaxed) != from || to <= from || !self.allocate(to) {
            return 0;
        }
        let Some((_, _, generation)) = self.binding.read() else {
            return 0;
        };
        self.sets.store(to, Ordering::Relaxed);
        let shape = self.shape;
        for (index, set) in self.all_sets().take(from) {
            let Some((_, calls)) = set.read(shape, generation) else {
                continue;
            };
            for (slot, call) in calls.iter().enumerate() {
                let Some(call) = *call else { continue };
                if Self::sets_of(to, hash(call.args)).contains(&Some(index)) {
                    continue;
                }
                // Emptied only if nothing was written since it was read; then placed
                // anew. The head moved on, so the set is read again for its next slot.
                let Some((head, _)) = set.read(shape, generation) else {
                    break;
                };
                if head.holds(slot) && set.empty(head, slot) {
                    self.held.fetch_sub(1, Ordering::Relaxed);
                    self.place(to, generation, call);
                }
            }
        }
        to - from
    }

    /// Empties every set. Under the lock.
    fn empty_all(&self) {
        for (_, set) in self.all_sets() {
            loop {
                let head = Head(set.head.load(Ordering::Acquire));
                if head.slots() == 0 && head.generation() == 0 {
                    break;
                }
                if !head.writing() && set.empty_to_zero(head) {
                    break;
                }
                std::hint::spin_loop();
            }
        }
        self.held.store(0, Ordering::Relaxed);
    }

    /// Empties the table and uses `sets` sets from now on; the sets it used before.
    pub(super) fn reset(&self, sets: usize) -> usize {
        let _lock = self.lock.lock().unwrap_or_else(|p| p.into_inner());
        let before = self.sets.swap(0, Ordering::Relaxed);
        self.empty_all();
        let sets = if self.allocate(sets) { sets } else { 0 };
        self.sets.store(sets, Ordering::Relaxed);
        before
    }

    /// Sets in use.
    pub(super) fn sets(&self) -> usize {
        self.sets.load(Ordering::Relaxed)
    }

    /// Calls it holds.
    pub(super) fn held(&self) -> usize {
        self.held.load(Ordering::Relaxed)
    }
}

impl Set {
    /// Empties the set whole, to generation 0, if it is still at `seen`.
    fn empty_to_zero(&self, seen: Head) -> bool {
        let head = seen.next(0, 0);
        self.head
            .compare_exchange(seen.0, head.0, Ordering::Release, Ordering::Relaxed)
            .is_ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NARROW: Shape = Shape::new(1, 1);

    /// A table with its first sets in use, as the tier starts one.
    fn started(shape: Shape) -> Table {
        let table = Table::new(shape);
        assert_eq!(table.reset(INITIAL_SETS), 0);
        assert_eq!(table.sets(), INITIAL_SETS);
        table
    }

    impl Table {
        /// The table with only its first `sets` (of its first segment) in use.
        fn with_sets(self, sets: usize) -> Table {
            assert!(sets <= INITIAL_SETS);
            self.sets.store(sets, Ordering::Relaxed);
            self
        }
    }

    #[test]
    fn segments_hold_every_set_once() {
        let mut seen = std::collections::HashSet::new();
        for index in 0..(INITIAL_SETS << 6) {
            let (segment, at) = Table::segment_of(index);
            let len = if segment == 0 {
                INITIAL_SETS
            } else {
                INITIAL_SETS << (segment - 1)
            };
            assert!(at < len, "set {index}: {at} of {len} in segment {segment}");
            assert!(seen.insert((segment, at)));
        }
        let table = started(NARROW);
        assert!(table.allocate(INITIAL_SETS << 3));
        assert_eq!(table.all_sets().count(), INITIAL_SETS << 3);
        assert!(table.set((INITIAL_SETS << 3) - 1).is_some());
        assert!(table.set(INITIAL_SETS << 3).is_none());
    }

    fn call(key: u64, value: u64) -> Call {
        Call {
            args: [key, 0],
            result: [value, 0],
        }
    }

    #[test]
    fn shapes_pack_as_many_calls_as_fit_a_line() {
        assert_eq!(SET_BYTES, 64);
        assert_eq!(Shape::new(1, 1).per_set(), 3);
        assert_eq!(Shape::new(0, 1).per_set(), 3);
        assert_eq!(Shape::new(2, 1).per_set(), 2);
        assert_eq!(Shape::new(1, 2).per_set(), 2);
        assert_eq!(Shape::new(2, 2).per_set(), 1);
    }

    #[test]
    fn a_call_is_found_only_in_its_store_and_epoch_by_its_arguments() {
        for shape in [NARROW, Shape::new(2, 1), Shape::new(1, 2), Shape::new(2, 2)] {
            let table = started(shape).with_sets(8);
            let wide = Call {
                args: [1, if shape.args == 2 { 2 } else { 0 }],
                result: [10, if shape.result == 2 { 20 } else { 0 }],
            };
            assert_eq!(table.put(7, 5, wide), Wants::Nothing);
            assert_eq!(table.get(7, 5, wide.args), Some(wide.result), "{shape:?}");
            assert_eq!(table.get(7, 5, [9, wide.args[1]]), None, "other arguments");
            assert_eq!(table.get(7, 6, wide.args), None, "a later epoch");
            assert_eq!(table.get(8, 5, wide.args), None, "another store");
            // A call that began before an invalidation is not kept over a later epoch.
            table.put(7, 6, call(3, 30));
            table.put(7, 5, call(4, 40));
            assert_eq!(table.get(7, 6, [4, 0]), None);
            assert_eq!(table.get(7, 6, [3, 0]), Some([30, 0]));
            assert_eq!(table.get(7, 5, wide.args), None, "its old epoch is gone");
            assert_eq!(table.held(), 1);
            // Another store takes the table over; the first store's calls are gone.
            table.put(9, 1, call(3, 31));
            assert_eq!(table.get(9, 1, [3, 0]), Some([31, 0]));
            assert_eq!(table.get(7, 6, [3, 0]), None);
        }
    }

    #[test]
    fn a_newer_result_takes_the_calls_slot() {
        let table = started(NARROW).with_sets(8);
        table.put(1, 1, call(5, 50));
        table.put(1, 1, call(5, 51));
        assert_eq!(table.get(1, 1, [5, 0]), Some([51, 0]));
        assert_eq!(table.held(), 1);
    }

    #[test]
    fn keys_hit_often_outlast_a_scan_of_keys_seen_once() {
        // One set: every call competes for its three slots.
        let table = started(NARROW).with_sets(1);
        for key in 0..3 {
            table.put(1, 1, call(key, key * 10));
        }
        for _ in 0..3 {
            for key in 0..3 {
                assert!(table.get(1, 1, [key, 0]).is_some());
            }
        }
        // A scan of one-off keys, the frequent keys hit as often as they come.
        for key in 100..120 {
            table.put(1, 1, call(key, 0));
            for key in 0..3 {
                table.get(1, 1, [key, 0]);
            }
        }
        for key in 0..3 {
            assert_eq!(table.get(1, 1, [key, 0]), Some([key * 10, 0]));
        }
        // Keys that stop being hit give way to new ones that are.
        for round in 0..8 {
            for key in 200..203 {
                if table.get(1, 1, [key, 0]).is_none() {
                    table.put(1, 1, call(key, round));
                }
            }
        }
        for key in 200..203 {
            assert!(table.get(1, 1, [key, 0]).is_some());
        }
        assert_eq!(table.held(), 3);
    }

    #[test]
    fn a_working_set_larger_than_the_table_keeps_the_part_it_holds() {
        // 16 sets of three, not growing: 48 slots for 100 keys called round after round.
        let table = started(NARROW).with_sets(16);
        let round = |table: &Table| {
            (0..100)
                .filter(|&key| {
                    let hit = table.get(1, 1, [key, 0]).is_some();
                    if !hit {
                        table.put(1, 1, call(key, key));
                    }
                    hit
                })
                .count()
        };
        for _ in 0..20 {
            round(&table);
        }
        let hits = round(&table);
        assert!(hits >= 30, "{hits} of 100 keys hit with 48 slots");
    }

    #[test]
    fn a_table_grows_to_hold_its_calls_and_keeps_them() {
        let table = started(NARROW);
        for key in 0..10_000 {
            if let Wants::Grow { from } = table.put(1, 1, call(key, key * 3)) {
                assert!(table.grow(from, usize::MAX) > 0);
            }
        }
        assert!(table.sets() * 3 >= 10_000, "{} sets", table.sets());
        // A call a move could not place is a miss, kept again when next computed.
        for key in 0..10_000 {
            if table.get(1, 1, [key, 0]).is_none() {
                table.put(1, 1, call(key, key * 3));
            }
        }
        let found = (0..10_000)
            .filter(|&key| table.get(1, 1, [key, 0]) == Some([key * 3, 0]))
            .count();
        assert!(found > 9_900, "{found} of 10,000 after growing");
        assert_eq!(table.held(), found);
    }

    #[test]
    fn a_table_within_its_cap_does_not_grow_and_a_reset_empties_it() {
        let table = started(NARROW).with_sets(16);
        for key in 0..1_000 {
            if let Wants::Grow { from } = table.put(1, 1, call(key, key)) {
                assert_eq!(table.grow(from, 16), 0);
            }
        }
        assert_eq!(table.sets(), 16);
        assert!(table.held() <= 48);
        assert_eq!(table.reset(0), 16);
        assert_eq!(table.held(), 0);
        assert!((0..1_000).all(|key| table.get(1, 1, [key, 0]).is_none()));
        table.put(1, 1, call(1, 1));
        assert_eq!(table.get(1, 1, [1, 0]), None, "no sets in use");
        table.reset(16);
        table.put(1, 1, call(1, 1));
        assert_eq!(table.get(1, 1, [1, 0]), Some([1, 0]));
    }

    #[test]
    fn generations_that_wrap_around_never_answer_for_an_old_one() {
        let table = started(NARROW).with_sets(4);
        table.put(1, 1, call(1, 100));
        // The binding one step before wrapping, with a set of generation 1 still there.
        table.binding.write(1, 2, GENERATIONS - 1);
        table.put(1, 3, call(2, 200));
        assert_eq!(table.binding.read().map(|b| b.2), Some(1));
        assert_eq!(
            table.get(1, 3, [1, 0]),
            None,
            "generation 1 of before the wrap"
        );
        assert_eq!(table.get(1, 3, [2, 0]), Some([200, 0]));
        assert_eq!(table.held(), 1);
    }

    #[test]
    fn a_table_growing_while_others_read_and_write_answers_only_what_was_kept() {
        let table = started(NARROW);
        std::thread::scope(|scope| {
            for thread in 0..3u64 {
                let table = &table;
                scope.spawn(move || {
                    for key in 0..30_000u64 {
                        let key = key * 3 + thread;
                        if let Some(found) = table.get(1, 1, [key, 0]) {
                            assert_eq!(found, [key ^ 0x5555, 0]);
                        } else if let Wants::Grow { from } =
                            table.put(1, 1, call(key, key ^ 0x5555))
                        {
                            table.grow(from, usize::MAX);
                        }
                    }
                });
            }
        });
        assert!(table.sets() > INITIAL_SETS);
    }

    #[test]
    fn readers_never_see_half_of_a_write() {
        let shape = Shape::new(2, 2);
        let table = started(shape).with_sets(1);
        std::thread::scope(|scope| {
            for writer in 0..2u64 {
                let table = &table;
                scope.spawn(move || {
                    for round in 0..200_000u64 {
                        let value = round * 2 + writer;
                        table.put(
                            1,
                            1,
                            Call {
                                args: [7, 8],
                                result: [value, !value],
                            },
                        );
                    }
                });
            }
            for _ in 0..2 {
                let table = &table;
                scope.spawn(move || {
                    for _ in 0..200_000 {
                        if let Some([value, check]) = table.get(1, 1, [7, 8]) {
                            assert_eq!(check, !value, "a torn call");
                        }
                    }
                });
            }
        });
    }
}
