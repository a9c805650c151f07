//! The shared tier's counts kept across runs: what every process that used the store
//! counted, added to the store's totals by the process that holds it (a process it serves
//! sends its counts to it), as the store's own hits and misses are.

use std::sync::{Mutex, MutexGuard};

use serde::{Deserialize, Serialize};

/// What the shared tier did for a store, over every run that used it: the totals
/// [`Stats::remote`](crate::Stats::remote) reports.
///
/// ```
/// let store = memo::Store::temporary()?;
/// let counts: memo::RemoteCounts = store.stats()?.remote;
/// assert_eq!(counts, memo::RemoteCounts::default());
/// # Ok::<(), memo::Error>(())
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RemoteCounts {
    /// Lookups the server answered with a value that checked out.
    pub hits: u64,
    /// Lookups it had nothing for (or nothing that checked out).
    pub misses: u64,
    /// Values written.
    pub writes: u64,
    /// Operations that failed: unreachable, timed out, or refused by the server.
    pub errors: u64,
    /// Values refused because their MAC did not match.
    pub mac_failures: u64,
    /// Results too large to share, kept local.
    pub oversize: u64,
    /// Writes dropped because the queue was full.
    pub dropped: u64,
    /// Lookups skipped because the function computes faster than the tier answers.
    pub fast_skipped: u64,
}

impl RemoteCounts {
    /// Whether nothing was counted.
    ///
    /// ```
    /// assert!(memo::RemoteCounts::default().is_empty());
    /// ```
    pub fn is_empty(&self) -> bool {
        *self == RemoteCounts::default()
    }

    fn zip(self, other: RemoteCounts, op: impl Fn(u64, u64) -> u64) -> RemoteCounts {
        RemoteCounts {
            hits: op(self.hits, other.hits),
            misses: op(self.misses, other.misses),
            writes: op(self.writes, other.writes),
            errors: op(self.errors, other.errors),
            mac_failures: op(self.mac_failures, other.mac_failures),
            oversize: op(self.oversize, other.oversize),
            dropped: op(self.dropped, other.dropped),
            fast_skipped: op(self.fast_skipped, other.fast_skipped),
        }
    }

    pub(crate) fn plus(self, other: RemoteCounts) -> RemoteCounts {
        self.zip(other, u64::saturating_add)
    }

    fn minus(self, other: RemoteCounts) -> RemoteCounts {
        self.zip(other, u64::saturating_sub)
    }
}

/// What this process counted that the store's totals do not have yet.
#[derive(Default)]
pub(crate) struct Totals {
    /// Of this process's own tier's counts, what is in the totals already.
    persisted: Mutex<RemoteCounts>,
    /// Sent by the processes this one serves, not in the totals yet.
    received: Mutex<RemoteCounts>,
}

impl Totals {
    /// Takes the counts a served process sent.
    pub(crate) fn receive(&self, counts: RemoteCounts) {
        let mut received = lock(&self.received);
        *received = received.plus(counts);
    }

    /// What is not in the totals yet, given `own`, this process's tier's counts now.
    pub(crate) fn pending(&self, own: RemoteCounts) -> RemoteCounts {
        own.minus(*lock(&self.persisted))
            .plus(*lock(&self.received))
    }

    /// Hands what is not in the totals yet to `add` (nothing is called when there is
    /// nothing); kept to hand again if `add` fails.
    pub(crate) fn persist<E>(
        &self,
        own: RemoteCounts,
        add: impl FnOnce(RemoteCounts) -> Result<(), E>,
    ) -> Result<(), E> {
        let mut persisted = lock(&self.persisted);
        let mut received = lock(&self.received);
        let pending = own.minus(*persisted).plus(*received);
        if pending.is_empty() {
            return Ok(());
        }
        add(pending)?;
        *persisted = own;
        *received = RemoteCounts::default();
        Ok(())
    }
}

fn lock(counts: &Mutex<RemoteCounts>) -> MutexGuard<'_, RemoteCounts> {
    counts.lock().unwrap_or_else(|poison| poison.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn what_was_persisted_or_failed_is_counted_once() {
        let totals = Totals::default();
        let mut stored = RemoteCounts::default();
        let own = RemoteCounts {
            hits: 3,
            ..Default::default()
        };
        totals.receive(RemoteCounts {
            misses: 2,
            ..Default::default()
        });
        assert_eq!(totals.persist(own, |_| Err("disk full")), Err("disk full"));
        assert_eq!(totals.pending(own).hits, 3, "kept after the failure");
        totals
            .persist(own, |add| {
                stored = stored.plus(add);
                Ok::<_, ()>(())
            })
            .unwrap();
        assert_eq!((stored.hits, stored.misses), (3, 2));
        let mut called = false;
        totals
            .persist(own, |_| {
                called = true;
                Ok::<_, ()>(())
            })
            .unwrap();
        assert!(!called, "nothing new, nothing written");
        assert!(totals.pending(own).is_empty());
    }
}
