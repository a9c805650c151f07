//! Opening a store directory: the lock, the format stamp, the `.gitignore`.

use std::fs;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use super::engine::{self, Engine, EngineError, Table};
use super::seal::Seal;
use super::{Inner, STORE_FORMAT_VERSION, Trees, private, problem, registry};
use crate::error::{Error, Result};

/// The engine's page cache: redb's default is 1 GiB, far more than a cache's metadata
/// needs.
pub(super) const CACHE_CAPACITY: u64 = 32 * 1024 * 1024;

/// How to open a store.
pub(super) struct Options {
    pub cache_capacity: u64,
    pub hot: bool,
    pub heal: bool,
    /// The engine asked for by the builder, if one was.
    pub engine: Option<Engine>,
    /// The shared tier the builder names, if it does.
    pub remote: Option<super::RemoteConfig>,
    /// The size budget the builder sets, if it does.
    pub limits: super::budget::Limits,
}
/// The file in which the process that holds a store writes its pid.
const HOLDER_FILE: &str = "holder.pid";

/// How long opening waits for a store that another process holds without serving yet, or
/// is letting go of.
const TAKEOVER_WAIT: std::time::Duration = std::time::Duration::from_millis(250);

pub(super) fn open(dir: &Path, options: &Options) -> Result<Arc<Inner>> {
    let io_error = |source| Error::Io {
        path: dir.to_owned(),
        source,
    };
    private::create_dir(dir).map_err(io_error)?;
    let dir = fs::canonicalize(dir).map_err(io_error)?;
    private::check_dir(&dir)?;
    let asked = asked_engine(options);
    let mut open = registry::lock();
    if let Some(inner) = registry::find(&mut open, &dir) {
        return match asked {
            Some(asked) if asked != inner.kind => Err(Error::Engine {
                dir,
                found: inner.kind,
                asked: Some(asked),
            }),
            _ => Ok(inner),
        };
    }
    let engine = choose_engine(&dir, asked)?;
    write_gitignore(&dir)?;
    // Held by another process: use it through that process. One that has just taken the
    // store may not listen yet, and one that is exiting lets go of it in a moment: both
    // are waited for, briefly.
    let deadline = std::time::Instant::now() + TAKEOVER_WAIT;
    let inner = loop {
        let error = match start_own(&dir, engine, options) {
            Ok(inner) => {
                break Arc::new(with_budget(
                    with_shared(inner, options, true),
                    options,
                    true,
                ));
            }
            Err(error) => error,
        };
        let Error::Locked { holder, .. } = &error else {
            return Err(error);
        };
        if let Some(inner) = served(&dir, engine, *holder)? {
            crate::warn::debug(|| {
                format!(
                    "the store at {} is held by process {}: using it through that process",
                    dir.display(),
                    holder.map_or_else(|| "?".into(), |pid| pid.to_string())
                )
            });
            let inner = Arc::new(with_shared(inner, options, true));
            registry::add(&mut open, dir, &inner);
            return Ok(inner);
        }
        if std::time::Instant::now() >= deadline {
            return Err(error);
        }
        std::thread::sleep(std::time::Duration::from_millis(5));
    };
    // A pid file left behind says its process ended without closing the store (it was
    // killed): the room it left in the file is given back.
    let unclean = holder(&dir).is_some();
    // Best effort: the pid helps say who holds the store.
    let _ = private::replace(
        &dir.join(HOLDER_FILE),
        std::process::id().to_string().as_bytes(),
    );
    crate::warn::debug(|| format!("holding the store at {} ({engine})", dir.display()));
    super::fork::track_database(&dir);
    super::serve::start(&inner);
    super::budget::start(&inner);
    if unclean {
        reclaim(&inner);
    }
    registry::add(&mut open, dir, &inner);
    Ok(inner)
}

pub(super) fn temporary(options: &Options) -> Result<Arc<Inner>> {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    let dir = std::env::temp_dir().join(format!(
        "memo-{}-{}-{nanos}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    ));
    private::create_dir(&dir).map_err(|source| Error::Io {
        path: dir.clone(),
        source,
    })?;
    let engine = asked_engine(options).unwrap_or(Engine::Redb);
    let mut inner = start(&dir, engine, options).inspect_err(|_| {
        let _ = fs::remove_dir_all(&dir);
    })?;
    inner.temporary = true;
    super::fork::track_database(&dir);
    // A temporary store has a shared tier only when its builder names one.
    let inner = Arc::new(with_budget(
        with_shared(inner, options, false),
        options,
        false,
    ));
    super::budget::start(&inner);
    registry::add(&mut registry::lock(), dir, &inner);
    Ok(inner)
}

/// A store held by another process that serves it, if it does.
fn served(dir: &Path, engine: Engine, holder: Option<u32>) -> Result<Option<Inner>> {
    super::fork::install();
    let Some(remote) = super::serve::Remote::connect(dir, holder)? else {
        return Ok(None);
    };
    // The holder created it: what this process offers is signed with it.
    let seal = Seal::load(dir)?;
    static IDS: AtomicU64 = AtomicU64::new(1 << 40);
    Ok(Some(Inner {
        id: IDS.fetch_add(1, Ordering::Relaxed),
        dir: dir.to_owned(),
        engine: None,
        kind: engine,
        remote: Some(remote),
        shared: None,
        live: Default::default(),
        remote_counts: Default::default(),
        recorded: Default::default(),
        epoch: AtomicU64::new(0),
        // Not kept in memory here: the holder may invalidate or refresh entries, and only
        // its own tiers hear of it. Every hit asks the holder.
        hot: false,
        temporary: false,
        leases: Arc::default(),
        again: Mutex::default(),
        pid: std::process::id(),
        forks: super::fork::generation(),
        budget: None,
        seal,
    }))
}

/// Opens `dir`, waiting out this process's own earlier handle, which another thread may
/// be closing at this moment.
fn start_own(dir: &Path, engine: Engine, options: &Options) -> Result<Inner> {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(2);
    loop {
        match start(dir, engine, options) {
            Err(Error::Locked {
                holder: Some(pid), ..
            }) if pid == std::process::id() && std::time::Instant::now() < deadline => {
                std::thread::sleep(std::time::Duration::from_millis(10));
            }
            other => return other,
        }
    }
}

fn start(dir: &Path, engine: Engine, options: &Options) -> Result<Inner> {
    super::fork::install();
    refuse_sled(dir)?;
    if private::is_link(&engine.path_in(dir)) {
        return Err(Error::Unsafe {
            dir: dir.to_owned(),
            detail: format!("its {} is a symlink", engine.file_name()),
        });
    }
    // A commit that fails in the background is said as a failed call would say it, under
    // the same topic, so a full disk still gives one warning.
    let topic = warning_topic(dir);
    let owned = dir.to_owned();
    let on_error = Box::new(move |error: &EngineError| {
        let error = Error::Storage {
            dir: owned.clone(),
            source: error.to_string().into(),
        };
        problem::report(&owned, &topic, || {
            format!("caching is degraded, results are computed but may not be stored: {error}")
        });
    });
    let owned = dir.to_owned();
    let on_heal = Box::new(move |healed: &engine::Healed| problem::healed(&owned, healed));
    let owned = dir.to_owned();
    let on_swap = Box::new(move || super::fork::track_database(&owned));
    let engine_options = engine::Options {
        cache_bytes: options.cache_capacity,
        heal: options.heal,
        seed: vec![(
            Table::Meta,
            b"format".to_vec(),
            STORE_FORMAT_VERSION.to_le_bytes().to_vec(),
        )],
        on_error,
        on_heal,
        on_swap,
    };
    // The engine could panic on some damaged files rather than return an error.
    let (db, writer) =
        crate::contain::quietly(|| engine::Database::open(engine, dir, engine_options))
            .map_err(|panic| Error::Corrupt {
                dir: dir.to_owned(),
                detail: format!("the storage engine panicked: {panic}"),
            })?
            .map_err(|source| open_error(dir, source))?;
    let trees = Trees {
        entries: db.tree(Table::Entries),
        blobs: db.tree(Table::Blobs),
        tags: db.tree(Table::Tags),
        functions: db.tree(Table::Functions),
        lineage: db.tree(Table::Lineage),
        meta: db.tree(Table::Meta),
        sources: db.tree(Table::Sources),
        details: db.tree(Table::Details),
    };
    let seal = Seal::load_or_create(dir, options.heal)?;
    match check_format(dir, &trees, &seal) {
        // Damage redb cannot see: a file with entries and no readable stamp.
        Err(Error::Corrupt { detail, .. })
            if options.heal
                && db.replace_damaged(&format!("the database is damaged: {detail}")) =>
        {
            check_format(dir, &trees, &seal)?;
        }
        other => other?,
    }
    static IDS: AtomicU64 = AtomicU64::new(1);
    Ok(Inner {
        id: IDS.fetch_add(1, Ordering::Relaxed),
        dir: dir.to_owned(),
        engine: Some(super::Opened { db, writer, trees }),
        kind: engine,
        remote: None,
        shared: None,
        live: Default::default(),
        remote_counts: Default::default(),
        recorded: Default::default(),
        epoch: AtomicU64::new(0),
        hot: options.hot,
        temporary: false,
        leases: Arc::default(),
        again: Mutex::default(),
        pid: std::process::id(),
        forks: super::fork::generation(),
        budget: None,
        seal,
    })
}

/// `inner` with the shared tier the builder names — else, if `from_env`, the one
/// `MEMO_REMOTE` does — when it can be used.
fn with_shared(mut inner: Inner, options: &Options, from_env: bool) -> Inner {
    let config = options
        .remote
        .clone()
        .or_else(|| from_env.then(super::RemoteConfig::from_env).flatten());
    inner.shared = config.and_then(super::shared::SharedTier::open);
    inner
}

/// `inner`, which this process holds, kept within the budget the builder sets — else, if
/// `from_env`, the one `MEMO_MAX_SIZE` and `MEMO_MAX_ENTRIES` set.
fn with_budget(mut inner: Inner, options: &Options, from_env: bool) -> Inner {
    let mut limits = options.limits;
    if from_env {
        let env = super::budget::Limits::from_env();
        limits.max_bytes = limits.max_bytes.or(env.max_bytes);
        limits.max_entries = limits.max_entries.or(env.max_entries);
    }
    inner.budget = super::budget::Budget::new(limits);
    inner
}

/// The engine asked for: by the builder, else by `MEMO_ENGINE`.
fn asked_engine(options: &Options) -> Option<Engine> {
    options.engine.or_else(engine_from_env)
}

/// `MEMO_ENGINE`, read once; a value that names no engine is said once and ignored.
fn engine_from_env() -> Option<Engine> {
    static FROM_ENV: std::sync::OnceLock<Option<Engine>> = std::sync::OnceLock::new();
    *FROM_ENV.get_or_init(|| {
        let raw = std::env::var("MEMO_ENGINE").ok()?;
        if raw.trim().is_empty() {
            return None;
        }
        let engine = Engine::from_name(&raw);
        if engine.is_none() {
            crate::warn::once("MEMO_ENGINE", || {
                format!("MEMO_ENGINE={raw:?} names no storage engine (`redb` or `sled`); new stores use redb")
            });
        }
        engine
    })
}

/// The engine to open `dir` with: the one whose database it holds — refused if another
/// was `asked` for, or this build lacks it — else the one asked for, else redb.
fn choose_engine(dir: &Path, asked: Option<Engine>) -> Result<Engine> {
    let found = Engine::found_in(dir);
    let engine = match (found, asked) {
        (Some(found), Some(asked)) if found != asked => {
            return Err(Error::Engine {
                dir: dir.to_owned(),
                found,
                asked: Some(asked),
            });
        }
        (Some(found), _) => found,
        (None, asked) => asked.unwrap_or(Engine::Redb),
    };
    if !engine.is_available() {
        return Err(Error::Engine {
            dir: dir.to_owned(),
            found: engine,
            asked: None,
        });
    }
    Ok(engine)
}

/// A store of format version 1 was a sled database: its `conf` and `db` files, and no
/// other engine's database. It is refused as another version rather than opened empty
/// beside them.
fn refuse_sled(dir: &Path) -> Result<()> {
    if dir.join("conf").is_file() && dir.join("db").is_file() && Engine::found_in(dir).is_none() {
        return Err(Error::FormatVersion {
            dir: dir.to_owned(),
            found: 1,
            expected: STORE_FORMAT_VERSION,
        });
    }
    Ok(())
}

/// Stamps a new store with the format version, and refuses a store of another.
fn check_format(dir: &Path, trees: &Trees, seal: &Seal) -> Result<()> {
    let stamp = trees
        .meta
        .get("format")
        .map_err(|e| storage_error(dir, e))?;
    let empty = |tree: &engine::Tree| tree.is_empty().map_err(|e| storage_error(dir, e));
    match stamp {
        None if empty(&trees.entries)? && empty(&trees.blobs)? => {
            trees
                .meta
                .insert("format", STORE_FORMAT_VERSION.to_le_bytes())
                .map_err(|e| storage_error(dir, e))?;
            Ok(())
        }
        None => Err(Error::Corrupt {
            dir: dir.to_owned(),
            detail: "it holds entries but no format version".into(),
        }),
        Some(raw) => {
            let found = <[u8; 4]>::try_from(raw.as_ref())
                .map(u32::from_le_bytes)
                .map_err(|_| Error::Corrupt {
                    dir: dir.to_owned(),
                    detail: "its format version is unreadable".into(),
                })?;
            if found == STORE_FORMAT_VERSION {
                Ok(())
            } else if (3..=5).contains(&found) {
                // Its records read as they are (`EntryRecord::decode`) and are split into
                // rows and details; those of before MACs are its user's own, signed now.
                split_all(dir, trees, seal)?;
                trees
                    .meta
                    .insert("format", STORE_FORMAT_VERSION.to_le_bytes())
                    .map_err(|e| storage_error(dir, e))?;
                Ok(())
            } else if found == 2 {
                upgrade_from_2(dir, trees)
            } else {
                Err(Error::FormatVersion {
                    dir: dir.to_owned(),
                    found,
                    expected: STORE_FORMAT_VERSION,
                })
            }
        }
    }
}

/// Splits every entry record of a store of format 3 to 5, kept whole in the entries tree,
/// into its row and its details (format 6); one written before entries were signed
/// (format 3 or 4) is signed.
fn split_all(dir: &Path, trees: &Trees, seal: &Seal) -> Result<()> {
    let storage = |e| storage_error(dir, e);
    for item in trees.entries.iter() {
        let (key, raw) = item.map_err(storage)?;
        if let (Ok(key), Some(mut record)) = (
            <[u8; 32]>::try_from(key.as_ref()).map(crate::Digest),
            super::EntryRecord::decode(&raw),
        ) {
            if record.mac.is_none() {
                record.mac = Some(seal.mac(&key, &record.output));
            }
            trees.write_entry(&key, &record).map_err(storage)?;
        }
    }
    Ok(())
}

/// A version 2 store keyed its entries with the fingerprint first; this version keys
/// them with it last (so a call's identity across versions comes with its key), so none of
/// its entries can be found again. They are removed — results are recomputed as they are
/// needed — with one warning; the function records and counters stay.
fn upgrade_from_2(dir: &Path, trees: &Trees) -> Result<()> {
    let storage = |e| storage_error(dir, e);
    let entries = trees.entries.len().map_err(storage)?;
    for tree in trees.of_results() {
        tree.clear().map_err(storage)?;
    }
    super::files::remove_results(dir);
    trees
        .meta
        .insert("format", STORE_FORMAT_VERSION.to_le_bytes())
        .map_err(storage)?;
    if entries > 0 {
        crate::warn::once(&format!("upgraded {}", dir.display()), || {
            format!(
                "the store at {} was written by an older memo (format 2), whose keys this one does not read: its {entries} entries were removed, and results are computed again as they are needed",
                dir.display()
            )
        });
    }
    Ok(())
}

/// Writes the store's `.gitignore` unless something is there (a symlink is not followed).
fn write_gitignore(dir: &Path) -> Result<()> {
    let path = dir.join(".gitignore");
    private::write_new(&path, b"# Automatically created by memo.\n*\n")
        .map(drop)
        .map_err(|source| Error::Io { path, source })
}

fn open_error(dir: &Path, source: EngineError) -> Error {
    match source {
        // A pid file left by a process that is gone names nobody.
        EngineError::Locked => Error::Locked {
            dir: dir.to_owned(),
            holder: holder(dir).filter(|pid| is_running(*pid)),
        },
        source => storage_error(dir, source),
    }
}

pub(super) fn storage_error(dir: &Path, source: EngineError) -> Error {
    match source {
        EngineError::Corrupt(detail) => Error::Corrupt {
            dir: dir.to_owned(),
            detail,
        },
        source => Error::Storage {
            dir: dir.to_owned(),
            source: Box::new(source),
        },
    }
}

/// The topic of a store's degradation warnings: one warning per store and process.
pub(super) fn warning_topic(dir: &Path) -> String {
    format!("store failed {}", dir.display())
}

/// The pid written by the process that holds `dir`.
pub(crate) fn holder(dir: &Path) -> Option<u32> {
    fs::read_to_string(dir.join(HOLDER_FILE))
        .ok()?
        .trim()
        .parse()
        .ok()
}

/// Whether a process with `pid` is running.
#[cfg(unix)]
pub(crate) fn is_running(pid: u32) -> bool {
    let Ok(pid) = libc::pid_t::try_from(pid) else {
        return false;
    };
    // SAFETY: signal 0 only checks that the process exists; nothing is sent.
    let alive = unsafe { libc::kill(pid, 0) } == 0;
    alive || std::io::Error::last_os_error().raw_os_error() == Some(libc::EPERM)
}

#[cfg(not(unix))]
pub(crate) fn is_running(_pid: u32) -> bool {
    true
}

/// Whether the pid file names this process: it holds the store.
pub(super) fn holds(dir: &Path) -> bool {
    holder(dir) == Some(std::process::id())
}

/// Says the store is closed cleanly: its pid file goes.
pub(super) fn let_go(dir: &Path) {
    let _ = fs::remove_file(dir.join(HOLDER_FILE));
}

/// Gives back, in the background, the room a process that never closed the store (it was
/// killed) left in its file: the file is compacted if over half of it is free, as a
/// normal close does, up to 1 GiB (a bigger one waits for `memo gc`). Calls wait while it
/// runs, about a second per 500 MB.
fn reclaim(inner: &Arc<Inner>) {
    let store = Arc::downgrade(inner);
    let _ = std::thread::Builder::new()
        .name("memo-reclaim".into())
        .spawn(move || {
            if let Some(inner) = store.upgrade()
                && let Ok(freed) = inner.compact(1 << 30)
                && freed > 0
            {
                crate::warn::debug(|| {
                    format!(
                        "gave back {freed} bytes of {} left free",
                        inner.dir.display()
                    )
                });
            }
        });
}
