//! `#[cached]` end to end: what is keyed, what is stored, and the options.

#![deny(warnings)]

mod support;

use memo::{CacheKey, cached};
use support::{hit, in_store, miss, ran};

#[cached]
fn shout(text: &str, times: usize) -> String {
    ran();
    text.to_uppercase().repeat(times)
}

#[test]
fn a_repeated_call_is_a_hit() {
    in_store(|store| {
        assert_eq!(miss(|| shout("hey", 2)), "HEYHEY");
        assert_eq!(hit(|| shout("hey", 2)), "HEYHEY");
        assert_eq!(miss(|| shout("hey", 3)), "HEYHEYHEY");
        assert_eq!(miss(|| shout("ho", 2)), "HOHO");
        let stats = store.stats().unwrap();
        assert_eq!((stats.hits, stats.misses, stats.entries), (1, 3, 3));
    });
}

#[test]
fn owned_and_borrowed_arguments_share_keys() {
    #[cached]
    fn owned(text: String) -> usize {
        ran();
        text.len()
    }
    #[cached(name = "cached::owned")]
    fn borrowed(text: &str) -> usize {
        ran();
        text.len() + 1000
    }
    in_store(|_| {
        assert_eq!(miss(|| owned("abc".to_owned())), 3);
        assert_eq!(hit(|| owned(String::from("abc"))), 3);
        // Another function body is another fingerprint, even under the same name.
        assert_eq!(miss(|| borrowed("abc")), 1003);
    });
}

#[cached(skip(verbose))]
fn sum(values: &[i64], verbose: bool) -> i64 {
    ran();
    if verbose {
        eprintln!("summing {} values", values.len());
    }
    values.iter().sum()
}

#[test]
fn skipped_arguments_are_not_keyed() {
    in_store(|_| {
        assert_eq!(miss(|| sum(&[1, 2, 3], false)), 6);
        assert_eq!(hit(|| sum(&[1, 2, 3], true)), 6);
        assert_eq!(miss(|| sum(&[1, 2], true)), 3);
    });
}

#[derive(CacheKey, Clone)]
struct Circle {
    radius: f64,
}

impl Circle {
    #[cached]
    fn area(&self) -> f64 {
        ran();
        std::f64::consts::PI * self.radius * self.radius
    }

    #[cached]
    fn scaled(self, factor: f64) -> f64 {
        ran();
        self.radius * factor
    }

    #[cached]
    fn unit() -> Self {
        ran();
        Circle { radius: 1.0 }
    }
}

#[derive(CacheKey)]
struct Square {
    side: f64,
}

impl Square {
    #[cached]
    fn unit() -> Self {
        ran();
        Square { side: 1.0 }
    }
}

// Results are serde values; the shapes here are tiny, so derive by hand.
impl serde::Serialize for Circle {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.radius.serialize(s)
    }
}
impl<'de> serde::Deserialize<'de> for Circle {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        f64::deserialize(d).map(|radius| Circle { radius })
    }
}
impl serde::Serialize for Square {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.side.serialize(s)
    }
}
impl<'de> serde::Deserialize<'de> for Square {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        f64::deserialize(d).map(|side| Square { side })
    }
}

#[test]
fn methods_key_their_receiver() {
    in_store(|_| {
        let small = Circle { radius: 1.0 };
        let large = Circle { radius: 2.0 };
        miss(|| small.area());
        hit(|| small.area());
        hit(|| Circle { radius: 1.0 }.area());
        miss(|| large.area());
        assert_eq!(miss(|| small.clone().scaled(3.0)), 3.0);
        assert_eq!(hit(|| small.clone().scaled(3.0)), 3.0);
    });
}

#[test]
fn associated_functions_with_equal_bodies_do_not_share_results() {
    in_store(|_| {
        assert_eq!(miss(Circle::unit).radius, 1.0);
        assert_eq!(hit(Circle::unit).radius, 1.0);
        // Same module, same name, same tokens: only `Self` tells them apart.
        assert_eq!(miss(Square::unit).side, 1.0);
    });
}

#[cached]
fn zero_of<T: Default + serde::Serialize + serde::de::DeserializeOwned + 'static>() -> T {
    ran();
    T::default()
}

#[cached]
fn repeat<const N: usize>(byte: u8) -> Vec<u8> {
    ran();
    vec![byte; N]
}

#[test]
fn generic_functions_key_their_type_arguments() {
    in_store(|_| {
        assert_eq!(miss(zero_of::<u32>), 0u32);
        assert_eq!(hit(zero_of::<u32>), 0u32);
        assert_eq!(miss(zero_of::<String>), "");
        assert_eq!(miss(|| repeat::<2>(7)), vec![7, 7]);
        assert_eq!(miss(|| repeat::<3>(7)), vec![7, 7, 7]);
        assert_eq!(hit(|| repeat::<2>(7)), vec![7, 7]);
    });
}

#[cached]
fn parse_port(text: &str) -> Result<u16, String> {
    ran();
    let port: u16 = text.parse().map_err(|e| format!("{text:?}: {e}"))?;
    if port == 0 {
        return Err("port 0 is reserved".into());
    }
    Ok(port)
}

#[cached]
fn read_number(path: &std::path::Path) -> std::io::Result<u64> {
    ran();
    let text = std::fs::read_to_string(path)?;
    Ok(text.trim().parse().unwrap_or(0))
}

#[test]
fn only_ok_results_are_stored() {
    in_store(|store| {
        assert_eq!(miss(|| parse_port("8080")), Ok(8080));
        assert_eq!(hit(|| parse_port("8080")), Ok(8080));
        assert!(miss(|| parse_port("0")).is_err());
        assert!(
            miss(|| parse_port("0")).is_err(),
            "an error is never stored"
        );
        assert!(miss(|| parse_port("x")).is_err());
        assert_eq!(store.stats().unwrap().entries, 1);
    });
}

#[test]
fn io_result_aliases_and_the_question_mark_work() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("missing");
    let present = dir.path().join("n.txt");
    std::fs::write(&present, "41").unwrap();
    in_store(|_| {
        assert!(miss(|| read_number(&missing)).is_err());
        assert!(miss(|| read_number(&missing)).is_err());
        assert_eq!(miss(|| read_number(&present)).unwrap(), 41);
        assert_eq!(hit(|| read_number(&present)).unwrap(), 41);
    });
}

#[cached]
fn lookup(id: u32) -> Option<String> {
    ran();
    (id == 1).then(|| "one".to_owned())
}

#[test]
fn none_is_stored_too() {
    in_store(|_| {
        assert_eq!(miss(|| lookup(2)), None);
        assert_eq!(hit(|| lookup(2)), None);
        assert_eq!(miss(|| lookup(1)).as_deref(), Some("one"));
    });
}

#[cached(ttl = "1h", tags = ["ml", "nightly"], name = "features")]
fn features(rows: u32) -> Vec<f32> {
    ran();
    (0..rows).map(|r| r as f32 * 0.5).collect()
}

#[test]
fn options_reach_the_store() {
    in_store(|store| {
        miss(|| features(4));
        let entry = &store.entries().unwrap()[0];
        assert_eq!(entry.function, "features");
        assert_eq!(entry.tags, vec!["ml", "nightly"]);
        let ttl = entry
            .expires
            .unwrap()
            .duration_since(entry.created)
            .unwrap();
        assert_eq!(ttl.as_secs(), 3600);
        let record = store.function("features").unwrap().unwrap();
        assert_eq!(record.file, file!());
        assert_eq!(record.versions[0].components[0].kind, "fn");
        assert_eq!(store.invalidate_tag("nightly").unwrap(), 1);
        miss(|| features(4));
    });
}

mod versions {
    use super::support::ran;
    use memo::cached;

    #[cached(name = "versioned")]
    pub fn v1(x: u8) -> u8 {
        ran();
        x
    }

    #[cached(name = "versioned", version = 2)]
    pub fn v2(x: u8) -> u8 {
        ran();
        x
    }

    #[cached(name = "renamed_1")]
    pub fn same_body_a(x: u8) -> u8 {
        ran();
        x
    }

    #[cached(name = "renamed_1")]
    pub fn same_body_b(x: u8) -> u8 {
        ran();
        x
    }
}

#[test]
fn version_salts_the_key_and_name_is_the_identity() {
    in_store(|_| {
        miss(|| versions::v1(1));
        miss(|| versions::v2(1));
        // A function renamed or moved keeps its results through `name`: same code, same
        // stable name, same key.
        miss(|| versions::same_body_a(1));
        hit(|| versions::same_body_b(1));
    });
}

#[test]
fn the_function_name_defaults_to_its_module_path() {
    in_store(|store| {
        miss(|| shout("x", 1));
        assert_eq!(store.entries().unwrap()[0].function, "cached::shout");
    });
}

#[test]
fn every_cached_function_is_registered() {
    let names: Vec<&str> = memo::__private::registered()
        .map(|site| site.name)
        .collect();
    for name in ["cached::shout", "cached::sum", "features", "versioned"] {
        assert!(names.contains(&name), "{name} missing from {names:?}");
    }
}

#[test]
fn bypass_and_refresh_apply_to_cached_functions() {
    in_store(|_| {
        miss(|| shout("b", 1));
        memo::bypass(|| miss(|| shout("b", 1)));
        memo::refresh(|| miss(|| shout("b", 1)));
        hit(|| shout("b", 1));
    });
}

/// Reached only through a table the analysis cannot follow by name.
fn scale_by_three(x: u64) -> u64 {
    x * 3
}

#[cached(deps = [scale_by_three])]
fn through_table(x: u64) -> u64 {
    ran();
    let table: [(&str, u64); 1] = [("triple", 3)];
    x * table[0].1
}

#[test]
fn deps_adds_items_to_the_fingerprint() {
    let explained = memo::explain("through_table").unwrap();
    let paths: Vec<&str> = explained
        .components
        .iter()
        .map(|c| c.path.as_str())
        .collect();
    assert!(
        paths.iter().any(|p| p.ends_with("::scale_by_three")),
        "{paths:?}"
    );
    assert_eq!(scale_by_three(1), 3);
    in_store(|_| {
        miss(|| through_table(2));
        hit(|| through_table(2));
    });
}

#[test]
fn helpers_are_components_of_the_fingerprint() {
    let explained = memo::explain("cached::shout").unwrap();
    assert_eq!(explained.components[0].kind, "fn");
    assert_eq!(explained.components[0].path, "cached::shout");
    assert!(
        explained.components[0]
            .location
            .starts_with("tests/cached.rs:")
    );
}

/// What `reading` returns: set by the test, seen by no fingerprint.
static READING: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);

#[cached]
fn reading(sensor: &str) -> u64 {
    sensor.len() as u64 * READING.load(std::sync::atomic::Ordering::SeqCst)
}

#[test]
#[ignore = "run by a parent test in a child process"]
fn child_audits_a_reading() {
    if !support::child::in_child() {
        return;
    }
    let store = memo::current_store().unwrap();
    reading("north");
    READING.store(2, std::sync::atomic::Ordering::SeqCst);
    // Audited: the fresh result replaces the stored one.
    assert_eq!(reading("north"), 10);
    store.flush().unwrap();
    let entries = store.entries().unwrap();
    assert_eq!(entries.len(), 1, "{entries:?}");
    assert_eq!(entries[0].args.as_deref(), Some("sensor = \"north\""));
    assert!(entries[0].call.is_some());
    println!("audited");
}

/// An audit that replaces a stored result keeps what the call was made with.
#[test]
fn a_result_an_audit_replaces_keeps_its_arguments() {
    let dir = tempfile::tempdir().unwrap();
    let out = support::child::child("child_audits_a_reading", &dir.path().join("store"))
        .env("MEMO_AUDIT", "1")
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && text.contains("audited"),
        "{text}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
