//! The closure of a `#[cached]` function: every item of the package its code reaches,
//! transitively, by name, and every dependency crate it names. Over-inclusion costs a
//! spurious miss; under-inclusion returns a wrong result — so when in doubt, include.

use std::collections::{BTreeSet, HashSet, VecDeque};
use std::fs;
use std::path::{Path, PathBuf};

use crate::cargo::Deps;
use crate::fingerprint::Component;
use crate::index::{Index, Refs};

/// Where the function being fingerprinted is, so its own index entry is not counted twice.
pub struct Origin<'a> {
    pub file: Option<&'a Path>,
    pub line: Option<usize>,
}

/// The components that `refs` (the function's own references) reach.
pub fn components(refs: &Refs, index: &Index, deps: &Deps, origin: &Origin) -> Vec<Component> {
    let mut queue: VecDeque<String> = refs.idents.iter().cloned().collect();
    let mut files: BTreeSet<PathBuf> = refs.files.clone();
    let mut seen_names: HashSet<String> = HashSet::new();
    let mut items: BTreeSet<usize> = BTreeSet::new();
    let mut crates: BTreeSet<(String, String, [u8; 32])> = BTreeSet::new();

    // Glob imports hide which names they bring in: count their crates always.
    for root in &index.globs {
        queue.push_back(root.clone());
    }
    while let Some(name) = queue.pop_front() {
        if !seen_names.insert(name.clone()) {
            continue;
        }
        let owned = index.owned_by(&name);
        for &id in index.named(&name).iter().chain(owned) {
            let item = &index.items[id];
            if is_origin(item, origin) || !items.insert(id) {
                continue;
            }
            queue.extend(item.refs.idents.iter().cloned());
            files.extend(item.refs.files.iter().cloned());
        }
        for root in index.imported_from(&name) {
            queue.push_back(root.clone());
        }
        for dep in deps.get(&name) {
            crates.insert((dep.name.clone(), dep.location.clone(), dep.hash));
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
    out.sort_by(|a, b| (a.kind, &a.path, a.hash).cmp(&(b.kind, &b.path, b.hash)));
    out
}

/// The index's own entry for the function being fingerprinted: same file, and the
/// attribute's line within the item.
fn is_origin(item: &crate::index::Item, origin: &Origin) -> bool {
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
