//! The tier's part for calls of plain words: each function's table (see `words`), and
//! the part of the budget that all of them take together — what their sets in use take,
//! up to a quarter, which the cache of slots gives up as they grow.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, OnceLock};

use super::words::{Call, INITIAL_SETS, SET_BYTES, Shape, Table, Wants};
use crate::Store;

/// Where a function keeps its table, made by its first call kept.
pub(crate) type Cell = OnceLock<Table>;

/// The tables together take at most a quarter of the budget (16 MiB of the default:
/// about 780,000 calls of `u64 → u64`).
const SHARE: usize = 4;

/// Every function's table, for the budget to resize.
static TABLES: Mutex<Vec<&'static Table>> = Mutex::new(Vec::new());
/// What the tables' sets in use take, all together.
static USED: AtomicUsize = AtomicUsize::new(0);

/// What the tables may take of `budget`.
fn share(budget: usize) -> usize {
    budget / SHARE
}

/// What the tables leave of `budget` to the cache of slots.
pub(super) fn rest(budget: usize) -> usize {
    budget.saturating_sub(USED.load(Ordering::Relaxed))
}

/// Takes `sets` more sets of the share of the budget, if they fit. The budget is read as
/// the sets are taken: one set smaller meanwhile either is seen here or sees these sets
/// taken, and empties the tables. The cache of slots is then to give them up
/// (`leave_share`), once no lock is held: what it lets go of may run user code.
fn reserve(sets: usize) -> bool {
    let bytes = sets * SET_BYTES;
    USED.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |used| {
        (used + bytes <= share(super::budget())).then_some(used + bytes)
    })
    .is_ok()
}

/// Gives back `sets` sets a table no longer uses.
fn release(sets: usize) {
    let _ = USED.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |used| {
        Some(used.saturating_sub(sets * SET_BYTES))
    });
}

/// The result words kept in `cell`'s table for argument words `args` in `store`'s
/// current epoch. Runs no user code.
#[inline]
pub(crate) fn get(cell: &Cell, store: &Store, args: [u64; 2]) -> Option<[u64; 2]> {
    cell.get()?.get(store.id(), store.epoch(), args)
}

/// Keeps `result` for argument words `args` in `cell`'s table, for the store and epoch
/// the call `began` with; the first call makes the table.
pub(crate) fn put(
    cell: &'static Cell,
    shape: Shape,
    (store, epoch): (u64, u64),
    args: [u64; 2],
    result: [u64; 2],
) {
    let budget = super::budget();
    if budget == 0 {
        return;
    }
    let mut made = false;
    let table = cell.get_or_init(|| {
        made = true;
        Table::new(shape)
    });
    if made {
        TABLES.lock().unwrap_or_else(|p| p.into_inner()).push(table);
        start(table, super::leave_share);
    }
    if let Wants::Grow { from } = table.put(store, epoch, Call { args, result })
        && reserve(from)
    {
        super::leave_share();
        let added = table.grow(from, usize::MAX);
        release(from - added);
    }
}

/// Gives `table`, which uses no sets, its first ones if the share has room for them:
/// taken first, then given up by the cache (`give_up`), then used — the two never hold
/// more than the budget together — and given back if they cannot be allocated.
fn start(table: &Table, give_up: impl FnOnce()) {
    if reserve(INITIAL_SETS) {
        give_up();
        table.reset(INITIAL_SETS);
        release(INITIAL_SETS - table.sets());
    }
}

/// Fits the tables to a new `budget`: all emptied when it is 0 or their share no longer
/// holds what they use, each then starting again from its first sets.
pub(super) fn fit(budget: usize) {
    let tables = TABLES.lock().unwrap_or_else(|p| p.into_inner());
    let over = USED.load(Ordering::Relaxed) > share(budget);
    for table in tables.iter() {
        if budget == 0 || over {
            release(table.reset(0));
        }
        if budget > 0 && table.sets() == 0 {
            // The budget's new size is given to the cache after this.
            start(table, || {});
        }
    }
}

/// What the tables take and how many calls they hold.
pub(super) fn usage() -> (usize, usize) {
    let tables = TABLES.lock().unwrap_or_else(|p| p.into_inner());
    let held = tables.iter().map(|table| table.held()).sum();
    (USED.load(Ordering::Relaxed), held)
}
