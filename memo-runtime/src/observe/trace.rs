//! `MEMO_TRACE=path.json`: every cached call as a Chrome trace event — a complete event
//! (`"ph": "X"`) named after the function, with its outcome, its start and duration in
//! µs, and the thread it ran on — written when the process exits, for Perfetto or
//! `chrome://tracing` to open.

use std::cell::Cell;
use std::fmt::Write as _;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

use crate::warn;

/// No more events are kept: a trace of a million calls is already more than a viewer
/// opens comfortably. Those past it are counted, and the file says how many.
const MAX_EVENTS: usize = 1_000_000;

struct Trace {
    path: PathBuf,
    epoch: Instant,
    events: Mutex<Vec<Event>>,
    dropped: AtomicU64,
}

struct Event {
    function: &'static str,
    outcome: &'static str,
    start: Duration,
    took: Duration,
    thread: u64,
}

static TRACE: OnceLock<Trace> = OnceLock::new();

/// Reads `MEMO_TRACE`; whether a trace is kept.
pub(super) fn start() -> bool {
    let Some(path) = std::env::var_os("MEMO_TRACE").filter(|p| !p.is_empty()) else {
        return false;
    };
    let trace = Trace {
        path: PathBuf::from(path),
        epoch: Instant::now(),
        events: Mutex::new(Vec::new()),
        dropped: AtomicU64::new(0),
    };
    if TRACE.set(trace).is_ok() {
        super::on_exit(write);
    }
    true
}

/// A small number for the calling thread, the same for all its events.
fn thread_number() -> u64 {
    static NEXT: AtomicU64 = AtomicU64::new(1);
    thread_local! {
        static NUMBER: Cell<u64> = const { Cell::new(0) };
    }
    NUMBER.with(|n| {
        if n.get() == 0 {
            n.set(NEXT.fetch_add(1, Ordering::Relaxed));
        }
        n.get()
    })
}

/// Keeps one call's event, if a trace is kept.
pub(super) fn event(function: &'static str, began: Instant, took: Duration, outcome: &'static str) {
    let Some(trace) = TRACE.get() else {
        return;
    };
    let event = Event {
        function,
        outcome,
        start: began.saturating_duration_since(trace.epoch),
        took,
        thread: thread_number(),
    };
    let mut events = super::lock(&trace.events);
    if events.len() < MAX_EVENTS {
        events.push(event);
    } else {
        trace.dropped.fetch_add(1, Ordering::Relaxed);
    }
}

/// A JSON string literal of `text`.
fn quoted(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('"');
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// The trace file's text: `{"traceEvents": [...], ...}`.
fn json(trace: &Trace) -> String {
    let events = super::lock(&trace.events);
    let pid = std::process::id();
    let mut out = String::from("{\"traceEvents\":[\n");
    for (i, e) in events.iter().enumerate() {
        let _ = write!(
            out,
            "{}{{\"name\":{},\"cat\":\"memo\",\"ph\":\"X\",\"ts\":{:.3},\"dur\":{:.3},\"pid\":{pid},\"tid\":{},\"args\":{{\"outcome\":\"{}\"}}}}",
            if i == 0 { "" } else { ",\n" },
            quoted(e.function),
            e.start.as_secs_f64() * 1e6,
            e.took.as_secs_f64() * 1e6,
            e.thread,
            e.outcome,
        );
    }
    let _ = write!(
        out,
        "\n],\"displayTimeUnit\":\"ms\",\"otherData\":{{\"producer\":\"memo\",\"dropped_events\":{}}}}}\n",
        trace.dropped.load(Ordering::Relaxed)
    );
    out
}

/// Writes the trace, at exit; a file that cannot be written is said once.
fn write() {
    let Some(trace) = TRACE.get() else {
        return;
    };
    if let Err(error) = std::fs::write(&trace.path, json(trace)) {
        warn::once("MEMO_TRACE", || {
            format!(
                "MEMO_TRACE: could not write the trace to {}: {error}",
                trace.path.display()
            )
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_read_as_json_trace_events() {
        let trace = Trace {
            path: PathBuf::new(),
            epoch: Instant::now(),
            events: Mutex::new(vec![Event {
                function: "a::\"odd\"\\name",
                outcome: "hit",
                start: Duration::from_micros(1500),
                took: Duration::from_nanos(2500),
                thread: 3,
            }]),
            dropped: AtomicU64::new(2),
        };
        let text = json(&trace);
        assert!(text.contains(r#""name":"a::\"odd\"\\name""#), "{text}");
        assert!(text.contains(r#""ts":1500.000,"dur":2.500"#), "{text}");
        assert!(text.contains(r#""dropped_events":2"#), "{text}");
        assert_eq!(quoted("\n"), "\"\\u000a\"");
    }
}
