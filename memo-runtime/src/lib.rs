//! The runtime of memo: the cache-key protocol, the store and the
//! call path that `#[cached]` expands into.
//!
//! Users depend on the `memo` facade, which re-exports what is public here.
//!
//! A key is a blake3 digest of a typed, length-prefixed stream: every value begins with a
//! tag naming its kind, variable-length values carry their length, and enum variants and
//! struct fields carry their names. Two values of different shape therefore never feed the
//! same stream, and the digest of a value is the same on every platform and in every run.
//!
//! A [`Store`] is one redb database per directory. A result is stored once under the
//! blake3 hash of its postcard bytes and verified against it when read; entries map keys to
//! that hash with their metadata.

#![warn(missing_docs)]

mod cached;
mod call;
mod clock;
mod code;
mod contain;
mod digest;
mod error;
mod explain;
#[doc(hidden)]
pub mod fuzz;
mod key;
mod listed;
mod memo;
mod names;
mod observe;
#[doc(hidden)]
pub mod raw;
mod scope;
mod store;
mod warn;

pub use cached::Cached;
pub use digest::{Digest, ParseDigestError};
pub use error::{Error, Result};
pub use explain::{Change, ChangeKind, Explanation, diff_components, explain};
pub use key::{CacheKey, FileContent, KEY_FORMAT_VERSION, KeyHasher, Serde, key_env, key_of};
pub use memo::Memo;
pub use observe::{FunctionReport, Report, observe, observe_async};
pub use scope::{
    Scoped, bypass, bypass_async, current_store, default_dir, default_store, enabled,
    enabled_async, refresh, refresh_async, set_default_store, with_store, with_store_async,
};
pub use store::{
    ArchiveReport, Component, Diagnosis, Engine, Entry, FunctionRecord, FunctionVersion, Gc,
    GcReport, Holder, Problem, RemoteConfig, RemoteCounts, RemoteReport, RemoteStats,
    STORE_FORMAT_VERSION, Stats, Store, StoreBuilder, VerifyReport,
};

#[doc(hidden)]
pub use call::exact::{
    Exact, ExactArgs, ExactFallback, ExactField, ExactKey, ExactTier, ExactWords, Kept, KeptWords,
    KeyWord, Skip, ValueWords, WordArgs,
};
#[doc(hidden)]
pub use call::{
    ArgsCloned, ArgsMoved, ArgsProbe, ArgsText, AsyncBody, Body, CallSite, Cloned, Deferred,
    Describe, DescribeByDebug, DescribeByFields, DescribeByType, DescribeFields, DescribeFn,
    MemoOf, Moved, Once, Outcome, Plain, Registration, Retry, RetryArg, SameByBytes, SameByEq,
    SameFn, SameProbe, Share, ShareBytes, ShareProbe, ShareTyped, SiteState, StaticComponent,
    Stored, Twice, call, call_async, call_async_flagged, call_flagged, call_ok, call_ok_async,
    call_ok_async_flagged, call_ok_flagged, registered, retry_arg, retrying, retrying_async,
};
pub use call::{MemoryUsage, memory_usage, set_memory_budget};
#[doc(hidden)]
pub use inventory;
