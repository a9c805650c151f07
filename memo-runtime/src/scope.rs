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
