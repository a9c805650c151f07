//! The fingerprint follows what code reaches without writing its name: renamed imports,
//! aliases, glob-imported variants, associated and trait consts, operators and conversions
//! on foreign types, items and impls written by macros, the impls a generic function's
//! bounds dispatch to, attribute strings that name code, and files reached in every way a
//! path can be written. One real crate holds a function per case; each edit is built and
//! run, and exactly the functions it concerns must run again.

mod support;

use support::crates::{Case, ran};

const MAIN: &str = r#"
use std::fmt;
use std::ops::Mul;

use memo::{CacheKey, cached};

mod inner {
    pub fn f(x: u64) -> u64 {
        x + 1
    }
    pub struct X;
    impl X {
        pub fn v() -> u64 {
            5
        }
    }
}
pub use inner::f as g;
use inner::X as Y;

#[cached]
fn renamed(x: u64) -> u64 {
    println!("ran renamed");
    g(x) + Y::v()
}

struct Meters(f64);
type Distance = Meters;
impl Distance {
    fn double(&self) -> f64 {
        self.0 * 2.0
    }
}

#[cached]
fn alias_impl(x: u64) -> f64 {
    println!("ran alias_impl");
    Meters(x as f64).double()
}

#[allow(dead_code)]
enum Color {
    Red = 1,
    Green = 2,
}
use Color::*;

#[cached]
fn variant(x: u64) -> u64 {
    println!("ran variant");
    x + Green as u64
}

const SCALE: u64 = 3;
struct Holder;
impl Holder {
    #[allow(dead_code)]
    const SCALE: u64 = 7;

    #[cached]
    fn scaled(x: u64) -> u64 {
        println!("ran scaled");
        x * SCALE
    }
}

trait Weight {
    const W: u64 = 4;
    fn w(&self) -> u64 {
        Self::W
    }
}
struct Brick;
impl Weight for Brick {}

#[cached]
fn weight(x: u64) -> u64 {
    println!("ran weight");
    x * Brick.w()
}

#[derive(Clone, Copy)]
struct V(f64);
impl Mul<V> for f64 {
    type Output = V;
    fn mul(self, v: V) -> V {
        V(self * v.0)
    }
}

#[cached]
fn operator(x: u64) -> f64 {
    println!("ran operator");
    let v = V(x as f64);
    (2.0 * v).0
}

struct C(f64);
impl From<C> for f64 {
    fn from(c: C) -> f64 {
        c.0 + 0.5
    }
}

#[cached]
fn converted(x: u64) -> f64 {
    println!("ran converted");
    let v: f64 = C(x as f64).into();
    v
}

macro_rules! make_const {
    ($n:ident, $v:expr) => {
        const $n: u64 = $v;
    };
}
make_const!(MADE, 5);

#[cached]
fn macro_const(x: u64) -> u64 {
    println!("ran macro_const");
    x + MADE
}

struct Tag(u64);
macro_rules! impl_display {
    ($t:ty) => {
        impl fmt::Display for $t {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "tag{}", self.0)
            }
        }
    };
}
impl_display!(Tag);

#[cached]
fn macro_impl(x: u64) -> String {
    println!("ran macro_impl");
    Tag(x).to_string()
}

#[derive(CacheKey)]
struct Celsius(u64);
impl fmt::Display for Celsius {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}C", self.0)
    }
}

#[cached]
fn show<T: fmt::Display + CacheKey>(x: T) -> String {
    println!("ran show");
    format!("<{x}>")
}

trait Labelled: fmt::Debug {}

#[derive(CacheKey)]
struct Kelvin(u64);
impl fmt::Debug for Kelvin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}K", self.0)
    }
}
impl Labelled for Kelvin {}

#[cached]
fn label<T: Labelled + CacheKey>(x: T) -> String {
    println!("ran label");
    format!("[{x:?}]")
}

mod codec {
    pub fn serialize<S: serde::Serializer>(v: &u64, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u64(*v)
    }
    pub fn deserialize<'de, D: serde::Deserializer<'de>>(d: D) -> Result<u64, D::Error> {
        <u64 as serde::Deserialize>::deserialize(d)
    }
}

#[derive(serde::Serialize, serde::Deserialize)]
struct Reading {
    #[serde(with = "codec")]
    v: u64,
}

#[cached]
fn reading(x: u64) -> Reading {
    println!("ran reading");
    Reading { v: x }
}

#[cached]
fn raw_include(x: u64) -> String {
    println!("ran raw_include");
    format!("{}{x}", include_str!(r"data/raw.txt").trim())
}

#[cached]
fn concat_include(x: u64) -> String {
    println!("ran concat_include");
    format!("{}{x}", include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/data/abs.txt")).trim())
}

macro_rules! load {
    ($p:literal) => {
        include_str!($p)
    };
}

#[cached]
fn macro_include(x: u64) -> String {
    println!("ran macro_include");
    format!("{}{x}", load!("data/via_macro.txt").trim())
}

#[cached]
fn where_am_i(x: u64) -> u32 {
    println!("ran where_am_i");
    line!() + x as u32
}

fn main() {
    println!("renamed {}", renamed(1));
    println!("alias_impl {}", alias_impl(1));
    println!("variant {}", variant(1));
    println!("scaled {}", Holder::scaled(1));
    println!("weight {}", weight(1));
    println!("operator {}", operator(1));
    println!("converted {}", converted(1));
    println!("macro_const {}", macro_const(1));
    println!("macro_impl {}", macro_impl(1));
    println!("show {}", show(Celsius(1)));
    println!("label {}", label(Kelvin(1)));
    println!("reading {}", reading(1).v);
    println!("raw_include {}", raw_include(1));
    println!("concat_include {}", concat_include(1));
    println!("macro_include {}", macro_include(1));
    println!("where_am_i {}", where_am_i(1));
}
"#;

const FUNCTIONS: usize = 16;

/// Builds and runs the crate after an edit: exactly `expected` run again, and the program
/// prints `line` (the fresh value, never the stale one).
#[track_caller]
fn after(case: &Case, expected: &[&str], line: &str) {
    let out = case.run();
    assert_eq!(ran(&out), expected, "{out}");
    assert!(
        out.lines().any(|l| l == line),
        "expected {line:?} in:\n{out}"
    );
}

#[test]
fn names_reached_without_being_written_count_and_nothing_else_does() {
    let case = Case::new(
        "names",
        "serde = { version = \"1\", features = [\"derive\"] }",
        &[
            ("src/main.rs", MAIN),
            ("src/data/raw.txt", "raw1"),
            ("data/abs.txt", "abs1"),
            ("src/data/via_macro.txt", "mac1"),
        ],
    );
    assert_eq!(ran(&case.run()).len(), FUNCTIONS);
    assert!(ran(&case.run()).is_empty(), "a second run is all hits");

    case.edit("src/main.rs", "x + 1\n", "x + 2\n");
    after(&case, &["renamed"], "renamed 8");
    case.edit("src/main.rs", "            5\n", "            6\n");
    after(&case, &["renamed"], "renamed 9");
    case.edit("src/main.rs", "self.0 * 2.0", "self.0 * 3.0");
    after(&case, &["alias_impl"], "alias_impl 3");
    case.edit("src/main.rs", "Green = 2", "Green = 4");
    after(&case, &["variant"], "variant 5");
    case.edit(
        "src/main.rs",
        "const SCALE: u64 = 3;",
        "const SCALE: u64 = 9;",
    );
    after(&case, &["scaled"], "scaled 9");
    case.edit("src/main.rs", "const W: u64 = 4;", "const W: u64 = 8;");
    after(&case, &["weight"], "weight 8");
    case.edit("src/main.rs", "V(self * v.0)", "V(self * v.0 + 1.0)");
    after(&case, &["operator"], "operator 3");
    case.edit("src/main.rs", "c.0 + 0.5", "c.0 + 1.5");
    after(&case, &["converted"], "converted 2.5");
    case.edit(
        "src/main.rs",
        "make_const!(MADE, 5);",
        "make_const!(MADE, 50);",
    );
    after(&case, &["macro_const"], "macro_const 51");
    case.edit("src/main.rs", "\"tag{}\"", "\"tag-{}\"");
    after(&case, &["macro_impl", "show"], "macro_impl tag-1");
    case.edit("src/main.rs", "\"{}C\"", "\"{} C\"");
    after(&case, &["show"], "show <1 C>");
    case.edit("src/main.rs", "\"{}K\"", "\"{} K\"");
    after(&case, &["label"], "label [1 K]");
    case.edit(
        "src/main.rs",
        "s.serialize_u64(*v)",
        "s.serialize_u64(*v + 10)",
    );
    after(&case, &["reading"], "reading 1");
    case.write("src/data/raw.txt", "raw2");
    after(&case, &["raw_include"], "raw_include raw21");
    case.write("data/abs.txt", "abs2");
    after(&case, &["concat_include"], "concat_include abs21");
    case.write("src/data/via_macro.txt", "mac2");
    after(&case, &["macro_include"], "macro_include mac21");
    // Lines move above `where_am_i`: `line!()` now says something else.
    case.edit(
        "src/main.rs",
        "#[cached]\nfn where_am_i",
        "\n\n#[cached]\nfn where_am_i",
    );
    let out = case.run();
    assert_eq!(ran(&out), ["where_am_i"], "{out}");
}

const MODULES: &str = r#"
use memo::cached;

#[path = "../shared/outside.rs"]
mod outside;
mod target;
include!("../generated/items.rs");
include!(concat!(env!("OUT_DIR"), "/built.rs"));

#[cached]
fn via_path(x: u64) -> u64 {
    println!("ran via_path");
    outside::far(x)
}

#[cached]
fn via_target(x: u64) -> u64 {
    println!("ran via_target");
    target::near(x)
}

#[cached]
fn via_include(x: u64) -> u64 {
    println!("ran via_include");
    included(x)
}

#[cached]
fn via_out_dir(x: u64) -> u64 {
    println!("ran via_out_dir");
    built(x)
}

fn main() {
    println!("via_path {}", via_path(1));
    println!("via_target {}", via_target(1));
    println!("via_include {}", via_include(1));
    println!("via_out_dir {}", via_out_dir(1));
}
"#;

const WRITES_CODE: &str = r#"
fn main() {
    println!("cargo::rerun-if-changed=factor.txt");
    let factor = std::fs::read_to_string("factor.txt").unwrap();
    let out = std::env::var("OUT_DIR").unwrap();
    let code = format!("fn built(x: u64) -> u64 {{ x * {} }}\n", factor.trim());
    std::fs::write(std::path::Path::new(&out).join("built.rs"), code).unwrap();
}
"#;

#[test]
fn modules_from_anywhere_a_path_can_point_count() {
    let case = Case::new(
        "modules",
        "",
        &[
            ("src/main.rs", MODULES),
            (
                "shared/outside.rs",
                "pub fn far(x: u64) -> u64 {\n    x + 100\n}\n",
            ),
            (
                "src/target/mod.rs",
                "pub fn near(x: u64) -> u64 {\n    x + 200\n}\n",
            ),
            (
                "generated/items.rs",
                "fn included(x: u64) -> u64 {\n    x + 300\n}\n",
            ),
            ("build.rs", WRITES_CODE),
            ("factor.txt", "4"),
        ],
    );
    assert_eq!(ran(&case.run()).len(), 4);
    assert!(ran(&case.run()).is_empty());
    case.edit("shared/outside.rs", "x + 100", "x + 101");
    after(&case, &["via_path"], "via_path 102");
    case.edit("src/target/mod.rs", "x + 200", "x + 201");
    after(&case, &["via_target"], "via_target 202");
    case.edit("generated/items.rs", "x + 300", "x + 301");
    after(&case, &["via_include"], "via_include 302");
    case.write("factor.txt", "5");
    after(&case, &["via_out_dir"], "via_out_dir 5");
}

const FOREIGN: &str = r#"
use std::collections::HashMap;
use std::fmt;

use memo::cached;

struct Widget(u64);
impl Widget {
    fn new() -> Widget {
        Widget(1)
    }
}
impl fmt::Debug for Widget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "W{}", self.0)
    }
}

#[cached]
fn text(x: u64) -> String {
    println!("ran text");
    let mut s = String::new();
    s.push_str(&std::fmt::format(format_args!("{x}")));
    let b: Box<u64> = Box::new(x);
    let _ = HashMap::<u8, u8>::with_capacity(1);
    let _: HashMap<u8, u8> = HashMap::new();
    format!("{s}{b}{}", <dyn std::fmt::Debug>::type_id_free())
}

trait Free {
    fn type_id_free() -> u8;
}
impl Free for dyn std::fmt::Debug {
    fn type_id_free() -> u8 {
        7
    }
}

#[cached]
fn widget(x: u64) -> String {
    println!("ran widget");
    format!("{:?}{x}", Widget::new())
}

fn main() {
    println!("text {}", text(1));
    println!("widget {}", widget(1));
}
"#;

/// `String::new`, `Box::new` and `std::fmt::..` are std's: editing a local `fn new` or
/// `fn fmt` is no change to a function that only calls those.
#[test]
fn paths_into_other_crates_match_no_local_item() {
    let case = Case::new("foreign", "", &[("src/main.rs", FOREIGN)]);
    assert_eq!(ran(&case.run()), ["text", "widget"]);
    assert!(ran(&case.run()).is_empty());
    case.edit("src/main.rs", "Widget(1)\n", "Widget(2)\n");
    after(&case, &["widget"], "widget W21");
    case.edit("src/main.rs", "\"W{}\"", "\"w{}\"");
    after(&case, &["widget"], "widget w21");
    case.edit("src/main.rs", "        7\n", "        8\n");
    after(&case, &["text"], "text 118");
}

const IMPLICIT: &str = r#"
use std::ops::Add;
use std::str::FromStr;

use memo::cached;

#[derive(Clone, Copy)]
struct Money(u64);
impl Add for Money {
    type Output = Money;
    fn add(self, other: Money) -> Money {
        Money(self.0 + other.0)
    }
}

#[cached]
fn sum(x: u64) -> u64 {
    println!("ran sum");
    (Money(x) + Money(1)).0
}

struct Counter(u64);
impl Iterator for Counter {
    type Item = u64;
    fn next(&mut self) -> Option<u64> {
        if self.0 < 3 { self.0 += 1; Some(self.0) } else { None }
    }
}

#[cached]
fn counted(x: u64) -> u64 {
    println!("ran counted");
    let mut acc = x;
    for n in Counter(0) {
        acc += n;
    }
    acc
}

struct Level(u64);
impl FromStr for Level {
    type Err = ();
    fn from_str(s: &str) -> Result<Level, ()> {
        s.parse().map(Level).map_err(|_| ())
    }
}

#[cached]
fn parsed(x: u64) -> u64 {
    println!("ran parsed");
    x + "4".parse::<Level>().unwrap().0
}

#[derive(Default)]
struct Config {
    depth: u64,
    width: u64,
}
impl Config {
    const BASE: u64 = 100;
    fn total(&self) -> u64 {
        Self::BASE + self.depth + self.width
    }
}

#[cached]
fn configured(x: u64) -> u64 {
    println!("ran configured");
    Config { depth: x, ..Default::default() }.total()
}

static TABLE: [u64; 3] = [1, 2, 3];
const N: usize = 2;

#[cached]
fn table(x: u64) -> u64 {
    println!("ran table");
    let picked = [0u64; N];
    x + TABLE[picked.len()]
}

fn double(x: u64) -> u64 {
    x * 2
}

#[cached]
fn mapped(x: u64) -> Vec<u64> {
    println!("ran mapped");
    vec![x, x + 1].into_iter().map(double).collect()
}

fn total(x: u64) -> u64 {
    x + 1000
}

#[cached]
fn local_total(x: u64) -> u64 {
    println!("ran local_total");
    let total = x * 3;
    total + 1
}

fn main() {
    println!("sum {}", sum(1));
    println!("counted {}", counted(1));
    println!("parsed {}", parsed(1));
    println!("configured {}", configured(1));
    println!("table {}", table(1));
    println!("mapped {:?}", mapped(1));
    println!("local_total {} {}", local_total(1), total(0));
}
"#;

/// Code that runs with no name of it written: operators, `for` loops, `parse`, `Default`
/// in a struct literal, `Self::` consts, a static read through an index, a fn passed by
/// name; and a local binding that shares a function's name is not that function.
#[test]
fn code_run_without_its_name_counts() {
    let case = Case::new("implicit", "", &[("src/main.rs", IMPLICIT)]);
    assert_eq!(ran(&case.run()).len(), 7);
    assert!(ran(&case.run()).is_empty());
    case.edit(
        "src/main.rs",
        "Money(self.0 + other.0)",
        "Money(self.0 + other.0 + 1)",
    );
    after(&case, &["sum"], "sum 3");
    case.edit("src/main.rs", "self.0 < 3", "self.0 < 4");
    after(&case, &["counted"], "counted 11");
    case.edit(
        "src/main.rs",
        "s.parse().map(Level)",
        "s.parse().map(|n: u64| Level(n * 10))",
    );
    after(&case, &["parsed"], "parsed 41");
    case.edit(
        "src/main.rs",
        "const BASE: u64 = 100;",
        "const BASE: u64 = 200;",
    );
    after(&case, &["configured"], "configured 201");
    case.edit("src/main.rs", "[1, 2, 3]", "[1, 2, 30]");
    after(&case, &["table"], "table 31");
    case.edit("src/main.rs", "const N: usize = 2;", "const N: usize = 1;");
    after(&case, &["table"], "table 3");
    case.edit("src/main.rs", "x * 2\n", "x * 5\n");
    after(&case, &["mapped"], "mapped [5, 10]");
    case.edit("src/main.rs", "x + 1000", "x + 2000");
    after(&case, &[], "local_total 4 2000");
}
