//! Golden vectors: the key digests of a table of values.
//!
//! Keys are part of the on-disk format. If one of these changes, every stored result stops
//! matching — so a change here must come with a bump of `KEY_FORMAT_VERSION`.

use std::borrow::Cow;
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet, VecDeque};
use std::path::PathBuf;
use std::rc::Rc;
use std::sync::Arc;
use std::time::Duration;

use memo::{CacheKey, Digest, KEY_FORMAT_VERSION, Serde, key_of};

#[derive(CacheKey)]
struct Params {
    lr: f64,
    epochs: u32,
    #[cache_key(skip)]
    #[allow(dead_code)]
    verbose: bool,
}

#[derive(CacheKey)]
struct Pair(u8, String);

#[derive(CacheKey)]
struct Marker;

#[derive(CacheKey)]
enum Shape {
    Point,
    Circle(f32),
    Rect { w: u16, h: u16 },
}

#[derive(serde::Serialize)]
struct Config {
    name: &'static str,
    retries: Option<u8>,
    weights: Vec<f32>,
}

fn table() -> Vec<(&'static str, Digest)> {
    vec![
        ("unit", key_of(&())),
        ("bool true", key_of(&true)),
        ("u8 7", key_of(&7u8)),
        ("u16 7", key_of(&7u16)),
        ("u32 7", key_of(&7u32)),
        ("u64 7", key_of(&7u64)),
        ("u128 7", key_of(&7u128)),
        ("i8 -7", key_of(&-7i8)),
        ("i32 -7", key_of(&-7i32)),
        ("i64 -7", key_of(&-7i64)),
        ("i128 -7", key_of(&-7i128)),
        ("f32 1.5", key_of(&1.5f32)),
        ("f64 0.0", key_of(&0.0f64)),
        ("f64 -0.0", key_of(&-0.0f64)),
        ("f64 NaN", key_of(&f64::NAN)),
        ("char é", key_of(&'é')),
        ("str empty", key_of("")),
        ("str hello", key_of("hello")),
        ("bytes [1,2,3]", key_of(&[1u8, 2, 3][..])),
        ("Vec<u32> [1,2]", key_of(&vec![1u32, 2])),
        ("Vec<f32> [0.5,-1]", key_of(&vec![0.5f32, -1.0])),
        (
            "Vec<String> [a,b]",
            key_of(&vec!["a".to_string(), "b".to_string()]),
        ),
        ("VecDeque<u8> [1,2]", key_of(&VecDeque::from([1u8, 2]))),
        ("tuple (ab, c)", key_of(&("ab", "c"))),
        ("tuple (a, bc)", key_of(&("a", "bc"))),
        ("Option None::<u8>", key_of(&None::<u8>)),
        ("Option Some(0u8)", key_of(&Some(0u8))),
        ("Result Ok(1u8)", key_of(&Ok::<u8, String>(1))),
        ("Result Err(e)", key_of(&Err::<u8, String>("e".into()))),
        ("BTreeMap {a:1}", key_of(&BTreeMap::from([("a", 1u8)]))),
        ("BTreeSet {1,2}", key_of(&BTreeSet::from([1u8, 2]))),
        (
            "HashMap {a:1,b:2}",
            key_of(&HashMap::from([("a", 1u8), ("b", 2)])),
        ),
        ("HashSet {1,2}", key_of(&HashSet::from([1u8, 2]))),
        ("PathBuf /tmp/x", key_of(&PathBuf::from("/tmp/x"))),
        ("Duration 1.5s", key_of(&Duration::from_millis(1500))),
        ("Box<u8> 7", key_of(&Box::new(7u8))),
        ("Rc<str> hi", key_of(&Rc::<str>::from("hi"))),
        ("Arc<u8> 7", key_of(&Arc::new(7u8))),
        ("Cow<str> hi", key_of(&Cow::Borrowed("hi"))),
        (
            "derive Params",
            key_of(&Params {
                lr: 0.01,
                epochs: 10,
                verbose: true,
            }),
        ),
        ("derive Pair", key_of(&Pair(1, "x".into()))),
        ("derive Marker", key_of(&Marker)),
        ("derive Shape::Point", key_of(&Shape::Point)),
        ("derive Shape::Circle", key_of(&Shape::Circle(2.0))),
        ("derive Shape::Rect", key_of(&Shape::Rect { w: 3, h: 4 })),
        (
            "Serde Config",
            key_of(&Serde(Config {
                name: "x",
                retries: Some(3),
                weights: vec![0.25],
            })),
        ),
    ]
}

const EXPECTED: &[(&str, &str)] = &[
    (
        "unit",
        "b79e2abd0b648d47afdf820838df481c43a78b805155f99086242fef8f1c52ed",
    ),
    (
        "bool true",
        "b9d347ab272eaf46fffb408de79b0c56d4f0fa88691a74b0246c7c8b0018f04c",
    ),
    (
        "u8 7",
        "1de149b247b693e4a881d0ff17e29bea170cff4e12b5c8c3434c20d60bc202cb",
    ),
    (
        "u16 7",
        "6bbd82e7fd4ca548d78d51723ae67056876a304be77eb65ed3b153c537629080",
    ),
    (
        "u32 7",
        "b3fcec688d399d48f176c9fbdba198d645be4ae9b89a178802b1d77a113ac287",
    ),
    (
        "u64 7",
        "2058e8d71ba710251e9e1c40b4245b24430b03a7c3f2f1a1a3f8053f56db84aa",
    ),
    (
        "u128 7",
        "393336a06e683750adc46608fc99f7e0eb9bd46c2cf736fd9f3a15dc19bd3d8d",
    ),
    (
        "i8 -7",
        "4f5392628f7f814861578c5c3d277193a13699c31daa9df2c33d05cfd1e98b03",
    ),
    (
        "i32 -7",
        "9e41216c1dd90244b7138a02573c0ecdbcc1365db81b2559ece17170fa8b6be2",
    ),
    (
        "i64 -7",
        "508865826fc2707b2023150ad1ed5d8c00e1c5b00ed9d71d9c80c50cfe9c1ad6",
    ),
    (
        "i128 -7",
        "080f9fc18df4d7545dc9d32a1eaeb7ebb34bdb937a4345ad0fb16f5a2b392241",
    ),
    (
        "f32 1.5",
        "6606010b2fcb7fc5293d84a654b41f415869f1688b4083713a6cbbe5d5f9e47c",
    ),
    (
        "f64 0.0",
        "200cd9ad4de871f807246cef114b107c49bad473177a33e27c2e890c8d57e7f4",
    ),
    (
        "f64 -0.0",
        "fbc7725ba7e21addcd5971da729da7097f3af1ed56e7978f23ec703f7b2fc379",
    ),
    (
        "f64 NaN",
        "467d8d880b7fbd54dd764d388c13d9bd0d19728c45fea61ae4f794ed3956508b",
    ),
    (
        "char é",
        "8684500d8e00827012b45a2802123f5c907e97670d63e9ce19959abc7958150a",
    ),
    (
        "str empty",
        "a906124f5aee0e0861dccea8325879a873f20e8825534aa429eb6aadc53f391c",
    ),
    (
        "str hello",
        "d5752e9a2f0c075e8f69ab3ac15b271a78c68615b9a61a7d5e413f35525ff3d4",
    ),
    (
        "bytes [1,2,3]",
        "4f103802b7e9bc681f99f992f3b0c03540fb20ecda89cf8596d5fc3cb3f4f1b6",
    ),
    (
        "Vec<u32> [1,2]",
        "6132e9279fbd987831998a03ee476196228a3722401a9128a252b0ffd5482204",
    ),
    (
        "Vec<f32> [0.5,-1]",
        "8435f35fcc97e13c5d76d34595e2c49cd795b04ec6d0235b20b98ae3ace01e59",
    ),
    (
        "Vec<String> [a,b]",
        "08571263195ccce456f6f45e934f4f1d6d605641f0433b784912236191a951a1",
    ),
    (
        "VecDeque<u8> [1,2]",
        "b0d9c6a8e15b86e675ad084bd7ea7173f628b7cf0b452f5608fde44995065bb9",
    ),
    (
        "tuple (ab, c)",
        "38094ed030fd3ca098f8e0f73783a5e219fdd3cec5dbed835b2c7cfc27ddb3c4",
    ),
    (
        "tuple (a, bc)",
        "7214e3103a23875146c38eef4eb0f475c7bf0b3aef331a43952a487237a8ad2b",
    ),
    (
        "Option None::<u8>",
        "8a1f7c23788d3fe966f3c46b206aad2d7853beff04c7d14615c759ac9229e4ff",
    ),
    (
        "Option Some(0u8)",
        "9dbfa8c209f9d9c43d77ebd45c028eb694b40a675758fa03c9ea6e886577e996",
    ),
    (
        "Result Ok(1u8)",
        "3a92d0580d0d9028fc46c0df2d2b0cf3307e4f2bbc8283c007d17646ab9fd94d",
    ),
    (
        "Result Err(e)",
        "e6b3388788b55c5338efda738714190cd2dcdb71bad3173fb3f7961e8e443879",
    ),
    (
        "BTreeMap {a:1}",
        "d43a653e942f17c27017a20135efb14b7ab08bdf79d795c73c3e2716000af6c1",
    ),
    (
        "BTreeSet {1,2}",
        "d8d4bb6b3bd5e101bcddccb35ab4565200240c5c81a79d840abb32356b4b230a",
    ),
    (
        "HashMap {a:1,b:2}",
        "6f32d05f5f1fd4a3fb16bfa889eacdfffb5b72109f3906de3636427b959597c7",
    ),
    (
        "HashSet {1,2}",
        "093e3774530cb3cb1af7954fc9d06ae2e8ab8e24adbab221d4a8fb71c82fdaa5",
    ),
    (
        "PathBuf /tmp/x",
        "49d077951c6956a8a3743007944195c30e398f2a6ee6c68c07d80d095b911a0e",
    ),
    (
        "Duration 1.5s",
        "4c5127cbd78a8b4071c1e0a6a1a10ef7944eee6872e9436fb245a1fad2233dc5",
    ),
    (
        "Box<u8> 7",
        "1de149b247b693e4a881d0ff17e29bea170cff4e12b5c8c3434c20d60bc202cb",
    ),
    (
        "Rc<str> hi",
        "4952a30eeb4a46aa8cf8ccde64d8f41411938ba936ed110dcc073dab8172058c",
    ),
    (
        "Arc<u8> 7",
        "1de149b247b693e4a881d0ff17e29bea170cff4e12b5c8c3434c20d60bc202cb",
    ),
    (
        "Cow<str> hi",
        "4952a30eeb4a46aa8cf8ccde64d8f41411938ba936ed110dcc073dab8172058c",
    ),
    (
        "derive Params",
        "08467f4de6a456ea50064114737fbdf52f04c7d68a62368151047ea367ada3b2",
    ),
    (
        "derive Pair",
        "c01345369b039df683cc301f9f49705a89d3dd0f1084a0d1ac28cad426ae569f",
    ),
    (
        "derive Marker",
        "cf62141910256b88c97595d1ea7b89d92e93a4d6bc4cbe09628ad30954cb5b2d",
    ),
    (
        "derive Shape::Point",
        "e79199da3abc6562b7ca67adfa934c7fa31c76e311c726922406fdd8dfd98092",
    ),
    (
        "derive Shape::Circle",
        "7c563a78e13f05c4cdf975fd1190ea8aaded502cf0c276be66a09ce686eba125",
    ),
    (
        "derive Shape::Rect",
        "3235458d83d84e60eb5e02f8b736c662d8cf8d6d6ede6b55dc11ea618d14cee4",
    ),
    (
        "Serde Config",
        "494e21282425c449eeaf8813d4abd814a53ff5419eb53b92e5abf2174a6eafb3",
    ),
];

#[test]
fn key_format_version_is_pinned() {
    assert_eq!(
        KEY_FORMAT_VERSION, 1,
        "bumped the format: regenerate the golden vectors"
    );
}

#[test]
fn golden_vectors_never_change() {
    let actual = table();
    let rendered: String = actual
        .iter()
        .map(|(name, digest)| format!("    ({name:?}, \"{digest}\"),\n"))
        .collect();
    assert_eq!(
        actual.len(),
        EXPECTED.len(),
        "the table and EXPECTED differ in length; the table is now:\n{rendered}"
    );
    for ((name, digest), (expected_name, expected)) in actual.iter().zip(EXPECTED) {
        assert_eq!(name, expected_name, "the table is now:\n{rendered}");
        assert_eq!(
            &digest.to_string(),
            expected,
            "the key of `{name}` changed: that breaks every existing store unless \
             KEY_FORMAT_VERSION is bumped; the table is now:\n{rendered}"
        );
    }
}

#[test]
fn usize_and_isize_key_as_64_bits() {
    assert_eq!(key_of(&7usize), key_of(&7u64));
    assert_eq!(key_of(&-7isize), key_of(&-7i64));
    assert_eq!(key_of(&vec![1usize, 2]), key_of(&vec![1u64, 2]));
}

#[test]
fn pointers_and_owned_forms_are_transparent() {
    assert_eq!(key_of("hi"), key_of(&String::from("hi")));
    assert_eq!(key_of(&Box::new(7u8)), key_of(&7u8));
    assert_eq!(key_of(&[1u32, 2]), key_of(&vec![1u32, 2]));
    assert_eq!(key_of(&Cow::<str>::Owned("hi".into())), key_of("hi"));
}
