//! Property tests of the key protocol: equal values give equal keys, and values of the
//! shapes that commonly collide in naive hashing give distinct ones.

use std::collections::{BTreeMap, HashMap, HashSet};

use memo::{CacheKey, key_of};
use proptest::prelude::*;

/// A recursive value with every kind of node the protocol distinguishes.
#[derive(CacheKey, Debug, Clone, PartialEq)]
enum Value {
    Unit,
    Flag(bool),
    Int(i64),
    Small(u8),
    Text(String),
    Bytes(Vec<u8>),
    Maybe(Option<Box<Value>>),
    List(Vec<Value>),
    Pair(Box<Value>, Box<Value>),
    Record {
        name: String,
        fields: BTreeMap<String, Value>,
    },
}

fn value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Unit),
        any::<bool>().prop_map(Value::Flag),
        (-3i64..3).prop_map(Value::Int),
        (0u8..3).prop_map(Value::Small),
        "[ab]{0,2}".prop_map(Value::Text),
        proptest::collection::vec(0u8..3, 0..3).prop_map(Value::Bytes),
    ];
    leaf.prop_recursive(3, 24, 3, |inner| {
        prop_oneof![
            proptest::option::of(inner.clone().prop_map(Box::new)).prop_map(Value::Maybe),
            proptest::collection::vec(inner.clone(), 0..3).prop_map(Value::List),
            (inner.clone(), inner.clone()).prop_map(|(a, b)| Value::Pair(Box::new(a), Box::new(b))),
            (
                "[ab]{0,1}",
                proptest::collection::btree_map("[ab]{0,1}", inner, 0..2)
            )
                .prop_map(|(name, fields)| Value::Record { name, fields }),
        ]
    })
}

#[derive(CacheKey)]
enum Twin {
    A(u32),
    B(u32),
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    /// The key is a function of the value, and (up to blake3) one-to-one: small domains
    /// make equal pairs common, so both directions are exercised.
    #[test]
    fn keys_are_equal_exactly_when_values_are(a in value(), b in value()) {
        prop_assert_eq!(key_of(&a), key_of(&a.clone()));
        prop_assert_eq!(a == b, key_of(&a) == key_of(&b), "{:?} vs {:?}", a, b);
    }

    #[test]
    fn string_boundaries_are_part_of_the_key(a in ".{0,6}", b in ".{0,6}", c in ".{0,6}", d in ".{0,6}") {
        prop_assert_eq!((&a, &b) == (&c, &d), key_of(&(&a, &b)) == key_of(&(&c, &d)));
        let joined = format!("{a}{b}");
        prop_assert_ne!(key_of(&(&a, &b)), key_of(&joined));
    }

    #[test]
    fn splitting_a_sequence_changes_the_key(v in proptest::collection::vec(any::<u32>(), 0..8), at in 0usize..8) {
        let at = at.min(v.len());
        let split = (v[..at].to_vec(), v[at..].to_vec());
        prop_assert_ne!(key_of(&v), key_of(&split));
        let nested: Vec<Vec<u32>> = v.iter().map(|x| vec![*x]).collect();
        prop_assert_ne!(key_of(&v), key_of(&nested));
    }

    #[test]
    fn option_is_not_its_content(x in any::<u64>()) {
        prop_assert_ne!(key_of(&Some(x)), key_of(&x));
        prop_assert_ne!(key_of(&Some(x)), key_of(&Ok::<u64, u64>(x)));
        prop_assert_ne!(key_of(&Ok::<u64, u64>(x)), key_of(&Err::<u64, u64>(x)));
    }

    #[test]
    fn variants_with_equal_fields_differ(x in any::<u32>()) {
        prop_assert_ne!(key_of(&Twin::A(x)), key_of(&Twin::B(x)));
    }

    #[test]
    fn every_nan_is_one_key(payload in 1u64..(1 << 51), sign in any::<bool>()) {
        let bits = 0x7ff0_0000_0000_0000 | payload | (u64::from(sign) << 63);
        let nan = f64::from_bits(bits);
        prop_assert!(nan.is_nan());
        prop_assert_eq!(key_of(&nan), key_of(&f64::NAN));
        prop_assert_eq!(key_of(&vec![nan, 1.0]), key_of(&vec![f64::NAN, 1.0]));
        let nan32 = f32::from_bits(0x7f80_0000 | (payload as u32 & 0x7f_ffff).max(1));
        prop_assert_eq!(key_of(&nan32), key_of(&f32::NAN));
    }

    #[test]
    fn floats_key_by_bits(x in any::<f64>(), y in any::<f64>()) {
        let same = x.to_bits() == y.to_bits() || (x.is_nan() && y.is_nan());
        prop_assert_eq!(same, key_of(&x) == key_of(&y));
    }

    #[test]
    fn packed_slices_equal_element_wise_semantics(a in proptest::collection::vec(any::<i16>(), 0..40), b in proptest::collection::vec(any::<i16>(), 0..40)) {
        prop_assert_eq!(a == b, key_of(&a) == key_of(&b));
    }

    #[test]
    fn hash_maps_ignore_insertion_order(entries in proptest::collection::btree_map(".{0,4}", any::<i32>(), 0..12)) {
        let forward: HashMap<String, i32> = entries.clone().into_iter().collect();
        let mut backward = HashMap::with_capacity(1);
        for (k, v) in entries.iter().rev() {
            backward.insert(k.clone(), *v);
        }
        prop_assert_eq!(key_of(&forward), key_of(&backward));
        let set_forward: HashSet<&String> = entries.keys().collect();
        let set_backward: HashSet<&String> = entries.keys().rev().collect();
        prop_assert_eq!(key_of(&set_forward), key_of(&set_backward));
        if let Some((k, v)) = entries.iter().next() {
            let mut changed = forward.clone();
            changed.insert(k.clone(), v.wrapping_add(1));
            prop_assert_ne!(key_of(&forward), key_of(&changed));
        }
    }
}

#[test]
fn zero_and_negative_zero_differ() {
    assert_ne!(key_of(&0.0f64), key_of(&-0.0f64));
    assert_ne!(key_of(&0.0f32), key_of(&-0.0f32));
    assert_ne!(key_of(&[0.0f32]), key_of(&[-0.0f32]));
}

#[test]
fn integer_widths_and_signs_differ() {
    assert_ne!(key_of(&1u8), key_of(&1u16));
    assert_ne!(key_of(&1u32), key_of(&1i32));
    assert_ne!(key_of(&1u32), key_of(&1.0f32));
    assert_ne!(key_of(&vec![1u8]), key_of(&vec![1i8]));
}

#[test]
fn packed_and_chunked_forms_agree_on_large_slices() {
    // Longer than the packing buffer, so several chunks are fed.
    let big: Vec<u32> = (0..20_000).collect();
    let mut other = big.clone();
    assert_eq!(key_of(&big), key_of(&other));
    other[19_999] += 1;
    assert_ne!(key_of(&big), key_of(&other));
}
