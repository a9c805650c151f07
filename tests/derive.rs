//! `#[derive(CacheKey)]`: what goes into a derived key and what stays out.

#![deny(warnings)]

use std::marker::PhantomData;

use memo::{CacheKey, KeyHasher, key_of};

#[derive(CacheKey)]
struct Params {
    lr: f64,
    epochs: u32,
    #[cache_key(skip)]
    verbose: bool,
}

#[test]
fn skipped_fields_are_not_keyed() {
    let a = Params {
        lr: 0.1,
        epochs: 3,
        verbose: false,
    };
    let b = Params {
        lr: 0.1,
        epochs: 3,
        verbose: true,
    };
    let c = Params {
        lr: 0.2,
        epochs: 3,
        verbose: false,
    };
    assert!(a.verbose != b.verbose);
    assert_eq!(key_of(&a), key_of(&b));
    assert_ne!(key_of(&a), key_of(&c));
}

fn key_lowercase(s: &str, h: &mut KeyHasher) {
    s.to_lowercase().cache_key(h);
}

#[derive(CacheKey)]
struct Label {
    #[cache_key(with = key_lowercase)]
    text: String,
}

#[test]
fn with_keys_a_field_through_the_given_function() {
    let upper = Label { text: "ABC".into() };
    let lower = Label { text: "abc".into() };
    assert_eq!(key_of(&upper), key_of(&lower));
    assert_ne!(key_of(&lower), key_of(&Label { text: "abd".into() }));
}

mod first {
    #[derive(memo::CacheKey)]
    pub struct Point {
        pub x: i32,
        pub y: i32,
    }
}

mod renamed_fields {
    #[derive(memo::CacheKey)]
    pub struct Point {
        pub a: i32,
        pub b: i32,
    }
}

mod renamed_type {
    #[derive(memo::CacheKey)]
    pub struct Spot {
        pub x: i32,
        pub y: i32,
    }
}

#[test]
fn type_and_field_names_are_part_of_the_key() {
    let base = key_of(&first::Point { x: 1, y: 2 });
    assert_ne!(base, key_of(&renamed_fields::Point { a: 1, b: 2 }));
    assert_ne!(base, key_of(&renamed_type::Spot { x: 1, y: 2 }));
    assert_ne!(base, key_of(&(1i32, 2i32)));
}

#[derive(CacheKey)]
struct Tuple(u8, u8);

#[derive(CacheKey)]
struct Unit;

#[derive(CacheKey)]
struct OtherUnit;

#[test]
fn tuple_and_unit_structs() {
    assert_ne!(key_of(&Tuple(1, 2)), key_of(&Tuple(2, 1)));
    assert_eq!(key_of(&Unit), key_of(&Unit));
    assert_ne!(key_of(&Unit), key_of(&OtherUnit));
}

// The skipped `u64` is never read: that is the user's business, not the derive's.
#[allow(dead_code)]
#[derive(CacheKey)]
enum Event {
    Start,
    Stop,
    Move(i32, i32),
    Jump { height: i32 },
    Land { height: i32 },
    Note(#[cache_key(skip)] u64, String),
}

#[test]
fn enum_variants_key_their_name_and_fields() {
    assert_ne!(key_of(&Event::Start), key_of(&Event::Stop));
    assert_ne!(key_of(&Event::Move(1, 2)), key_of(&Event::Move(2, 1)));
    assert_ne!(
        key_of(&Event::Jump { height: 1 }),
        key_of(&Event::Land { height: 1 })
    );
    assert_eq!(
        key_of(&Event::Note(1, "x".into())),
        key_of(&Event::Note(2, "x".into()))
    );
}

#[derive(CacheKey)]
enum Never {}

#[test]
fn empty_enums_derive() {
    fn assert_key<T: CacheKey>() {}
    assert_key::<Never>();
}

/// Not `CacheKey`: the derive must not demand it where it is not keyed.
struct Opaque;

#[derive(CacheKey)]
struct Generic<T, U, M> {
    value: T,
    list: Vec<U>,
    #[cache_key(skip)]
    handle: Option<M>,
    marker: PhantomData<M>,
}

#[test]
fn generics_are_bounded_only_where_keyed() {
    let a = Generic::<u8, String, Opaque> {
        value: 1,
        list: vec!["x".into()],
        handle: Some(Opaque),
        marker: PhantomData,
    };
    let b = Generic::<u8, String, Opaque> {
        value: 1,
        list: vec!["x".into()],
        handle: None,
        marker: PhantomData,
    };
    assert!(a.handle.is_some() && b.handle.is_none());
    assert_eq!(key_of(&a), key_of(&b));
}

#[derive(CacheKey)]
struct Borrowed<'a, T: ?Sized> {
    name: &'a str,
    inner: &'a T,
}

#[test]
fn lifetimes_and_unsized_parameters() {
    let a = Borrowed::<str> {
        name: "n",
        inner: "v",
    };
    let b = Borrowed::<str> {
        name: "n",
        inner: "w",
    };
    assert_ne!(key_of(&a), key_of(&b));
}

/// Hygiene: the expansion must not be confused by the user's own names.
mod hygiene {
    #![allow(dead_code, non_camel_case_types)]

    struct Option;
    struct Some;
    type Result = ();
    struct Vec;
    struct CacheKey;
    struct KeyHasher;

    #[derive(memo::CacheKey)]
    pub struct Shadowed {
        pub value: u32,
        pub text: ::std::string::String,
    }

    #[derive(memo::CacheKey)]
    pub enum ShadowedEnum {
        A { value: u32 },
        B(u32),
    }

    #[test]
    fn expansion_ignores_user_names() {
        let a = memo::key_of(&Shadowed {
            value: 1,
            text: "t".into(),
        });
        let b = memo::key_of(&Shadowed {
            value: 2,
            text: "t".into(),
        });
        assert_ne!(a, b);
        assert_ne!(
            memo::key_of(&ShadowedEnum::A { value: 1 }),
            memo::key_of(&ShadowedEnum::B(1))
        );
    }
}
