//! What a forked child lets go of at once: the descriptors of the database files and
//! sockets this process holds a store through. A child inherits them, and with them the
//! file's lock: were the child to outlive its parent, no other process could take the
//! store over until the child exited. The child never uses them (it opens the store anew),
//! so a handler that runs in the child right after `fork` closes them — with nothing but
//! atomic loads and `close`, as a forked child of a threaded process requires.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicI32, AtomicU64, Ordering};
use std::sync::{Mutex, Once};

/// How many forks stand between this process and the first one: bumped in each child.
static FORKS: AtomicU64 = AtomicU64::new(0);

/// How many times this process's line was forked: a handle opened at another count was
/// opened by an ancestor. One atomic load, cheap enough for the warm path.
#[inline]
pub(crate) fn generation() -> u64 {
    FORKS.load(Ordering::Relaxed)
}

/// The descriptors a forked child closes; -1 is a free slot.
static SLOTS: [AtomicI32; 64] = [const { AtomicI32::new(-1) }; 64];

/// The descriptors registered for each store directory: its database file's, and its
/// listening socket's.
#[derive(Default)]
struct Held {
    database: Vec<i32>,
    socket: Option<i32>,
}

static BY_DIR: Mutex<Option<HashMap<PathBuf, Held>>> = Mutex::new(None);

fn with_held(dir: &Path, f: impl FnOnce(&mut Held)) {
    let mut by_dir = BY_DIR.lock().unwrap_or_else(|p| p.into_inner());
    f(by_dir
        .get_or_insert_with(HashMap::new)
        .entry(dir.to_owned())
        .or_default());
    install();
}

/// Registers the descriptors of the database file of the store in `dir` (found among the
/// process's open files), replacing those registered before: after opening it, and after
/// a damaged file was replaced.
pub(crate) fn track_database(dir: &Path) {
    let fds = database_fds(dir);
    with_held(dir, |held| {
        held.database.drain(..).for_each(release);
        fds.iter().copied().for_each(claim);
        held.database = fds;
    });
}

/// Registers the listening socket of the store in `dir`.
pub(crate) fn track_socket(dir: &Path, fd: i32) {
    with_held(dir, |held| {
        held.socket.take().into_iter().for_each(release);
        claim(fd);
        held.socket = Some(fd);
    });
}

/// Registers a connection to the process that holds a store: a child must not keep it
/// open, or the holder would think this process still leads what it led.
pub(crate) fn track_connection(fd: i32) {
    claim(fd);
    install();
}

/// Forgets a connection registered with [`track_connection`]: it is closed.
pub(crate) fn untrack_connection(fd: i32) {
    release(fd);
}

/// Forgets the store in `dir`: it is closed.
pub(crate) fn untrack(dir: &Path) {
    let mut by_dir = BY_DIR.lock().unwrap_or_else(|p| p.into_inner());
    if let Some(held) = by_dir.as_mut().and_then(|m| m.remove(dir)) {
        held.database.into_iter().for_each(release);
        held.socket.into_iter().for_each(release);
    }
}

fn claim(fd: i32) {
    for slot in &SLOTS {
        if slot
            .compare_exchange(-1, fd, Ordering::AcqRel, Ordering::Acquire)
            .is_ok()
        {
            return;
        }
    }
}

fn release(fd: i32) {
    for slot in &SLOTS {
        if slot
            .compare_exchange(fd, -1, Ordering::AcqRel, Ordering::Acquire)
            .is_ok()
        {
            return;
        }
    }
}

#[cfg(target_os = "linux")]
fn database_fds(dir: &Path) -> Vec<i32> {
    // The database is a file (redb) or a directory of files (sled).
    let databases = super::Engine::ALL.map(|engine| engine.path_in(dir));
    let ours = |target: &Path| databases.iter().any(|db| target.starts_with(db));
    let Ok(entries) = std::fs::read_dir("/proc/self/fd") else {
        return Vec::new();
    };
    entries
        .flatten()
        .filter(|entry| std::fs::read_link(entry.path()).is_ok_and(|target| ours(&target)))
        .filter_map(|entry| entry.file_name().to_str()?.parse::<i32>().ok())
        .collect()
}

/// Elsewhere the child keeps the file's descriptor, and with it the lock, until it exits.
#[cfg(not(target_os = "linux"))]
fn database_fds(_: &Path) -> Vec<i32> {
    Vec::new()
}

extern "C" fn in_child() {
    FORKS.fetch_add(1, Ordering::Relaxed);
    for slot in &SLOTS {
        let fd = slot.swap(-1, Ordering::AcqRel);
        if fd >= 0 {
            // SAFETY: `fd` is a descriptor this process registered and the child never
            // uses; `close` is async-signal-safe.
            unsafe {
                libc::close(fd);
            }
        }
    }
}

pub(crate) fn install() {
    static INSTALL: Once = Once::new();
    INSTALL.call_once(|| {
        // SAFETY: `in_child` is a plain `extern "C" fn` that only loads atomics and
        // closes descriptors, which a child of a threaded process may do.
        unsafe {
            libc::pthread_atfork(None, None, Some(in_child));
        }
    });
}
