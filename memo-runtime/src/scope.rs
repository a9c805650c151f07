//! Which store a call uses, and whether it caches: the default store, `with_store`,
//! `bypass`, `refresh`, `MEMO_DIR` and `MEMO_DISABLE`.

use std::cell::RefCell;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{OnceLock, RwLock};
use std::time::{Duration, Instant};

use crate::{Store, warn};

#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Mode {
    Normal,
    Bypass,
    Refresh,
}

enum Default {
    Unopened,
    Open(Store),
    /// It could not be opened; it is tried again at `retry_at`, each failure waiting
    /// twice as long as the last (up to [`RETRY_MAX`]): a store locked mid-takeover or
    /// briefly unopenable never leaves a process uncached for good.
    Failed {
        retry_at: Instant,
        wait: Duration,
    },
}

/// The first wait before a default store that failed to open is tried again, and the
/// longest.
const RETRY_FIRST: Duration = Duration::from_millis(50);
const RETRY_MAX: Duration = Duration::from_secs(5);

static DEFAULT: RwLock<Default> = RwLock::new(Default::Unopened);
/// Bumped when the default store changes, so threads refresh their copy of it.
static DEFAULT_GENERATION: AtomicU64 = AtomicU64::new(1);

/// Everything memo keeps per thread, in one place so the hot path reads it once.
pub(crate) struct ThreadState {
    pub(crate) mode: Mode,
    /// `with_store` scopes, innermost last.
    stores: Vec<Store>,
    /// This thread's copy of the default store and the generation it was taken at, so
    /// the hot path does not touch the shared lock.
    default: (u64, Option<Store>),
}

impl ThreadState {
    /// The store a cached call would use now, or `None` when caching is off.
    #[inline]
    pub(crate) fn store(&mut self) -> Option<&Store> {
        current(self.mode, &self.stores, &mut self.default)
    }
}

#[inline]
fn current<'a>(
    mode: Mode,
    stores: &'a [Store],
    default: &'a mut (u64, Option<Store>),
) -> Option<&'a Store> {
    if mode == Mode::Bypass || disabled() {
        return None;
    }
    if let Some(store) = stores.last() {
        return Some(store);
    }
    let generation = DEFAULT_GENERATION.load(Ordering::Acquire);
    if default.0 != generation || default.1.is_none() {
        *default = (generation, default_store());
    }
    default.1.as_ref()
}

thread_local! {
    static THREAD: RefCell<ThreadState> = const {
        RefCell::new(ThreadState {
            mode: Mode::Normal,
            stores: Vec::new(),
            default: (0, None),
        })
    };
}

/// Runs `f` on this thread's state. `f` must not run user code, which could call back in.
#[inline]
pub(crate) fn with_thread<T>(f: impl FnOnce(&mut ThreadState) -> T) -> T {
    THREAD.with_borrow_mut(f)
}

/// Whether `MEMO_DISABLE` turns caching off for this process (`1`, `true` or `yes`).
#[inline]
fn disabled() -> bool {
    static DISABLED: OnceLock<bool> = OnceLock::new();
    *DISABLED.get_or_init(|| {
        std::env::var("MEMO_DISABLE")
            .is_ok_and(|v| matches!(v.trim().to_ascii_lowercase().as_str(), "1" | "true" | "yes"))
    })
}

/// The directory of the default store: `$MEMO_DIR`, else `.memo/` in the working directory.
///
/// ```
/// let dir = memo::default_dir();
/// assert!(dir.ends_with(".memo") || std::env::var_os("MEMO_DIR").is_some());
/// ```
pub fn default_dir() -> PathBuf {
    std::env::var_os("MEMO_DIR")
        .filter(|dir| !dir.is_empty())
        .map_or_else(|| PathBuf::from(".memo"), PathBuf::from)
}

/// Makes `store` the store that cached calls use when no [`with_store`] is in effect.
///
/// Without it, the default store is opened on first use in [`default_dir`].
///
/// ```
/// let store = memo::Store::temporary().unwrap();
/// memo::set_default_store(store.clone());
/// assert_eq!(memo::default_store(), Some(store));
/// ```
pub fn set_default_store(store: Store) {
    *DEFAULT.write().unwrap_or_else(|p| p.into_inner()) = Default::Open(store);
    DEFAULT_GENERATION.fetch_add(1, Ordering::AcqRel);
}

/// Lets go of `store` as the default store, so the next cached call opens the default
/// directory again.
pub(crate) fn drop_default(store: &Store) {
    let mut default = DEFAULT.write().unwrap_or_else(|p| p.into_inner());
    if matches!(&*default, Default::Open(current) if current == store) {
        *default = Default::Unopened;
        DEFAULT_GENERATION.fetch_add(1, Ordering::AcqRel);
    }
}

/// The default store, opening it if this is its first use; `None` if it cannot be opened
/// (a warning says why, once).
///
/// ```
/// // `$MEMO_DIR`, else `.memo/` in the working directory; `None` when it cannot be opened.
/// fn store_of_this_run() -> Option<memo::Store> {
///     memo::default_store()
/// }
/// # let _ = store_of_this_run;
/// ```
pub fn default_store() -> Option<Store> {
    match &*DEFAULT.read().unwrap_or_else(|p| p.into_inner()) {
        Default::Open(store) => return Some(store.clone()),
        Default::Failed { retry_at, .. } if Instant::now() < *retry_at => return None,
        _ => {}
    }
    let mut default = DEFAULT.write().unwrap_or_else(|p| p.into_inner());
    let wait = match &*default {
        Default::Open(store) => return Some(store.clone()),
        Default::Failed { retry_at, .. } if Instant::now() < *retry_at => return None,
        Default::Failed { wait, .. } => Some(*wait),
        Default::Unopened => None,
    };
    let dir = default_dir();
    match Store::open(&dir) {
        Ok(store) => {
            if wait.is_some() {
                warn::debug(|| format!("the store at {} opened on a later try", dir.display()));
            }
            *default = Default::Open(store.clone());
            DEFAULT_GENERATION.fetch_add(1, Ordering::AcqRel);
            Some(store)
        }
        Err(error) => {
            warn::once("default store", || {
                format!("caching is off for now: {error}; memo tries again as the program runs")
            });
            let wait = wait.map_or(RETRY_FIRST, |wait| (wait * 2).min(RETRY_MAX));
            *default = Default::Failed {
                retry_at: Instant::now() + wait,
                wait,
            };
            None
        }
    }
}

/// Runs `f` with `store` as the store for cached calls made on this thread.
///
/// ```
/// let store = memo::Store::temporary().unwrap();
/// let dir = memo::with_store(&store, || memo::current_store().unwrap().dir().to_owned());
/// assert_eq!(dir, store.dir());
/// ```
pub fn with_store<R>(store: &Store, f: impl FnOnce() -> R) -> R {
    with_thread(|thread| thread.stores.push(store.clone()));
    struct Pop;
    impl Drop for Pop {
        fn drop(&mut self) {
            with_thread(|thread| thread.stores.pop());
        }
    }
    let _pop = Pop;
    f()
}

/// Runs `f` with caching off on this thread: cached functions run and nothing is stored.
///
/// ```
/// assert_eq!(memo::bypass(|| 1 + 1), 2);
/// ```
pub fn bypass<R>(f: impl FnOnce() -> R) -> R {
    with_mode(Mode::Bypass, f)
}

/// Runs `f` with caching on again on this thread, inside an outer [`bypass`] (or
/// [`refresh`]): cached functions hit and store as usual. `MEMO_DISABLE` and the functions
/// `MEMO_BYPASS` names stay uncached: those are the operator's.
///
/// ```
/// #[memo::cached]
/// fn double(x: u64) -> u64 {
///     x * 2
/// }
///
/// let store = memo::Store::temporary()?;
/// memo::with_store(&store, || {
///     memo::bypass(|| {
///         double(1); // uncached
///         memo::enabled(|| double(1)); // computed and stored
///     });
///     double(1); // a hit
/// });
/// assert_eq!(store.stats()?.hits, 1);
/// # Ok::<(), memo::Error>(())
/// ```
pub fn enabled<R>(f: impl FnOnce() -> R) -> R {
    with_mode(Mode::Normal, f)
}

/// Runs `f` with cached functions recomputing on this thread: each call runs and its
/// result overwrites the stored one.
///
/// ```
/// assert_eq!(memo::refresh(|| "fresh"), "fresh");
/// ```
pub fn refresh<R>(f: impl FnOnce() -> R) -> R {
    with_mode(Mode::Refresh, f)
}

fn with_mode<R>(mode: Mode, f: impl FnOnce() -> R) -> R {
    let previous = with_thread(|thread| std::mem::replace(&mut thread.mode, mode));
    struct Restore(Mode);
    impl Drop for Restore {
        fn drop(&mut self) {
            with_thread(|thread| thread.mode = self.0);
        }
    }
    let _restore = Restore(previous);
    f()
}

/// The store a cached call on this thread would use now, or `None` when caching is off
/// (`MEMO_DISABLE`, [`bypass`], or a default store that could not be opened).
///
/// ```
/// let store = memo::Store::temporary().unwrap();
/// let inside = memo::with_store(&store, memo::current_store);
/// assert_eq!(inside, Some(store));
/// assert!(memo::bypass(memo::current_store).is_none());
/// ```
pub fn current_store() -> Option<Store> {
    with_thread(|thread| thread.store().cloned())
}

pub(crate) fn refreshing() -> bool {
    with_thread(|thread| thread.mode == Mode::Refresh)
}

/// What a [`Scoped`] future installs on its thread while it is polled.
enum Install {
    Store(Store),
    Mode(Mode),
}

/// A future run with a store or mode in effect each time it is polled, from
/// [`with_store_async`], [`bypass_async`] or [`refresh_async`].
///
/// The sync forms ([`with_store`] and the others) set a thread-local only while their
/// closure runs; an `async fn` runs when it is polled, later and perhaps on another thread,
/// so futures need these.
///
/// ```
/// async fn demo() {
///     let store = memo::Store::temporary().unwrap();
///     let scoped: memo::Scoped<_> = memo::with_store_async(&store, async { memo::current_store() });
///     assert_eq!(scoped.await, Some(store));
/// }
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(demo());
/// ```
#[must_use = "futures do nothing unless awaited"]
pub struct Scoped<F> {
    future: std::pin::Pin<Box<F>>,
    install: Install,
}

impl<F: std::future::Future> std::future::Future for Scoped<F> {
    type Output = F::Output;

    fn poll(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<F::Output> {
        let this = &mut *self;
        match &this.install {
            Install::Store(store) => with_store(store, || this.future.as_mut().poll(cx)),
            Install::Mode(mode) => with_mode(*mode, || this.future.as_mut().poll(cx)),
        }
    }
}

/// Runs `future` with `store` as the store for the cached calls it makes.
///
/// ```
/// # async fn demo() {
/// let store = memo::Store::temporary().unwrap();
/// let dir = memo::with_store_async(&store, async {
///     memo::current_store().unwrap().dir().to_owned()
/// })
/// .await;
/// assert_eq!(dir, store.dir());
/// # }
/// ```
pub fn with_store_async<F: std::future::Future>(store: &Store, future: F) -> Scoped<F> {
    Scoped {
        future: Box::pin(future),
        install: Install::Store(store.clone()),
    }
}

/// Runs `future` with caching off for the cached calls it makes: the async [`bypass`].
///
/// ```
/// async fn demo() {
///     let store = memo::Store::temporary().unwrap();
///     let none = memo::with_store_async(&store, memo::bypass_async(async { memo::current_store() })).await;
///     assert!(none.is_none());
/// }
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(demo());
/// ```
pub fn bypass_async<F: std::future::Future>(future: F) -> Scoped<F> {
    Scoped {
        future: Box::pin(future),
        install: Install::Mode(Mode::Bypass),
    }
}

/// Runs `future` with caching on again inside an outer bypass: the async [`enabled`].
///
/// ```
/// async fn demo() {
///     let store = memo::Store::temporary().unwrap();
///     let on = memo::with_store_async(
///         &store,
///         memo::bypass_async(memo::enabled_async(async { memo::current_store() })),
///     )
///     .await;
///     assert_eq!(on, Some(store));
/// }
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(demo());
/// ```
pub fn enabled_async<F: std::future::Future>(future: F) -> Scoped<F> {
    Scoped {
        future: Box::pin(future),
        install: Install::Mode(Mode::Normal),
    }
}

/// Runs `future` with its cached calls recomputing: the async [`refresh`].
///
/// ```
/// async fn demo() {
///     assert_eq!(memo::refresh_async(async { 7 }).await, 7);
/// }
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(demo());
/// ```
pub fn refresh_async<F: std::future::Future>(future: F) -> Scoped<F> {
    Scoped {
        future: Box::pin(future),
        install: Install::Mode(Mode::Refresh),
    }
}
