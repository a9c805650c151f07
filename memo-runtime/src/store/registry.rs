//! The stores this process has open, by directory: opening a directory twice returns the
//! same store, and every open store is flushed when the process exits.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard, Once, Weak};

use super::Inner;

static OPEN: Mutex<Vec<(PathBuf, Weak<Inner>)>> = Mutex::new(Vec::new());

/// The registry, locked; opening holds it so two threads cannot open one directory twice.
pub(super) fn lock() -> MutexGuard<'static, Vec<(PathBuf, Weak<Inner>)>> {
    OPEN.lock().unwrap_or_else(|poison| poison.into_inner())
}

pub(super) fn find(open: &mut Vec<(PathBuf, Weak<Inner>)>, dir: &Path) -> Option<Arc<Inner>> {
    open.retain(|(_, weak)| weak.strong_count() > 0);
    // A store this process inherited from the one it was forked from is not its own.
    open.iter()
        .filter(|(path, _)| path == dir)
        .filter_map(|(_, weak)| weak.upgrade())
        .find(|inner| !inner.forked())
}

pub(super) fn add(open: &mut Vec<(PathBuf, Weak<Inner>)>, dir: PathBuf, inner: &Arc<Inner>) {
    open.push((dir, Arc::downgrade(inner)));
    flush_at_exit();
}

/// Forgets `inner`, so that opening its directory again opens it afresh.
pub(super) fn forget(inner: &Arc<Inner>) {
    lock().retain(|(_, weak)| !std::ptr::eq(weak.as_ptr(), Arc::as_ptr(inner)));
}

/// Closes every open store: what a program computed before it exits is on disk when it
/// next starts, even though statics holding stores are never dropped.
fn flush_all() {
    let stores: Vec<Arc<Inner>> = lock().iter().filter_map(|(_, w)| w.upgrade()).collect();
    for inner in stores.into_iter().filter(|inner| !inner.forked()) {
        // What this process queued for the shared tier reaches it, within a bound.
        inner.drain_shared();
        if let Err(error) = inner.close() {
            inner.report_problem(|| format!("could not flush the store at exit: {error}"));
        }
        // The socket goes with the holder: a process arriving now opens the store (taking
        // it over once this one is gone) rather than finding a socket nobody answers.
        inner.stop_serving();
    }
}

fn flush_at_exit() {
    static REGISTER: Once = Once::new();
    REGISTER.call_once(|| {
        #[cfg(unix)]
        {
            extern "C" fn at_exit() {
                // A panic must not unwind into libc.
                let _ = std::panic::catch_unwind(flush_all);
            }
            // SAFETY: `at_exit` is a plain `extern "C" fn` with no arguments that never
            // unwinds, as `atexit` requires.
            unsafe {
                libc::atexit(at_exit);
            }
        }
    });
}
