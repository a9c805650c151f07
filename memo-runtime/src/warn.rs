//! Warnings that the cache degraded, each said once per process so a loop does not flood
//! the log.
//!
//! They go to `tracing` (target `memo`). A program that installed no subscriber would see
//! nothing there, so then each is one line on stderr instead; `MEMO_LOG=off` silences
//! those lines.

use std::collections::HashSet;
use std::io::Write;
use std::sync::{Mutex, OnceLock};

use tracing::Level;

/// Emits a warning the first time `topic` is seen in this process.
pub(crate) fn once(topic: &str, message: impl FnOnce() -> String) {
    emit(Level::WARN, topic, message);
}

/// Emits an error the first time `topic` is seen in this process: for what a user must
/// act on, such as a result the fingerprint did not protect.
pub(crate) fn loud(topic: &str, message: impl FnOnce() -> String) {
    emit(Level::ERROR, topic, message);
}

fn emit(level: Level, topic: &str, message: impl FnOnce() -> String) {
    static SEEN: OnceLock<Mutex<HashSet<String>>> = OnceLock::new();
    let seen = SEEN.get_or_init(Default::default);
    let first = seen
        .lock()
        .unwrap_or_else(|poison| poison.into_inner())
        .insert(topic.to_owned());
    if !first {
        return;
    }
    let message = message();
    let heard = tracing::dispatcher::get_default(|dispatch| {
        !dispatch.is::<tracing::subscriber::NoSubscriber>()
    });
    if heard {
        if level == Level::ERROR {
            tracing::error!(target: "memo", "{message}");
        } else {
            tracing::warn!(target: "memo", "{message}");
        }
    } else if !silenced() {
        let label = if level == Level::ERROR {
            "error"
        } else {
            "warning"
        };
        // Never a panic for a closed stderr.
        let _ = writeln!(std::io::stderr(), "memo {label}: {message}");
    }
}

/// Whether `MEMO_LOG=off` asked for no lines on stderr.
fn silenced() -> bool {
    static OFF: OnceLock<bool> = OnceLock::new();
    *OFF.get_or_init(|| {
        std::env::var("MEMO_LOG").is_ok_and(|value| value.trim().eq_ignore_ascii_case("off"))
    })
}
