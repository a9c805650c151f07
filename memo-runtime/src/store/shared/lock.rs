//! Single flight across machines: a slow function that several machines miss at once is
//! computed by one of them. The first takes a lock beside the entry (`SET NX PX`, its
//! token random), which a keeper thread renews while the computation runs; the value is
//! written, then the lock let go of (compare-and-delete, queued after the value). The
//! others poll for the value with jittered backoff, and take over when the lock lapses —
//! its holder gave up, or died and stopped renewing it.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};

use super::tier::{Job, SharedTier};
use super::{Found, SharedLead, value};
use crate::Digest;

/// Deletes KEYS[1] if it holds ARGV[1]: only the holder lets go of its lock.
pub(super) const RELEASE: &str = "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) else return 0 end";
/// Extends KEYS[1] to ARGV[2] ms if it holds ARGV[1].
const RENEW: &str = "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('pexpire', KEYS[1], ARGV[2]) else return 0 end";

/// The locks this process holds, by key, with their tokens.
#[derive(Default)]
pub(crate) struct Held {
    locks: Mutex<HashMap<String, String>>,
    keeper: Mutex<bool>,
}

/// This machine's lock on one key; dropped, it is let go of after the value it guarded.
pub(crate) struct SharedLock {
    key: String,
    token: String,
    held: Arc<Held>,
    writes: std::sync::mpsc::SyncSender<Job>,
}

impl Drop for SharedLock {
    fn drop(&mut self) {
        self.held
            .locks
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&self.key);
        let release = Job::Release {
            key: std::mem::take(&mut self.key),
            token: std::mem::take(&mut self.token),
        };
        // Never dropped: a lock left to lapse keeps every waiting machine waiting. With the
        // queue full, this waits for room, after the writes queued before it.
        if let Err(std::sync::mpsc::TrySendError::Full(release)) = self.writes.try_send(release) {
            let _ = self.writes.send(release);
        }
    }
}

/// A token no other lock holder has: this process, the time, a count.
fn token() -> String {
    static COUNT: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    format!(
        "{}-{nanos:x}-{}",
        std::process::id(),
        COUNT.fetch_add(1, Ordering::Relaxed)
    )
}

impl SharedTier {
    fn lock_ms(&self) -> u64 {
        u64::try_from(self.config.lock_ttl.as_millis())
            .unwrap_or(u64::MAX)
            .max(100)
    }

    /// Whether this machine computes entry `key`, or waits for the one that does. Only a
    /// read-write machine takes part: a read-only one never shares what it computes.
    pub(crate) fn lead(&self, krate: &str, key: &Digest) -> SharedLead {
        if !self.config.read_write {
            return SharedLead::Alone;
        }
        let Some(writes) = self.sender() else {
            return SharedLead::Alone;
        };
        let name = value::lock_key(self.namespace(krate), key);
        let token = token();
        let taken = self.client.run(|con| {
            redis::cmd("SET")
                .arg(&name)
                .arg(&token)
                .arg("NX")
                .arg("PX")
                .arg(self.lock_ms())
                .query::<Option<String>>(con)
        });
        match taken {
            Ok(Some(_)) => {
                self.locks
                    .locks
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .insert(name.clone(), token.clone());
                self.keep_locks();
                SharedLead::Leads(SharedLock {
                    key: name,
                    token,
                    held: Arc::clone(&self.locks),
                    writes,
                })
            }
            Ok(None) => SharedLead::Busy,
            Err(_) => SharedLead::Alone,
        }
    }

    /// Waits for the value another machine computes for entry `key`: the value, once it
    /// is there; `None` when the lock is gone without one (the caller asks to lead
    /// again) or the server fails.
    pub(crate) fn await_value(
        &self,
        krate: &str,
        fingerprint: &[u8; 32],
        key: &Digest,
    ) -> Option<Found> {
        let lock = value::lock_key(self.namespace(krate), key);
        let mut wait = Duration::from_millis(10);
        let started = Instant::now();
        loop {
            // Jittered, so that waiters do not poll in step.
            let jitter = u64::from(started.elapsed().subsec_nanos() % 7);
            std::thread::sleep(wait + Duration::from_millis(jitter));
            wait = (wait * 2).min(Duration::from_millis(200));
            if let Some(found) = self.get(krate, fingerprint, key) {
                return Some(found);
            }
            let held = self
                .client
                .run(|con| redis::cmd("EXISTS").arg(&lock).query::<i64>(con));
            match held {
                Ok(1) => {}
                // Gone: the value may have landed just before the lock went.
                Ok(_) => return self.get(krate, fingerprint, key),
                Err(_) => return None,
            }
        }
    }

    /// Starts the thread that renews this process's locks, if it is not running.
    fn keep_locks(&self) {
        let mut running = self.locks.keeper.lock().unwrap_or_else(|p| p.into_inner());
        if *running {
            return;
        }
        let held = Arc::downgrade(&self.locks);
        let client = Arc::clone(&self.client);
        let lock_ms = self.lock_ms();
        *running = std::thread::Builder::new()
            .name("memo-locks".into())
            .spawn(move || renew(&held, &client, lock_ms))
            .is_ok();
    }
}

/// Renews every held lock a few times per lock period, until the tier is gone.
fn renew(held: &Weak<Held>, client: &super::client::Client, lock_ms: u64) {
    loop {
        std::thread::sleep(Duration::from_millis(lock_ms / 3));
        let Some(held) = held.upgrade() else { return };
        let locks: Vec<(String, String)> = held
            .locks
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
            .map(|(key, token)| (key.clone(), token.clone()))
            .collect();
        for (key, token) in locks {
            let _ = client.run(|con| {
                redis::cmd("EVAL")
                    .arg(RENEW)
                    .arg(1)
                    .arg(&key)
                    .arg(&token)
                    .arg(lock_ms)
                    .query::<i64>(con)
            });
        }
    }
}
