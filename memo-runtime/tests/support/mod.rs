//! Helpers shared by the runtime's tests: call sites built by hand, as `#[cached]` would
//! build them, and a capture of the warnings memo logs.

#![allow(dead_code)]

use std::io::Write;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

pub mod shared;

use memo_runtime::{CallSite, KeyHasher, Plain, Store, call, with_store};

/// A `&'static CallSite` with the given name and options.
#[macro_export]
macro_rules! site {
    ($name:expr) => {
        $crate::site!($name, fingerprint = [1; 32], ttl = None, tags = &[])
    };
    ($name:expr, fingerprint = $fp:expr, ttl = $ttl:expr, tags = $tags:expr) => {{
        static SITE: memo_runtime::CallSite = memo_runtime::CallSite {
            name: $name,
            module: module_path!(),
            file: file!(),
            line: line!(),
            fingerprint: $fp,
            ttl_secs: $ttl,
            tags: $tags,
            components: &[],
            reached: "",
            source: b"",
            sources: b"",
            output_type: "u64",
            state: memo_runtime::SiteState::new(),
        };
        &SITE
    }};
}

/// The key of a call of `site` with argument `arg`.
pub fn key(site: &'static CallSite, arg: u64) -> KeyHasher {
    let mut h = site.hasher();
    h.update(&arg);
    h
}

/// Counts how often a function body really ran.
#[derive(Default, Clone)]
pub struct Runs(Arc<AtomicUsize>);

impl Runs {
    pub fn bump(&self) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }

    pub fn get(&self) -> usize {
        self.0.load(Ordering::SeqCst)
    }
}

/// A cached `x * x` through `site`, in `store`.
pub fn square(store: &Store, site: &'static CallSite, x: u64, runs: &Runs) -> u64 {
    with_store(store, || {
        call::<Plain<u64>>(site, &key(site, x), memo_runtime::Share::typed(), || {
            runs.bump();
            x * x
        })
    })
}

/// Runs `f` and returns what it logged at warning level or above.
pub fn warnings<R>(f: impl FnOnce() -> R) -> (R, Vec<String>) {
    #[derive(Clone, Default)]
    struct Buffer(Arc<Mutex<Vec<u8>>>);
    impl Write for Buffer {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(bytes);
            Ok(bytes.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let buffer = Buffer::default();
    let writer = buffer.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::WARN)
        .with_ansi(false)
        .without_time()
        .with_writer(move || writer.clone())
        .finish();
    let result = tracing::subscriber::with_default(subscriber, f);
    let text = String::from_utf8(buffer.0.lock().unwrap().clone()).unwrap();
    (result, text.lines().map(str::to_owned).collect())
}
