//! The package's dependencies, from its `Cargo.toml` and the `Cargo.lock`: each crate name
//! code can use, with what pins its code — a version, a git commit, or for a local path
//! dependency a hash of its sources.

use std::collections::{BTreeSet, HashMap};
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};

use toml::{Table, Value};

use crate::fingerprint::hash_tokens;
use crate::index::{references, rust_files};

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

    /// Names the code uses for crates that the manifest declares under another: a
    /// dependency whose library is named other than its package (`xml-rs` is used as
    /// `xml`). The compiler's `--extern` names are what code can use; each one no
    /// declared name matches stands for every declared dependency no `--extern` matches —
    /// more than it may be (a disabled optional dependency, a dev-dependency), never less.
    fn name_libraries<'a>(&mut self, externs: impl Iterator<Item = &'a str>) {
        let externs: BTreeSet<&str> = externs.collect();
        let unnamed: Vec<Dep> = self
            .by_ident
            .iter()
            .filter(|(ident, _)| !externs.contains(ident.as_str()))
            .flat_map(|(_, deps)| deps.iter().cloned())
            .collect();
        if unnamed.is_empty() {
            return;
        }
        for name in externs {
            if !self.by_ident.contains_key(name) {
                self.by_ident.insert(name.to_owned(), unnamed.clone());
            }
        }
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
    let mut deps = read(manifest_dir, package, version).unwrap_or_default();
    deps.name_libraries(crate::config::current().externs());
    let deps = Arc::new(deps);
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
    let workspace_deps = workspace.as_ref().and_then(shared_deps);

    let mut declared: HashMap<String, Declared> = HashMap::new();
    let tables = dependency_tables(&manifest);
    for table in tables {
        for (key, value) in table {
            let mut package = value
                .get("package")
                .and_then(Value::as_str)
                .unwrap_or(key)
                .to_owned();
            let path = declared_path(manifest_dir, key, value, workspace_deps.as_ref());
            if value.get("workspace").and_then(Value::as_bool) == Some(true)
                && let Some((_, deps)) = &workspace_deps
                && let Some(renamed) = deps
                    .get(key)
                    .and_then(|shared| shared.get("package"))
                    .and_then(Value::as_str)
            {
                package = renamed.to_owned();
            }
            declared.insert(key.replace('-', "_"), Declared { package, path });
        }
    }

    let patches = match &workspace {
        Some((root, table)) => patched(root, table),
        None => patched(manifest_dir, &manifest),
    };
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
                    None => {
                        let path = declared
                            .path
                            .clone()
                            .or_else(|| patches.get(&declared.package).cloned());
                        local(&declared, path.as_deref())
                    }
                });
            }
        }
        if found.is_empty() {
            // Not locked yet, or not found in the lock: key what is known, and for a local
            // crate its sources.
            let path = declared
                .path
                .clone()
                .or_else(|| patches.get(&declared.package).cloned());
            found.push(match &path {
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
/// of its sources in canonical tokens (comments and layout do not count), the files and
/// environment variables they include, its manifest's meaning, and the same of every
/// local crate it depends on in turn.
fn local(declared: &Declared, dir: Option<&Path>) -> Dep {
    let mut hasher = blake3::Hasher::new();
    if let Some(dir) = dir {
        let mut seen = BTreeSet::new();
        proc_macro2::fallback::force();
        hash_local(dir, &mut seen, &mut hasher);
        proc_macro2::fallback::unforce();
    }
    Dep {
        name: declared.package.clone(),
        location: "path".into(),
        hash: *hasher.finalize().as_bytes(),
    }
}

fn hash_local(dir: &Path, seen: &mut BTreeSet<PathBuf>, hasher: &mut blake3::Hasher) {
    let dir = dir.canonicalize().unwrap_or_else(|_| dir.to_path_buf());
    if !seen.insert(dir.clone()) {
        return;
    }
    let manifest = read_toml(&dir.join("Cargo.toml")).unwrap_or_default();
    // Its code: `src/`, a build script, and a library path set elsewhere; not its tests,
    // benches or examples, which no dependent can run.
    let mut files = Vec::new();
    rust_files(&dir.join("src"), &mut files);
    let lib_path = manifest
        .get("lib")
        .and_then(|lib| lib.get("path"))
        .and_then(Value::as_str)
        .map(|p| dir.join(p));
    if let Some(root) = lib_path.as_ref().and_then(|p| p.parent())
        && !root.starts_with(dir.join("src"))
    {
        rust_files(root, &mut files);
    }
    let build = manifest
        .get("package")
        .and_then(|p| p.get("build"))
        .and_then(Value::as_str)
        .map_or_else(|| dir.join("build.rs"), |b| dir.join(b));
    if build.is_file() {
        files.push(build);
    }
    files.sort();
    files.dedup();
    let mut included = BTreeSet::new();
    let mut envs = BTreeSet::new();
    for file in &files {
        let relative = file.strip_prefix(&dir).unwrap_or(file);
        hasher.update(relative.to_string_lossy().as_bytes());
        let text = fs::read_to_string(file).unwrap_or_default();
        match text.parse::<proc_macro2::TokenStream>() {
            Ok(tokens) => {
                hasher.update(&hash_tokens(tokens.clone()));
                let refs = references(tokens, Some(file));
                included.extend(refs.files);
                envs.extend(refs.envs);
            }
            Err(_) => {
                hasher.update(text.as_bytes());
            }
        }
    }
    for file in included {
        hasher.update(file.to_string_lossy().as_bytes());
        hasher.update(&fs::read(&file).unwrap_or_default());
    }
    for var in envs {
        hasher.update(var.as_bytes());
        match std::env::var_os(&var) {
            Some(value) => hasher.update(b"=").update(value.as_encoded_bytes()),
            None => hasher.update(b" unset"),
        };
    }
    // The manifest's meaning, not its comments or layout.
    hasher.update(format!("{manifest:?}").as_bytes());
    let workspace = workspace_root(&dir).as_ref().and_then(shared_deps);
    for (key, value) in dependency_tables(&manifest).into_iter().flatten() {
        let path = declared_path(&dir, key, value, workspace.as_ref());
        if let Some(path) = path {
            hasher.update(key.as_bytes());
            hash_local(&path, seen, hasher);
        }
    }
}

/// A workspace's root and its `[workspace.dependencies]`, which members inherit.
fn shared_deps((root, table): &(PathBuf, Table)) -> Option<(PathBuf, Table)> {
    let deps = table.get("workspace")?.get("dependencies")?.as_table()?;
    Some((root.clone(), deps.clone()))
}

/// Where a dependency declared in the manifest in `dir` lives, if it is a local path:
/// its own `path`, or for `workspace = true` the workspace's.
fn declared_path(
    dir: &Path,
    key: &str,
    value: &Value,
    workspace: Option<&(PathBuf, Table)>,
) -> Option<PathBuf> {
    if value.get("workspace").and_then(Value::as_bool) == Some(true) {
        let (root, deps) = workspace?;
        let path = deps.get(key)?.get("path")?.as_str()?;
        return Some(root.join(path));
    }
    value
        .get("path")
        .and_then(Value::as_str)
        .map(|p| dir.join(p))
}

/// The `[dependencies]` tables of a manifest, its target-specific ones included.
fn dependency_tables(manifest: &Table) -> Vec<&Table> {
    const KEYS: [&str; 3] = ["dependencies", "dev-dependencies", "build-dependencies"];
    let mut tables: Vec<&Table> = KEYS
        .iter()
        .filter_map(|key| manifest.get(*key)?.as_table())
        .collect();
    if let Some(targets) = manifest.get("target").and_then(Value::as_table) {
        for target in targets.values() {
            for key in KEYS {
                if let Some(table) = target.get(key).and_then(Value::as_table) {
                    tables.push(table);
                }
            }
        }
    }
    tables
}

/// Crates replaced by a local path in `[patch.*]` or `[replace]`: package name → path.
fn patched(root: &Path, manifest: &Table) -> HashMap<String, PathBuf> {
    let mut out = HashMap::new();
    let sources = manifest.get("patch").and_then(Value::as_table);
    let tables = sources
        .into_iter()
        .flat_map(|s| s.values())
        .chain(manifest.get("replace"));
    for table in tables.filter_map(Value::as_table) {
        for (key, value) in table {
            if let Some(path) = value.get("path").and_then(Value::as_str) {
                let name = value.get("package").and_then(Value::as_str).unwrap_or(key);
                let name = name.split(':').next().unwrap_or(name);
                out.insert(name.to_owned(), root.join(path));
            }
        }
    }
    out
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
