//! `memo::explain`: what a cached function's fingerprint is made of, and which parts
//! changed since the store last saw another version of it.

use std::collections::BTreeMap;
use std::fmt;

use crate::call::registered;
use crate::{Component, Digest, FunctionVersion, scope};

/// A cached function's fingerprint, taken apart.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Explanation {
    /// The function's stable name.
    pub name: String,
    /// Its module.
    pub module: String,
    /// `file:line` of its definition.
    pub location: String,
    /// The fingerprint of the code in this program.
    pub fingerprint: Digest,
    /// What the fingerprint is made of: the function, then the helpers, consts, statics,
    /// macros and types it reaches, the crates it names and the files it includes.
    pub components: Vec<Component>,
    /// The most recent other version of the function that wrote to the current store.
    pub previous: Option<FunctionVersion>,
}

/// How one component differs between two versions of a function.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    /// The component's kind (`fn`, `method`, `const`, `crate`, ...).
    pub kind: String,
    /// Its path.
    pub path: String,
    /// Where it is in the newer version, or was in the older one if it is gone.
    pub location: String,
    /// What happened to it.
    pub change: ChangeKind,
}

/// See [`Change`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChangeKind {
    /// Reached by the newer version only.
    Added,
    /// Reached by the older version only.
    Removed,
    /// Reached by both, with different code.
    Modified,
}

impl fmt::Display for ChangeKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ChangeKind::Added => "added",
            ChangeKind::Removed => "removed",
            ChangeKind::Modified => "changed",
        })
    }
}

/// What changed from the components `old` to `new`: matched by kind and path, compared by
/// hash.
///
/// ```
/// use memo::{ChangeKind, Component, Digest};
///
/// let part = |path: &str, byte: u8| Component {
///     kind: "fn".into(),
///     path: path.into(),
///     location: "src/lib.rs:1".into(),
///     hash: Digest([byte; 32]),
/// };
/// let old = [part("crate::f", 1), part("crate::helper", 2)];
/// let new = [part("crate::f", 1), part("crate::helper", 3)];
/// let changes = memo::diff_components(&old, &new);
/// assert_eq!(changes.len(), 1);
/// assert_eq!(changes[0].path, "crate::helper");
/// assert_eq!(changes[0].change, ChangeKind::Modified);
/// ```
pub fn diff_components(old: &[Component], new: &[Component]) -> Vec<Change> {
    type Parts<'a> = BTreeMap<(&'a str, &'a str), (Vec<Digest>, &'a str)>;
    fn group(components: &[Component]) -> Parts<'_> {
        let mut parts: Parts = BTreeMap::new();
        for c in components {
            let entry = parts
                .entry((c.kind.as_str(), c.path.as_str()))
                .or_insert_with(|| (Vec::new(), c.location.as_str()));
            entry.0.push(c.hash);
            entry.0.sort();
        }
        parts
    }
    let (old, new) = (group(old), group(new));
    let mut changes = Vec::new();
    for (&(kind, path), (hashes, location)) in &new {
        let change = match old.get(&(kind, path)) {
            None => ChangeKind::Added,
            Some((old_hashes, _)) if old_hashes != hashes => ChangeKind::Modified,
            Some(_) => continue,
        };
        changes.push(Change {
            kind: kind.to_owned(),
            path: path.to_owned(),
            location: (*location).to_owned(),
            change,
        });
    }
    for (&(kind, path), (_, location)) in &old {
        if !new.contains_key(&(kind, path)) {
            changes.push(Change {
                kind: kind.to_owned(),
                path: path.to_owned(),
                location: (*location).to_owned(),
                change: ChangeKind::Removed,
            });
        }
    }
    changes
}

impl Explanation {
    /// What changed since [`previous`](Explanation::previous); empty if there is none.
    pub fn changes(&self) -> Vec<Change> {
        self.previous
            .as_ref()
            .map(|previous| diff_components(&previous.components, &self.components))
            .unwrap_or_default()
    }
}

impl fmt::Display for Explanation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "cached function `{}` ({})", self.name, self.location)?;
        writeln!(
            f,
            "fingerprint {}, made of {}:",
            self.fingerprint.short(),
            plural(self.components.len(), "component")
        )?;
        let width = self
            .components
            .iter()
            .map(|c| c.path.len())
            .max()
            .unwrap_or(0);
        for c in &self.components {
            writeln!(
                f,
                "  {:<7} {:<width$}  {}  {}",
                c.kind,
                c.path,
                c.hash.short(),
                c.location
            )?;
        }
        if let Some(previous) = &self.previous {
            let changes = self.changes();
            writeln!(
                f,
                "changed since fingerprint {}: {}",
                previous.fingerprint.short(),
                plural(changes.len(), "component")
            )?;
            for change in changes {
                writeln!(
                    f,
                    "  {:<8} {} {} ({})",
                    change.change, change.kind, change.path, change.location
                )?;
            }
        }
        Ok(())
    }
}

fn plural(n: usize, noun: &str) -> String {
    if n == 1 {
        format!("1 {noun}")
    } else {
        format!("{n} {noun}s")
    }
}

/// Explains the cached function named `name` in this program: the name it is stored under
/// (`module::function`, or its `name = ".."`), or just its function name when only one
/// cached function has it. `None` if there is no such function.
///
/// The previous version, if any, comes from the current store's function records.
///
/// ```
/// #[memo::cached]
/// fn area(w: u32, h: u32) -> u32 {
///     w * h
/// }
///
/// let explained = memo::explain("area").unwrap();
/// assert!(explained.name.ends_with("::area"));
/// assert_eq!(explained.components[0].kind, "fn");
/// assert!(explained.to_string().contains("fingerprint"));
/// ```
pub fn explain(name: &str) -> Option<Explanation> {
    let sites: Vec<_> = registered().collect();
    let site = sites.iter().find(|s| s.name == name).copied().or_else(|| {
        let suffix = format!("::{name}");
        let mut matching = sites.iter().filter(|s| s.name.ends_with(&suffix));
        match (matching.next(), matching.next()) {
            (Some(site), None) => Some(*site),
            _ => None,
        }
    })?;
    let fingerprint = Digest(site.fingerprint);
    let previous = scope::current_store()
        .and_then(|store| store.function(site.name).ok().flatten())
        .and_then(|record| {
            let mut versions = record.versions;
            versions.sort_by_key(|v| std::cmp::Reverse(v.last_seen_ms));
            versions.into_iter().find(|v| v.fingerprint != fingerprint)
        });
    Some(Explanation {
        name: site.name.to_owned(),
        module: site.module.to_owned(),
        location: format!("{}:{}", site.file, site.line),
        fingerprint,
        components: site.components(),
        previous,
    })
}
