//! The expansions compile under `#![deny(warnings)]` and beside user items that shadow the
//! std names generated code might reach for.

#![deny(warnings)]
#![allow(dead_code, non_camel_case_types)]

use memo::{CacheKey, cached};

struct Option;
struct Some;
struct None;
struct Ok;
struct Err;
struct Vec;
struct String;
struct Box;
struct KeyHasher;
struct CallSite;
mod core {}
mod std {}
type Result<T> = ::std::result::Result<T, ::std::string::String>;

#[derive(CacheKey)]
struct Config {
    depth: u32,
    label: ::std::string::String,
}

#[cached(ttl = "30m", tags = ["t"])]
fn depth_of(config: &Config, extra: u32) -> u32 {
    config.depth + extra
}

#[cached]
fn checked(x: i32) -> Result<i32> {
    if x < 0 {
        return ::std::result::Result::Err("negative".into());
    }
    ::std::result::Result::Ok(x)
}

#[cached]
fn nothing_to_key() -> u8 {
    7
}

#[cached]
fn maybe(x: u8) -> ::std::option::Option<u8> {
    x.checked_sub(1)
}

#[cached]
async fn later(x: u64) -> u64 {
    x + 1
}

#[test]
fn expansions_ignore_user_names() {
    let store = memo::Store::temporary().unwrap();
    memo::with_store(&store, || {
        let config = Config {
            depth: 2,
            label: "x".into(),
        };
        assert_eq!(depth_of(&config, 1), 3);
        assert_eq!(checked(-1), ::std::result::Result::Err("negative".into()));
        assert_eq!(checked(4), ::std::result::Result::Ok(4));
        assert_eq!(nothing_to_key(), 7);
        assert_eq!(maybe(0), ::std::option::Option::None);
    });
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    assert_eq!(rt.block_on(memo::with_store_async(&store, later(1))), 2);
    assert_eq!(store.stats().unwrap().entries, 5, "all but the `Err`");
}

// A body on one line: its braces around one expression draw no `unused_braces`.
#[rustfmt::skip]
#[cached]
fn one_line(x: u64) -> u64 { x * 2 }

#[test]
fn a_one_line_body_compiles_without_warnings() {
    let store = memo::Store::temporary().unwrap();
    assert_eq!(memo::with_store(&store, || one_line(21)), 42);
}
