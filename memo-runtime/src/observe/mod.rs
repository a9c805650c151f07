//! What cached calls did: [`observe`] counts the calls made while a closure runs, per
//! function, with the time spent computing and the time the hits saved; `MEMO_REPORT=1`
//! prints the same table for the whole process at exit, and `MEMO_TRACE=path.json` writes
//! every call as a Chrome trace event ([`trace`]).
//!
//! The call path asks [`watching`] — one relaxed load — and reports a call only when
//! someone listens, so an unobserved program pays nothing else.

mod report;
mod trace;

use std::future::Future;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

pub use report::{FunctionReport, Report};

/// How many listen: open [`observe`]s, the process report and the trace. `UNSET` until
/// the environment was read.
static LISTENERS: AtomicUsize = AtomicUsize::new(UNSET);
const UNSET: usize = usize::MAX;

type Collector = Arc<Mutex<Report>>;

/// The reports of the open [`observe`]s.
static OPEN: Mutex<Vec<Collector>> = Mutex::new(Vec::new());

/// The whole process's report, with `MEMO_REPORT`.
static PROCESS: std::sync::OnceLock<Collector> = std::sync::OnceLock::new();

thread_local! {
    /// The [`observe`]s this thread is inside, innermost last.
    static INSIDE: std::cell::RefCell<Vec<Collector>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// Whether a call should be reported.
#[inline]
pub(crate) fn watching() -> bool {
    match LISTENERS.load(Ordering::Relaxed) {
        0 => false,
        UNSET => start(),
        _ => true,
    }
}

/// Reads `MEMO_REPORT` and `MEMO_TRACE` once; whether anyone listens.
#[cold]
fn start() -> bool {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let mut listeners = 0;
        if report::wanted() && PROCESS.set(Collector::default()).is_ok() {
            report::print_at_exit(|| PROCESS.get().map(|p| lock(p).clone()));
            listeners += 1;
        }
        if trace::start() {
            listeners += 1;
        }
        // Nothing else counts before this: an `observe` reads the environment first.
        LISTENERS.store(listeners, Ordering::Relaxed);
    });
    !matches!(LISTENERS.load(Ordering::Relaxed), 0 | UNSET)
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// How one cached call was answered.
#[derive(Debug, Clone, Copy)]
pub(crate) enum How {
    /// From memory, the store or another caller's computation.
    Hit,
    /// Computed, taking this long.
    Miss(Duration),
    /// Run without caching (caching off, a bypass, an uncacheable argument, a call from
    /// inside its own computation).
    Uncached,
}

impl How {
    /// The outcome's name, in spans and traces.
    pub(crate) fn name(self) -> &'static str {
        match self {
            How::Hit => "hit",
            How::Miss(_) => "miss",
            How::Uncached => "uncached",
        }
    }
}

/// Reports a call of `function` that began at `began`; `saved`, for a hit, is how long its
/// result took to compute when it was stored, if that is known.
pub(crate) fn record(function: &'static str, began: Instant, how: How, saved: Option<Duration>) {
    let took = began.elapsed();
    if let Some(process) = PROCESS.get() {
        lock(process).add(function, how, saved);
    }
    // The `observe`s this thread is inside; on a thread inside none (one a closure
    // spawned, a pool's worker), every one open.
    let own = INSIDE.with(|inside| {
        let inside = inside.borrow();
        for collector in inside.iter() {
            lock(collector).add(function, how, saved);
        }
        !inside.is_empty()
    });
    if !own {
        for collector in lock(&OPEN).iter() {
            lock(collector).add(function, how, saved);
        }
    }
    trace::event(function, began, took, how.name());
}

/// Runs `f` and reports the cached calls made while it ran: per function, the calls,
/// hits, misses and uncached runs, the time spent computing, and the time the hits saved
/// (each hit's result took that long to compute when it was stored).
///
/// The calls counted are those on `f`'s thread while it runs, and those on every thread
/// that is not itself inside an `observe` — the threads `f` spawns, scoped or not, a
/// pool's workers, an executor's — while it runs: a thread cannot tell who spawned it, so
/// another thread's calls made meanwhile count too, unless that thread observes its own.
/// Nested `observe`s both count the inner one's calls. While any runs, calls skip the
/// exact in-memory path (the one that answers plain arguments without building a key), so
/// a warm hit costs what a keyed one does.
///
/// ```
/// #[memo::cached]
/// fn square(x: u64) -> u64 {
///     x * x
/// }
///
/// let store = memo::Store::temporary()?;
/// let (sum, report) = memo::with_store(&store, || {
///     memo::observe(|| square(3) + square(3) + square(4))
/// });
/// assert_eq!(sum, 34);
/// let square = report.function("square").unwrap();
/// assert_eq!((square.calls, square.hits, square.misses), (3, 1, 2));
/// println!("{report}");
/// # Ok::<(), memo::Error>(())
/// ```
pub fn observe<T>(f: impl FnOnce() -> T) -> (T, Report) {
    let listening = Listening::start();
    INSIDE.with(|inside| inside.borrow_mut().push(Arc::clone(&listening.report)));
    let _inside = Inside(Arc::clone(&listening.report));
    let value = f();
    (value, listening.finish())
}

/// This thread is inside an [`observe`] until it is dropped.
struct Inside(Collector);

impl Drop for Inside {
    fn drop(&mut self) {
        INSIDE.with(|inside| {
            let mut inside = inside.borrow_mut();
            if let Some(at) = inside.iter().rposition(|c| Arc::ptr_eq(c, &self.0)) {
                inside.remove(at);
            }
        });
    }
}

/// The `async` form of [`observe`]: reports the calls `future` makes while it is polled,
/// on whatever thread polls it, and those on every thread not inside an `observe` of its
/// own while it runs (the tasks it spawns).
///
/// ```
/// #[memo::cached]
/// async fn fetch(id: u32) -> String {
///     format!("item {id}")
/// }
///
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// let store = memo::Store::temporary().unwrap();
/// let (_, report) = memo::with_store_async(&store, memo::observe_async(async {
///     fetch(1).await;
///     fetch(1).await
/// }))
/// .await;
/// assert_eq!(report.function("fetch").unwrap().hits, 1);
/// # });
/// ```
pub async fn observe_async<F: Future>(future: F) -> (F::Output, Report) {
    let listening = Listening::start();
    let value = Polled {
        future: Box::pin(future),
        report: Arc::clone(&listening.report),
    }
    .await;
    (value, listening.finish())
}

/// A future whose polls are inside an [`observe_async`]: the thread polling it counts for
/// that report while it does.
struct Polled<F> {
    future: std::pin::Pin<Box<F>>,
    report: Collector,
}

impl<F: Future> Future for Polled<F> {
    type Output = F::Output;

    fn poll(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<F::Output> {
        INSIDE.with(|inside| inside.borrow_mut().push(Arc::clone(&self.report)));
        let _inside = Inside(Arc::clone(&self.report));
        self.future.as_mut().poll(cx)
    }
}

/// An open [`observe`]: its report is gathered until it finishes or is dropped (the
/// closure panicked).
struct Listening {
    report: Arc<Mutex<Report>>,
}

impl Listening {
    fn start() -> Listening {
        // The environment is read first, so the count below adds to it.
        watching();
        let report = Collector::default();
        lock(&OPEN).push(Arc::clone(&report));
        LISTENERS.fetch_add(1, Ordering::Relaxed);
        Listening { report }
    }

    fn finish(self) -> Report {
        std::mem::take(&mut *lock(&self.report))
    }
}

impl Drop for Listening {
    fn drop(&mut self) {
        lock(&OPEN).retain(|c| !Arc::ptr_eq(c, &self.report));
        LISTENERS.fetch_sub(1, Ordering::Relaxed);
    }
}

/// Runs `hook` when the process exits normally (on Unix; elsewhere, never), after `main`
/// returns or `exit` is called.
fn on_exit(hook: fn()) {
    static HOOKS: Mutex<Vec<fn()>> = Mutex::new(Vec::new());
    static REGISTER: std::sync::Once = std::sync::Once::new();
    lock(&HOOKS).push(hook);
    REGISTER.call_once(|| {
        #[cfg(unix)]
        {
            extern "C" fn at_exit() {
                // A panic must not unwind into libc.
                let _ = std::panic::catch_unwind(|| {
                    let hooks = lock(&HOOKS).clone();
                    for hook in hooks {
                        hook();
                    }
                });
            }
            // SAFETY: `at_exit` is a plain `extern "C" fn` with no arguments that never
            // unwinds, as `atexit` requires.
            unsafe {
                libc::atexit(at_exit);
            }
        }
    });
}
