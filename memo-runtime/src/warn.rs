//! Warnings that the cache degraded, each said once per process so a loop does not flood
//! the log.

use std::collections::HashSet;
use std::sync::{Mutex, OnceLock};

/// Emits a `tracing` warning the first time `topic` is seen in this process.
pub(crate) fn once(topic: &str, message: impl FnOnce() -> String) {
    static SEEN: OnceLock<Mutex<HashSet<String>>> = OnceLock::new();
    let seen = SEEN.get_or_init(Default::default);
    let first = seen
        .lock()
        .unwrap_or_else(|poison| poison.into_inner())
        .insert(topic.to_owned());
    if first {
        tracing::warn!(target: "memo", "{}", message());
    }
}
