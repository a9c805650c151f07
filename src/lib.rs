//! memo: persistent, content-addressed memoization for Rust.
//!
//! Put [`#[cached]`](cached) on a slow, deterministic function and its results are stored
//! on disk, keyed by its arguments and by a fingerprint of its code taken at compile time:
//! edit the function, a helper it calls, a const, a dependency or the build configuration
//! and its old results stop matching; reformat it or edit a comment and they still match.
//! This crate is the one dependency to add (the package `memo-persist`, whose library is
//! `memo`); it re-exports the runtime and the macros.
//!
//! # Quickstart
//!
//! ```
//! use memo::cached;
//!
//! #[cached]
//! fn slow_square(x: u64) -> u64 {
//!     std::thread::sleep(std::time::Duration::from_millis(20));
//!     x * x
//! }
//!
//! // Programs use the default store (`$MEMO_DIR`, else `.memo/`); tests and examples pass
//! // their own.
//! let store = memo::Store::temporary()?;
//! memo::with_store(&store, || {
//!     assert_eq!(slow_square(12), 144); // computed and stored
//!     assert_eq!(slow_square(12), 144); // a hit: no sleep
//! });
//! assert_eq!(store.stats()?.hits, 1);
//! # Ok::<(), memo::Error>(())
//! ```
//!
//! # Options of `#[cached]`
//!
//! | option | effect |
//! | --- | --- |
//! | `ttl = "1h"` | results expire (`"90s"`, `"30m"`, `"7d"`, or seconds) |
//! | `tags = ["ml"]` | stored with tags, for [`Store::invalidate_tag`] and `memo invalidate --tag` |
//! | `name = "stable"` | the function's identity across renames and moves (default `module::function`) |
//! | `version = 2` | a manual salt: bump it to drop the old results |
//! | `skip(verbose)` | arguments left out of the key |
//! | `deps = [helper, serde]` | items or crates the fingerprint cannot see, counted anyway |
//! | `args = "hidden"` | the arguments' readable form is not recorded with the entries |
//! | `env = ["MODEL_URL"]` | those environment variables' values key each call |
//! | `flag` | the function returns [`Cached<T>`](Cached), which says whether it was a hit |
//! | `retries = 3` | an `Err` (or a `None`) runs again after a short backoff; never stored |
//!
//! A bad option, an argument that cannot be keyed (`&mut`, `impl Trait`) or a return that
//! cannot be stored is a compile error that points at it.
//!
//! # Pipelines
//!
//! A [`Memo<T>`](Memo) result keys the next cached function by its content hash, so a
//! pipeline re-runs exactly the steps downstream of a change:
//!
//! ```
//! use memo::{Memo, cached};
//!
//! #[cached]
//! fn load(rows: u32) -> Memo<Vec<u32>> {
//!     Memo::new((0..rows).collect())
//! }
//!
//! #[cached]
//! fn total(data: &Memo<Vec<u32>>) -> u64 {
//!     data.iter().map(|&x| u64::from(x)).sum()
//! }
//!
//! let store = memo::Store::temporary()?;
//! let (sum, report) = memo::with_store(&store, || memo::observe(|| total(&load(100))));
//! assert_eq!(sum, 4950);
//! assert_eq!(report.total().misses, 2);
//! # Ok::<(), memo::Error>(())
//! ```
//!
//! # What the fingerprint covers, and what it cannot see
//!
//! Covered: the function's own tokens (not comments or layout), every item of the package
//! it reaches, transitively (helpers, methods by name, consts, statics, macros, types and
//! their impls), the crates it names (a registry crate by version, a git crate by commit,
//! a path crate by its sources), the files it includes, the `env!` values it reads, and the
//! build configuration (`cfg`s, edition, target, optimisation settings that change what
//! code computes, the compiler). [`explain`] lists each component, and which changed.
//!
//! Not seen: what the code reads at run time — files, the network, the clock, environment
//! variables (name them with `env = [..]`), global state — and code reached only through a
//! `dyn Trait` object or a function pointer built elsewhere. Such functions are not
//! deterministic in their arguments: key what they read, name what they reach with
//! `deps = [..]`, or set `MEMO_AUDIT=1%` to re-run a share of hits and be warned of a
//! mismatch.
//!
//! # Failure policy
//!
//! Never a stale or wrong result, never a broken program, then speed. A store that cannot
//! be opened, is locked, full, read-only or damaged makes calls run uncached with one
//! warning; a damaged entry is recomputed; a result that fails to encode or decode is
//! recomputed; the shared tier's failures fall back to the local store within a bounded
//! time. No result is returned unless its bytes match their hash.
//!
//! # Run time
//!
//! | variable | effect |
//! | --- | --- |
//! | `MEMO_DIR` | the default store's directory (else `.memo/`) |
//! | `MEMO_DISABLE=1` | caching off |
//! | `MEMO_BYPASS=a::f,b::*` | those functions run uncached |
//! | `MEMO_REPORT=1` | [`observe`]'s table for the whole process, at exit |
//! | `MEMO_TRACE=trace.json` | every call as a Chrome trace event, at exit |
//! | `MEMO_MAX_SIZE=10GiB`, `MEMO_MAX_ENTRIES` | a size budget, kept by evicting the least recently used |
//! | `MEMO_AUDIT=1%` | that share of hits also recompute and compare |
//! | `MEMO_REMOTE=redis://…` | a shared tier behind the local store (feature `remote`) |
//!
//! Scopes: [`with_store`], [`bypass`], [`refresh`], [`enabled`], each with an `_async`
//! form. The store: [`Store`], [`StoreBuilder`], [`Gc`]; the `memo` command inspects,
//! explains, invalidates and collects it from the shell.
//!
//! # Cargo features
//!
//! - `source` (on by default): each cached function carries the source text of what its
//!   fingerprint is made of (deflated, each text once per crate), which the store keeps
//!   for `memo explain --diff`. Turn default features off for a binary that must not
//!   carry its code; `explain` then names what changed but not the lines.
//! - `sled`: the sled storage engine beside redb (`StoreBuilder::engine`, `MEMO_ENGINE=sled`).
//! - `remote`: the shared tier on Redis behind the local store (`MEMO_REMOTE`,
//!   `StoreBuilder::remote`).
//! - `remote-cluster`: the shared tier on a Redis Cluster
//!   (`MEMO_REMOTE=redis+cluster://host:port,host:port`).
//! - `remote-tls`: the shared tier over TLS (`rediss://…`, `MEMO_REMOTE_CA_FILE`).
//!
//! # Keys
//!
//! Every argument of a cached function is keyed through [`CacheKey`]: a typed stream fed to
//! blake3, stable across runs and platforms. memo implements it for the std types people
//! pass; derive it for your own:
//!
//! ```
//! use memo::CacheKey;
//!
//! #[derive(CacheKey)]
//! struct Params {
//!     lr: f64,
//!     epochs: u32,
//!     #[cache_key(skip)]
//!     verbose: bool,
//! }
//!
//! let quiet = Params { lr: 0.1, epochs: 10, verbose: false };
//! let loud = Params { lr: 0.1, epochs: 10, verbose: true };
//! let longer = Params { lr: 0.1, epochs: 20, verbose: false };
//! assert_eq!(memo::key_of(&quiet), memo::key_of(&loud));
//! assert_ne!(memo::key_of(&quiet), memo::key_of(&longer));
//! ```

pub use memo_derive::CacheKey;
pub use memo_macros::cached;
pub use memo_runtime::{
    ArchiveReport, CacheKey, Cached, Change, ChangeKind, Component, Diagnosis, Digest, Engine,
    Entry, Error, Explanation, FileContent, FunctionRecord, FunctionReport, FunctionVersion, Gc,
    GcReport, Holder, KEY_FORMAT_VERSION, KeyHasher, Memo, MemoryUsage, ParseDigestError, Problem,
    RemoteConfig, RemoteCounts, RemoteReport, RemoteStats, Report, Result, STORE_FORMAT_VERSION,
    Scoped, Serde, Stats, Store, StoreBuilder, VerifyReport, bypass, bypass_async, current_store,
    default_dir, default_store, diff_components, enabled, enabled_async, explain, key_of,
    memory_usage, observe, observe_async, refresh, refresh_async, set_default_store,
    set_memory_budget, with_store, with_store_async,
};

/// The source text `#[cached]` packs into each function's call site, for `memo explain
/// --diff`: kept with the `source` feature (on by default), an empty pack without it, so a
/// binary shipped to others need not carry its code.
#[doc(hidden)]
#[cfg(feature = "source")]
#[macro_export]
macro_rules! __source {
    ($pack:literal) => {
        $pack
    };
}

/// See the other `__source`.
#[doc(hidden)]
#[cfg(not(feature = "source"))]
#[macro_export]
macro_rules! __source {
    ($pack:literal) => {
        b""
    };
}

/// What generated code names. Not a public API: it changes without notice.
#[doc(hidden)]
pub mod __private {
    pub use memo_runtime::{
        ArgsCloned, ArgsMoved, ArgsProbe, ArgsText, CacheKey, CallSite, Deferred, Describe,
        DescribeByDebug, DescribeByFields, DescribeByType, DescribeFields, Exact, ExactFallback,
        ExactField, ExactKey, ExactTier, ExactWords, KeyHasher, MemoOf, Moved, Plain, Registration,
        SameByBytes, SameByEq, SameProbe, ShareBytes, ShareProbe, ShareTyped, SiteState,
        StaticComponent, call, call_async, call_async_flagged, call_flagged, call_ok,
        call_ok_async, call_ok_async_flagged, call_ok_flagged, inventory, key_env, registered,
        retry_arg, retrying, retrying_async,
    };
}
