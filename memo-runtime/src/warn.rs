//! Warnings that the cache degraded, each said once per process so a loop does not flood
//! the log.
//!
//! They go to `tracing` (target `memo`). A program that installed no subscriber would see
//! nothing there, so then each is one line on stderr instead; `MEMO_LOG=off` silences
//! those lines, and `MEMO_LOG=debug` adds the details of what memo did about each problem.

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

/// Says more of what memo did: at debug level in `tracing`, and on stderr only when
/// `MEMO_LOG=debug` and no subscriber is installed. Never once per topic: each is a rare
/// event (a store healed, a codec chosen), told whole.
pub(crate) fn debug(message: impl FnOnce() -> String) {
    if heard() {
        tracing::debug!(target: "memo", "{}", message());
    } else if log_level() == LogLevel::Debug {
        let _ = writeln!(std::io::stderr(), "memo debug: {}", message());
    }
}

fn heard() -> bool {
    tracing::dispatcher::get_default(|dispatch| !dispatch.is::<tracing::subscriber::NoSubscriber>())
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
    if heard() {
        if level == Level::ERROR {
            tracing::error!(target: "memo", "{message}");
        } else {
            tracing::warn!(target: "memo", "{message}");
        }
    } else if log_level() != LogLevel::Off {
        let label = if level == Level::ERROR {
            "error"
        } else {
            "warning"
        };
        // Never a panic for a closed stderr.
        let _ = writeln!(std::io::stderr(), "memo {label}: {message}");
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum LogLevel {
    Off,
    Warn,
    Debug,
}

/// What `MEMO_LOG` asks for on stderr: `off`, `debug` (or `trace`), else warnings.
fn log_level() -> LogLevel {
    static LEVEL: OnceLock<LogLevel> = OnceLock::new();
    *LEVEL.get_or_init(|| {
        let value = std::env::var("MEMO_LOG").unwrap_or_default();
        match value.trim().to_ascii_lowercase().as_str() {
            "off" | "none" | "0" => LogLevel::Off,
            "debug" | "trace" => LogLevel::Debug,
            _ => LogLevel::Warn,
        }
    })
}
