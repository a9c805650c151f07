//! `memo::explain`: what a cached function's fingerprint is made of, and which parts
//! changed since the store last saw another version of it.

use std::collections::BTreeMap;
use std::fmt;

use crate::call::registered;
use crate::{Component, Digest, FunctionVersion, scope};

/// A cached function's fingerprint, taken apart.
///
/// ```
/// #[memo::cached]
/// fn area_explained(w: u32, h: u32) -> u32 {
///     w * h
/// }
///
/// let explained = memo::explain("area_explained").unwrap();
/// assert!(explained.components.iter().any(|c| c.kind == "fn"));
/// ```
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
///
/// ```
/// let part = |hash: u8| memo::Component {
///     kind: "const".into(),
///     path: "crate::LIMIT".into(),
///     location: "src/lib.rs:3".into(),
///     hash: memo::Digest([hash; 32]),
///     source: None,
/// };
/// let changes = memo::diff_components(&[part(1)], &[part(2)]);
/// assert_eq!(changes[0].path, "crate::LIMIT");
/// ```
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
    /// Its code's lines that changed, as a unified diff, when the source text of both
    /// sides is known (for an added or removed component, of the side that has it); for
    /// a component without text (an environment variable, a cfg), its old and new value.
    pub diff: Option<String>,
}

/// See [`Change`].
///
/// ```
/// assert_eq!(memo::ChangeKind::Modified.to_string(), "changed");
/// assert_eq!(memo::ChangeKind::Added.to_string(), "added");
/// ```
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
/// hash; with the lines that changed where the components carry their source text.
///
/// ```
/// use memo::{ChangeKind, Component, Digest};
///
/// let part = |path: &str, byte: u8, source: &str| Component {
///     kind: "fn".into(),
///     path: path.into(),
///     location: "src/lib.rs:1".into(),
///     hash: Digest([byte; 32]),
///     source: Some(source.into()),
/// };
/// let old = [part("crate::f", 1, "fn f() {}\n"), part("crate::helper", 2, "fn helper() -> u8 {\n    1\n}\n")];
/// let new = [part("crate::f", 1, "fn f() {}\n"), part("crate::helper", 3, "fn helper() -> u8 {\n    2\n}\n")];
/// let changes = memo::diff_components(&old, &new);
/// assert_eq!(changes.len(), 1);
/// assert_eq!(changes[0].path, "crate::helper");
/// assert_eq!(changes[0].change, ChangeKind::Modified);
/// let diff = changes[0].diff.as_deref().unwrap();
/// assert!(diff.contains("-    1\n") && diff.contains("+    2\n"));
/// ```
pub fn diff_components(old: &[Component], new: &[Component]) -> Vec<Change> {
    let (old, new) = (group(old), group(new));
    let mut changes = Vec::new();
    for (&(kind, path), side) in &new {
        let change = match old.get(&(kind, path)) {
            None => ChangeKind::Added,
            Some(before) if before.hashes != side.hashes => ChangeKind::Modified,
            Some(_) => continue,
        };
        changes.push(Change {
            kind: kind.to_owned(),
            path: path.to_owned(),
            location: side.location.to_owned(),
            change,
            diff: code_diff(old.get(&(kind, path)), Some(side)),
        });
    }
    for (&(kind, path), side) in &old {
        if !new.contains_key(&(kind, path)) {
            changes.push(Change {
                kind: kind.to_owned(),
                path: path.to_owned(),
                location: side.location.to_owned(),
                change: ChangeKind::Removed,
                diff: code_diff(Some(side), None),
            });
        }
    }
    changes
}

/// The components of one kind and path in one version: usually one, but several impls'
/// methods can share a path.
struct Side<'a> {
    hashes: Vec<Digest>,
    location: &'a str,
    /// Their texts, in hash order, joined; `None` if any lacks one.
    source: Option<String>,
}

fn group(components: &[Component]) -> BTreeMap<(&str, &str), Side<'_>> {
    let mut parts: BTreeMap<(&str, &str), Vec<&Component>> = BTreeMap::new();
    for c in components {
        parts
            .entry((c.kind.as_str(), c.path.as_str()))
            .or_default()
            .push(c);
    }
    parts
        .into_iter()
        .map(|(at, mut same)| {
            same.sort_by_key(|c| c.hash);
            let source = same
                .iter()
                .map(|c| c.source.as_deref())
                .collect::<Option<Vec<&str>>>()
                .map(|texts| texts.concat());
            let side = Side {
                hashes: same.iter().map(|c| c.hash).collect(),
                location: same[0].location.as_str(),
                source,
            };
            (at, side)
        })
        .collect()
}

/// The unified diff from `old` to `new`, either of which may be missing; for sides without
/// text, their locations (where a cfg or a variable keeps its value).
fn code_diff(old: Option<&Side>, new: Option<&Side>) -> Option<String> {
    let lacks_text = |side: Option<&Side>| side.is_some_and(|s| s.source.is_none());
    if lacks_text(old) || lacks_text(new) {
        return match (old, new) {
            (Some(a), Some(b))
                if a.location != b.location && !a.location.is_empty() && !b.location.is_empty() =>
            {
                Some(format!("-{}\n+{}\n", a.location, b.location))
            }
            _ => None,
        };
    }
    let before = old.and_then(|s| s.source.as_deref()).unwrap_or("");
    let after = new.and_then(|s| s.source.as_deref()).unwrap_or("");
    if before == after {
        return None;
    }
    Some(
        similar::TextDiff::from_lines(before, after)
            .unified_diff()
            .context_radius(3)
            .header(
                old.map_or("(none)", |s| s.location),
                new.map_or("(none)", |s| s.location),
            )
            .to_string(),
    )
}

impl Explanation {
    /// What changed since [`previous`](Explanation::previous); empty if there is none.
    ///
    /// ```
    /// #[memo::cached]
    /// fn area_unchanged(w: u32, h: u32) -> u32 {
    ///     w * h
    /// }
    ///
    /// let explained = memo::explain("area_unchanged").unwrap();
    /// // No store has seen another version of `area`.
    /// assert!(explained.changes().is_empty());
    /// ```
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
                for line in change.diff.iter().flat_map(|diff| diff.lines()) {
                    writeln!(f, "    {line}")?;
                }
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
/// fn floor_area(w: u32, h: u32) -> u32 {
///     w * h
/// }
///
/// let explained = memo::explain("floor_area").unwrap();
/// assert!(explained.name.ends_with("::floor_area"));
/// assert_eq!(explained.components[0].kind, "fn");
/// assert!(explained.to_string().contains("fingerprint"));
/// ```
pub fn explain(name: &str) -> Option<Explanation> {
    let site = crate::names::by_name(registered().map(|s| (s.name, s)), name)?;
    let fingerprint = Digest(site.fingerprint);
    let store = scope::current_store();
    let previous = store
        .as_ref()
        .and_then(|store| store.function(site.name).ok().flatten())
        .and_then(|record| {
            let mut versions = record.versions;
            versions.sort_by_key(|v| std::cmp::Reverse(v.last_seen_ms));
            versions.into_iter().find(|v| v.fingerprint != fingerprint)
        })
        .map(|mut version| {
            if let Some(store) = &store {
                // Without its text, the diff names what changed, not how.
                let _ = store.load_sources(&mut version);
            }
            version
        });
    Some(Explanation {
        name: site.name.to_owned(),
        module: site.module.to_owned(),
        location: format!("{}:{}", site.file, site.line),
        fingerprint,
        components: site.components_with_source(),
        previous,
    })
}
