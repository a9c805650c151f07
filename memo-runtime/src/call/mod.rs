//! The call path that `#[cached]` expands into: key, look up, or compute once and store.

pub(crate) mod flight;

use std::convert::Infallible;
use std::marker::PhantomData;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::error::{Error, Result};
use crate::store::decode_exact;
use crate::{Component, Digest, KeyHasher, Store, scope, warn};
use flight::Joined;

/// A cached function, as its `#[cached]` expansion describes it in a `static`.
#[doc(hidden)]
#[derive(Debug)]
pub struct CallSite {
    /// The stable name: `module::function`, or the `name = ".."` option.
    pub name: &'static str,
    /// `module_path!()` where the function is defined.
    pub module: &'static str,
    /// `file!()` of the definition.
    pub file: &'static str,
    /// `line!()` of the definition.
    pub line: u32,
    /// The blake3 fingerprint of the function's code, taken at compile time.
    pub fingerprint: [u8; 32],
    /// How long a result stays valid, if limited.
    pub ttl_secs: Option<u64>,
    /// The tags stored with each result.
    pub tags: &'static [&'static str],
    /// What the fingerprint is made of.
    pub components: &'static [StaticComponent],
}

/// One fingerprint component, as compiled into a [`CallSite`].
#[doc(hidden)]
#[derive(Debug)]
pub struct StaticComponent {
    /// See [`Component::kind`].
    pub kind: &'static str,
    /// See [`Component::path`].
    pub path: &'static str,
    /// See [`Component::location`].
    pub location: &'static str,
    /// See [`Component::hash`].
    pub hash: [u8; 32],
}

impl CallSite {
    /// A hasher primed with what identifies this function's code, ready for the arguments.
    pub fn hasher(&self) -> KeyHasher {
        let mut hasher = KeyHasher::new();
        hasher.write_raw(&self.fingerprint);
        hasher.write_str_raw(self.name);
        hasher
    }

    pub(crate) fn components(&self) -> Vec<Component> {
        self.components
            .iter()
            .map(|c| Component {
                kind: c.kind.to_owned(),
                path: c.path.to_owned(),
                location: c.location.to_owned(),
                hash: Digest(c.hash),
            })
            .collect()
    }
}

/// How a kind of return value is stored: encoded with postcard, and rebuilt from the
/// bytes and their content hash.
#[doc(hidden)]
pub trait Stored {
    /// The function's return value (for `Result`, its `Ok` value).
    type Value;
    /// The bytes to store.
    fn encode(value: &Self::Value) -> Result<Vec<u8>, postcard::Error>;
    /// The value back, or `None` if the bytes do not decode into it (its type changed).
    fn decode(bytes: &[u8], hash: Digest) -> Option<Self::Value>;
}

/// Any `Serialize + DeserializeOwned` value, stored as itself.
#[doc(hidden)]
pub struct Plain<T>(PhantomData<T>);

impl<T: Serialize + DeserializeOwned> Stored for Plain<T> {
    type Value = T;

    fn encode(value: &T) -> Result<Vec<u8>, postcard::Error> {
        postcard::to_stdvec(value)
    }

    fn decode(bytes: &[u8], _: Digest) -> Option<T> {
        decode_exact(bytes)
    }
}

/// Runs a cached function whose every result is stored.
#[doc(hidden)]
pub fn call<S: Stored>(
    site: &'static CallSite,
    key: KeyHasher,
    compute: impl FnOnce() -> S::Value,
) -> S::Value {
    match call_ok::<S, Infallible>(site, key, || Ok(compute())) {
        Ok(value) => value,
        Err(never) => match never {},
    }
}

/// Runs a cached function that returns `Result`: only `Ok` values are stored, and an `Err`
/// is returned to its caller alone.
#[doc(hidden)]
pub fn call_ok<S: Stored, E>(
    site: &'static CallSite,
    key: KeyHasher,
    compute: impl FnOnce() -> Result<S::Value, E>,
) -> Result<S::Value, E> {
    let Some(store) = scope::active_store() else {
        return compute();
    };
    if let Some(reason) = key.uncacheable() {
        warn::once(&format!("uncacheable {}", site.name), || {
            format!("memo: `{}` runs uncached: {reason}", site.name)
        });
        return compute();
    }
    let digest = key.finish();
    if let Err(error) = contained(|| store.record_function(site)) {
        degraded(&store, &error);
    }
    let refresh = scope::refreshing();
    if !refresh && let Some(value) = lookup::<S>(&store, &digest) {
        store.count_hit();
        return Ok(value);
    }
    loop {
        match store.inner.flights.join(digest) {
            Joined::Leader(leader) => {
                // Another caller may have stored the result between the lookup and now.
                if !refresh && let Some(value) = lookup::<S>(&store, &digest) {
                    store.count_hit();
                    leader.finish(None);
                    return Ok(value);
                }
                store.count_miss();
                let result = compute();
                let shared = match &result {
                    Ok(value) => save::<S>(&store, site, &digest, &key, value),
                    Err(_) => None,
                };
                leader.finish(shared);
                return result;
            }
            Joined::Follower(flight) => {
                if let Some((output, bytes)) = flight.wait()
                    && let Some(value) = S::decode(&bytes, output)
                {
                    store.count_hit();
                    return Ok(value);
                }
                // The leader failed or stored nothing: take the lead, or follow a new one.
            }
        }
    }
}

fn lookup<S: Stored>(store: &Store, key: &Digest) -> Option<S::Value> {
    match contained(|| store.lookup(key)) {
        Ok(Some(hit)) => S::decode(&hit.bytes, hit.output),
        Ok(None) => None,
        Err(error) => {
            degraded(store, &error);
            None
        }
    }
}

/// Encodes and stores a fresh result; the encoded bytes are shared with waiting callers.
fn save<S: Stored>(
    store: &Store,
    site: &'static CallSite,
    key: &Digest,
    hasher: &KeyHasher,
    value: &S::Value,
) -> Option<flight::Shared> {
    let bytes = match S::encode(value) {
        Ok(bytes) => bytes,
        Err(error) => {
            warn::once(&format!("encode {}", site.name), || {
                format!(
                    "memo: `{}` runs uncached: {}",
                    site.name,
                    Error::Encode(error)
                )
            });
            return None;
        }
    };
    let output = Digest::of_bytes(&bytes);
    if let Err(error) = contained(|| store.insert(site, key, output, &bytes, hasher.inputs())) {
        degraded(store, &error);
    }
    Some((output, Arc::from(bytes)))
}

/// Runs a store operation, turning a panic inside the storage engine into an error.
fn contained<T>(op: impl FnOnce() -> Result<T>) -> Result<T> {
    catch_unwind(AssertUnwindSafe(op))
        .unwrap_or_else(|panic| Err(Error::Panicked(crate::store::panic_message(&*panic))))
}

fn degraded(store: &Store, error: &Error) {
    warn::once(&format!("store failed {}", store.dir().display()), || {
        format!("memo: caching is degraded, results are computed but may not be stored: {error}")
    });
}
