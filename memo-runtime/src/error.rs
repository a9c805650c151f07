//! The runtime's one error type.

use std::path::PathBuf;

/// Why a store operation failed. Each message says what to do about it.
///
/// ```
/// let dir = tempfile::tempdir().unwrap();
/// let file = dir.path().join("a-file");
/// std::fs::write(&file, b"not a store").unwrap();
/// let error = memo::Store::open(&file).unwrap_err();
/// assert!(!error.to_string().is_empty());
/// ```
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// Another process holds the store directory.
    #[error(
        "the store at {} is in use by another process{}; wait for it to finish, or point this one at another store with MEMO_DIR",
        dir.display(),
        holder.map(|pid| format!(" (pid {pid})")).unwrap_or_default()
    )]
    Locked {
        /// The store directory.
        dir: PathBuf,
        /// The process that holds it, when it could be found.
        holder: Option<u32>,
    },
    /// The store is held by another process, which serves this one's cached calls; it
    /// failed to answer, or the operation is one only the holder does.
    #[error(
        "the store at {} is held by another process{} that serves this one ({detail}); manage it from that process, or after it exits",
        dir.display(),
        holder.map(|pid| format!(" (pid {pid})")).unwrap_or_default()
    )]
    Served {
        /// The store directory.
        dir: PathBuf,
        /// The process that holds it, when known.
        holder: Option<u32>,
        /// What went wrong.
        detail: String,
    },
    /// The store was written by a version of memo with another on-disk format.
    #[error(
        "the store at {} has format version {found}, and this memo reads version {expected}; remove the directory to start a new store",
        dir.display()
    )]
    FormatVersion {
        /// The store directory.
        dir: PathBuf,
        /// The version stamped in the store.
        found: u32,
        /// The version this memo reads and writes.
        expected: u32,
    },
    /// The store was written by another storage engine than the one asked for, or by one
    /// this build does not have. It is refused rather than opened empty beside it.
    #[error(
        "the store at {} was written by the {found} engine{}; {}",
        dir.display(),
        asked.map(|asked| format!(", not {asked}")).unwrap_or_default(),
        if found.is_available() {
            format!("open it with the {found} engine (`MEMO_ENGINE={found}`, `StoreBuilder::engine`), or move it to another engine with `memo export` and `memo import`")
        } else {
            format!("this build has no {found} engine: enable memo's `{found}` feature to open it, or point MEMO_DIR at another store")
        }
    )]
    Engine {
        /// The store directory.
        dir: PathBuf,
        /// The engine whose database the directory holds.
        found: crate::Engine,
        /// The engine asked for, when it was another.
        asked: Option<crate::Engine>,
    },
    /// The store's files are damaged.
    #[error(
        "the store at {} is corrupt ({detail}); `memo verify --repair` moves the damaged file aside and starts a fresh store, as a program using the store does by itself",
        dir.display()
    )]
    Corrupt {
        /// The store directory.
        dir: PathBuf,
        /// What was found to be wrong.
        detail: String,
    },
    /// The store directory is not this user's alone: another user owns it, or others may
    /// write to it, or one of its files is a symlink. memo refuses to read results anyone
    /// else could have planted; the program runs uncached.
    #[error(
        "the store at {} is refused ({detail}); use a directory only you own and can write (`chmod go-w`), or point MEMO_DIR at another",
        dir.display()
    )]
    Unsafe {
        /// The store directory.
        dir: PathBuf,
        /// What makes it unsafe.
        detail: String,
    },
    /// The storage engine failed.
    #[error("the store at {} failed: {source}; check that the directory is writable and the disk has room", dir.display())]
    Storage {
        /// The store directory.
        dir: PathBuf,
        /// The underlying error.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// A file of the store could not be read or written.
    #[error("could not use {}: {source}; check that the directory exists and is writable", path.display())]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// An operation on the shared tier (`memo remote push`, `pull`) could not be done; the
    /// message says why and what to do.
    #[error("{0}")]
    Remote(String),
    /// An archive could not be imported.
    #[error("the archive is damaged or not a memo archive ({0}); export it again")]
    Archive(String),
    /// The store engine panicked; the panic was contained.
    #[error("the storage engine panicked ({0}); remove the store directory if this repeats")]
    Panicked(String),
}

/// A result whose error is [`Error`].
///
/// ```
/// fn entries(store: &memo::Store) -> memo::Result<usize> {
///     Ok(store.entries()?.len())
/// }
/// assert_eq!(entries(&memo::Store::temporary()?)?, 0);
/// # Ok::<(), memo::Error>(())
/// ```
pub type Result<T, E = Error> = std::result::Result<T, E>;
