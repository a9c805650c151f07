//! More of what code reaches without writing its name, each as an edit to one real crate
//! asserting exactly which functions run again: a derive that turns a doc comment into
//! code, a trait's const and method defaults, an impl const shadowing an import, the
//! bounds of a method's impl, items registered with `inventory`, a function pointer in a
//! static, aliases of aliases, a `use super::*`, mutual recursion, consts in array lengths
//! and const evaluation, a discriminant read with `as`, `..Default::default()`, `Deref`.
//! And the edits that change nothing it computes: a doc comment, a visibility, a match
//! arm written as a block.

mod support;

use support::crates::{Case, ran};

const DOCSHOW: &str = r#"
//! `#[derive(DocShow)]`: the type's doc comment is its `Display`, as `displaydoc` does.
use proc_macro::TokenStream;
use quote::quote;

#[proc_macro_derive(DocShow)]
pub fn doc_show(input: TokenStream) -> TokenStream {
    let input: syn::DeriveInput = syn::parse(input).unwrap();
    let mut doc = String::new();
    for attr in &input.attrs {
        if let syn::Meta::NameValue(nv) = &attr.meta
            && nv.path.is_ident("doc")
            && let syn::Expr::Lit(syn::ExprLit { lit: syn::Lit::Str(s), .. }) = &nv.value
        {
            doc.push_str(s.value().trim());
        }
    }
    let name = &input.ident;
    quote! {
        impl ::std::fmt::Display for #name {
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                f.write_str(#doc)
            }
        }
    }
    .into()
}
"#;

const MAIN: &str = r#"
#![allow(dead_code)]
use std::fmt;

use memo::{CacheKey, cached};

/// Disk is full
#[derive(docshow::DocShow)]
struct DiskFull;

#[cached]
fn message(x: u64) -> String {
    println!("ran message");
    format!("{x}: {}", DiskFull)
}

/// A plain point.
#[derive(Debug, Clone)]
struct Plain {
    v: u64,
}

#[cached]
fn plain(x: u64) -> u64 {
    println!("ran plain");
    Plain { v: x }.v
}

trait Rate {
    const R: u64 = 3;
    fn rate(&self) -> u64 {
        Self::R
    }
}
struct Fixed;
impl Rate for Fixed {}

#[cached]
fn rate(x: u64) -> u64 {
    println!("ran rate");
    x * Fixed.rate()
}

mod limits {
    pub const LIMIT: u64 = 100;
}
use limits::LIMIT;
struct Gate;
impl Gate {
    const LIMIT: u64 = 7;
    fn limit() -> u64 {
        Self::LIMIT
    }
}

#[cached]
fn gate(x: u64) -> u64 {
    println!("ran gate");
    x.min(Gate::limit())
}

#[cached]
fn outer_limit(x: u64) -> u64 {
    println!("ran outer_limit");
    x + LIMIT
}

#[derive(CacheKey)]
struct Celsius {
    deg: u64,
}
impl fmt::Display for Celsius {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}C", self.deg)
    }
}

#[derive(CacheKey)]
struct Shown<T> {
    inner: T,
}
impl<T: fmt::Display + CacheKey> Shown<T> {
    #[cached]
    fn show(&self) -> String {
        println!("ran show");
        format!("<{}>", self.inner)
    }
}

pub struct Plugin {
    pub f: fn(u64) -> u64,
}
inventory::collect!(Plugin);
fn triple(x: u64) -> u64 {
    x * 3
}
inventory::submit! { Plugin { f: triple } }

#[cached]
fn plugins(x: u64) -> u64 {
    println!("ran plugins");
    inventory::iter::<Plugin>.into_iter().map(|p| (p.f)(x)).sum()
}

fn arms(x: u64) -> u64 {
    match x {
        0 => { 1 }
        _ => x + 1,
    }
}

#[cached]
fn armed(x: u64) -> u64 {
    println!("ran armed");
    arms(x)
}

trait Greeter {
    fn greet(&self) -> String {
        "hello".to_string()
    }
}
struct English;
impl Greeter for English {}

#[cached]
fn greeting(x: u64) -> String {
    println!("ran greeting");
    format!("{} {x}", English.greet())
}

fn quadruple(x: u64) -> u64 {
    x << 2
}
static OP: fn(u64) -> u64 = quadruple;

#[cached]
fn through_static(x: u64) -> u64 {
    println!("ran through_static");
    OP(x)
}

struct Real(u64);
type Mid = Real;
type Top = Mid;
impl Real {
    fn make(x: u64) -> Self {
        Real(x)
    }
    fn get(&self) -> u64 {
        self.0 + 10
    }
}

#[cached]
fn aliased(x: u64) -> u64 {
    println!("ran aliased");
    Top::make(x).get()
}

mod nested {
    use super::*;
    pub fn via_glob(x: u64) -> u64 {
        base_offset() + x
    }
}
fn base_offset() -> u64 {
    1000
}

#[cached]
fn globbed(x: u64) -> u64 {
    println!("ran globbed");
    nested::via_glob(x)
}

fn even(n: u64) -> bool {
    if n == 0 { true } else { odd(n - 1) }
}
fn odd(n: u64) -> bool {
    if n == 0 { false } else { even(n - 1) }
}

#[cached]
fn parity(x: u64) -> bool {
    println!("ran parity");
    even(x)
}

const LEN: usize = 3;

#[cached]
fn zeros(x: u64) -> Vec<u64> {
    println!("ran zeros");
    [x; LEN].to_vec()
}

mod levels {
    pub enum Level {
        Low = 1,
        High = 10,
    }
}

#[cached]
fn level(x: u64) -> u64 {
    println!("ran level");
    x + levels::Level::High as u64
}

struct Opts {
    a: u64,
    b: u64,
}
impl Default for Opts {
    fn default() -> Self {
        Opts { a: 1, b: 2 }
    }
}

#[cached]
fn opts(x: u64) -> u64 {
    println!("ran opts");
    let o = Opts { a: x, ..Default::default() };
    o.a + o.b
}

const fn six() -> u64 {
    6
}
const SCALED: u64 = six() * 2;

#[cached]
fn const_eval(x: u64) -> u64 {
    println!("ran const_eval");
    x + SCALED
}

struct Core;
impl Core {
    fn val(&self) -> u64 {
        41
    }
}
struct Shell(Core);
impl std::ops::Deref for Shell {
    type Target = Core;
    fn deref(&self) -> &Core {
        &self.0
    }
}
fn shell() -> Shell {
    Shell(Core)
}

#[cached]
fn derefed(x: u64) -> u64 {
    println!("ran derefed");
    x + shell().val()
}

fn main() {
    println!("message {}", message(1));
    println!("plain {}", plain(1));
    println!("rate {}", rate(2));
    println!("gate {}", gate(50));
    println!("outer_limit {}", outer_limit(1));
    println!("show {}", Shown { inner: Celsius { deg: 1 } }.show());
    println!("plugins {}", plugins(2));
    println!("armed {}", armed(0));
    println!("greeting {}", greeting(1));
    println!("through_static {}", through_static(1));
    println!("aliased {}", aliased(1));
    println!("globbed {}", globbed(1));
    println!("parity {}", parity(5));
    println!("zeros {}", zeros(1).len());
    println!("level {}", level(1));
    println!("opts {}", opts(1));
    println!("const_eval {}", const_eval(1));
    println!("derefed {}", derefed(1));
}
"#;

const FUNCTIONS: usize = 18;

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
fn more_code_reached_without_its_name_counts_and_edits_of_nothing_run_nothing() {
    let case = Case::new(
        "reach",
        "inventory = \"0.3\"\ndocshow = { path = \"docshow\" }",
        &[
            ("src/main.rs", MAIN),
            (
                "docshow/Cargo.toml",
                "[package]\nname = \"docshow\"\nversion = \"0.1.0\"\nedition = \"2024\"\n\n\
                 [lib]\nproc-macro = true\n\n[dependencies]\nsyn = \"2\"\nquote = \"1\"\n",
            ),
            ("docshow/src/lib.rs", DOCSHOW),
        ],
    );
    assert_eq!(ran(&case.run()).len(), FUNCTIONS);
    assert!(ran(&case.run()).is_empty(), "a second run is all hits");

    case.edit(
        "src/main.rs",
        "/// Disk is full",
        "/// Disk is out of space",
    );
    after(&case, &["message"], "message 1: Disk is out of space");
    case.edit("src/main.rs", "const R: u64 = 3;", "const R: u64 = 4;");
    after(&case, &["rate"], "rate 8");
    case.edit(
        "src/main.rs",
        "const LIMIT: u64 = 7;",
        "const LIMIT: u64 = 9;",
    );
    after(&case, &["gate"], "gate 9");
    case.edit("src/main.rs", "\"{}C\"", "\"{} C\"");
    after(&case, &["show"], "show <1 C>");
    case.edit("src/main.rs", "x * 3\n", "x * 5\n");
    after(&case, &["plugins"], "plugins 10");
    case.edit("src/main.rs", "\"hello\"", "\"hi\"");
    after(&case, &["greeting"], "greeting hi 1");
    case.edit("src/main.rs", "x << 2", "x << 3");
    after(&case, &["through_static"], "through_static 8");
    case.edit("src/main.rs", "self.0 + 10", "self.0 + 20");
    after(&case, &["aliased"], "aliased 21");
    case.edit("src/main.rs", "    1000\n", "    2000\n");
    after(&case, &["globbed"], "globbed 2001");
    case.edit("src/main.rs", "{ false }", "{ true }");
    after(&case, &["parity"], "parity true");
    case.edit(
        "src/main.rs",
        "const LEN: usize = 3;",
        "const LEN: usize = 5;",
    );
    after(&case, &["zeros"], "zeros 5");
    case.edit("src/main.rs", "High = 10", "High = 20");
    after(&case, &["level"], "level 21");
    case.edit("src/main.rs", "Opts { a: 1, b: 2 }", "Opts { a: 1, b: 5 }");
    after(&case, &["opts"], "opts 6");
    case.edit("src/main.rs", "    6\n}", "    7\n}");
    after(&case, &["const_eval"], "const_eval 15");
    case.edit("src/main.rs", "        41\n", "        42\n");
    after(&case, &["derefed"], "derefed 43");

    // Nothing it computes: a doc comment on a type only std derives read, a visibility, a
    // match arm's block of one expression written as rustfmt may write it.
    case.edit("src/main.rs", "/// A plain point.", "/// A point, plainly.");
    after(&case, &[], "plain 1");
    case.edit("src/main.rs", "fn arms(", "pub(crate) fn arms(");
    case.edit(
        "src/main.rs",
        "struct Plain {\n    v: u64,",
        "pub struct Plain {\n    pub v: u64,",
    );
    after(&case, &[], "armed 1");
    case.edit(
        "src/main.rs",
        "        0 => { 1 }\n        _ => x + 1,",
        "        0 => 1,\n        _ => {\n            x + 1\n        }",
    );
    after(&case, &[], "armed 1");
}
