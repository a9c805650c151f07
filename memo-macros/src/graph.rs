//! The steps of the closure walk, kept for the compiler process: what a name resolves to
//! and what an item's code names depend only on the package index, so every `#[cached]`
//! function of a crate shares them. The first function of a large crate pays for the
//! part of the package it reaches; the next ones walk small integers.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};

use crate::cargo::Deps;
use crate::index::{Index, Refs, Usage};

/// A name to resolve: the module it is used in (for a one-segment path), how, and what.
pub type Entry = (String, Usage, String);

/// What resolving one entry brings: items, further entries, and the dependency crate of
/// that name, if there is one.
pub struct Step {
    pub items: Vec<usize>,
    pub next: Vec<u32>,
    pub krate: Option<String>,
}

/// The entries of one index, numbered, with their steps and the entries each item names.
#[derive(Default)]
pub struct Graph {
    ids: HashMap<Entry, u32>,
    steps: Vec<Option<Arc<Step>>>,
    entries: Vec<Entry>,
    follows: HashMap<usize, Arc<[u32]>>,
}

/// Runs `f` with the graph of `index`, which lives as long as the process (indexes are
/// never dropped: the package cache holds them).
pub fn with<T>(index: &Index, f: impl FnOnce(&mut Graph) -> T) -> T {
    static GRAPHS: OnceLock<Mutex<HashMap<usize, Graph>>> = OnceLock::new();
    let mut graphs = GRAPHS
        .get_or_init(Default::default)
        .lock()
        .unwrap_or_else(|poison| poison.into_inner());
    f(graphs.entry(index as *const Index as usize).or_default())
}

impl Graph {
    pub fn intern(&mut self, entry: Entry) -> u32 {
        if let Some(id) = self.ids.get(&entry) {
            return *id;
        }
        let id = self.entries.len() as u32;
        self.ids.insert(entry.clone(), id);
        self.entries.push(entry);
        self.steps.push(None);
        id
    }

    /// The entries that `refs`, written in `module`, name.
    pub fn named_by(&mut self, module: &str, refs: &Refs, index: &Index, deps: &Deps) -> Vec<u32> {
        let mut out: Vec<u32> = Vec::with_capacity(refs.names.len());
        for (usage, name) in &refs.names {
            let module = if *usage == Usage::Bare { module } else { "" };
            out.push(self.intern((module.to_owned(), *usage, name.clone())));
        }
        for (root, name) in &refs.rooted {
            if !super::closure::foreign_root(root, index, deps) {
                out.push(self.intern((String::new(), Usage::Qualified, name.clone())));
            }
        }
        out
    }

    /// The entries item `id`'s code names.
    pub fn follow(&mut self, id: usize, index: &Index, deps: &Deps) -> Arc<[u32]> {
        if let Some(known) = self.follows.get(&id) {
            return Arc::clone(known);
        }
        let item = &index.items[id];
        let named: Arc<[u32]> = self.named_by(&item.module, &item.refs, index, deps).into();
        self.follows.insert(id, Arc::clone(&named));
        named
    }

    /// What resolving entry `id` brings.
    pub fn step(&mut self, id: u32, index: &Index, deps: &Deps) -> Arc<Step> {
        if let Some(step) = &self.steps[id as usize] {
            return Arc::clone(step);
        }
        let (module, usage, name) = self.entries[id as usize].clone();
        let direct = super::closure::resolve(index, &module, usage, &name);
        // A reached type or trait brings all its impls: their methods can run unnamed
        // (`Display`, `Drop`, operators). A reached macro brings the item-level calls of
        // it, which define what the index cannot see.
        let owned: Vec<usize> = direct
            .iter()
            .filter(|id| matches!(index.items[**id].kind, "type" | "trait" | "macro"))
            .flat_map(|id| index.owned_by(&index.items[*id].name))
            .copied()
            .collect();
        // `use a::X as Y`, `pub use inner::f as g`, `type Y = X`: the other name is the
        // same thing, and impls may be written on either.
        let others: Vec<String> = index
            .aliases(&name)
            .chain(index.imported_from(&name))
            .cloned()
            .collect();
        let next = others
            .into_iter()
            .map(|other| self.intern((String::new(), Usage::Qualified, other)))
            .collect();
        let step = Arc::new(Step {
            items: direct.into_iter().chain(owned).collect(),
            next,
            krate: (!deps.get(&name).is_empty()).then_some(name),
        });
        self.steps[id as usize] = Some(Arc::clone(&step));
        step
    }
}
