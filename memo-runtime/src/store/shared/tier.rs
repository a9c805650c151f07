//! The tier itself: lookups on the caller's thread, writes on a thread of its own.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, SyncSender, TrySendError};
use std::sync::{Arc, Mutex};

use super::client::{Client, Unreached};
use super::connection::{Batch, every};
use super::value::{self, Secret};
use super::{Found, Pushed, RemoteConfig, RemoteStats, config};
use crate::{Digest, clock};

/// Remote writes queued at most: past it, a write is dropped (counted), never waited for.
const QUEUE: usize = 1024;

/// The shared tier of one store.
pub(crate) struct SharedTier {
    pub(super) config: RemoteConfig,
    pub(super) secret: Secret,
    pub(super) client: Arc<Client>,
    writes: Mutex<Option<SyncSender<Job>>>,
    pub(super) counters: Arc<Counters>,
    /// The locks this process holds, kept alive by their keeper thread.
    pub(super) locks: Arc<super::lock::Held>,
    /// How long a lookup takes, in ns, a moving average (0 until one answered).
    round_trip_ns: AtomicU64,
}

/// A function is worth the tier when a computation takes this many lookups' time: the
/// lookup then adds at most 5% to a miss.
const WORTH_ROUND_TRIPS: u64 = 20;

/// Work for the writer thread.
pub(super) enum Job {
    /// Store `value` under `key` unless a value is there, expiring in `expiry_ms`, and
    /// name it in the namespace's `indexes` (its function's, its tags', all).
    Put {
        key: String,
        value: Vec<u8>,
        expiry_ms: u64,
        indexes: Vec<String>,
    },
    /// Extend `key`'s life to `expiry_ms` from now.
    Extend { key: String, expiry_ms: u64 },
    /// Say when everything queued before is done.
    Flush(std::sync::mpsc::Sender<()>),
    /// Let go of the lock `key` if it is still `token`'s: queued after the value it
    /// guarded, so a waiter that sees the lock gone finds the value.
    Release { key: String, token: String },
}

/// What the tier did since the store opened.
#[derive(Default)]
pub(crate) struct Counters {
    hits: AtomicU64,
    misses: AtomicU64,
    writes: AtomicU64,
    errors: AtomicU64,
    mac_failures: AtomicU64,
    oversize: AtomicU64,
    dropped: AtomicU64,
    fast_skipped: AtomicU64,
}

impl SharedTier {
    /// The tier `config` describes; `None`, with one warning, when it cannot be used.
    pub(crate) fn open(config: RemoteConfig) -> Option<SharedTier> {
        let refuse = |why: String| {
            crate::warn::once(
                &format!("shared tier config {}", config::redacted(&config.url)),
                || {
                    format!(
                        "the shared tier at {} is off: {why}",
                        config::redacted(&config.url)
                    )
                },
            );
        };
        let secret = match config.secret_bytes() {
            Ok(secret) => Secret::derive(&secret),
            Err(why) => {
                refuse(why);
                return None;
            }
        };
        let client = match Client::new(&config.url, config.ca_file.as_deref()) {
            Ok(client) => Arc::new(client),
            Err(why) => {
                refuse(why);
                return None;
            }
        };
        Some(SharedTier {
            config,
            secret,
            client,
            writes: Mutex::new(None),
            counters: Arc::default(),
            locks: Arc::default(),
            round_trip_ns: AtomicU64::new(0),
        })
    }

    /// The namespace of a function of crate `krate`.
    pub(crate) fn namespace<'a>(&'a self, krate: &'a str) -> &'a str {
        self.config.namespace.as_deref().unwrap_or(krate)
    }

    /// The value of entry `key` of a function of crate `krate` whose code has
    /// `fingerprint`, if the server has one that checks out and has not expired.
    pub(crate) fn get(&self, krate: &str, fingerprint: &[u8; 32], key: &Digest) -> Option<Found> {
        let name = value::entry_key(self.namespace(krate), fingerprint, key);
        let asked = std::time::Instant::now();
        let raw = match self
            .client
            .run(|con| redis::cmd("GET").arg(&name).query::<Option<Vec<u8>>>(con))
        {
            Ok(raw) => {
                self.timed(asked.elapsed());
                raw
            }
            Err(unreached) => {
                self.unreached(&unreached);
                return None;
            }
        };
        let counters = &self.counters;
        let Some(raw) = raw else {
            counters.misses.fetch_add(1, Ordering::Relaxed);
            return None;
        };
        let opened = match value::open(&self.secret, &name, &raw) {
            Ok(opened) => opened,
            Err(refused) => {
                // Left where it is: it may be another team's, under another secret.
                if refused == value::Refused::Mac {
                    counters.mac_failures.fetch_add(1, Ordering::Relaxed);
                }
                counters.misses.fetch_add(1, Ordering::Relaxed);
                return None;
            }
        };
        if opened.expires_ms.is_some_and(|at| at <= clock::now_ms()) {
            counters.misses.fetch_add(1, Ordering::Relaxed);
            return None;
        }
        counters.hits.fetch_add(1, Ordering::Relaxed);
        if opened.expires_ms.is_none() && self.config.read_write {
            // Without a ttl a value lives while it is used: a read extends it.
            self.queue(Job::Extend {
                key: name.clone(),
                expiry_ms: duration_ms(self.config.default_expiry),
            });
        }
        Some(Found {
            created_ms: opened.created_ms,
            expires_ms: opened.expires_ms,
            meta: opened.meta,
            payload: opened.payload.to_vec(),
        })
    }

    /// Counts a lookup that took `took` into the round trip's average.
    fn timed(&self, took: std::time::Duration) {
        let ns = u64::try_from(took.as_nanos()).unwrap_or(u64::MAX).max(1);
        let old = self.round_trip_ns.load(Ordering::Relaxed);
        let new = if old == 0 { ns } else { (old / 8) * 7 + ns / 8 };
        self.round_trip_ns.store(new.max(1), Ordering::Relaxed);
    }

    /// Whether a function whose computations take `compute_ns` is worth a lookup (see
    /// `Store::shares`); counted when not and `count`.
    pub(crate) fn worth(&self, compute_ns: Option<u64>, count: bool) -> bool {
        let Some(compute_ns) = compute_ns else {
            return true;
        };
        let least = match self.config.min_compute {
            Some(least) => u64::try_from(least.as_nanos()).unwrap_or(u64::MAX),
            None => match self.round_trip_ns.load(Ordering::Relaxed) {
                0 => return true,
                trip => trip.saturating_mul(WORTH_ROUND_TRIPS),
            },
        };
        let worth = compute_ns >= least;
        if !worth && count {
            self.counters.fast_skipped.fetch_add(1, Ordering::Relaxed);
        }
        worth
    }

    /// Queues the write of a result just stored locally, unless this process only reads,
    /// the result is too large, or it has expired already.
    pub(crate) fn put(
        &self,
        krate: &str,
        meta: &value::Meta,
        key: &Digest,
        created_ms: u64,
        expires_ms: Option<u64>,
        payload: &[u8],
    ) {
        // While the breaker is open the writer would only drop it: not even queued, so a
        // miss then costs what it does without a tier (no seal, no wake-up of the writer).
        if !self.config.read_write || self.client.is_open() {
            return;
        }
        if payload.len() > self.config.max_value_bytes {
            self.counters.oversize.fetch_add(1, Ordering::Relaxed);
            return;
        }
        // A `ttl` is an absolute expiry on the server too; without one, a sliding one.
        let expiry_ms = match expires_ms {
            Some(at) => match at.checked_sub(clock::now_ms()) {
                Some(left) if left > 0 => left,
                _ => return,
            },
            None => duration_ms(self.config.default_expiry),
        };
        let namespace = self.namespace(krate);
        let name = value::entry_key(namespace, &meta.fingerprint, key);
        let value = value::seal(&self.secret, &name, created_ms, expires_ms, meta, payload);
        let indexes = std::iter::once(value::index_key(namespace, "fn", &meta.function))
            .chain(
                meta.tags
                    .iter()
                    .map(|tag| value::index_key(namespace, "tag", tag)),
            )
            .chain(std::iter::once(value::index_key(namespace, "all", "")))
            .collect();
        self.queue(Job::Put {
            key: name,
            value,
            expiry_ms,
            indexes,
        });
    }

    /// Hands `job` to the writer thread, started on the first write.
    pub(super) fn queue(&self, job: Job) {
        let Some(sender) = self.sender() else { return };
        match sender.try_send(job) {
            Ok(()) => {}
            Err(TrySendError::Full(_)) => {
                self.counters.dropped.fetch_add(1, Ordering::Relaxed);
            }
            Err(TrySendError::Disconnected(_)) => {
                *self.writes.lock().unwrap_or_else(|p| p.into_inner()) = None;
            }
        }
    }

    /// The writer thread's queue, starting the thread if it is not running.
    pub(super) fn sender(&self) -> Option<SyncSender<Job>> {
        let mut writes = self.writes.lock().unwrap_or_else(|p| p.into_inner());
        if writes.is_none() {
            let (sender, receiver) = std::sync::mpsc::sync_channel(QUEUE);
            let (client, counters) = (Arc::clone(&self.client), Arc::clone(&self.counters));
            std::thread::Builder::new()
                .name("memo-shared".into())
                .spawn(move || write_all(&client, &counters, &receiver))
                .ok()?;
            *writes = Some(sender);
        }
        writes.clone()
    }

    /// Waits, up to `timeout`, for the queued writes to reach the server.
    pub(crate) fn drain(&self, timeout: std::time::Duration) {
        let sender = self
            .writes
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        let Some(sender) = sender else { return };
        let (done, finished) = std::sync::mpsc::channel();
        if sender.send(Job::Flush(done)).is_ok() {
            let _ = finished.recv_timeout(timeout);
        }
    }

    fn unreached(&self, unreached: &Unreached) {
        refused(&self.client, &self.counters, unreached);
    }

    /// Removes from the server every value the index `kind:name` of `namespace` names
    /// (but those `keep` keeps); how many went. Only a read-write machine changes the
    /// server.
    pub(crate) fn forget(
        &self,
        namespace: &str,
        kind: &str,
        name: &str,
        keep: impl Fn(&str) -> bool,
    ) -> Result<u64, String> {
        if !self.config.read_write {
            return Ok(0);
        }
        let index = value::index_key(namespace, kind, name);
        let result = self.client.run(|con| {
            let members: Vec<String> = redis::cmd("SMEMBERS").arg(&index).query(con)?;
            let doomed: Vec<&String> = members.iter().filter(|key| !keep(key)).collect();
            let mut removed = 0;
            for chunk in doomed.chunks(256) {
                let mut batch = Batch::default();
                for key in chunk {
                    batch.cmd("UNLINK").arg(*key);
                }
                for answer in every(con.send(batch)?)? {
                    removed += redis::from_redis_value::<u64>(answer).unwrap_or(1);
                }
                let mut batch = Batch::default();
                for key in chunk {
                    batch.cmd("SREM").arg(&index).arg(*key);
                }
                every(con.send(batch)?)?;
            }
            Ok(removed)
        });
        result.map_err(|unreached| self.failure(unreached))
    }

    /// Sends `values` to the server in one pipeline — each `SET NX PX`, then named in its
    /// indexes if it was new there; how many were new. What this returns an error for
    /// may have been sent in part.
    pub(crate) fn push(&self, namespace: &str, values: &[Pushed<'_>]) -> Result<u64, String> {
        let now = clock::now_ms();
        let sealed: Vec<(String, Vec<u8>, u64, Vec<String>)> = values
            .iter()
            .filter_map(|v| {
                let expiry_ms = match v.expires_ms {
                    Some(at) => at.checked_sub(now).filter(|left| *left > 0)?,
                    None => duration_ms(self.config.default_expiry),
                };
                let name = value::entry_key(namespace, &v.meta.fingerprint, &v.key);
                let value = value::seal(
                    &self.secret,
                    &name,
                    v.created_ms,
                    v.expires_ms,
                    &v.meta,
                    v.payload,
                );
                let indexes = std::iter::once(value::index_key(namespace, "fn", &v.meta.function))
                    .chain(
                        v.meta
                            .tags
                            .iter()
                            .map(|tag| value::index_key(namespace, "tag", tag)),
                    )
                    .chain(std::iter::once(value::index_key(namespace, "all", "")))
                    .collect();
                Some((name, value, expiry_ms, indexes))
            })
            .collect();
        let result = self.client.run(|con| {
            let mut batch = Batch::default();
            for (name, value, expiry_ms, _) in &sealed {
                batch
                    .cmd("SET")
                    .arg(name)
                    .arg(value)
                    .arg("NX")
                    .arg("PX")
                    .arg(*expiry_ms);
            }
            let stored = every(con.send(batch)?)?;
            let mut batch = Batch::default();
            let mut new = 0;
            for ((name, _, expiry_ms, indexes), stored) in sealed.iter().zip(&stored) {
                if *stored == redis::Value::Nil {
                    continue;
                }
                new += 1;
                for index in indexes {
                    batch.cmd("SADD").arg(index).arg(name);
                    batch
                        .cmd("PEXPIRE")
                        .arg(index)
                        .arg(expiry_ms.saturating_mul(2));
                }
            }
            every(con.send(batch)?)?;
            Ok(new)
        });
        result.map_err(|unreached| self.failure(unreached))
    }

    /// Every value of `namespace` that checks out, in batches, to `each` (its entry key
    /// and the value); `each` returns whether to go on.
    pub(crate) fn pull(
        &self,
        namespace: &str,
        each: &mut dyn FnMut(Digest, Found) -> bool,
    ) -> Result<(), String> {
        let index = value::index_key(namespace, "all", "");
        let unreached = |unreached: Unreached| self.failure(unreached);
        let mut cursor = 0u64;
        loop {
            let (next, names): (u64, Vec<String>) = self
                .client
                .run(|con| {
                    redis::cmd("SSCAN")
                        .arg(&index)
                        .arg(cursor)
                        .arg("COUNT")
                        .arg(500)
                        .query(con)
                })
                .map_err(unreached)?;
            let values = self
                .client
                .run(|con| {
                    let mut batch = Batch::default();
                    for name in &names {
                        batch.cmd("GET").arg(name);
                    }
                    con.send(batch)
                })
                .map_err(unreached)?;
            for (name, raw) in names.iter().zip(values) {
                let raw = raw
                    .ok()
                    .and_then(|raw| redis::from_redis_value::<Vec<u8>>(raw).ok());
                let (Some(raw), Some(key)) = (raw, value::entry_of(name)) else {
                    continue;
                };
                let Ok(opened) = value::open(&self.secret, name, &raw) else {
                    self.counters.mac_failures.fetch_add(1, Ordering::Relaxed);
                    continue;
                };
                let found = Found {
                    created_ms: opened.created_ms,
                    expires_ms: opened.expires_ms,
                    meta: opened.meta,
                    payload: opened.payload.to_vec(),
                };
                if !each(key, found) {
                    return Ok(());
                }
            }
            if next == 0 {
                return Ok(());
            }
            cursor = next;
        }
    }

    /// What an operation that did not reach an answer says, counted.
    fn failure(&self, unreached: Unreached) -> String {
        self.unreached(&unreached);
        match unreached {
            Unreached::Refused(error) => {
                format!(
                    "the shared tier at {} refused it: {error}",
                    self.client.shown()
                )
            }
            _ => format!(
                "the shared tier at {} could not be reached",
                self.client.shown()
            ),
        }
    }

    /// The largest encoded result sent to the server.
    pub(crate) fn max_value_bytes(&self) -> usize {
        self.config.max_value_bytes
    }

    /// How long the server takes to answer a `PING`; why it did not.
    pub(crate) fn ping(&self) -> Result<std::time::Duration, String> {
        let start = std::time::Instant::now();
        match self
            .client
            .run(|con| redis::cmd("PING").query::<String>(con))
        {
            Ok(_) => Ok(start.elapsed()),
            Err(Unreached::Open) => Err("it failed a moment ago; the breaker is open".into()),
            Err(Unreached::Failed) => Err("it cannot be reached".into()),
            Err(Unreached::Refused(error)) => Err(format!("it refused: {error}")),
        }
    }

    /// How many values the index of `namespace` names (some may have expired since).
    pub(crate) fn values(&self, namespace: &str) -> Result<u64, String> {
        let index = value::index_key(namespace, "all", "");
        self.client
            .run(|con| redis::cmd("SCARD").arg(&index).query::<u64>(con))
            .map_err(|unreached| self.failure(unreached))
    }

    /// What the tier counted since the store opened.
    pub(crate) fn counts(&self) -> super::RemoteCounts {
        let stats = self.stats();
        super::RemoteCounts {
            hits: stats.hits,
            misses: stats.misses,
            writes: stats.writes,
            errors: stats.errors,
            mac_failures: stats.mac_failures,
            oversize: stats.oversize,
            dropped: stats.dropped,
            fast_skipped: stats.fast_skipped,
        }
    }

    /// The tier's counts and state.
    pub(crate) fn stats(&self) -> RemoteStats {
        let load = |counter: &AtomicU64| counter.load(Ordering::Relaxed);
        let c = &self.counters;
        RemoteStats {
            url: self.client.shown().to_owned(),
            namespace: self.config.namespace.clone(),
            read_write: self.config.read_write,
            hits: load(&c.hits),
            misses: load(&c.misses),
            writes: load(&c.writes),
            errors: load(&c.errors),
            mac_failures: load(&c.mac_failures),
            oversize: load(&c.oversize),
            dropped: load(&c.dropped),
            fast_skipped: load(&c.fast_skipped),
            breaker_open: self.client.is_open(),
        }
    }
}

fn duration_ms(duration: std::time::Duration) -> u64 {
    u64::try_from(duration.as_millis())
        .unwrap_or(u64::MAX)
        .max(1)
}

/// How many queued jobs the writer sends in one pipeline.
const BATCH: usize = 256;

/// The writer thread, until the queue is closed: whatever has queued, up to a batch at a
/// time, in one pipeline — one round trip for many writes.
fn write_all(client: &Client, counters: &Counters, jobs: &Receiver<Job>) {
    while let Ok(first) = jobs.recv() {
        let mut batch = vec![first];
        while batch.len() < BATCH {
            match jobs.try_recv() {
                Ok(job) => batch.push(job),
                Err(_) => break,
            }
        }
        write_batch(client, counters, &batch);
        for job in &batch {
            if let Job::Flush(done) = job {
                let _ = done.send(());
            }
        }
    }
}

/// Sends `batch` in one pipeline; each command's error is its own.
fn write_batch(client: &Client, counters: &Counters, jobs: &[Job]) {
    let mut batch = Batch::default();
    // For each command, whether it is a value's `SET`: those that store count as writes.
    let mut sets = Vec::new();
    for job in jobs {
        match job {
            Job::Put {
                key,
                value,
                expiry_ms,
                indexes,
            } => {
                batch
                    .cmd("SET")
                    .arg(key)
                    .arg(value)
                    .arg("NX")
                    .arg("PX")
                    .arg(*expiry_ms);
                sets.push(true);
                // The indexes outlive what they name by as long again, and go when nothing
                // is written to them for that long. Naming a key twice is harmless.
                for index in indexes {
                    batch.cmd("SADD").arg(index).arg(key);
                    batch
                        .cmd("PEXPIRE")
                        .arg(index)
                        .arg(expiry_ms.saturating_mul(2));
                    sets.extend([false, false]);
                }
            }
            Job::Extend { key, expiry_ms } => {
                batch.cmd("PEXPIRE").arg(key).arg(*expiry_ms);
                sets.push(false);
            }
            Job::Release { key, token } => {
                batch
                    .cmd("EVAL")
                    .arg(super::lock::RELEASE)
                    .arg(1)
                    .arg(key)
                    .arg(token);
                sets.push(false);
            }
            Job::Flush(_) => {}
        }
    }
    if batch.len() == 0 {
        return;
    }
    match client.run(|con| con.send(batch)) {
        Ok(results) => {
            for (is_set, result) in sets.iter().zip(results) {
                match result {
                    Ok(redis::Value::Okay) if *is_set => {
                        counters.writes.fetch_add(1, Ordering::Relaxed);
                    }
                    Ok(_) => {}
                    Err(error) => {
                        refused(client, counters, &Unreached::Refused(error.to_string()));
                    }
                }
            }
        }
        Err(unreached) => refused(client, counters, &unreached),
    }
}

/// Counts an operation that did not reach an answer; a server that refused one (out of
/// memory under `noeviction`, say) is said once.
fn refused(client: &Client, counters: &Counters, unreached: &Unreached) {
    match unreached {
        Unreached::Open => {}
        Unreached::Failed => {
            counters.errors.fetch_add(1, Ordering::Relaxed);
        }
        Unreached::Refused(error) => {
            counters.errors.fetch_add(1, Ordering::Relaxed);
            crate::warn::once(&format!("shared tier refused {}", client.shown()), || {
                format!(
                    "the shared tier at {} refused an operation ({error}); results stay in the local store",
                    client.shown()
                )
            });
        }
    }
}
