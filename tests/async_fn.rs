//! `#[cached]` on `async fn`: hits, `Result`, and single-flight waits that do not block the
//! executor.

mod support;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use memo::{Store, cached};

static FETCHES: AtomicUsize = AtomicUsize::new(0);

#[cached]
async fn fetch(id: u32) -> String {
    FETCHES.fetch_add(1, Ordering::SeqCst);
    tokio::time::sleep(Duration::from_millis(100)).await;
    format!("record {id}")
}

static PARSES: AtomicUsize = AtomicUsize::new(0);

#[cached]
async fn parse(text: String) -> Result<u32, std::num::ParseIntError> {
    PARSES.fetch_add(1, Ordering::SeqCst);
    tokio::task::yield_now().await;
    let n: u32 = text.trim().parse()?;
    Ok(n * 2)
}

struct Client {
    base: String,
}

impl memo::CacheKey for Client {
    fn cache_key(&self, h: &mut memo::KeyHasher) {
        self.base.cache_key(h);
    }
}

impl Client {
    #[cached]
    async fn get(&self, path: &str) -> String {
        tokio::task::yield_now().await;
        format!("{}/{path}", self.base)
    }
}

#[tokio::test(flavor = "current_thread")]
async fn concurrent_awaits_compute_once_on_one_thread() {
    let store = Store::temporary().unwrap();
    // One thread: if a waiting caller blocked the thread, the leader could never finish.
    let (a, b, c) =
        memo::with_store_async(&store, futures_join3(fetch(1), fetch(1), fetch(1))).await;
    assert_eq!(
        (a.as_str(), b.as_str(), c.as_str()),
        ("record 1", "record 1", "record 1")
    );
    assert_eq!(FETCHES.load(Ordering::SeqCst), 1);
    let stats = store.stats().unwrap();
    assert_eq!((stats.hits, stats.misses), (2, 1));
}

async fn futures_join3<A, B, C>(
    a: impl Future<Output = A>,
    b: impl Future<Output = B>,
    c: impl Future<Output = C>,
) -> (A, B, C) {
    tokio::join!(a, b, c)
}

#[tokio::test(flavor = "current_thread")]
async fn async_results_store_only_ok() {
    let store = Store::temporary().unwrap();
    let run = |text: &'static str| {
        let store = store.clone();
        async move { memo::with_store_async(&store, parse(text.to_owned())).await }
    };
    assert_eq!(run("21").await, Ok(42));
    assert_eq!(run("21").await, Ok(42));
    assert!(run("x").await.is_err());
    assert!(run("x").await.is_err());
    assert_eq!(PARSES.load(Ordering::SeqCst), 3);
}

#[tokio::test(flavor = "current_thread")]
async fn async_methods_key_their_receiver() {
    let store = Store::temporary().unwrap();
    let a = Client {
        base: "https://a".into(),
    };
    let b = Client {
        base: "https://b".into(),
    };
    memo::with_store_async(&store, a.get("x")).await;
    memo::with_store_async(&store, a.get("x")).await;
    memo::with_store_async(&store, b.get("x")).await;
    let stats = store.stats().unwrap();
    assert_eq!((stats.hits, stats.misses), (1, 2));
}

#[tokio::test(flavor = "current_thread")]
async fn refresh_and_bypass_have_async_forms() {
    let store = Store::temporary().unwrap();
    let client = Client {
        base: "https://c".into(),
    };
    memo::with_store_async(&store, client.get("y")).await;
    memo::with_store_async(&store, memo::refresh_async(client.get("y"))).await;
    memo::with_store_async(&store, memo::bypass_async(client.get("y"))).await;
    let stats = store.stats().unwrap();
    assert_eq!((stats.hits, stats.misses), (0, 2), "bypass counts nothing");
}
