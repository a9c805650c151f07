//! Which store a call uses, and whether it caches: the default store, `with_store`,
//! `bypass`, `refresh`, `MEMO_DIR` and `MEMO_DISABLE`.

use std::cell::{Cell, RefCell};
use std::path::PathBuf;
use std::sync::{OnceLock, RwLock};

use crate::{Store, warn};

#[derive(Clone, Copy, PartialEq, Eq)]
enum Mode {
    Normal,
    Bypass,
    Refresh,
}

thread_local! {
    static MODE: Cell<Mode> = const { Cell::new(Mode::Normal) };
    static STORES: RefCell<Vec<Store>> = const { RefCell::new(Vec::new()) };
}

enum Default {
    Unopened,
    Open(Store),
    Failed,
}

static DEFAULT: RwLock<Default> = RwLock::new(Default::Unopened);

/// Whether `MEMO_DISABLE` turns caching off for this process (`1`, `true` or `yes`).
fn disabled() -> bool {
    static DISABLED: OnceLock<bool> = OnceLock::new();
    *DISABLED.get_or_init(|| {
        std::env::var("MEMO_DISABLE")
            .is_ok_and(|v| matches!(v.trim().to_ascii_lowercase().as_str(), "1" | "true" | "yes"))
    })
}

/// The directory of the default store: `$MEMO_DIR`, else `.memo/` in the working directory.
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
}

/// The default store, opening it if this is its first use; `None` if it cannot be opened
/// (a warning says why, once).
pub fn default_store() -> Option<Store> {
    if let Default::Open(store) = &*DEFAULT.read().unwrap_or_else(|p| p.into_inner()) {
        return Some(store.clone());
    }
    let mut default = DEFAULT.write().unwrap_or_else(|p| p.into_inner());
    match &*default {
        Default::Open(store) => Some(store.clone()),
        Default::Failed => None,
        Default::Unopened => {
            let dir = default_dir();
            match Store::open(&dir) {
                Ok(store) => {
                    *default = Default::Open(store.clone());
                    Some(store)
                }
                Err(error) => {
                    warn::once("default store", || {
                        format!("memo: caching is off for this process: {error}")
                    });
                    *default = Default::Failed;
                    None
                }
            }
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
    STORES.with_borrow_mut(|stores| stores.push(store.clone()));
    struct Pop;
    impl Drop for Pop {
        fn drop(&mut self) {
            STORES.with_borrow_mut(|stores| stores.pop());
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
    let previous = MODE.replace(mode);
    struct Restore(Mode);
    impl Drop for Restore {
        fn drop(&mut self) {
            MODE.set(self.0);
        }
    }
    let _restore = Restore(previous);
    f()
}

/// The store a cached call on this thread would use now, or `None` when caching is off
/// (`MEMO_DISABLE`, [`bypass`], or a default store that could not be opened).
pub fn current_store() -> Option<Store> {
    if disabled() || MODE.get() == Mode::Bypass {
        return None;
    }
    STORES
        .with_borrow(|stores| stores.last().cloned())
        .or_else(default_store)
}

pub(crate) fn refreshing() -> bool {
    MODE.get() == Mode::Refresh
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
pub fn bypass_async<F: std::future::Future>(future: F) -> Scoped<F> {
    Scoped {
        future: Box::pin(future),
        install: Install::Mode(Mode::Bypass),
    }
}

/// Runs `future` with its cached calls recomputing: the async [`refresh`].
pub fn refresh_async<F: std::future::Future>(future: F) -> Scoped<F> {
    Scoped {
        future: Box::pin(future),
        install: Install::Mode(Mode::Refresh),
    }
}
