//! Choosing the storage engine: a store directory is opened with the engine that wrote it;
//! asking for the other one is refused, never answered with an empty store beside the old
//! files; an archive moves a store from one engine to the other.

mod support;

use std::io::Cursor;

use memo_runtime::{Engine, Error, Store, with_store};
use support::{Runs, key, square};

fn filled(engine: Engine) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::builder(dir.path()).engine(engine).open().unwrap();
    let runs = Runs::default();
    for x in 0..50 {
        square(&store, site!("engines::square"), x, &runs);
    }
    assert_eq!(runs.get(), 50);
    dir
}

/// Both engines' databases, as they sit in a store directory.
fn databases(dir: &std::path::Path) -> [bool; 2] {
    [
        dir.join("store.redb").exists(),
        dir.join("store.sled").exists(),
    ]
}

#[test]
fn each_engine_keeps_its_results_in_its_own_database_and_is_found_again() {
    for engine in [Engine::Redb, Engine::Sled] {
        let dir = filled(engine);
        assert_eq!(
            databases(dir.path()),
            [engine == Engine::Redb, engine == Engine::Sled]
        );
        // Opened without saying which: the engine that wrote it, with every result.
        let store = Store::open(dir.path()).unwrap();
        assert_eq!(store.engine(), engine);
        let runs = Runs::default();
        for x in 0..50 {
            assert_eq!(square(&store, site!("engines::square"), x, &runs), x * x);
        }
        assert_eq!(runs.get(), 0, "{engine}: every result is a hit");
        assert_eq!(store.stats().unwrap().entries, 50);
        assert!(store.verify(&mut |_, _| {}).unwrap().is_clean());
    }
}

#[test]
fn a_store_is_refused_by_the_other_engine_and_left_as_it_was() {
    for (wrote, asked) in [(Engine::Redb, Engine::Sled), (Engine::Sled, Engine::Redb)] {
        let dir = filled(wrote);
        let error = Store::builder(dir.path()).engine(asked).open().unwrap_err();
        let message = error.to_string();
        assert!(
            matches!(error, Error::Engine { found, asked: Some(a), .. } if found == wrote && a == asked),
            "{message}"
        );
        assert!(
            message.contains(&format!("written by the {wrote} engine")),
            "{message}"
        );
        assert!(
            message.contains("memo export"),
            "says what to do: {message}"
        );
        // Nothing of the other engine's was created beside it.
        assert_eq!(
            databases(dir.path()),
            [wrote == Engine::Redb, wrote == Engine::Sled]
        );
        let store = Store::open(dir.path()).unwrap();
        assert_eq!(store.stats().unwrap().entries, 50, "{wrote}: intact");
    }
}

#[test]
fn a_store_open_in_this_process_is_not_handed_out_for_the_other_engine() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::builder(dir.path())
        .engine(Engine::Sled)
        .open()
        .unwrap();
    let same = Store::open(dir.path()).unwrap();
    assert_eq!(same, store);
    let error = Store::builder(dir.path())
        .engine(Engine::Redb)
        .open()
        .unwrap_err();
    assert!(matches!(error, Error::Engine { .. }), "{error}");
}

#[test]
fn an_archive_moves_a_store_to_the_other_engine_and_back() {
    let from = filled(Engine::Redb);
    let from = Store::open(from.path()).unwrap();
    // A result over 256 bytes is a shared blob, one over 8 MiB a file: both travel.
    let blob_site = site!("engines::text");
    let text = |store: &Store, runs: &Runs| {
        with_store(store, || {
            memo_runtime::call::<memo_runtime::Plain<String>>(
                blob_site,
                &key(blob_site, 1),
                memo_runtime::Share::typed(),
                || {
                    runs.bump();
                    "row\n".repeat(500)
                },
            )
        })
    };
    text(&from, &Runs::default());
    let mut archive = Vec::new();
    let exported = from.export(&mut archive, &mut |_, _| {}).unwrap();
    assert_eq!(exported.entries, 51);

    let to_dir = tempfile::tempdir().unwrap();
    let to = Store::builder(to_dir.path())
        .engine(Engine::Sled)
        .open()
        .unwrap();
    let imported = to
        .import_trusting(Cursor::new(&archive), &mut |_, _| {})
        .unwrap();
    assert_eq!(imported.entries, 51);
    assert_eq!(to.engine(), Engine::Sled);
    let runs = Runs::default();
    for x in 0..50 {
        assert_eq!(square(&to, site!("engines::square"), x, &runs), x * x);
    }
    assert_eq!(text(&to, &runs), "row\n".repeat(500));
    assert_eq!(runs.get(), 0, "every imported result is a hit on sled");
    assert!(to.verify(&mut |_, _| {}).unwrap().is_clean());

    // And back, into a fresh redb store.
    let mut again = Vec::new();
    assert_eq!(to.export(&mut again, &mut |_, _| {}).unwrap().entries, 51);
    let back_dir = tempfile::tempdir().unwrap();
    let back = Store::builder(back_dir.path())
        .engine(Engine::Redb)
        .open()
        .unwrap();
    back.import_trusting(Cursor::new(&again), &mut |_, _| {})
        .unwrap();
    let runs = Runs::default();
    for x in 0..50 {
        assert_eq!(square(&back, site!("engines::square"), x, &runs), x * x);
    }
    assert_eq!(runs.get(), 0);
    assert_eq!(back.stats().unwrap().entries, 51);
}

#[test]
fn engines_are_named_as_memo_engine_takes_them() {
    for engine in [Engine::Redb, Engine::Sled] {
        assert_eq!(Engine::from_name(engine.name()), Some(engine));
        assert_eq!(engine.to_string(), engine.name());
        assert!(engine.is_available(), "this build has both");
    }
    assert_eq!(Engine::from_name(" Redb "), Some(Engine::Redb));
    assert_eq!(Engine::from_name("rocksdb"), None);
}

/// In a child with `MEMO_ENGINE=lmdb`: a new store is redb, and one warning says why.
#[test]
#[ignore = "run by a parent test in a child process"]
fn child_opens_stores_with_an_unknown_memo_engine() {
    if std::env::var_os("MEMO_TEST_CHILD").is_none() {
        return;
    }
    let (engines, logged) = support::warnings(|| {
        (0..3)
            .map(|_| Store::temporary().unwrap().engine())
            .collect::<Vec<_>>()
    });
    assert_eq!(engines, [Engine::Redb; 3]);
    assert_eq!(logged.len(), 1, "one warning: {logged:?}");
    assert!(
        logged[0].contains("MEMO_ENGINE=\"lmdb\" names no storage engine"),
        "{logged:?}"
    );
}

#[test]
fn a_memo_engine_that_names_no_engine_is_said_once_and_redb_is_used() {
    let output = std::process::Command::new(std::env::current_exe().unwrap())
        .args([
            "child_opens_stores_with_an_unknown_memo_engine",
            "--exact",
            "--ignored",
            "--test-threads=1",
        ])
        .env("MEMO_TEST_CHILD", "1")
        .env("MEMO_ENGINE", "lmdb")
        .env_remove("MEMO_LOG")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{stdout}");
    assert!(stdout.contains("1 passed"), "the child ran: {stdout}");
}
