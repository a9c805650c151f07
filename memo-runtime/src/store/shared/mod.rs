//! The shared tier: a Redis server behind the local store, so that a result one machine
//! computed is a hit on the others. A lookup that misses locally asks the server, checks
//! the value's MAC and backfills the local store; a miss writes locally, then queues the
//! remote write (`SET NX`: the first writer wins) for a thread of its own, so no call
//! waits on the network to store. A server that is down or slow costs a call at most a
//! timeout, then nothing while the breaker is open; the local path never changes.
//!
//! The client is behind the `remote` feature; a build without it says so once when a
//! tier is configured, and runs on the local store.

#[cfg(feature = "remote")]
mod breaker;
#[cfg(feature = "remote")]
mod client;
#[cfg_attr(not(feature = "remote"), allow(dead_code))]
mod config;
#[cfg(feature = "remote")]
mod connection;
#[cfg(feature = "remote")]
mod lock;
#[cfg(feature = "remote")]
mod tier;
mod totals;
#[cfg_attr(not(feature = "remote"), allow(dead_code))]
mod value;

pub use config::RemoteConfig;
#[cfg(feature = "remote")]
pub(crate) use lock::SharedLock;
#[cfg(feature = "remote")]
pub(crate) use tier::SharedTier;
pub use totals::RemoteCounts;
pub(crate) use totals::Totals;
#[cfg_attr(not(feature = "remote"), allow(unused_imports))]
pub(crate) use value::is_of_version;

/// The shared tier's counts and state, as [`Store::stats`](crate::Store::stats) reports
/// them.
///
/// ```
/// let store = memo::Store::temporary()?;
/// assert!(store.remote_stats().is_none(), "no shared tier");
/// # Ok::<(), memo::Error>(())
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct RemoteStats {
    /// The server, its password hidden.
    pub url: String,
    /// The namespace its keys live in; `None`: each function's crate.
    pub namespace: Option<String>,
    /// Whether this process writes to it.
    pub read_write: bool,
    /// Lookups the server answered with a value that checked out.
    pub hits: u64,
    /// Lookups it had nothing for (or nothing that checked out).
    pub misses: u64,
    /// Values written.
    pub writes: u64,
    /// Operations that failed: unreachable, timed out, or refused by the server.
    pub errors: u64,
    /// Values refused because their MAC did not match (tampered with, or another secret).
    pub mac_failures: u64,
    /// Results too large to share, kept local.
    pub oversize: u64,
    /// Writes dropped because the queue was full.
    pub dropped: u64,
    /// Lookups skipped because the function computes faster than the tier answers
    /// ([`RemoteConfig::min_compute`]).
    pub fast_skipped: u64,
    /// Whether the breaker is open: the server failed, and is skipped for a while.
    pub breaker_open: bool,
}

/// How a call asks the shared tier for a value.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Ask {
    /// As it is now.
    Now,
    /// Once the machine that computes it has stored it.
    Wait,
}

/// Who computes a key that this machine missed.
pub(crate) enum SharedLead {
    /// Nobody can say (no tier, read-only, or the server failed): compute.
    Alone,
    /// This machine computes; the others wait until the lock is dropped.
    #[cfg_attr(not(feature = "remote"), allow(dead_code))]
    Leads(SharedLock),
    /// Another machine computes it: wait for its value (`Store::await_shared`).
    #[cfg_attr(not(feature = "remote"), allow(dead_code))]
    Busy,
}

/// A value found on the server and checked.
#[cfg_attr(not(feature = "remote"), allow(dead_code))]
pub(crate) struct Found {
    pub created_ms: u64,
    pub expires_ms: Option<u64>,
    pub meta: value::Meta,
    pub payload: Vec<u8>,
}

/// A local entry on its way to the server (`memo remote push`).
#[cfg_attr(not(feature = "remote"), allow(dead_code))]
pub(crate) struct Pushed<'a> {
    pub key: crate::Digest,
    pub created_ms: u64,
    pub expires_ms: Option<u64>,
    pub meta: value::Meta,
    pub payload: &'a [u8],
}

/// What `memo remote push` or `pull` did.
///
/// ```
/// // What `Store::push_shared` and `Store::pull_shared` moved; a store without a tier
/// // has nothing to move.
/// let store = memo::Store::temporary()?;
/// assert!(store.pull_shared(&mut |_, _| {}).is_err());
/// # Ok::<(), memo::Error>(())
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct RemoteReport {
    /// Entries that were new where they went.
    pub moved: u64,
    /// Entries already there.
    pub already: u64,
    /// Entries left out: too large to share, expired, or kept as a file.
    pub skipped: u64,
}

/// The meta key of the shared tier's totals.
const TOTALS: &str = "remote_counters";

impl super::Inner {
    /// What this process's tier counted since it opened.
    fn own_remote_counts(&self) -> RemoteCounts {
        self.shared
            .as_ref()
            .map(SharedTier::counts)
            .unwrap_or_default()
    }

    /// Adds the shared tier's counts not yet in the store's totals — this process's and
    /// those the processes it serves sent — to them.
    pub(super) fn persist_remote_counts(&self) -> crate::Result<()> {
        self.remote_counts.persist(self.own_remote_counts(), |add| {
            let stored = self.stored_remote_counts()?.plus(add);
            self.trees()
                .meta
                .insert(TOTALS, super::record::encode(&stored))
                .map_err(|e| self.storage(e))
        })
    }

    /// Sends this process's shared-tier counts not yet sent to the holder, which adds
    /// them to the totals.
    pub(super) fn send_remote_counts(&self, holder: &super::serve::Remote) -> crate::Result<()> {
        self.remote_counts
            .persist(self.own_remote_counts(), |add| holder.count_remote(add))
    }

    fn stored_remote_counts(&self) -> crate::Result<RemoteCounts> {
        let raw = self.trees().meta.get(TOTALS).map_err(|e| self.storage(e))?;
        Ok(raw
            .and_then(|raw| super::record::decode_exact(&raw))
            .unwrap_or_default())
    }

    /// The shared tier's totals over every run, with what this process has not yet
    /// added.
    pub(super) fn remote_totals(&self) -> crate::Result<RemoteCounts> {
        let pending = self.remote_counts.pending(self.own_remote_counts());
        Ok(self.stored_remote_counts()?.plus(pending))
    }
}

/// A build without the `remote` feature: a configured tier is said once to be off.
#[cfg(not(feature = "remote"))]
pub(crate) struct SharedTier(std::convert::Infallible);

/// A build without the `remote` feature takes no locks.
#[cfg(not(feature = "remote"))]
pub(crate) struct SharedLock(std::convert::Infallible);

#[cfg(not(feature = "remote"))]
impl SharedTier {
    pub(crate) fn open(config: RemoteConfig) -> Option<SharedTier> {
        crate::warn::once("shared tier without the feature", || {
            format!(
                "a shared tier is configured ({}), but this build has none: enable memo's `remote` feature; calls use the local store alone",
                config::redacted(&config.url)
            )
        });
        None
    }

    pub(crate) fn get(&self, _: &str, _: &[u8; 32], _: &crate::Digest) -> Option<Found> {
        match self.0 {}
    }

    pub(crate) fn put(
        &self,
        _: &str,
        _: &value::Meta,
        _: &crate::Digest,
        _: u64,
        _: Option<u64>,
        _: &[u8],
    ) {
        match self.0 {}
    }

    pub(crate) fn forget(
        &self,
        _: &str,
        _: &str,
        _: &str,
        _: impl Fn(&str) -> bool,
    ) -> Result<u64, String> {
        match self.0 {}
    }

    pub(crate) fn namespace<'a>(&'a self, _: &'a str) -> &'a str {
        match self.0 {}
    }

    pub(crate) fn push(&self, _: &str, _: &[Pushed<'_>]) -> Result<u64, String> {
        match self.0 {}
    }

    pub(crate) fn pull(
        &self,
        _: &str,
        _: &mut dyn FnMut(crate::Digest, Found) -> bool,
    ) -> Result<(), String> {
        match self.0 {}
    }

    pub(crate) fn max_value_bytes(&self) -> usize {
        match self.0 {}
    }

    pub(crate) fn drain(&self, _: std::time::Duration) {
        match self.0 {}
    }

    pub(crate) fn lead(&self, _: &str, _: &crate::Digest) -> SharedLead {
        match self.0 {}
    }

    pub(crate) fn await_value(&self, _: &str, _: &[u8; 32], _: &crate::Digest) -> Option<Found> {
        match self.0 {}
    }

    pub(crate) fn stats(&self) -> RemoteStats {
        match self.0 {}
    }

    pub(crate) fn worth(&self, _: Option<u64>, _: bool) -> bool {
        match self.0 {}
    }

    pub(crate) fn counts(&self) -> RemoteCounts {
        match self.0 {}
    }

    pub(crate) fn values(&self, _: &str) -> Result<u64, String> {
        match self.0 {}
    }

    pub(crate) fn ping(&self) -> Result<std::time::Duration, String> {
        match self.0 {}
    }
}

impl crate::Store {
    /// The value of `key` from the shared tier, after a local miss — as it is now, or
    /// for `Ask::Wait` once the machine that computes it has stored it — checked, stored
    /// locally (`entry` describes it, with the time it was computed and its expiry taken
    /// from the value), and returned as a hit; `None` if there is none (for a wait: the
    /// lock went without one). `krate` names the function's namespace.
    pub(crate) fn shared_value(
        &self,
        ask: Ask,
        entry: &super::NewEntry<'_>,
        krate: &str,
        key: &crate::Digest,
        inputs: &[crate::Digest],
    ) -> Option<super::access::Hit> {
        let tier = self.inner.shared.as_ref()?;
        let found = match ask {
            Ask::Now => tier.get(krate, &entry.fingerprint, key)?,
            Ask::Wait => tier.await_value(krate, &entry.fingerprint, key)?,
        };
        Some(self.backfill(entry, key, inputs, found))
    }

    /// Whether this machine computes `key`, which it missed, or another machine sharing
    /// the tier already does.
    pub(crate) fn lead_shared(&self, krate: &str, key: &crate::Digest) -> SharedLead {
        match &self.inner.shared {
            Some(tier) => tier.lead(krate, key),
            None => SharedLead::Alone,
        }
    }

    /// Keeps `found`, the tier's value of `key`, in the local store; it as a hit.
    fn backfill(
        &self,
        entry: &super::NewEntry<'_>,
        key: &crate::Digest,
        inputs: &[crate::Digest],
        found: Found,
    ) -> super::access::Hit {
        let output = crate::Digest::of_bytes(&found.payload);
        // The value says what call it is and what it was called with: kept with it.
        let entry = super::NewEntry {
            created_ms: found.created_ms,
            expires_ms: found.expires_ms,
            args: found.meta.args.as_deref(),
            call: found.meta.call.map(crate::Digest),
            ..entry.clone()
        };
        if let Err(error) = self.insert(
            &entry,
            key,
            output,
            super::Bytes::Held(&found.payload),
            inputs,
        ) {
            self.report_problem(|| {
                format!(
                    "a result from the shared tier could not be kept in the local store: {error}"
                )
            });
        }
        super::access::Hit {
            output,
            payload: super::Payload::Bytes(std::sync::Arc::from(found.payload)),
            expires_ms: found.expires_ms,
        }
    }

    /// Whether the shared tier is worth asking for a function whose computations take
    /// `compute_ns` here (`None`: none ran yet): one that computes faster than
    /// [`RemoteConfig::min_compute`] — by default 20 round trips to the server — is
    /// computed, never looked up or written, so the tier adds at most 5% to a miss.
    /// `count`: a lookup skipped so is counted.
    pub(crate) fn shares(&self, compute_ns: Option<u64>, count: bool) -> bool {
        self.inner
            .shared
            .as_ref()
            .is_some_and(|tier| tier.worth(compute_ns, count))
    }

    /// Queues `payload`, the result just stored locally under `key`, for the shared tier.
    pub(crate) fn share(
        &self,
        entry: &super::NewEntry<'_>,
        krate: &str,
        key: &crate::Digest,
        inputs: &[crate::Digest],
        payload: &[u8],
    ) {
        if let Some(tier) = &self.inner.shared {
            let meta = value::Meta {
                function: entry.name.to_owned(),
                fingerprint: entry.fingerprint,
                tags: entry.tags.iter().map(|tag| (*tag).to_owned()).collect(),
                inputs: inputs.iter().map(|input| input.0).collect(),
                args: entry.args.map(str::to_owned),
                call: entry.call.map(|call| call.0),
            };
            tier.put(
                krate,
                &meta,
                key,
                entry.created_ms,
                entry.expires_ms,
                payload,
            );
        }
    }

    /// Removes from the shared tier what an invalidation removed here: the values its
    /// index `kind:name` names (but those `keep` keeps), in the namespace of each crate in
    /// `crates`. A tier that cannot be reached is said once; the local removal stands.
    pub(super) fn forget_shared(
        &self,
        crates: &[String],
        kind: &str,
        name: &str,
        keep: impl Fn(&str) -> bool,
    ) {
        let Some(tier) = &self.inner.shared else {
            return;
        };
        let mut namespaces: Vec<&str> = crates.iter().map(|krate| tier.namespace(krate)).collect();
        namespaces.sort_unstable();
        namespaces.dedup();
        for namespace in namespaces {
            if let Err(why) = tier.forget(namespace, kind, name, &keep) {
                self.report_problem(|| {
                    format!("an invalidation did not reach the shared tier: {why}")
                });
                return;
            }
        }
    }

    /// The crate of the function named `name`: its module's first part, as its record
    /// says (a `name = ".."` option can name it anything).
    pub(super) fn crate_of(&self, name: &str) -> String {
        let module = self.function(name).ok().flatten().map(|f| f.module);
        let path = module.as_deref().unwrap_or(name);
        path.split("::").next().unwrap_or(path).to_owned()
    }

    /// The crates of the functions this store knows, whose namespaces hold their values.
    pub(super) fn crates(&self) -> Vec<String> {
        let mut crates: Vec<String> = self
            .functions()
            .unwrap_or_default()
            .into_iter()
            .map(|function| {
                function
                    .module
                    .split("::")
                    .next()
                    .unwrap_or_default()
                    .to_owned()
            })
            .collect();
        crates.sort();
        crates.dedup();
        crates
    }

    /// Sends every entry of this store to its shared tier (`memo remote push`): what is
    /// there already stays, what is too large stays local. `progress` hears (done, total).
    ///
    /// ```
    /// let store = memo::Store::temporary().unwrap();
    /// assert!(store.push_shared(&mut |_, _| {}).is_err(), "no tier");
    /// ```
    pub fn push_shared(&self, progress: &mut dyn FnMut(u64, u64)) -> crate::Result<RemoteReport> {
        self.inner.local()?;
        let tier = self.tier()?;
        if !tier.stats().read_write {
            return Err(crate::Error::Remote(
                "the shared tier is read-only here (MEMO_REMOTE_MODE=ro): pushing needs MEMO_REMOTE_MODE=rw".into(),
            ));
        }
        let records = self.records()?;
        let total = records.len() as u64;
        let mut report = RemoteReport::default();
        let inner = &*self.inner;
        for (done, chunk) in records.chunks(500).enumerate() {
            let mut blobs = Vec::new();
            for (_, record) in chunk {
                let bytes = match &record.inline {
                    Some(inline) => Some(inline.clone()),
                    None => inner
                        .trees()
                        .blobs
                        .get(record.output)
                        .map_err(|e| inner.storage(e))?
                        .filter(|bytes| super::files::read_pointer(bytes).is_none())
                        .map(|bytes| bytes.to_vec()),
                };
                blobs.push(bytes);
            }
            let mut pushed = Vec::new();
            for ((key, record), bytes) in chunk.iter().zip(&blobs) {
                match bytes {
                    Some(bytes) if bytes.len() <= tier.max_value_bytes() => pushed.push(Pushed {
                        key: *key,
                        created_ms: record.created_ms,
                        expires_ms: record.expires_ms,
                        meta: value::Meta {
                            function: record.function.clone(),
                            fingerprint: record.fingerprint.0,
                            tags: record.tags.clone(),
                            inputs: record.inputs.iter().map(|input| input.0).collect(),
                            args: record.args.clone(),
                            call: record.call.map(|c| c.0),
                        },
                        payload: bytes,
                    }),
                    _ => report.skipped += 1,
                }
            }
            let mut by_namespace: Vec<(String, Vec<Pushed<'_>>)> = Vec::new();
            for value in pushed {
                let namespace = tier
                    .namespace(&self.crate_of(&value.meta.function))
                    .to_owned();
                match by_namespace.iter_mut().find(|(ns, _)| *ns == namespace) {
                    Some((_, values)) => values.push(value),
                    None => by_namespace.push((namespace, vec![value])),
                }
            }
            for (namespace, values) in &by_namespace {
                let new = tier.push(namespace, values).map_err(|why| {
                    crate::Error::Remote(format!(
                        "{why}; nothing more was moved, and what was can stay"
                    ))
                })?;
                report.moved += new;
                report.already += values.len() as u64 - new;
            }
            progress(((done + 1) * 500).min(records.len()) as u64, total);
        }
        Ok(report)
    }

    /// Copies every value of the shared tier's namespace — `MEMO_REMOTE_NAMESPACE`, else
    /// those of the crates whose functions this store knows — into this store (`memo
    /// remote pull`); what is here already stays. `progress` hears (done, 0).
    ///
    /// ```
    /// let store = memo::Store::temporary()?;
    /// // Without a shared tier, an error says so.
    /// assert!(store.pull_shared(&mut |_, _| {}).is_err());
    /// # Ok::<(), memo::Error>(())
    /// ```
    pub fn pull_shared(&self, progress: &mut dyn FnMut(u64, u64)) -> crate::Result<RemoteReport> {
        self.inner.local()?;
        let tier = self.tier()?;
        let namespaces = self.namespaces(tier);
        if namespaces.is_empty() {
            return Err(crate::Error::Remote(
                "no namespace to pull: set MEMO_REMOTE_NAMESPACE, or run the program once so the store knows its functions".into(),
            ));
        }
        let mut report = RemoteReport::default();
        let mut failed = None;
        for namespace in &namespaces {
            let pulled = tier.pull(namespace, &mut |key, found| {
                match self.lookup(&key) {
                    Ok(Some(_)) => report.already += 1,
                    Ok(None) => {
                        let tags: Vec<&str> = found.meta.tags.iter().map(String::as_str).collect();
                        let entry = super::NewEntry {
                            name: &found.meta.function,
                            fingerprint: found.meta.fingerprint,
                            created_ms: found.created_ms,
                            expires_ms: found.expires_ms,
                            tags,
                            args: found.meta.args.as_deref(),
                            call: found.meta.call.map(crate::Digest),
                            compute_ns: None,
                        };
                        let output = crate::Digest::of_bytes(&found.payload);
                        let inputs: Vec<crate::Digest> = found
                            .meta
                            .inputs
                            .iter()
                            .copied()
                            .map(crate::Digest)
                            .collect();
                        if let Err(error) = self.insert(
                            &entry,
                            &key,
                            output,
                            super::Bytes::Held(&found.payload),
                            &inputs,
                        ) {
                            failed = Some(error);
                            return false;
                        }
                        report.moved += 1;
                    }
                    Err(error) => {
                        failed = Some(error);
                        return false;
                    }
                }
                progress(report.moved + report.already, 0);
                true
            });
            pulled.map_err(|why| {
                crate::Error::Remote(format!(
                    "{why}; nothing more was moved, and what was can stay"
                ))
            })?;
            if let Some(error) = failed.take() {
                return Err(error);
            }
        }
        self.flush()?;
        Ok(report)
    }

    /// The shared tier, or the error that says there is none.
    fn tier(&self) -> crate::Result<&SharedTier> {
        self.inner.shared.as_ref().ok_or_else(|| {
            crate::Error::Remote(
                "this store has no shared tier: set MEMO_REMOTE and MEMO_REMOTE_KEY (or MEMO_REMOTE_KEY_FILE)".into(),
            )
        })
    }

    /// Waits up to `timeout` for this process's writes to the shared tier to reach it.
    ///
    /// ```
    /// let store = memo::Store::temporary().unwrap();
    /// store.flush_shared(std::time::Duration::from_secs(1)); // no tier: returns at once
    /// ```
    pub fn flush_shared(&self, timeout: std::time::Duration) {
        if let Some(tier) = &self.inner.shared {
            tier.drain(timeout);
        }
    }

    /// How long the shared tier's server takes to answer, or why it does not; `None`
    /// when the store has no tier.
    ///
    /// ```
    /// let store = memo::Store::temporary().unwrap();
    /// assert!(store.ping_remote().is_none());
    /// ```
    pub fn ping_remote(&self) -> Option<Result<std::time::Duration, String>> {
        self.inner.shared.as_ref().map(SharedTier::ping)
    }

    /// The namespaces this store's values live in on the tier: `MEMO_REMOTE_NAMESPACE`,
    /// else those of the crates whose functions the store knows.
    fn namespaces(&self, tier: &SharedTier) -> Vec<String> {
        if let Some(namespace) = self.remote_stats().and_then(|stats| stats.namespace) {
            return vec![namespace];
        }
        let mut namespaces: Vec<String> = self
            .crates()
            .iter()
            .map(|krate| tier.namespace(krate).to_owned())
            .collect();
        namespaces.dedup();
        namespaces
    }

    /// How many values the shared tier's indexes name in this store's namespaces (see
    /// [`Store::pull_shared`](crate::Store::pull_shared)), if the store has a tier; why not, if it cannot say.
    ///
    /// ```
    /// let store = memo::Store::temporary().unwrap();
    /// assert!(store.remote_values().is_none());
    /// ```
    pub fn remote_values(&self) -> Option<Result<u64, String>> {
        let tier = self.inner.shared.as_ref()?;
        let mut total = 0;
        for namespace in self.namespaces(tier) {
            match tier.values(&namespace) {
                Ok(values) => total += values,
                Err(why) => return Some(Err(why)),
            }
        }
        Some(Ok(total))
    }

    /// The shared tier's counts and state, if the store has one.
    ///
    /// ```
    /// let store = memo::Store::temporary().unwrap();
    /// assert!(store.remote_stats().is_none());
    /// ```
    pub fn remote_stats(&self) -> Option<RemoteStats> {
        self.inner.shared.as_ref().map(SharedTier::stats)
    }
}
