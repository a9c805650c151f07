//! `#[cached]` on methods and associated functions: `&self` is part of the key, so results
//! are per instance value.
//!
//! ```sh
//! cargo run --example methods
//! ```

use memo::{CacheKey, cached};

#[derive(CacheKey, Debug)]
struct Mesh {
    name: String,
    resolution: u32,
    /// Where to log progress; does not change results.
    #[cache_key(skip)]
    verbose: bool,
}

impl Mesh {
    /// A slow solve, cached per mesh.
    #[cached(tags = ["solver"])]
    fn solve(&self, iterations: u32) -> f64 {
        if self.verbose {
            println!(
                "  solving {} at {}x{}",
                self.name, self.resolution, self.resolution
            );
        }
        let n = f64::from(self.resolution * iterations);
        (1..=1000).map(|k| (n / f64::from(k)).sin()).sum()
    }

    /// An associated function: its key includes the type, since its body names `Self`.
    #[cached]
    fn default_resolution() -> u32 {
        println!("  computing the default resolution");
        64
    }
}

fn main() {
    let coarse = Mesh {
        name: "wing".into(),
        resolution: Mesh::default_resolution(),
        verbose: true,
    };
    let fine = Mesh {
        name: "wing".into(),
        resolution: 256,
        verbose: true,
    };
    let quiet = Mesh {
        name: "wing".into(),
        resolution: 64,
        verbose: false,
    };

    println!("coarse: {:.6}", coarse.solve(10));
    println!("fine:   {:.6}", fine.solve(10));
    println!(
        "coarse again (quiet copy, same key): {:.6}",
        quiet.solve(10)
    );
    println!("default resolution again: {}", Mesh::default_resolution());

    let store = memo::default_store().expect("the store opens");
    let removed = store.invalidate_tag("solver").expect("invalidate");
    println!("invalidated {removed} solver results");
}
