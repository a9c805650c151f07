//! `CallSite`: what `#[cached]` compiles into a `static` for each function, and the
//! process-wide list of them.

use std::collections::HashMap;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

use crate::error::Result;
use crate::store::{FunctionInfo, NewEntry};
use crate::{Component, Digest, KeyHasher, Store, clock};

/// A cached function, as its `#[cached]` expansion describes it in a `static`.
#[doc(hidden)]
#[derive(Debug)]
pub struct CallSite {
    /// The stable name: `module::function`, or the `name = ".."` option.
    pub name: &'static str,
    /// `module_path!()` where the function is defined.
    pub module: &'static str,
    /// `file!()` of the definition.
    pub file: &'static str,
    /// `line!()` of the definition.
    pub line: u32,
    /// The blake3 fingerprint of the function's code, taken at compile time.
    pub fingerprint: [u8; 32],
    /// How long a result stays valid, if limited.
    pub ttl_secs: Option<u64>,
    /// The tags stored with each result.
    pub tags: &'static [&'static str],
    /// What the fingerprint is made of: the function's own code…
    pub components: &'static [StaticComponent],
    /// …and what it reaches, one component a line (`kind\tpath\tlocation\thash`, the
    /// hash in hex, `\\`, tab and newline escaped): one string literal costs the compiler
    /// far less than thousands of structs.
    pub reached: &'static str,
    /// The function's own source text, deflated; empty when built without it.
    pub source: &'static [u8],
    /// The source text of reached components that no other function of its crate carries,
    /// as frames (key, length, deflated text); empty when built without it.
    pub sources: &'static [u8],
    /// The type of the stored value, as written in the signature (`Vec<f32>`).
    pub output_type: &'static str,
    /// What the runtime remembers of this function while the program runs.
    pub state: SiteState,
}

/// The runtime's per-function state, kept in the function's `static` so the hot path
/// needs no lookup.
#[doc(hidden)]
pub struct SiteState {
    /// The id of the store this function was last recorded in.
    pub(crate) recorded_in: AtomicU64,
    /// Where each thread keeps this function's results, once assigned (0 until then).
    slot: AtomicUsize,
    /// How its results are encoded.
    pub(crate) codec: super::codec::Codec,
    /// How long a computation of it takes here, in ns, a moving average (0 until one ran).
    compute_ns: AtomicU64,
    /// Whether `MEMO_BYPASS` names it: 0 until asked, then 1 (no) or 2 (yes).
    bypassed: std::sync::atomic::AtomicU8,
    /// Its calls of plain words, once one is kept.
    pub(crate) words: super::tier::WordsCell,
}

impl std::fmt::Debug for SiteState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SiteState").finish_non_exhaustive()
    }
}

impl SiteState {
    /// The state of a function not yet called.
    #[allow(clippy::new_without_default)]
    pub const fn new() -> SiteState {
        SiteState {
            recorded_in: AtomicU64::new(0),
            slot: AtomicUsize::new(0),
            codec: super::codec::Codec::new(),
            compute_ns: AtomicU64::new(0),
            bypassed: std::sync::atomic::AtomicU8::new(0),
            words: super::tier::WordsCell::new(),
        }
    }

    /// Counts a computation that took `took` into the function's average.
    pub(crate) fn computed(&self, took: std::time::Duration) {
        let ns = u64::try_from(took.as_nanos()).unwrap_or(u64::MAX).max(1);
        let old = self.compute_ns.load(Ordering::Relaxed);
        // A quarter the newest: a slow call moves it at once, a run of fast ones soon.
        let new = if old == 0 {
            ns
        } else {
            ((u128::from(old) * 3 + u128::from(ns)) / 4) as u64
        };
        self.compute_ns.store(new.max(1), Ordering::Relaxed);
    }

    /// How long a computation of it takes here, once one ran.
    pub(crate) fn compute_ns(&self) -> Option<u64> {
        Some(self.compute_ns.load(Ordering::Relaxed)).filter(|ns| *ns > 0)
    }

    /// A small number unique to this function, for the tables that hold its results.
    #[inline]
    pub(crate) fn slot(&self) -> usize {
        static NEXT: AtomicUsize = AtomicUsize::new(1);
        match self.slot.load(Ordering::Relaxed) {
            0 => {
                let fresh = NEXT.fetch_add(1, Ordering::Relaxed);
                match self
                    .slot
                    .compare_exchange(0, fresh, Ordering::Relaxed, Ordering::Relaxed)
                {
                    Ok(_) => fresh,
                    Err(taken) => taken,
                }
            }
            slot => slot,
        }
    }
}

/// One fingerprint component, as compiled into a [`CallSite`].
#[doc(hidden)]
#[derive(Debug)]
pub struct StaticComponent {
    /// See [`Component::kind`].
    pub kind: &'static str,
    /// See [`Component::path`].
    pub path: &'static str,
    /// See [`Component::location`].
    pub location: &'static str,
    /// See [`Component::hash`].
    pub hash: [u8; 32],
}

impl CallSite {
    /// Records this function in `store`'s function records, once per process and file:
    /// its location, its current fingerprint and when each fingerprint was seen.
    pub(crate) fn record_in(&'static self, store: &Store) -> Result<()> {
        let token = store.record_token();
        if self.state.recorded_in.load(Ordering::Acquire) == token {
            return Ok(());
        }
        store.record_function(self.name, || {
            let components = self.components();
            FunctionInfo {
                name: self.name.to_owned(),
                module: self.module.to_owned(),
                file: self.file.to_owned(),
                line: self.line,
                output_type: self.output_type.to_owned(),
                fingerprint: Digest(self.fingerprint),
                sources: self
                    .texts(&components)
                    .into_iter()
                    .map(|(key, text)| (key, std::borrow::Cow::Borrowed(text)))
                    .collect(),
                components,
            }
        })?;
        self.state.recorded_in.store(token, Ordering::Release);
        Ok(())
    }

    /// What a result of this function computed now is stored with.
    pub(crate) fn new_entry(&self) -> NewEntry<'_> {
        let now = clock::now_ms();
        NewEntry {
            name: self.name,
            fingerprint: self.fingerprint,
            created_ms: now,
            expires_ms: self
                .ttl_secs
                .map(|secs| now.saturating_add(secs.saturating_mul(1000))),
            tags: self.tags.to_vec(),
            args: None,
            call: None,
            compute_ns: None,
        }
    }

    /// Whether `MEMO_BYPASS` names this function, so that it always runs uncached.
    #[inline]
    pub(crate) fn bypassed(&self) -> bool {
        match self.state.bypassed.load(Ordering::Relaxed) {
            1 => false,
            2 => true,
            _ => {
                let listed = crate::listed::bypassed(self.name);
                self.state
                    .bypassed
                    .store(if listed { 2 } else { 1 }, Ordering::Relaxed);
                listed
            }
        }
    }

    /// A hasher primed with what identifies this function's code, ready for the arguments.
    pub fn hasher(&'static self) -> KeyHasher {
        KeyHasher::for_function(&self.fingerprint, self.name)
    }

    /// [`components`](CallSite::components) with their source text, as far as the
    /// program carries it.
    pub(crate) fn components_with_source(&'static self) -> Vec<Component> {
        let mut components = self.components();
        let texts: HashMap<Digest, &[u8]> = self.texts(&components).into_iter().collect();
        crate::code::attach(&mut components, |key| {
            texts.get(key).and_then(|text| crate::code::inflate(text))
        });
        components
    }

    /// The deflated texts of `components`, this function's (its own first), by key, as far
    /// as the program carries them.
    fn texts(&'static self, components: &[Component]) -> Vec<(Digest, &'static [u8])> {
        let mut texts = Vec::new();
        for (i, component) in components.iter().enumerate() {
            let key = crate::code::key(&component.path, &component.hash);
            let text = match i {
                0 => Some(self.source).filter(|text| !text.is_empty()),
                _ => carried().get(&key).copied(),
            };
            texts.extend(text.map(|text| (key, text)));
        }
        texts
    }

    pub(crate) fn components(&self) -> Vec<Component> {
        let own = self.components.iter().map(|c| Component {
            kind: c.kind.to_owned(),
            path: c.path.to_owned(),
            location: c.location.to_owned(),
            hash: Digest(c.hash),
            source: None,
        });
        own.chain(self.reached.lines().filter_map(reached_component))
            .collect()
    }
}

/// Every reached component's text the program carries, by key: gathered once from every
/// call site linked in, each of which carries the texts no other function of its crate
/// does.
fn carried() -> &'static HashMap<Digest, &'static [u8]> {
    static CARRIED: OnceLock<HashMap<Digest, &'static [u8]>> = OnceLock::new();
    CARRIED.get_or_init(|| {
        registered()
            .flat_map(|site| crate::code::frames(site.sources))
            .collect()
    })
}

/// One line of [`CallSite::reached`]; `None` for a line that is not one.
fn reached_component(line: &str) -> Option<Component> {
    let mut fields = line.split('\t');
    let (kind, path, location, hash) = (
        fields.next()?,
        fields.next()?,
        fields.next()?,
        fields.next()?,
    );
    if fields.next().is_some() {
        return None;
    }
    Some(Component {
        kind: kind.to_owned(),
        path: unescape(path),
        location: unescape(location),
        hash: hash.parse().ok()?,
        source: None,
    })
}

fn unescape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('t') => out.push('\t'),
            Some('n') => out.push('\n'),
            Some(other) => out.push(other),
            None => {}
        }
    }
    out
}

/// Puts a call site in the process-wide list, from which `memo::explain` and the store's
/// function records read.
#[doc(hidden)]
pub struct Registration(pub &'static CallSite);

inventory::collect!(Registration);

/// Every `#[cached]` function linked into this program.
pub fn registered() -> impl Iterator<Item = &'static CallSite> {
    inventory::iter::<Registration>.into_iter().map(|r| r.0)
}

#[cfg(test)]
mod tests {
    use super::reached_component;

    #[test]
    fn reached_lines_read_back_and_bad_ones_are_skipped() {
        let hash = "ab".repeat(32);
        let line = format!("file\tdata\\\\a\\tb.txt\tsrc/x\\n.rs\t{hash}");
        let c = reached_component(&line).unwrap();
        assert_eq!(c.kind, "file");
        assert_eq!(c.path, "data\\a\tb.txt");
        assert_eq!(c.location, "src/x\n.rs");
        assert_eq!(c.hash.to_string(), hash);
        assert!(reached_component("fn\tf\t").is_none());
        assert!(reached_component(&format!("fn\tf\tx\t{hash}\textra")).is_none());
        assert!(reached_component("fn\tf\tx\tnot-hex").is_none());
    }
}
