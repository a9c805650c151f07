//! The exact path: functions whose arguments are plain values find warm hits in the
//! in-memory tier by the arguments themselves. It must answer exactly as the key stream
//! does: per store, forgetting what is invalidated, counting its hits, and never for
//! arguments it cannot compare.

#![deny(warnings)]

mod support;

use memo::{FileContent, Store, cached};
use support::{hit, in_store, miss, ran};

#[cached]
fn cube(x: u64) -> u64 {
    ran();
    x * x * x
}

#[cached]
fn label(name: String, parts: Vec<u8>, flag: Option<bool>) -> String {
    ran();
    format!("{name}:{parts:?}:{flag:?}")
}

#[test]
fn repeated_calls_are_hits_and_are_counted() {
    in_store(|store| {
        assert_eq!(miss(|| cube(3)), 27);
        for _ in 0..5 {
            assert_eq!(hit(|| cube(3)), 27);
        }
        assert_eq!(miss(|| cube(4)), 64);
        let args = || ("a".to_owned(), vec![1, 2], Some(true));
        let first = miss(|| {
            let (n, p, f) = args();
            label(n, p, f)
        });
        let again = hit(|| {
            let (n, p, f) = args();
            label(n, p, f)
        });
        assert_eq!(first, again);
        miss(|| label("a".into(), vec![1, 2], Some(false)));
        let stats = store.stats().unwrap();
        assert_eq!((stats.hits, stats.misses), (6, 4));
    });
}

#[test]
fn an_invalidated_result_is_computed_again() {
    in_store(|store| {
        miss(|| cube(5));
        hit(|| cube(5));
        let name = store.functions().unwrap()[0].name.clone();
        assert_eq!(store.invalidate_fn(&name).unwrap(), 1);
        miss(|| cube(5));
        hit(|| cube(5));
        store.clear().unwrap();
        miss(|| cube(5));
    });
}

#[test]
fn results_belong_to_their_store() {
    let (a, b) = (Store::temporary().unwrap(), Store::temporary().unwrap());
    memo::with_store(&a, || miss(|| cube(6)));
    memo::with_store(&a, || hit(|| cube(6)));
    memo::with_store(&b, || miss(|| cube(6)));
    memo::with_store(&a, || hit(|| cube(6)));
}

#[test]
fn bypass_and_refresh_skip_it() {
    in_store(|_| {
        miss(|| cube(7));
        memo::bypass(|| miss(|| cube(7)));
        memo::refresh(|| miss(|| cube(7)));
        hit(|| cube(7));
    });
}

#[test]
fn a_result_the_body_mutates_later_is_not_shared() {
    #[cached]
    fn numbers(n: u32) -> Vec<u32> {
        ran();
        (0..n).collect()
    }
    in_store(|_| {
        let mut first = miss(|| numbers(3));
        first.push(99);
        assert_eq!(hit(|| numbers(3)), vec![0, 1, 2]);
    });
}

/// A result whose `Clone` calls a cached function: the tier clones outside the thread's
/// state, so this neither panics nor deadlocks.
#[derive(Debug, PartialEq, serde::Serialize, serde::Deserialize)]
struct Noisy(u64);

impl Clone for Noisy {
    fn clone(&self) -> Noisy {
        cube(self.0 % 3);
        Noisy(self.0)
    }
}

#[test]
fn a_clone_that_calls_a_cached_function_is_fine() {
    #[cached]
    fn noisy(x: u64) -> Noisy {
        Noisy(x)
    }
    in_store(|_| {
        assert_eq!(noisy(9), Noisy(9));
        assert_eq!(noisy(9), Noisy(9));
    });
}

#[test]
fn arguments_it_cannot_compare_keep_to_their_keys() {
    // `FileContent` has `Eq`, but equal paths are not equal keys once the file changes.
    #[cached]
    fn words(file: FileContent<std::path::PathBuf>) -> usize {
        ran();
        std::fs::read_to_string(file.path())
            .unwrap()
            .split_whitespace()
            .count()
    }
    in_store(|_| {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("text");
        std::fs::write(&path, "one two").unwrap();
        assert_eq!(miss(|| words(FileContent(path.clone()))), 2);
        assert_eq!(hit(|| words(FileContent(path.clone()))), 2);
        std::fs::write(&path, "one two three").unwrap();
        assert_eq!(miss(|| words(FileContent(path.clone()))), 3);
    });
}

#[test]
fn large_results_are_counted_by_their_bytes_and_still_hit() {
    #[cached]
    fn block(n: usize) -> Vec<u8> {
        ran();
        vec![7; n]
    }
    in_store(|store| {
        assert_eq!(miss(|| block(1 << 20)).len(), 1 << 20);
        assert_eq!(hit(|| block(1 << 20)).len(), 1 << 20);
        // Counted against the budget by its encoded size; an invalidation still reaches
        // it.
        store.clear().unwrap();
        miss(|| block(1 << 20));
    });
}

/// Its `==` looks at `id` alone; its key reads both fields.
#[derive(memo::CacheKey, Clone, Debug)]
struct Loose {
    id: u32,
    note: String,
}

impl PartialEq for Loose {
    fn eq(&self, other: &Loose) -> bool {
        self.id == other.id
    }
}

#[derive(memo::CacheKey, Clone)]
struct Point(i64, i64);

#[derive(memo::CacheKey, Clone)]
struct Sample {
    at: Point,
    source: FileContent<std::path::PathBuf>,
}

#[derive(memo::CacheKey, Clone)]
struct Tagged {
    id: u32,
    #[cache_key(skip)]
    label: String,
}

#[test]
fn derived_structs_are_compared_by_their_keyed_fields_not_their_eq() {
    #[cached]
    fn describe(value: Loose) -> String {
        ran();
        format!("{}:{}", value.id, value.note)
    }
    #[cached]
    fn norm(p: Point) -> i64 {
        ran();
        p.0.abs() + p.1.abs()
    }
    #[cached]
    fn weigh(s: Sample) -> i64 {
        ran();
        let text = std::fs::read_to_string(s.source.path()).unwrap();
        (s.at.0 + s.at.1) * text.len() as i64
    }
    #[cached]
    fn ident(t: Tagged) -> u32 {
        ran();
        let _unkeyed = &t.label;
        t.id
    }
    in_store(|store| {
        let loose = |note: &str| Loose {
            id: 1,
            note: note.into(),
        };
        assert_eq!(loose("a"), loose("b"), "equal to its own `==`");
        assert_eq!(miss(|| describe(loose("a"))), "1:a");
        assert_eq!(hit(|| describe(loose("a"))), "1:a");
        assert_eq!(miss(|| describe(loose("b"))), "1:b", "another key");
        assert_eq!(miss(|| norm(Point(3, -4))), 7);
        assert_eq!(hit(|| norm(Point(3, -4))), 7);
        // A `FileContent` field is not exact: the struct keys through its stream, which
        // reads the file.
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("data");
        std::fs::write(&path, "ab").unwrap();
        let sample = || Sample {
            at: Point(1, 2),
            source: FileContent(path.clone()),
        };
        assert_eq!(miss(|| weigh(sample())), 6);
        assert_eq!(hit(|| weigh(sample())), 6);
        std::fs::write(&path, "abc").unwrap();
        assert_eq!(miss(|| weigh(sample())), 9);
        // A skipped field is not keyed: another label is the same key.
        let tagged = |label: &str| Tagged {
            id: 5,
            label: label.into(),
        };
        assert_eq!(miss(|| ident(tagged("x"))), 5);
        assert_eq!(hit(|| ident(tagged("y"))), 5);
        let name = store
            .functions()
            .unwrap()
            .into_iter()
            .find(|f| f.name.ends_with("norm"))
            .unwrap()
            .name;
        store.invalidate_fn(&name).unwrap();
        miss(|| norm(Point(3, -4)));
    });
}

#[test]
fn floats_compare_as_their_keys_do() {
    #[cached]
    fn half(x: f64) -> String {
        ran();
        format!("{}", x / 2.0)
    }
    in_store(|_| {
        assert_eq!(miss(|| half(0.0)), "0");
        assert_eq!(
            miss(|| half(-0.0)),
            "-0",
            "`-0.0 == 0.0`, but their keys differ"
        );
        assert_eq!(hit(|| half(0.0)), "0");
        assert_eq!(miss(|| half(f64::NAN)), "NaN");
        assert_eq!(
            hit(|| half(f64::NAN)),
            "NaN",
            "a NaN finds the NaN's result"
        );
        assert_eq!(hit(|| half(-f64::NAN)), "NaN", "every NaN is one key");
    });
}

/// A struct of every kind of exact field.
#[derive(memo::CacheKey, Clone, Debug)]
struct Mixed {
    x: f64,
    name: String,
    maybe: Option<u8>,
    list: Vec<f32>,
    pair: (bool, char),
}

fn mixed() -> impl proptest::strategy::Strategy<Value = Mixed> {
    use proptest::prelude::*;
    let float = prop_oneof![
        Just(0.0),
        Just(-0.0),
        Just(f64::NAN),
        Just(-f64::NAN),
        Just(1.5)
    ];
    let small = prop_oneof![Just(0.0f32), Just(-0.0f32), Just(f32::NAN), Just(2.0f32)];
    (
        float,
        prop_oneof![Just(String::new()), Just("a".to_owned())],
        proptest::option::of(0u8..2),
        proptest::collection::vec(small, 0..3),
        (any::<bool>(), prop_oneof![Just('a'), Just('b')]),
    )
        .prop_map(|(x, name, maybe, list, pair)| Mixed {
            x,
            name,
            maybe,
            list,
            pair,
        })
}

proptest::proptest! {
    /// The tier's comparison agrees with the key, both ways, and equal values hash alike.
    #[test]
    fn the_exact_comparison_is_the_key(a in mixed(), b in mixed()) {
        use memo::__private::ExactKey;
        let same_key = memo::key_of(&a) == memo::key_of(&b);
        proptest::prop_assert_eq!(a.exact_eq(&b), same_key);
        proptest::prop_assert!(a.exact_eq(&a.exact_clone()));
        if same_key {
            let state = std::hash::RandomState::new();
            let hash = |v: &Mixed| {
                let mut h = std::hash::BuildHasher::build_hasher(&state);
                v.exact_hash(&mut h);
                std::hash::Hasher::finish(&h)
            };
            proptest::prop_assert_eq!(hash(&a), hash(&b));
        }
    }
}

/// Two words of arguments, a two-word result: kept as words.
#[cached]
fn mix(a: i32, b: u8) -> i128 {
    ran();
    i128::from(a) * 1_000_000_000_000_000_000_000 - i128::from(b)
}

#[cached]
fn is_vowel(c: char) -> bool {
    ran();
    "aeiou".contains(c)
}

#[cached]
fn shift(c: char, by: u32) -> char {
    char::from_u32(c as u32 + by).unwrap_or('?')
}

#[test]
fn calls_of_plain_words_answer_as_their_keys_do() {
    in_store(|store| {
        assert_eq!(miss(|| mix(-3, 7)), -3_000_000_000_000_000_000_007);
        assert_eq!(hit(|| mix(-3, 7)), -3_000_000_000_000_000_000_007);
        assert_eq!(
            miss(|| mix(3, 7)),
            2_999_999_999_999_999_999_993,
            "the sign counts"
        );
        assert_eq!(
            miss(|| mix(7, 3)),
            6_999_999_999_999_999_999_997,
            "the order counts"
        );
        assert!(miss(|| is_vowel('e')));
        assert!(hit(|| is_vowel('e')));
        assert!(!miss(|| is_vowel('z')));
        assert!(!hit(|| is_vowel('z')));
        assert_eq!(shift('a', 2), 'c');
        assert_eq!(shift('a', 2), 'c');
        let stats = store.stats().unwrap();
        assert_eq!((stats.hits, stats.misses), (4, 6));
        // Invalidated and refreshed like any other.
        assert_eq!(
            store
                .invalidate_fn(
                    &store
                        .functions()
                        .unwrap()
                        .iter()
                        .find(|f| f.name.ends_with("::is_vowel"))
                        .unwrap()
                        .name
                )
                .unwrap(),
            2
        );
        assert!(miss(|| is_vowel('e')));
        memo::refresh(|| miss(|| is_vowel('e')));
        assert!(hit(|| is_vowel('e')));
        memo::bypass(|| miss(|| mix(-3, 7)));
    });
}

#[test]
fn many_threads_hitting_words_while_others_fill_them_always_get_their_own_result() {
    let store = Store::temporary().unwrap();
    std::thread::scope(|scope| {
        for t in 0..8i32 {
            let store = &store;
            scope.spawn(move || {
                memo::with_store(store, || {
                    for round in 0..3000i32 {
                        // Half the threads fill new keys, half cycle over a few hot ones.
                        let a = if t % 2 == 0 { round * 8 + t } else { round % 5 };
                        let b = (round % 7) as u8;
                        let expected =
                            i128::from(a) * 1_000_000_000_000_000_000_000 - i128::from(b);
                        assert_eq!(mix(a, b), expected, "thread {t}, round {round}");
                    }
                });
            });
        }
    });
}

static DRAWS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);

/// A different result each time it runs: which store answered shows in the result.
#[cached]
fn draw(x: u32) -> u64 {
    DRAWS.fetch_add(1, std::sync::atomic::Ordering::Relaxed) * 1_000 + u64::from(x)
}

#[test]
fn stores_used_in_turn_and_at_once_each_answer_with_their_own_results() {
    let (a, b) = (Store::temporary().unwrap(), Store::temporary().unwrap());
    let in_a: Vec<u64> = memo::with_store(&a, || (0..50).map(draw).collect());
    let in_b: Vec<u64> = memo::with_store(&b, || (0..50).map(draw).collect());
    assert!(in_a.iter().zip(&in_b).all(|(a, b)| a != b));
    for _ in 0..20 {
        for x in 0..50 {
            assert_eq!(memo::with_store(&a, || draw(x)), in_a[x as usize]);
            assert_eq!(memo::with_store(&b, || draw(x)), in_b[x as usize]);
        }
    }
    std::thread::scope(|scope| {
        for (store, expected) in [(&a, &in_a), (&b, &in_b), (&a, &in_a), (&b, &in_b)] {
            scope.spawn(move || {
                memo::with_store(store, || {
                    for round in 0..2_000 {
                        let x = (round * 7) % 50;
                        assert_eq!(draw(x), expected[x as usize]);
                    }
                });
            });
        }
    });
    // An invalidation in one store leaves the other's results as they were.
    let name = a.functions().unwrap()[0].name.clone();
    assert_eq!(a.invalidate_fn(&name).unwrap(), 50);
    let again = memo::with_store(&a, || draw(3));
    assert_ne!(again, in_a[3]);
    assert_eq!(memo::with_store(&b, || draw(3)), in_b[3]);
    assert_eq!(memo::with_store(&a, || draw(3)), again);
}
