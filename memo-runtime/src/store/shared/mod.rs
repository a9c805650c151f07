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
mod client;
#[cfg_attr(not(feature = "remote"), allow(dead_code))]
mod config;
#[cfg(feature = "remote")]
mod lock;
#[cfg(feature = "remote")]
mod tier;
#[cfg_attr(not(feature = "remote"), allow(dead_code))]
mod value;

pub use config::RemoteConfig;
#[cfg(feature = "remote")]
pub(crate) use lock::SharedLock;
#[cfg(feature = "remote")]
pub(crate) use tier::SharedTier;
#[cfg_attr(not(feature = "remote"), allow(unused_imports))]
pub(crate) use value::is_of_version;

/// The shared tier's counts and state, as [`Store::stats`](crate::Store::stats) reports
/// them.
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
    /// Whether the breaker is open: the server failed, and is skipped for a while.
    pub breaker_open: bool,
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
    pub payload: Vec<u8>,
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

    #[allow(clippy::too_many_arguments)]
    pub(crate) fn put(
        &self,
        _: &str,
        _: &str,
        _: &[&str],
        _: &[u8; 32],
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

    pub(crate) fn ping(&self) -> Result<std::time::Duration, String> {
        match self.0 {}
    }
}

impl crate::Store {
    /// The value of `key` from the shared tier, after a local miss: checked, stored
    /// locally (`entry` describes it, with the time it was computed and its expiry taken
    /// from the value), and returned as a hit. `krate` names the function's namespace.
    pub(crate) fn fetch_shared(
        &self,
        entry: &super::NewEntry<'_>,
        krate: &str,
        key: &crate::Digest,
        inputs: &[crate::Digest],
    ) -> Option<super::access::Hit> {
        let tier = self.inner.shared.as_ref()?;
        let found = tier.get(krate, &entry.fingerprint, key)?;
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

    /// Waits for the value of `key` that another machine computes, and backfills it as
    /// [`Store::fetch_shared`] does; `None` if its lock went without one.
    pub(crate) fn await_shared(
        &self,
        entry: &super::NewEntry<'_>,
        krate: &str,
        key: &crate::Digest,
        inputs: &[crate::Digest],
    ) -> Option<super::access::Hit> {
        let tier = self.inner.shared.as_ref()?;
        let found = tier.await_value(krate, &entry.fingerprint, key)?;
        Some(self.backfill(entry, key, inputs, found))
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
        let entry = super::NewEntry {
            created_ms: found.created_ms,
            expires_ms: found.expires_ms,
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

    /// Whether the store has a shared tier behind it.
    pub(crate) fn has_shared(&self) -> bool {
        self.inner.shared.is_some()
    }

    /// Queues `payload`, the result just stored locally under `key`, for the shared tier.
    pub(crate) fn share(
        &self,
        entry: &super::NewEntry<'_>,
        krate: &str,
        key: &crate::Digest,
        payload: &[u8],
    ) {
        if let Some(tier) = &self.inner.shared {
            tier.put(
                krate,
                entry.name,
                &entry.tags,
                &entry.fingerprint,
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
