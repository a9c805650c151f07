//! The index of a package's own items, parsed from its source files once per compiler
//! process and shared by every `#[cached]` in it.

mod collect;
mod refs;

use std::collections::{BTreeSet, HashMap};
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};

pub use refs::{Refs, Usage, references};

/// An item of the package that a fingerprint can include.
pub struct Item {
    /// `fn`, `method`, `const`, `static`, `macro`, `type`, `trait`.
    pub kind: &'static str,
    /// The name it is looked up by.
    pub name: String,
    /// The type or trait whose `impl` or definition holds it.
    pub owner: Option<String>,
    /// Every name it belongs to: for an impl's member, each type and trait its header
    /// names (`impl Mul<V> for f64` belongs to `V`, `Mul` and `f64`); for a macro call at
    /// item level, the macro and the names in its input.
    pub owners: Vec<String>,
    /// The module it is defined in, as `crate::a::b`.
    pub module: String,
    /// A readable path: `module::name` or `module::Type::name`.
    pub path: String,
    /// The file, as an absolute path, and the lines the item spans there.
    pub file: PathBuf,
    pub lines: (usize, usize),
    /// Its source text, as written: the lines it spans.
    pub source: String,
    /// `file:line`, with the file relative to the package.
    pub location: String,
    /// The hash of its canonical tokens.
    pub hash: [u8; 32],
    /// What its tokens reference.
    pub refs: Refs,
}

/// Every item of a package, by name and by owner.
#[derive(Default)]
pub struct Index {
    pub items: Vec<Item>,
    by_name: HashMap<String, Vec<usize>>,
    by_owner: HashMap<String, Vec<usize>>,
    /// What `use` declarations bring in: a local name → the first segments of its paths.
    uses: HashMap<String, BTreeSet<String>>,
    /// Each `use x::*` import: its module, the first segment of its path, and where it
    /// is written (`src/a.rs:3`).
    pub globs: BTreeSet<(String, String, String)>,
    /// Other names of a thing, both ways: `use a::X as Y` and `type Y = X<..>` link `X`
    /// and `Y`.
    aliases: HashMap<String, BTreeSet<String>>,
    /// Each local trait's supertraits, by last segment.
    pub supertraits: HashMap<String, Vec<String>>,
    /// The name of every module that holds an item.
    modules: std::collections::HashSet<String>,
}

impl Index {
    pub fn named(&self, name: &str) -> &[usize] {
        self.by_name.get(name).map_or(&[], Vec::as_slice)
    }

    pub fn owned_by(&self, owner: &str) -> &[usize] {
        self.by_owner.get(owner).map_or(&[], Vec::as_slice)
    }

    pub fn imported_from(&self, name: &str) -> impl Iterator<Item = &String> {
        self.uses.get(name).into_iter().flatten()
    }

    /// Whether a path starting at `root` can lead into this package: `root` is one of its
    /// items, modules or aliases, or is imported from a path that starts here.
    pub fn is_local_root(&self, root: &str) -> bool {
        !self.named(root).is_empty()
            || self.modules.contains(root)
            || self.aliases.contains_key(root)
            || self.imported_from(root).any(|from| {
                matches!(from.as_str(), "crate" | "self" | "super") || self.modules.contains(from)
            })
    }

    pub fn aliases(&self, name: &str) -> impl Iterator<Item = &String> {
        self.aliases.get(name).into_iter().flatten()
    }

    fn alias(&mut self, a: &str, b: &str) {
        if a != b {
            self.aliases
                .entry(a.to_owned())
                .or_default()
                .insert(b.to_owned());
            self.aliases
                .entry(b.to_owned())
                .or_default()
                .insert(a.to_owned());
        }
    }

    /// Makes `name` find item `id` too, as a variant's name finds its enum.
    fn also_named(&mut self, name: String, id: usize) {
        self.by_name.entry(name).or_default().push(id);
    }

    fn add(&mut self, item: Item) -> usize {
        let id = self.items.len();
        self.by_name.entry(item.name.clone()).or_default().push(id);
        for segment in item.module.split("::").skip(1) {
            self.modules.insert(segment.to_owned());
        }
        let mut owners: BTreeSet<&String> = item.owners.iter().collect();
        owners.extend(&item.owner);
        for owner in owners {
            self.by_owner.entry(owner.clone()).or_default().push(id);
        }
        self.items.push(item);
        id
    }
}

/// The index of the package in `manifest_dir`: its `src/` tree and `extra` (the file that
/// invoked the macro, which may lie outside `src/`, as an example or a test does).
pub fn of_package(manifest_dir: &Path, extra: Option<&Path>) -> Arc<Index> {
    type Cache = Mutex<HashMap<(PathBuf, Option<PathBuf>), Arc<Index>>>;
    static CACHE: OnceLock<Cache> = OnceLock::new();
    let src = manifest_dir.join("src");
    let extra = extra
        .filter(|file| !file.starts_with(&src))
        .map(Path::to_path_buf);
    let key = (manifest_dir.to_path_buf(), extra.clone());
    let cache = CACHE.get_or_init(Default::default);
    if let Some(index) = cache.lock().unwrap_or_else(|p| p.into_inner()).get(&key) {
        return Arc::clone(index);
    }
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    files.sort();
    files.extend(extra);
    let index = Arc::new(build(manifest_dir, &files));
    cache
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .insert(key, Arc::clone(&index));
    index
}

fn build(manifest_dir: &Path, files: &[PathBuf]) -> Index {
    let mut index = Index::default();
    // Parse with proc-macro2's own implementation: its spans carry lines, and these
    // tokens are only hashed, never handed back to the compiler.
    proc_macro2::fallback::force();
    for file in files {
        let Ok(text) = fs::read_to_string(file) else {
            continue;
        };
        let Ok(parsed) = syn::parse_file(&text) else {
            continue;
        };
        let relative = file.strip_prefix(manifest_dir).unwrap_or(file);
        collect::file(&mut index, &parsed, &text, file, relative);
    }
    proc_macro2::fallback::unforce();
    index
}

/// Every `.rs` file under `dir`, skipping hidden directories and `target`.
pub fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        let name = entry.file_name();
        let name = name.to_string_lossy();
        // A package's build output sits in `target/` beside its manifest; a module may
        // be named `target` anywhere else.
        if name.starts_with('.') || (name == "target" && dir.join("Cargo.toml").is_file()) {
            continue;
        }
        if path.is_dir() {
            rust_files(&path, out);
        } else if name.ends_with(".rs") {
            out.push(path);
        }
    }
}

/// The last segment of every trait that bounds a generic parameter, inline or in the
/// `where` clause.
pub fn bound_traits(generics: &syn::Generics) -> std::collections::BTreeSet<String> {
    let mut bounds: Vec<&syn::TypeParamBound> = Vec::new();
    for param in &generics.params {
        if let syn::GenericParam::Type(param) = param {
            bounds.extend(&param.bounds);
        }
    }
    for predicate in generics.where_clause.iter().flat_map(|w| &w.predicates) {
        if let syn::WherePredicate::Type(predicate) = predicate {
            bounds.extend(&predicate.bounds);
        }
    }
    bounds
        .into_iter()
        .filter_map(|bound| match bound {
            syn::TypeParamBound::Trait(t) => t.path.segments.last().map(|s| s.ident.to_string()),
            _ => None,
        })
        .collect()
}
