//! Who computes each key among the processes sharing a store: the holder's leases. One
//! process at a time holds a key's lease — the holder itself or one it serves — and the
//! others wait for it to be let go of: the result was stored, the computation failed, or
//! its process went away.

use std::collections::HashSet;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use crate::Digest;

/// The keys being computed, and a signal for each one let go of.
#[derive(Default)]
pub(crate) struct Leases {
    held: Mutex<HashSet<Digest>>,
    released: Condvar,
}

/// The lease on one key; dropping it lets the key go.
pub(crate) struct Held {
    leases: Arc<Leases>,
    key: Digest,
}

impl Leases {
    fn held(&self) -> MutexGuard<'_, HashSet<Digest>> {
        self.held
            .lock()
            .unwrap_or_else(|poison| poison.into_inner())
    }

    /// The lease on `key`, unless someone holds it.
    pub(crate) fn take(self: &Arc<Self>, key: Digest) -> Option<Held> {
        self.held().insert(key).then(|| Held {
            leases: Arc::clone(self),
            key,
        })
    }

    /// Waits up to `timeout` for `key`'s lease to be let go of; whether it is free.
    pub(crate) fn wait_for(&self, key: &Digest, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        let mut held = self.held();
        while held.contains(key) {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return false;
            }
            held = self
                .released
                .wait_timeout(held, left)
                .unwrap_or_else(|poison| poison.into_inner())
                .0;
        }
        true
    }
}

impl Drop for Held {
    fn drop(&mut self) {
        self.leases.held().remove(&self.key);
        self.leases.released.notify_all();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(n: u8) -> Digest {
        Digest([n; 32])
    }

    #[test]
    fn one_holder_at_a_time_and_the_key_is_free_once_let_go_of() {
        let leases = Arc::new(Leases::default());
        let first = leases.take(key(1)).expect("a free key");
        assert!(leases.take(key(1)).is_none());
        assert!(leases.take(key(2)).is_some(), "other keys are not held");
        assert!(!leases.wait_for(&key(1), Duration::from_millis(20)));
        drop(first);
        assert!(leases.wait_for(&key(1), Duration::ZERO));
        assert!(leases.take(key(1)).is_some());
    }

    #[test]
    fn a_waiter_wakes_when_the_lease_is_let_go_of_on_another_thread() {
        let leases = Arc::new(Leases::default());
        let held = leases.take(key(7)).unwrap();
        let waiter = {
            let leases = Arc::clone(&leases);
            std::thread::spawn(move || leases.wait_for(&key(7), Duration::from_secs(30)))
        };
        std::thread::sleep(Duration::from_millis(30));
        let let_go = Instant::now();
        drop(held);
        assert!(waiter.join().unwrap());
        assert!(let_go.elapsed() < Duration::from_secs(10));
    }
}
