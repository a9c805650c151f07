//! memo: persistent, content-addressed memoization for Rust.
//!
//! A function's results are stored keyed by its arguments and by a fingerprint of its code,
//! so edited code never returns stale results. This crate is the one dependency to add; it
//! re-exports the runtime and the macros.
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
    RemoteConfig, RemoteCounts, RemoteReport, RemoteStats, Report, STORE_FORMAT_VERSION, Scoped,
    Serde, Stats, Store, StoreBuilder, VerifyReport, bypass, bypass_async, current_store,
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
        ExactField, ExactKey, ExactTier, KeyHasher, MemoOf, Moved, Plain, Registration,
        SameByBytes, SameByEq, SameProbe, ShareBytes, ShareProbe, ShareTyped, SiteState,
        StaticComponent, call, call_async, call_async_flagged, call_flagged, call_ok,
        call_ok_async, call_ok_async_flagged, call_ok_flagged, inventory, key_env, registered,
        retry_arg, retrying, retrying_async,
    };
}
