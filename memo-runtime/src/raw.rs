//! Direct access to the trees of a closed store, for tests that damage a store on purpose
//! to show that memo survives it. Not a public API.

use std::path::{Path, PathBuf};

use crate::Engine;
use crate::store::Raw;

type Failure = Box<dyn std::error::Error + Send + Sync>;

/// The CBOR of a stored result that postcard could not describe, without the marker that
/// says so; `None` for a result stored as postcard. `memo get` renders it.
pub fn cbor_payload(bytes: &[u8]) -> Option<&[u8]> {
    crate::call::codec::cbor_payload(bytes)
}

/// The database of the store in `dir`: `store.redb`, or the directory `store.sled`.
pub fn database(dir: &Path) -> PathBuf {
    engine_of(dir).path_in(dir)
}

/// Where a damaged database of the store in `dir` is moved aside to.
pub fn damaged_copy(dir: &Path) -> PathBuf {
    dir.join(engine_of(dir).damaged_name())
}

/// The file of the store in `dir` that a damaged database is told by at open: redb's one
/// file, or sled's config (its log, damaged, reads as a crash's torn tail). Inside
/// [`damaged_copy`] once moved aside, at [`vital_file_in_copy`].
pub fn vital_file(dir: &Path) -> PathBuf {
    match engine_of(dir) {
        Engine::Sled => database(dir).join("conf"),
        _ => database(dir),
    }
}

/// [`vital_file`] inside the damaged copy.
pub fn vital_file_in_copy(dir: &Path) -> PathBuf {
    match engine_of(dir) {
        Engine::Sled => damaged_copy(dir).join("conf"),
        _ => damaged_copy(dir),
    }
}

/// The file of the store in `dir` that holds its data: redb's one file, or sled's log.
pub fn data_file(dir: &Path) -> PathBuf {
    match engine_of(dir) {
        Engine::Sled => database(dir).join("db"),
        _ => database(dir),
    }
}

/// The contents of the database of the store in `dir`: its file's bytes, or those of
/// every file of its directory, in order of their names.
pub fn database_contents(dir: &Path) -> Vec<u8> {
    let database = database(dir);
    if !database.is_dir() {
        return std::fs::read(&database).unwrap_or_default();
    }
    let mut names: Vec<PathBuf> = std::fs::read_dir(&database)
        .into_iter()
        .flatten()
        .flatten()
        .map(|entry| entry.path())
        .filter(|path| path.is_file())
        .collect();
    names.sort();
    names
        .iter()
        .flat_map(|path| std::fs::read(path).unwrap_or_default())
        .collect()
}

/// The bytes the database of the store in `dir` takes on disk.
pub fn database_bytes(dir: &Path) -> u64 {
    let engine = engine_of(dir);
    engine.size_on_disk(&engine.path_in(dir)).unwrap_or(0)
}

/// The engine of the store in `dir`: the one whose database it holds, else the one a new
/// store there would get.
pub fn engine_of(dir: &Path) -> Engine {
    Engine::found_in(dir)
        .or_else(|| {
            std::env::var("MEMO_ENGINE")
                .ok()
                .and_then(|name| Engine::from_name(&name))
        })
        .unwrap_or(Engine::Redb)
}

/// Moves this process's clock, as memo reads it, by `ms` (negative: back), so tests can
/// write with a clock ahead or step it back without touching the machine's. `0` restores it.
pub fn skew_clock(ms: i64) {
    crate::clock::skew(ms);
}

/// Offers the process holding `store` (opened here as a served store) `bytes` as the
/// result for `key`, bound by its MAC to `bound_to`: with `bound_to == key`, what a served
/// process does; otherwise a result planted under another key, which the holder refuses.
pub fn offer(
    store: &crate::Store,
    key: crate::Digest,
    bound_to: crate::Digest,
    bytes: &[u8],
) -> crate::Result<()> {
    store.offer(&key, &bound_to, bytes)
}

/// Knocks at the socket of the store in `dir` as any process could, without checking
/// who listens: `Ok` if the holder answered the hello.
pub fn knock(dir: &Path) -> std::io::Result<()> {
    crate::store::knock(dir)
}

/// Takes the socket address of the store in `dir` before its holder, answering hellos
/// as a holder would: prints `squatting`, then serves until killed.
pub fn squat(dir: &Path) -> std::io::Result<()> {
    crate::store::squat(dir)
}

/// A closed store's database, opened with the engine that wrote it, without memo's checks
/// or buffering.
pub struct RawStore {
    db: Raw,
}

impl RawStore {
    /// Opens the database of the store in `dir`, which no `Store` may have open: one just
    /// dropped is waited for (up to ten seconds) while its engine lets go of the file, as
    /// sled does in the background.
    pub fn open(dir: &Path) -> Result<RawStore, Failure> {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        loop {
            match Raw::open(dir) {
                Ok(db) => return Ok(RawStore { db }),
                Err(crate::store::EngineError::Locked) if std::time::Instant::now() < deadline => {
                    std::thread::sleep(std::time::Duration::from_millis(20));
                }
                Err(error) => return Err(error.into()),
            }
        }
    }

    /// Every key of tree `name`, in order.
    pub fn keys(&self, name: &str) -> Result<Vec<Vec<u8>>, Failure> {
        Ok(self.db.keys(name)?.iter().map(|key| key.to_vec()).collect())
    }

    /// The value under `key` in tree `name`.
    pub fn get(&self, name: &str, key: &[u8]) -> Result<Option<Vec<u8>>, Failure> {
        Ok(self.db.get(name, key)?.map(|value| value.to_vec()))
    }

    /// Sets the value under `key` in tree `name`, durably.
    pub fn insert(&self, name: &str, key: &[u8], value: &[u8]) -> Result<(), Failure> {
        Ok(self.db.insert(name, key, value)?)
    }
}

/// Runs this test binary's whole suite again, in a child process on `engine`, and fails
/// with the child's output if any of its tests fail: how one suite is run on every
/// engine. The child and the processes its tests start inherit `MEMO_ENGINE`; a suite
/// already running on a chosen engine (`MEMO_ENGINE` set) does nothing here.
///
/// `name` is the test that calls this, left out of the child's run.
pub fn run_suite_again_on(engine: Engine, name: &str) {
    if std::env::var_os("MEMO_ENGINE").is_some() {
        return;
    }
    let exe = std::env::current_exe().expect("the test binary");
    let output = std::process::Command::new(exe)
        .args(["--skip", name])
        .env("MEMO_ENGINE", engine.name())
        .output()
        .expect("the test binary runs again");
    assert!(
        output.status.success(),
        "the suite failed on {engine}:\n{}\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

/// Defines the test `the_suite_again_on_sled`, which runs every other test of its binary
/// again on the sled engine ([`run_suite_again_on`]).
#[macro_export]
macro_rules! suite_again_on_sled {
    () => {
        #[test]
        fn the_suite_again_on_sled() {
            $crate::raw::run_suite_again_on($crate::Engine::Sled, "the_suite_again_on_sled");
        }
    };
}
