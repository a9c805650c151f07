//! The closure of a `#[cached]` function: every item of the package its code reaches,
//! transitively, and every dependency crate it names. Names resolve conservatively — a
//! one-segment path to the items of its own module when there are any, to every item of
//! that name otherwise; a method to every method of that name. Over-inclusion costs a
//! spurious miss; under-inclusion returns a wrong result — so when in doubt, include.

use std::collections::{BTreeSet, HashSet, VecDeque};
use std::fs;
use std::path::{Path, PathBuf};

use crate::cargo::Deps;
use crate::config::Config;
use crate::fingerprint::Component;
use crate::index::{Index, Item, Refs, Usage};

/// Where the function being fingerprinted is, so its own index entry is not counted twice
/// and its names resolve from its module.
pub struct Origin<'a> {
    pub file: Option<&'a Path>,
    pub line: Option<usize>,
}

/// The components that `refs` (the function's own references) reach.
pub fn components(
    refs: &Refs,
    index: &Index,
    deps: &Deps,
    config: &Config,
    origin: &Origin,
) -> Vec<Component> {
    let own = index.items.iter().position(|item| is_origin(item, origin));
    let module = own.map_or_else(String::new, |id| index.items[id].module.clone());

    let mut queue: VecDeque<(String, Usage, String)> = refs
        .names
        .iter()
        .map(|(usage, name)| reference(&module, *usage, name))
        .collect();
    let mut files: BTreeSet<PathBuf> = refs.files.clone();
    let mut envs: BTreeSet<String> = refs.envs.clone();
    // A method's code depends on its impl: what `Self` is (its fields, its other impls),
    // the trait it implements, the impl's generics and bounds.
    if let Some(id) = own {
        let item = &index.items[id];
        queue.extend(
            item.refs
                .names
                .iter()
                .map(|(usage, name)| reference(&item.module, *usage, name)),
        );
        files.extend(item.refs.files.iter().cloned());
        envs.extend(item.refs.envs.iter().cloned());
    }
    let mut seen: HashSet<(String, Usage, String)> = HashSet::new();
    let mut seen_names: HashSet<String> = HashSet::new();
    let mut items: BTreeSet<usize> = BTreeSet::new();
    let mut crates: BTreeSet<(String, String, [u8; 32])> = BTreeSet::new();

    // Glob imports hide which names they bring in: count their crates always.
    for root in &index.globs {
        queue.push_back((String::new(), Usage::Qualified, root.clone()));
    }
    while let Some(next) = queue.pop_front() {
        if !seen.insert(next.clone()) {
            continue;
        }
        let (module, usage, name) = next;
        let direct = resolve(index, &module, usage, &name);
        // A reached type or trait brings all its impls: their methods can run unnamed
        // (`Display`, `Drop`, operators).
        let owned = direct
            .iter()
            .filter(|id| matches!(index.items[**id].kind, "type" | "trait"))
            .flat_map(|id| index.owned_by(&index.items[*id].name));
        for &id in direct.iter().chain(owned) {
            if Some(id) == own || !items.insert(id) {
                continue;
            }
            let item = &index.items[id];
            queue.extend(
                item.refs
                    .names
                    .iter()
                    .map(|(usage, name)| reference(&item.module, *usage, name)),
            );
            files.extend(item.refs.files.iter().cloned());
            envs.extend(item.refs.envs.iter().cloned());
        }
        if seen_names.insert(name.clone()) {
            for root in index.imported_from(&name) {
                queue.push_back((String::new(), Usage::Qualified, root.clone()));
            }
            for dep in deps.get(&name) {
                let mut hash = blake3::Hasher::new();
                hash.update(&dep.hash);
                // The artifact's file name carries cargo's hash of the crate's version,
                // source, features and its own dependencies, transitively.
                if let Some(artifact) = config.artifact(&name) {
                    hash.update(artifact.as_bytes());
                }
                let path = format!("{}@{}", dep.name, dep.location);
                crates.insert((path, dep.location.clone(), *hash.finalize().as_bytes()));
            }
        }
    }

    let mut out: Vec<Component> = items
        .into_iter()
        .map(|id| {
            let item = &index.items[id];
            Component {
                kind: item.kind,
                path: item.path.clone(),
                location: item.location.clone(),
                hash: item.hash,
            }
        })
        .collect();
    out.extend(crates.into_iter().map(|(name, location, hash)| Component {
        kind: "crate",
        path: name,
        location,
        hash,
    }));
    out.extend(files.into_iter().map(|file| {
        let hash = fs::read(&file).map_or([0; 32], |bytes| *blake3::hash(&bytes).as_bytes());
        Component {
            kind: "file",
            path: file
                .file_name()
                .map_or_else(String::new, |n| n.to_string_lossy().into_owned()),
            location: file.to_string_lossy().into_owned(),
            hash,
        }
    }));
    // What `env!` and `option_env!` read is fixed when the code is compiled.
    out.extend(envs.into_iter().map(|var| {
        let value = std::env::var_os(&var);
        let shown = value
            .as_ref()
            .map_or_else(|| "unset".to_owned(), |v| v.to_string_lossy().into_owned());
        let mut hash = blake3::Hasher::new();
        match &value {
            Some(v) => hash.update(b"set").update(v.as_encoded_bytes()),
            None => hash.update(b"unset"),
        };
        Component {
            kind: "env",
            path: var,
            location: shown,
            hash: *hash.finalize().as_bytes(),
        }
    }));
    out.extend(config.components.iter().map(|c| Component {
        kind: c.kind,
        path: c.path.clone(),
        location: c.location.clone(),
        hash: c.hash,
    }));
    out.sort_by(|a, b| (a.kind, &a.path, a.hash).cmp(&(b.kind, &b.path, b.hash)));
    out
}

/// A name to resolve, with the module it is used in when that matters: only a one-segment
/// path resolves differently from one module to the next, so other uses are seen once.
fn reference(module: &str, usage: Usage, name: &str) -> (String, Usage, String) {
    let module = if usage == Usage::Bare { module } else { "" };
    (module.to_owned(), usage, name.to_owned())
}

/// The items a name used in `module` can be.
fn resolve(index: &Index, module: &str, usage: Usage, name: &str) -> Vec<usize> {
    let all = index.named(name).iter().copied();
    let items = |id: &usize| &index.items[*id];
    match usage {
        Usage::Method => all.filter(|id| items(id).kind == "method").collect(),
        Usage::Macro => all.filter(|id| items(id).kind == "macro").collect(),
        Usage::Qualified => all.collect(),
        Usage::Bare => {
            let paths: Vec<usize> = all.filter(|id| items(id).kind != "method").collect();
            let local: Vec<usize> = paths
                .iter()
                .copied()
                .filter(|id| items(id).module == module)
                .collect();
            if local.is_empty() { paths } else { local }
        }
    }
}

/// The index's own entry for the function being fingerprinted: same file, and the
/// attribute's line within the item.
fn is_origin(item: &Item, origin: &Origin) -> bool {
    match (origin.file, origin.line) {
        (Some(file), Some(line)) => {
            matches!(item.kind, "fn" | "method")
                && item.file == file
                && item.lines.0 <= line
                && line <= item.lines.1
        }
        _ => false,
    }
}
