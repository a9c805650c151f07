//! What each thread keeps of the call path: its hits, counted here and added to their
//! store's counters in batches.

use std::sync::Weak;

use crate::Store;
use crate::store::Inner;

/// Hits are added to the store's counters at least this often.
const FLUSH_EVERY: u64 = 256;

/// One thread's uncounted hits; it lives in the thread's scope state.
pub(crate) struct Local {
    pending_hits: u64,
    /// The store the pending hits belong to; weak, so a thread never keeps a store open.
    pending_store: Option<(u64, Weak<Inner>)>,
}

impl Local {
    pub(crate) const fn new() -> Local {
        Local {
            pending_hits: 0,
            pending_store: None,
        }
    }

    /// Counts a hit on `store`, adding the batch to its counters now and then.
    #[inline]
    pub(crate) fn count_hit(&mut self, store: &Store) {
        if self
            .pending_store
            .as_ref()
            .is_none_or(|(id, _)| *id != store.id())
        {
            self.flush();
            self.pending_store = Some((store.id(), store.downgrade()));
        }
        self.pending_hits += 1;
        if self.pending_hits >= FLUSH_EVERY {
            self.flush();
        }
    }

    /// Adds the pending hits to their store's counters, if it is still open.
    pub(crate) fn flush(&mut self) {
        let hits = std::mem::take(&mut self.pending_hits);
        if let Some(inner) = self
            .pending_store
            .as_ref()
            .and_then(|(_, weak)| weak.upgrade())
        {
            Store { inner }.add_hits(hits);
        }
    }

    /// Takes the pending hits of the store with `id`, which is closing.
    pub(crate) fn take_hits(&mut self, id: u64) -> u64 {
        match &self.pending_store {
            Some((pending, _)) if *pending == id => std::mem::take(&mut self.pending_hits),
            _ => 0,
        }
    }
}

impl Drop for Local {
    fn drop(&mut self) {
        self.flush();
    }
}
