//! The key protocol in a few lines: derive `CacheKey` for your types and see which values
//! share a key. Run with `cargo run --example keys`.

use std::collections::HashMap;

use memo::{CacheKey, FileContent, key_of};

#[derive(CacheKey)]
struct Params {
    lr: f64,
    epochs: u32,
    /// Logging does not change the result, so it is not part of the key.
    #[cache_key(skip)]
    verbose: bool,
}

fn show(label: &str, key: memo::Digest) {
    println!("{label:<34} -> {}", key.short());
}

fn main() {
    let quiet = Params {
        lr: 0.01,
        epochs: 10,
        verbose: false,
    };
    let loud = Params {
        lr: 0.01,
        epochs: 10,
        verbose: true,
    };
    let longer = Params {
        lr: 0.01,
        epochs: 20,
        verbose: false,
    };
    assert!(loud.verbose && !quiet.verbose);
    show("Params { lr: 0.01, epochs: 10 }", key_of(&quiet));
    show("  the same, verbose (skipped)", key_of(&loud));
    show("  the same, epochs: 20", key_of(&longer));

    println!();
    show("(\"ab\", \"c\")", key_of(&("ab", "c")));
    show("(\"a\", \"bc\")", key_of(&("a", "bc")));
    show("Some(0)", key_of(&Some(0)));
    show("0", key_of(&0));

    let forward: HashMap<&str, u32> = [("a", 1), ("b", 2), ("c", 3)].into();
    let backward: HashMap<&str, u32> = [("c", 3), ("b", 2), ("a", 1)].into();
    println!();
    show("a HashMap, built forwards", key_of(&forward));
    show("the same, built backwards", key_of(&backward));

    let manifest = FileContent(concat!(env!("CARGO_MANIFEST_DIR"), "/Cargo.toml"));
    println!();
    show("Cargo.toml, keyed by its content", key_of(&manifest));
}
