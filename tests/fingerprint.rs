//! The code fingerprint, end to end: each case writes a small crate that uses memo into a
//! temporary directory, builds and runs it, edits its source, rebuilds and runs it again,
//! and asserts a hit or a miss from what the program reports. All cases share one target
//! directory, so memo and its dependencies are built once.

mod support;

use support::crates::Case;

const MAIN: &str = r#"
mod util;

use memo::cached;

/// Adds one, after a helper.
#[cached]
fn f(x: u64) -> u64 {
    println!("ran f");
    util::helper(x) + 1
}

fn unrelated(x: u64) -> u64 {
    x * 100
}

fn main() {
    println!("result {} {}", f(5), unrelated(1));
    let explained = memo::explain("f").expect("f is registered");
    for change in explained.changes() {
        println!("change {} {} {}", change.change, change.kind, change.path);
    }
}
"#;

const UTIL: &str = r#"
pub fn helper(x: u64) -> u64 {
    deeper::twice(x)
}

mod deeper {
    pub fn twice(x: u64) -> u64 {
        deepest(x) * 2
    }

    fn deepest(x: u64) -> u64 {
        x + 10
    }
}
"#;

/// A case crate with `src/main.rs` and `src/util.rs` as above unless `files` replaces them.
fn case(name: &str, deps: &str, files: &[(&str, &str)]) -> Case {
    let mut all = vec![("src/main.rs", MAIN), ("src/util.rs", UTIL)];
    all.extend_from_slice(files);
    Case::new(name, deps, &all)
}

#[test]
fn a_body_edit_is_a_miss() {
    let case = case("body_edit", "", &[]);
    case.baseline();
    case.edit("src/main.rs", "util::helper(x) + 1", "util::helper(x) + 2");
    case.expect(true);
}

#[test]
fn comments_whitespace_and_docs_anywhere_are_a_hit() {
    let case = case("layout_edit", "", &[]);
    case.baseline();
    case.edit(
        "src/main.rs",
        "/// Adds one, after a helper.",
        "/// Adds one.\n/// Reworded docs.",
    );
    case.edit(
        "src/main.rs",
        "    util::helper(x) + 1\n",
        "    // a new comment\n    util::helper( x )+1\n\n",
    );
    case.edit(
        "src/util.rs",
        "        x + 10\n",
        "        // deep comment\n        x\n            + 10\n",
    );
    case.edit(
        "src/util.rs",
        "pub fn helper",
        "/// Helper docs.\npub fn helper",
    );
    case.expect(false);
}

#[test]
fn an_edited_helper_in_another_module_is_a_miss_and_explain_names_it() {
    let case = case("helper_edit", "", &[]);
    case.baseline();
    case.edit("src/util.rs", "deeper::twice(x)", "deeper::twice(x) + 0");
    let out = case.expect(true);
    assert!(
        out.contains("change changed fn crate::util::helper"),
        "{out}"
    );
    assert!(
        !out.contains("deeper::twice"),
        "only the edited component: {out}"
    );
}

#[test]
fn a_helper_three_calls_deep_is_a_miss() {
    let case = case("deep_edit", "", &[]);
    case.baseline();
    case.edit("src/util.rs", "x + 10", "x + 11");
    let out = case.expect(true);
    assert!(
        out.contains("change changed fn crate::util::deeper::deepest"),
        "{out}"
    );
}

#[test]
fn an_unrelated_edit_is_a_hit() {
    let case = case("unrelated_edit", "", &[]);
    case.baseline();
    case.edit("src/main.rs", "x * 100", "x * 1000");
    case.expect(false);
}

const CONST_AND_MACRO: &str = r#"
use memo::cached;

const FACTOR: u64 = 3;

macro_rules! bump {
    ($x:expr) => {
        $x + 1
    };
}

struct Scaler {
    k: u64,
}

impl Scaler {
    fn apply(&self, x: u64) -> u64 {
        x * self.k
    }
}

#[derive(Default, serde::Serialize, serde::Deserialize)]
struct Summary {
    total: u64,
    input: u64,
}

#[cached]
fn f(x: u64) -> Summary {
    println!("ran f");
    let scaler = Scaler { k: 2 };
    Summary { total: bump!(scaler.apply(x) * FACTOR), input: x, ..Default::default() }
}

fn main() {
    let summary = f(5);
    println!("result {} {}", summary.total, summary.input);
}
"#;

fn const_case(name: &str) -> Case {
    let case = case(
        name,
        "serde = { version = \"1\", features = [\"derive\"] }",
        &[("src/main.rs", CONST_AND_MACRO), ("src/util.rs", "")],
    );
    case.baseline();
    case
}

#[test]
fn an_edited_const_is_a_miss() {
    let case = const_case("const_edit");
    case.edit("src/main.rs", "FACTOR: u64 = 3", "FACTOR: u64 = 4");
    case.expect(true);
}

#[test]
fn an_edited_macro_is_a_miss() {
    let case = const_case("macro_edit");
    case.edit("src/main.rs", "$x + 1", "$x + 2");
    case.expect(true);
}

#[test]
fn an_edited_method_of_a_local_type_is_a_miss() {
    let case = const_case("method_edit");
    case.edit("src/main.rs", "x * self.k", "x * self.k + 1");
    case.expect(true);
}

#[test]
fn a_field_added_to_the_return_type_is_a_miss() {
    let case = const_case("field_added");
    case.edit(
        "src/main.rs",
        "    input: u64,\n}",
        "    input: u64,\n    #[serde(default)]\n    count: u32,\n}",
    );
    case.expect(true);
}

/// Old bytes that still decode into the new shape: only the fingerprint tells them apart.
#[test]
fn reordered_fields_of_the_return_type_are_a_miss() {
    let case = const_case("fields_reordered");
    assert!(case.run().contains("result 31 5"));
    case.edit(
        "src/main.rs",
        "    total: u64,\n    input: u64,",
        "    input: u64,\n    total: u64,",
    );
    let out = case.expect(true);
    assert!(
        out.contains("result 31 5"),
        "never the swapped values: {out}"
    );
}

const WITH_ITOA: &str = r#"
use memo::cached;

#[cached]
fn f(x: u64) -> String {
    println!("ran f");
    itoa::Buffer::new().format(x).to_owned()
}

fn main() {
    println!("result {}", f(5));
}
"#;

#[test]
fn a_dependency_version_change_is_a_miss() {
    let case = case(
        "dep_version",
        "itoa = \"=1.0.10\"",
        &[("src/main.rs", WITH_ITOA), ("src/util.rs", "")],
    );
    case.baseline();
    case.edit("Cargo.toml", "itoa = \"=1.0.10\"", "itoa = \"=1.0.11\"");
    case.expect(true);
}

const WITH_PATH_DEP: &str = r#"
use memo::cached;

#[cached]
fn f(x: u64) -> u64 {
    println!("ran f");
    fp_dep::scale(x)
}

fn main() {
    println!("result {}", f(5));
}
"#;

#[test]
fn an_edited_helper_in_a_path_dependency_is_a_miss() {
    let case = case(
        "path_dep",
        "fp_dep = { path = \"dep\" }",
        &[
            ("src/main.rs", WITH_PATH_DEP),
            ("src/util.rs", ""),
            (
                "dep/Cargo.toml",
                "[package]\nname = \"fp_dep\"\nversion = \"0.1.0\"\nedition = \"2024\"\n",
            ),
            (
                "dep/src/lib.rs",
                "pub fn scale(x: u64) -> u64 {\n    x * 3\n}\n",
            ),
        ],
    );
    case.baseline();
    case.edit(
        "dep/src/lib.rs",
        "x * 3\n",
        "// comments do not count\n    x * 3\n",
    );
    case.expect(false);
    case.edit("dep/src/lib.rs", "x * 3", "x * 4");
    case.expect(true);
}

/// A dependency whose library is named other than its package (as `xml-rs` is `xml`):
/// the code names the library, and that name must lead to the package.
#[test]
fn a_dependency_used_by_its_library_name_counts() {
    let main = r#"
use memo::cached;

#[cached]
fn f(x: u64) -> u64 {
    println!("ran f");
    scaling::scale(x)
}

fn main() {
    println!("result {}", f(5));
}
"#;
    let case = case(
        "lib_name",
        "fp-scaling-pkg = { path = \"dep\" }",
        &[
            ("src/main.rs", main),
            ("src/util.rs", ""),
            (
                "dep/Cargo.toml",
                "[package]\nname = \"fp-scaling-pkg\"\nversion = \"0.1.0\"\nedition = \"2024\"\n\n[lib]\nname = \"scaling\"\n",
            ),
            (
                "dep/src/lib.rs",
                "pub fn scale(x: u64) -> u64 {\n    x * 3\n}\n",
            ),
        ],
    );
    case.baseline();
    case.edit("dep/src/lib.rs", "x * 3", "x * 4");
    let out = case.expect(true);
    assert!(out.contains("result 20"), "{out}");
}

const SHADOWING: &str = r#"
use memo::cached;

const LIMIT: u64 = 7;

fn helper(x: u64) -> u64 {
    x + 1
}

mod other {
    pub fn helper(x: u64) -> u64 {
        x + 2
    }
}

#[cached]
fn f(x: u64) -> u64 {
    println!("ran f");
    helper(x)
}

#[cached]
fn g(x: u64) -> u64 {
    println!("ran g");
    other::helper(x)
}

#[cached]
fn h(x: u64) -> String {
    println!("ran h");
    format!("{x} of {LIMIT}")
}

fn main() {
    println!("result {} {} {}", f(1), g(1), h(1));
}
"#;

#[test]
fn names_resolve_by_module_and_path() {
    let case = case(
        "shadowing",
        "",
        &[("src/main.rs", SHADOWING), ("src/util.rs", "")],
    );
    let first = case.run();
    assert!(first.contains("ran f") && first.contains("ran g") && first.contains("ran h"));
    // A helper of the same name in another module is not the one `f` calls.
    case.edit("src/main.rs", "x + 2", "x + 3");
    let out = case.run();
    assert!(
        !out.contains("ran f"),
        "f calls its own module's helper: {out}"
    );
    assert!(out.contains("ran g"), "g calls other::helper: {out}");
    // A const captured by a format string is part of the closure.
    case.edit("src/main.rs", "LIMIT: u64 = 7", "LIMIT: u64 = 8");
    let out = case.run();
    assert!(out.contains("ran h") && !out.contains("ran g"), "{out}");
}

const WITH_INCLUDE: &str = r#"
use memo::cached;

#[cached]
fn f(x: u64) -> usize {
    println!("ran f");
    include_str!("table.txt").lines().count() + x as usize
}

fn main() {
    println!("result {}", f(1));
}
"#;

#[test]
fn an_edited_included_file_is_a_miss() {
    let case = case(
        "included",
        "",
        &[
            ("src/main.rs", WITH_INCLUDE),
            ("src/util.rs", ""),
            ("src/table.txt", "a\nb\n"),
        ],
    );
    case.baseline();
    case.write("src/table.txt", "a\nb\nc\n");
    let out = case.expect(true);
    assert!(out.contains("result 4"), "{out}");
}

/// Moving a helper to another module, `#[inline]`, lint attributes and trailing commas
/// change nothing a function computes.
#[test]
fn moving_a_helper_and_inert_attributes_are_a_hit() {
    let case = case("moved_helper", "", &[]);
    case.baseline();
    case.edit(
        "src/util.rs",
        "    fn deepest(x: u64) -> u64 {\n        x + 10\n    }\n",
        "    use super::deepest;\n",
    );
    case.edit(
        "src/util.rs",
        "pub fn helper",
        "fn deepest(x: u64) -> u64 {\n    x + 10\n}\n\n#[inline]\n#[allow(clippy::all)]\npub fn helper",
    );
    case.edit("src/util.rs", "deeper::twice(x)", "deeper::twice(x,)");
    case.expect(false);
    // And the moved helper still counts where it now is.
    case.edit("src/util.rs", "x + 10", "x + 12");
    let out = case.expect(true);
    assert!(out.contains("result 35"), "{out}");
}
