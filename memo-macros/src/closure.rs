//! The closure of a `#[cached]` function: every item of the package its code reaches,
//! transitively, and every dependency crate it names. Names resolve conservatively — a
//! one-segment path to the items of its own module when there are any, to every item of
//! that name otherwise; a method to every method of that name. Over-inclusion costs a
//! spurious miss; under-inclusion returns a wrong result — so when in doubt, include.

use std::collections::{BTreeMap, BTreeSet, HashSet, VecDeque};
use std::fs;
use std::path::{Path, PathBuf};

use crate::cargo::Deps;
use crate::config::Config;
use crate::fingerprint::Component;
use crate::graph;
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

    graph::with(index, |graph| {
        walk(graph, refs, own, &module, index, deps, config, origin)
    })
}

#[allow(clippy::too_many_arguments)]
fn walk(
    graph: &mut graph::Graph,
    refs: &Refs,
    own: Option<usize>,
    module: &str,
    index: &Index,
    deps: &Deps,
    config: &Config,
    origin: &Origin,
) -> Vec<Component> {
    let mut queue: VecDeque<u32> = graph.named_by(module, refs, index, deps).into();
    // A method's code depends on its impl: what `Self` is (its fields, its other impls),
    // the trait it implements, the impl's generics and bounds.
    if let Some(id) = own {
        queue.extend(graph.follow(id, index, deps).iter());
    }
    let mut seen: HashSet<u32> = HashSet::new();
    let mut items: BTreeSet<usize> = BTreeSet::new();
    let mut crate_names: BTreeSet<String> = BTreeSet::new();

    // A generic function runs the impls of its bounds' traits for whatever type it is
    // called with: every local impl of them counts, and of the traits std implements
    // them through (`Into` through `From`, `ToString` through `Display`).
    let mut pending: Vec<usize> = Vec::new();
    // A local trait's supertraits bound the type too (`T: Shape` where
    // `trait Shape: Display`).
    let mut bounds: Vec<String> = refs.bounds.iter().cloned().collect();
    if let Some(id) = own {
        bounds.extend(index.items[id].refs.bounds.iter().cloned());
    }
    let mut i = 0;
    while i < bounds.len() {
        for sup in index.supertraits.get(&bounds[i]).into_iter().flatten() {
            if !bounds.contains(sup) {
                bounds.push(sup.clone());
            }
        }
        i += 1;
    }
    for bound in &bounds {
        let related = match bound.as_str() {
            "Into" => Some("From"),
            "TryInto" => Some("TryFrom"),
            "ToString" => Some("Display"),
            "IntoIterator" => Some("Iterator"),
            _ => None,
        };
        for name in std::iter::once(bound.as_str()).chain(related) {
            queue.push_back(graph.intern((String::new(), Usage::Qualified, name.to_owned())));
            pending.extend(index.owned_by(name));
        }
    }
    loop {
        for id in pending.drain(..) {
            if Some(id) == own || !items.insert(id) {
                continue;
            }
            queue.extend(graph.follow(id, index, deps).iter());
        }
        let Some(next) = queue.pop_front() else {
            break;
        };
        if !seen.insert(next) {
            continue;
        }
        let step = graph.step(next, index, deps);
        pending.extend(&step.items);
        queue.extend(&step.next);
        crate_names.extend(step.krate.iter().cloned());
    }
    let mut crates: BTreeSet<(String, String, [u8; 32])> = BTreeSet::new();
    for name in &crate_names {
        for dep in deps.get(name) {
            crates.insert(crate_component(dep, config.artifact(name)));
        }
    }
    // What the reached code includes and reads at compile time.
    let reached_refs = std::iter::once(refs)
        .chain(own.map(|id| &index.items[id].refs))
        .chain(items.iter().map(|id| &index.items[*id].refs));
    let mut files: BTreeSet<PathBuf> = BTreeSet::new();
    let mut envs: BTreeSet<String> = BTreeSet::new();
    for refs in reached_refs {
        files.extend(refs.files.iter().cloned());
        envs.extend(refs.envs.iter().cloned());
    }

    // A glob import hides which names it brings in from a crate: where the function or a
    // reached item lives beside `use krate::*`, the crate counts.
    let modules: BTreeSet<&str> = std::iter::once(module)
        .chain(items.iter().map(|id| index.items[*id].module.as_str()))
        .collect();
    // `memo explain` says where each such glob is, as a `widened` component; the crate's
    // own component carries what it computes, so this one hashes only the crate's name
    // (moving the import is no change).
    let mut widened: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for (glob_module, root, location) in &index.globs {
        if modules.contains(glob_module.as_str()) {
            let found = deps.get(root);
            if !found.is_empty() {
                widened.entry(root).or_default().push(location);
            }
            for dep in found {
                crates.insert(crate_component(dep, config.artifact(root)));
            }
        }
    }
    let located = location_sensitive(refs)
        || items
            .iter()
            .any(|id| location_sensitive(&index.items[*id].refs));
    let mut out: Vec<Component> = Vec::new();
    if located {
        // `line!()`, `file!()`, `module_path!()`, `Location::caller()`, `type_name`: the
        // code's place is part of what it computes, so every reached item's place counts.
        let mut hash = blake3::Hasher::new();
        if let Some(line) = origin.line {
            hash.update(&(line as u64).to_le_bytes());
        }
        for id in own.iter().chain(&items) {
            let item = &index.items[*id];
            hash.update(item.location.as_bytes())
                .update(item.module.as_bytes());
            hash.update(&(item.lines.0 as u64).to_le_bytes());
        }
        out.push(Component {
            kind: "widened",
            path: "source locations (line!, file!, module_path!, type_name)".into(),
            location: String::new(),
            hash: *hash.finalize().as_bytes(),
            source: None,
        });
    }
    out.extend(widened.into_iter().map(|(root, locations)| Component {
        kind: "widened",
        path: format!("glob import `use {root}::*`: all of crate {root}"),
        location: locations.join(", "),
        hash: *blake3::hash(root.as_bytes()).as_bytes(),
        source: None,
    }));
    out.extend(items.into_iter().map(|id| {
        let item = &index.items[id];
        Component {
            kind: item.kind,
            path: item.path.clone(),
            location: item.location.clone(),
            hash: item.hash,
            source: Some(item.source.clone()),
        }
    }));
    out.extend(crates.into_iter().map(|(name, location, hash)| Component {
        kind: "crate",
        path: name,
        location,
        hash,
        source: None,
    }));
    out.extend(files.into_iter().map(|file| {
        let bytes = fs::read(&file).ok();
        let hash = bytes
            .as_deref()
            .map_or([0; 32], |bytes| *blake3::hash(bytes).as_bytes());
        // An included text is shown in a diff; a large or binary one only by its hash.
        let source = bytes
            .filter(|bytes| bytes.len() <= crate::source::MAX_TEXT)
            .and_then(|bytes| String::from_utf8(bytes).ok());
        Component {
            kind: "file",
            path: file
                .file_name()
                .map_or_else(String::new, |n| n.to_string_lossy().into_owned()),
            location: file.to_string_lossy().into_owned(),
            hash,
            source,
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
            source: None,
        }
    }));
    out.extend(config.components.iter().map(|c| Component {
        kind: c.kind,
        path: c.path.clone(),
        location: c.location.clone(),
        hash: c.hash,
        source: None,
    }));
    out.sort_by(|a, b| (a.kind, &a.path, a.hash).cmp(&(b.kind, &b.path, b.hash)));
    out
}

/// A dependency as a component. The artifact's file name carries cargo's hash of the
/// crate's version, source, features and its own dependencies, transitively.
fn crate_component(dep: &crate::cargo::Dep, artifact: Option<&str>) -> (String, String, [u8; 32]) {
    let mut hash = blake3::Hasher::new();
    hash.update(&dep.hash);
    if let Some(artifact) = artifact {
        hash.update(artifact.as_bytes());
    }
    let path = format!("{}@{}", dep.name, dep.location);
    (path, dep.location.clone(), *hash.finalize().as_bytes())
}

/// Whether a path from `root` certainly leads into another crate, so that the names after
/// it match nothing here: `::x`, `std`, `core`, `alloc`, a dependency, or a std prelude
/// name, when no local item, module or import has that name. Anything else (a type a
/// derive generated, say) might be local, and its names resolve by name alone.
pub(crate) fn foreign_root(root: &str, index: &Index, deps: &Deps) -> bool {
    const PRELUDE: [&str; 40] = [
        "std",
        "core",
        "alloc",
        "String",
        "Vec",
        "Box",
        "Option",
        "Result",
        "Some",
        "None",
        "Ok",
        "Err",
        "ToString",
        "ToOwned",
        "Iterator",
        "IntoIterator",
        "Default",
        "From",
        "Into",
        "TryFrom",
        "TryInto",
        "Clone",
        "PartialEq",
        "PartialOrd",
        "Ord",
        "AsRef",
        "FromIterator",
        "Extend",
        "u8",
        "u16",
        "u32",
        "u64",
        "u128",
        "usize",
        "i32",
        "i64",
        "f32",
        "f64",
        "str",
        "char",
    ];
    let foreign =
        |name: &str| matches!(name, "std" | "core" | "alloc") || !deps.get(name).is_empty();
    // `use std::collections::HashMap;` then `HashMap::new()`: imported only from
    // other crates.
    let mut imports = index.imported_from(root).peekable();
    let imported_foreign = imports.peek().is_some() && imports.all(|from| foreign(from));
    root == "::"
        || (!index.is_local_root(root)
            && (PRELUDE.contains(&root) || foreign(root) || imported_foreign))
}

/// Whether code reads where it is: its line, file, module or a type's path.
fn location_sensitive(refs: &Refs) -> bool {
    refs.names.iter().any(|(usage, name)| match usage {
        Usage::Macro => matches!(name.as_str(), "line" | "column" | "file" | "module_path"),
        _ => matches!(
            name.as_str(),
            "Location" | "track_caller" | "type_name" | "type_name_of_val" | "caller"
        ),
    })
}

/// The items a name used in `module` can be.
pub(crate) fn resolve(index: &Index, module: &str, usage: Usage, name: &str) -> Vec<usize> {
    let all = index.named(name).iter().copied();
    let items = |id: &usize| &index.items[*id];
    match usage {
        Usage::Method => all.filter(|id| items(id).kind == "method").collect(),
        Usage::Macro => all.filter(|id| items(id).kind == "macro").collect(),
        Usage::Qualified => all.collect(),
        Usage::Bare => {
            // A one-segment path never names an associated item: those need `Self::`.
            let paths: Vec<usize> = all
                .filter(|id| items(id).kind != "method" && items(id).owner.is_none())
                .collect();
            let local: Vec<usize> = paths
                .iter()
                .copied()
                .filter(|id| items(id).module == module)
                .collect();
            if local.is_empty() { paths } else { local }
        }
    }
}

/// The source text of the function being fingerprinted, as its index entry has it.
pub fn own_source(index: &Index, origin: &Origin) -> Option<String> {
    index
        .items
        .iter()
        .find(|item| is_origin(item, origin))
        .map(|item| item.source.clone())
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
