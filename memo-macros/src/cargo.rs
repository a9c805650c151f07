//! The package's dependencies, from its `Cargo.toml` and the `Cargo.lock`: each crate name
//! code can use, with what pins its code — a version, a git commit, or for a local path
//! dependency a hash of its sources.

use std::collections::HashMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};

use toml::{Table, Value};

use crate::fingerprint::hash_tokens;
use crate::index::rust_files;

/// A dependency, as a fingerprint component.
#[derive(Clone)]
pub struct Dep {
    /// The package name.
    pub name: String,
    /// The version, the git source with its commit, or `path`.
    pub location: String,
    pub hash: [u8; 32],
}

/// The package's dependencies by the name code uses for them.
#[derive(Default)]
pub struct Deps {
    by_ident: HashMap<String, Vec<Dep>>,
}

impl Deps {
    pub fn get(&self, ident: &str) -> &[Dep] {
        self.by_ident.get(ident).map_or(&[], Vec::as_slice)
    }
}

pub fn of_package(manifest_dir: &Path, package: &str, version: &str) -> Arc<Deps> {
    static CACHE: OnceLock<Mutex<HashMap<PathBuf, Arc<Deps>>>> = OnceLock::new();
    let cache = CACHE.get_or_init(Default::default);
    if let Some(deps) = cache
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .get(manifest_dir)
    {
        return Arc::clone(deps);
    }
    let deps = Arc::new(read(manifest_dir, package, version).unwrap_or_default());
    cache
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .insert(manifest_dir.to_path_buf(), Arc::clone(&deps));
    deps
}

fn read_toml(path: &Path) -> Option<Table> {
    toml::from_str(&fs::read_to_string(path).ok()?).ok()
}

/// One dependency as the manifest declares it.
struct Declared {
    package: String,
    path: Option<PathBuf>,
}

fn read(manifest_dir: &Path, package: &str, version: &str) -> Option<Deps> {
    let manifest = read_toml(&manifest_dir.join("Cargo.toml"))?;
    let workspace = workspace_root(manifest_dir);
    let workspace_deps = workspace.as_ref().and_then(|(root, table)| {
        let deps = table.get("workspace")?.get("dependencies")?.as_table()?;
        Some((root.clone(), deps.clone()))
    });

    let mut declared: HashMap<String, Declared> = HashMap::new();
    let mut tables: Vec<&Table> = ["dependencies", "dev-dependencies", "build-dependencies"]
        .iter()
        .filter_map(|key| manifest.get(*key)?.as_table())
        .collect();
    if let Some(targets) = manifest.get("target").and_then(Value::as_table) {
        for target in targets.values() {
            for key in ["dependencies", "dev-dependencies", "build-dependencies"] {
                if let Some(table) = target.get(key).and_then(Value::as_table) {
                    tables.push(table);
                }
            }
        }
    }
    for table in tables {
        for (key, value) in table {
            let mut package = value
                .get("package")
                .and_then(Value::as_str)
                .unwrap_or(key)
                .to_owned();
            let mut path = value
                .get("path")
                .and_then(Value::as_str)
                .map(|p| manifest_dir.join(p));
            if value.get("workspace").and_then(Value::as_bool) == Some(true)
                && let Some((root, deps)) = &workspace_deps
                && let Some(shared) = deps.get(key)
            {
                if let Some(renamed) = shared.get("package").and_then(Value::as_str) {
                    package = renamed.to_owned();
                }
                path = shared
                    .get("path")
                    .and_then(Value::as_str)
                    .map(|p| root.join(p));
            }
            declared.insert(key.replace('-', "_"), Declared { package, path });
        }
    }

    let lock_dir = workspace.map_or_else(|| manifest_dir.to_path_buf(), |(root, _)| root);
    let lock = read_toml(&lock_dir.join("Cargo.lock")).unwrap_or_default();
    let packages: Vec<&Table> = lock
        .get("package")
        .and_then(Value::as_array)
        .map(|all| all.iter().filter_map(Value::as_table).collect())
        .unwrap_or_default();
    let field = |p: &Table, key: &str| p.get(key).and_then(Value::as_str).map(str::to_owned);
    // The lock lines of this package's own dependencies: `name`, or `name version` where
    // several versions are locked.
    let own = packages.iter().find(|p| {
        field(p, "name").as_deref() == Some(package)
            && field(p, "version").as_deref() == Some(version)
            && p.get("source").is_none()
    });
    let lines: Vec<String> = own
        .and_then(|p| p.get("dependencies")?.as_array().cloned())
        .unwrap_or_default()
        .iter()
        .filter_map(|v| v.as_str().map(str::to_owned))
        .collect();

    let mut deps = Deps::default();
    for (ident, declared) in declared {
        let mut found = Vec::new();
        for line in &lines {
            let mut words = line.split_whitespace();
            if words.next() != Some(declared.package.as_str()) {
                continue;
            }
            let pinned = words.next();
            for locked in &packages {
                if field(locked, "name").as_deref() != Some(declared.package.as_str())
                    || pinned.is_some_and(|v| field(locked, "version").as_deref() != Some(v))
                {
                    continue;
                }
                let version = field(locked, "version").unwrap_or_default();
                found.push(match field(locked, "source") {
                    Some(source) if source.starts_with("git+") => Dep {
                        name: declared.package.clone(),
                        hash: *blake3::hash(source.as_bytes()).as_bytes(),
                        location: source,
                    },
                    Some(_) => Dep {
                        name: declared.package.clone(),
                        hash: *blake3::hash(format!("{}@{version}", declared.package).as_bytes())
                            .as_bytes(),
                        location: version,
                    },
                    None => local(&declared, declared.path.as_deref()),
                });
            }
        }
        if found.is_empty() {
            // Not locked yet, or not found in the lock: key what is known, and for a local
            // crate its sources.
            found.push(match &declared.path {
                Some(path) => local(&declared, Some(path)),
                None => Dep {
                    name: declared.package.clone(),
                    location: "unlocked".into(),
                    hash: *blake3::hash(declared.package.as_bytes()).as_bytes(),
                },
            });
        }
        deps.by_ident.insert(ident, found);
    }
    Some(deps)
}

/// A local crate: its version stays put while its code changes, so it is pinned by a hash
/// of all its sources, in canonical tokens so that comments and layout do not count.
fn local(declared: &Declared, dir: Option<&Path>) -> Dep {
    let mut hasher = blake3::Hasher::new();
    if let Some(dir) = dir {
        let mut files = Vec::new();
        rust_files(dir, &mut files);
        files.sort();
        proc_macro2::fallback::force();
        for file in files {
            let relative = file.strip_prefix(dir).unwrap_or(&file);
            hasher.update(relative.to_string_lossy().as_bytes());
            let text = fs::read_to_string(&file).unwrap_or_default();
            match text.parse::<proc_macro2::TokenStream>() {
                Ok(tokens) => hasher.update(&hash_tokens(tokens)),
                Err(_) => hasher.update(text.as_bytes()),
            };
        }
        proc_macro2::fallback::unforce();
        if let Ok(manifest) = fs::read(dir.join("Cargo.toml")) {
            hasher.update(&manifest);
        }
    }
    Dep {
        name: declared.package.clone(),
        location: "path".into(),
        hash: *hasher.finalize().as_bytes(),
    }
}

/// The nearest directory at or above `dir` whose `Cargo.toml` has a `[workspace]`.
fn workspace_root(dir: &Path) -> Option<(PathBuf, Table)> {
    dir.ancestors().find_map(|candidate| {
        let table = read_toml(&candidate.join("Cargo.toml"))?;
        table
            .contains_key("workspace")
            .then(|| (candidate.to_path_buf(), table))
    })
}
