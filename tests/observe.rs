//! Run insight: `memo::observe`'s report of a known pipeline (counts, time computing, time
//! saved, across threads and processes), `MEMO_REPORT=1` at exit, `MEMO_TRACE` as Chrome
//! trace events, and the `tracing` span of each call.

mod support;

use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use memo::{Memo, Store, cached};
use support::child::{child, in_child, number_after};

#[cached]
fn load(rows: usize) -> Memo<Vec<u64>> {
    std::thread::sleep(Duration::from_millis(30));
    Memo::new((0..rows as u64).collect())
}

#[cached]
fn scale(data: &Memo<Vec<u64>>, by: u64) -> Memo<Vec<u64>> {
    Memo::new(data.iter().map(|x| x * by).collect())
}

#[cached]
fn total(data: &Memo<Vec<u64>>) -> u64 {
    data.iter().sum()
}

// Each test calls functions of its own: a thread not inside an `observe` (a scoped
// thread of another test) counts for every one open.
#[cached]
fn summed(data: &Memo<Vec<u64>>) -> u64 {
    data.iter().sum()
}

#[cached]
fn noted(x: u64) -> u64 {
    x + 1
}

#[cached]
fn traced(x: u64) -> u64 {
    x * 2
}

#[cached]
fn apart(x: u64) -> u64 {
    x * 3
}

fn pipeline(by: u64) -> u64 {
    let data = load(100);
    total(&scale(&data, by))
}

#[test]
fn the_report_counts_a_known_pipeline_and_what_its_hits_saved() {
    let store = Store::temporary().unwrap();
    let (sums, report) = memo::with_store(&store, || {
        memo::observe(|| (pipeline(2), pipeline(2), pipeline(3)))
    });
    assert_eq!(sums, (9900, 9900, 14850));
    let load = report.function("load").unwrap();
    assert_eq!(
        (load.calls, load.hits, load.misses, load.uncached),
        (3, 2, 1, 0)
    );
    assert!(load.computing >= Duration::from_millis(30), "{report}");
    assert!(
        load.saved >= Duration::from_millis(60),
        "two hits saved a 30 ms computation each: {report}"
    );
    assert_eq!(load.saved_unknown, 0);
    let scale = report.function("scale").unwrap();
    assert_eq!((scale.calls, scale.hits, scale.misses), (3, 1, 2));
    let total = report.function("total").unwrap();
    assert_eq!((total.calls, total.hits, total.misses), (3, 1, 2));
    assert_eq!(report.total().calls, 9);
    let table = report.to_string();
    for name in ["load", "scale", "total"] {
        assert!(table.contains(&format!("::{name}")), "{table}");
    }

    // Outside `observe`, nothing is counted; a new one starts from nothing.
    memo::with_store(&store, || pipeline(4));
    let (_, again) = memo::with_store(&store, || memo::observe(|| pipeline(2)));
    assert_eq!(again.total().calls, 3);
    assert_eq!(again.total().hits, 3);
    assert!(again.function("scale").unwrap().hits == 1);
}

#[test]
fn calls_on_scoped_threads_and_under_bypass_are_counted() {
    let store = Store::temporary().unwrap();
    let (_, report) = memo::with_store(&store, || {
        memo::observe(|| {
            std::thread::scope(|scope| {
                for _ in 0..4 {
                    // A scoped thread starts with no store in scope: it names one.
                    scope.spawn(|| memo::with_store(&store, || summed(&Memo::new(vec![1, 2]))));
                }
            });
            memo::bypass(|| summed(&Memo::new(vec![1, 2])))
        })
    });
    let summed = report.function("summed").unwrap();
    assert_eq!(summed.calls, 5, "{report}");
    assert_eq!(summed.hits + summed.misses, 4, "{report}");
    assert_eq!(summed.uncached, 1, "the bypassed call: {report}");
}

#[test]
fn a_panicking_closure_leaves_no_observer_behind() {
    let store = Store::temporary().unwrap();
    let caught = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        memo::with_store(&store, || {
            memo::observe(|| {
                noted(7);
                panic!("the pipeline failed");
            })
        })
    }));
    assert!(caught.is_err());
    let (_, report) = memo::with_store(&store, || memo::observe(|| noted(7)));
    assert_eq!(report.function("noted").unwrap().calls, 1, "{report}");
}

#[test]
fn threads_that_observe_their_own_calls_keep_them_apart() {
    let store = Store::temporary().unwrap();
    let barrier = std::sync::Barrier::new(2);
    let reports: Vec<memo::Report> = std::thread::scope(|scope| {
        let handles: Vec<_> = [1u64, 2]
            .into_iter()
            .map(|n| {
                let (store, barrier) = (&store, &barrier);
                scope.spawn(move || {
                    memo::with_store(store, || {
                        memo::observe(|| {
                            // Both observe at once.
                            barrier.wait();
                            for x in 0..n * 10 {
                                apart(x);
                            }
                            barrier.wait();
                        })
                        .1
                    })
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    assert_eq!(reports[0].function("apart").unwrap().calls, 10);
    assert_eq!(reports[1].function("apart").unwrap().calls, 20);
}

/// A child that runs the pipeline against the store in `MEMO_DIR` and prints its report.
#[test]
#[ignore = "run by the tests below, as a child process"]
fn child_pipeline() {
    if !in_child() {
        return;
    }
    let (sum, report) = memo::observe(|| pipeline(2));
    println!("sum {sum}");
    let load = report.function("load").unwrap();
    println!(
        "load hits {} misses {} saved_ms {}",
        load.hits,
        load.misses,
        load.saved.as_millis()
    );
}

#[test]
fn a_new_process_knows_what_its_hits_saved_from_the_store() {
    let dir = tempfile::tempdir().unwrap();
    let first = child("child_pipeline", dir.path()).output().unwrap();
    let first = String::from_utf8_lossy(&first.stdout).into_owned();
    assert!(first.contains("load hits 0 misses 1"), "{first}");
    let second = child("child_pipeline", dir.path()).output().unwrap();
    let second = String::from_utf8_lossy(&second.stdout).into_owned();
    assert!(second.contains("load hits 1 misses 0"), "{second}");
    let saved = number_after(&second, "saved_ms ");
    assert!(saved >= 30, "the stored compute time of load: {second}");
}

#[test]
fn memo_report_prints_the_process_table_at_exit() {
    let dir = tempfile::tempdir().unwrap();
    let out = child("child_pipeline", dir.path())
        .env("MEMO_REPORT", "1")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    let table = stderr
        .split("memo report (MEMO_REPORT):")
        .nth(1)
        .unwrap_or_else(|| panic!("no report at exit: {stderr}"));
    assert!(table.contains("FUNCTION"), "{table}");
    let load_row = table
        .lines()
        .find(|line| line.contains("::load"))
        .unwrap_or_else(|| panic!("{table}"));
    // calls 1, hits 0, misses 1, uncached 0.
    let cells: Vec<&str> = load_row.split_whitespace().collect();
    assert_eq!(&cells[1..5], ["1", "0", "1", "0"], "{table}");
    // Unset, or `0`, prints nothing.
    let quiet = child("child_pipeline", dir.path())
        .env("MEMO_REPORT", "0")
        .output()
        .unwrap();
    assert!(!String::from_utf8_lossy(&quiet.stderr).contains("memo report"));
}

#[test]
fn memo_trace_writes_chrome_trace_events_that_parse() {
    let dir = tempfile::tempdir().unwrap();
    let trace = dir.path().join("trace.json");
    for _ in 0..2 {
        let out = child("child_pipeline", &dir.path().join("store"))
            .env("MEMO_TRACE", &trace)
            .output()
            .unwrap();
        assert!(out.status.success());
    }
    // The second run's: three hits.
    let text = std::fs::read_to_string(&trace).unwrap();
    let parsed: serde_json::Value = serde_json::from_str(&text).unwrap();
    let events = parsed["traceEvents"].as_array().unwrap();
    assert_eq!(events.len(), 3, "{text}");
    for event in events {
        assert_eq!(event["ph"], "X", "a complete event: {event}");
        assert!(event["name"].as_str().unwrap().contains("::"), "{event}");
        assert!(event["ts"].as_f64().unwrap() >= 0.0);
        assert!(event["dur"].as_f64().unwrap() >= 0.0);
        assert!(event["pid"].as_u64().is_some() && event["tid"].as_u64().is_some());
        assert_eq!(event["args"]["outcome"], "hit", "{event}");
    }
    // A path that cannot be written is said, and the program is unharmed.
    let out = child("child_pipeline", &dir.path().join("store"))
        .env("MEMO_TRACE", dir.path().join("no/such/dir/t.json"))
        .output()
        .unwrap();
    assert!(out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("MEMO_TRACE"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// What a `tracing` subscriber writes, kept for the test to read.
#[derive(Clone, Default)]
struct Written(Arc<Mutex<Vec<u8>>>);

impl Write for Written {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[test]
fn each_call_is_a_tracing_span_with_its_outcome() {
    let written = Written::default();
    let sink = written.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::DEBUG)
        .with_span_events(tracing_subscriber::fmt::format::FmtSpan::CLOSE)
        .with_ansi(false)
        .with_writer(move || sink.clone())
        .finish();
    let store = Store::temporary().unwrap();
    tracing::subscriber::with_default(subscriber, || {
        memo::with_store(&store, || {
            traced(21);
            traced(21);
        });
    });
    let text = String::from_utf8(written.0.lock().unwrap().clone()).unwrap();
    let spans: Vec<&str> = text
        .lines()
        .filter(|line| line.contains("memo.call") && line.contains("close"))
        .collect();
    assert_eq!(spans.len(), 2, "{text}");
    assert!(
        spans[0].contains("outcome=\"miss\"") && spans[0].contains("::traced"),
        "{text}"
    );
    assert!(spans[1].contains("outcome=\"hit\""), "{text}");
}
