//! The thread's own tier, in front of the in-process one: a warm hit on a thread that has
//! seen the result before takes no lock and no atomic read-modify-write. Hits are counted
//! here too, and added to their store's counters in batches.

use std::collections::HashMap;
use std::rc::Rc;
use std::sync::Weak;

use foldhash::fast::FixedState;

use super::CallSite;
use super::exact::ExactTables;
use crate::store::Inner;
use crate::{Digest, KeyHasher, Store, clock};

/// At most this many results per thread, each of at most `MAX_BYTES`.
const MAX_ENTRIES: usize = 1024;
const MAX_BYTES: usize = 16 << 10;
/// Hits are added to the store's counters at least this often.
const FLUSH_EVERY: u64 = 256;

struct LocalEntry {
    store: u64,
    epoch: u64,
    output: Digest,
    bytes: Rc<[u8]>,
    expires_ms: Option<u64>,
}

type SiteMap = HashMap<Box<[u8]>, LocalEntry, FixedState>;

/// One thread's results and uncounted hits; it lives in the thread's scope state.
pub(crate) struct Local {
    /// By call site slot, then argument stream.
    sites: Vec<SiteMap>,
    entries: usize,
    pending_hits: u64,
    /// The store the pending hits belong to; weak, so a thread never keeps a store open.
    pending_store: Option<(u64, Weak<Inner>)>,
    /// Typed results of functions with plain-value arguments.
    pub(crate) exact: ExactTables,
}

impl Local {
    pub(crate) const fn new() -> Local {
        Local {
            sites: Vec::new(),
            entries: 0,
            pending_hits: 0,
            pending_store: None,
            exact: ExactTables::new(),
        }
    }

    /// The result this thread holds for `key` in `store`, if live.
    pub(crate) fn get(
        &mut self,
        site: &CallSite,
        store: &Store,
        key: &KeyHasher,
    ) -> Option<(Digest, Rc<[u8]>)> {
        let stream = key.stream()?;
        let map = self.sites.get_mut(site.state.slot())?;
        let entry = map.get(stream)?;
        let live = entry.store == store.id()
            && entry.epoch == store.epoch()
            && entry.expires_ms.is_none_or(|at| at > clock::now_ms());
        if !live {
            map.remove(stream);
            self.entries -= 1;
            return None;
        }
        Some((entry.output, Rc::clone(&entry.bytes)))
    }

    /// Keeps a result on this thread, if it is small enough.
    pub(crate) fn put(
        &mut self,
        site: &CallSite,
        store: &Store,
        key: &KeyHasher,
        output: Digest,
        bytes: &[u8],
        expires_ms: Option<u64>,
    ) -> Option<Rc<[u8]>> {
        let stream = key.stream()?;
        if bytes.len() > MAX_BYTES || !store.keeps_hot() || super::hot::budget() == 0 {
            return None;
        }
        if self.entries >= MAX_ENTRIES {
            // Full: start this thread's share afresh rather than track recency.
            self.sites.iter_mut().for_each(HashMap::clear);
            self.entries = 0;
        }
        let bytes: Rc<[u8]> = Rc::from(bytes);
        let entry = LocalEntry {
            store: store.id(),
            epoch: store.epoch(),
            output,
            bytes: Rc::clone(&bytes),
            expires_ms,
        };
        let slot = site.state.slot();
        if self.sites.len() <= slot {
            self.sites.resize_with(slot + 1, || {
                HashMap::with_hasher(FixedState::with_seed(0x6c6f63))
            });
        }
        let map = &mut self.sites[slot];
        if map.insert(stream.into(), entry).is_none() {
            self.entries += 1;
        }
        Some(bytes)
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
