//! The records the store keeps, as postcard values: entry metadata, function records and
//! the persisted counters.

use std::time::SystemTime;

use serde::{Deserialize, Serialize};

use crate::Digest;
use crate::clock;

/// What the entries tree holds for one key.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct EntryRecord {
    pub output: Digest,
    pub created_ms: u64,
    pub expires_ms: Option<u64>,
    pub last_used_ms: u64,
    /// A small result, kept in the entry itself: one read on a hit, one write on a miss.
    /// Larger results live in the blobs tree under `output`.
    pub inline: Option<Vec<u8>>,
    pub function: String,
    pub fingerprint: Digest,
    pub tags: Vec<String>,
    pub size: u64,
    pub inputs: Vec<Digest>,
    /// The call's identity across versions of the code (name and arguments, hashed
    /// without the fingerprint). Last, with `args`: a hit reads only the head.
    pub call: Option<Digest>,
    /// The arguments' readable form, cut at a few hundred bytes.
    pub args: Option<String>,
    /// How long the result took to compute, in ns: what a hit on it saves
    /// (`memo::observe`). `None` for a result pulled from a shared tier, or stored by a
    /// format 3 store, whose records end before it.
    pub compute_ns: Option<u64>,
    /// The MAC binding `output` to the entry's key under the store's secret (`seal`):
    /// `None` only in a record of format 3 or 4, before stores signed their entries.
    pub mac: Option<Digest>,
}

impl EntryRecord {
    /// Decodes a record: of this format, or of format 4, which ends before `mac`, or of
    /// format 3, which ends before `compute_ns` too (a `None` completes each). Nothing
    /// else decodes: a record of this format consumes every byte exactly, so an older
    /// one, a byte or two short, never reads as one.
    pub(crate) fn decode(raw: &[u8]) -> Option<EntryRecord> {
        decode_exact(raw)
            .or_else(|| decode_exact(&[raw, &[0]].concat()))
            .or_else(|| decode_exact(&[raw, &[0, 0]].concat()))
    }

    /// The record as the store keeps it (format 6): the row the entries tree holds — its
    /// fields up to `inline`, all a lookup reads — and the details the details tree
    /// holds, the rest. A record's encoding is its row's followed by its details', so
    /// the two read back as one ([`join`](EntryRecord::join)), and a record of an older
    /// format splits where it always could.
    pub(crate) fn split(&self) -> (Vec<u8>, Vec<u8>) {
        let details = encode(&(
            &self.function,
            &self.fingerprint,
            &self.tags,
            self.size,
            &self.inputs,
            &self.call,
            &self.args,
            self.compute_ns,
            &self.mac,
        ));
        (self.row(), details)
    }

    /// The row of the record (see [`split`](EntryRecord::split)).
    pub(crate) fn row(&self) -> Vec<u8> {
        encode_row(
            &self.output,
            (self.created_ms, self.expires_ms, self.last_used_ms),
            self.inline.as_deref(),
        )
    }

    /// The record kept as `row` and `details` (see [`split`](EntryRecord::split)).
    pub(crate) fn join(row: &[u8], details: &[u8]) -> Option<EntryRecord> {
        decode_exact(&[row, details].concat())
    }

    pub fn is_expired(&self, now_ms: u64) -> bool {
        self.expires_ms.is_some_and(|at| at <= now_ms)
    }

    pub fn to_entry(&self, key: Digest) -> Entry {
        Entry {
            key,
            function: self.function.clone(),
            fingerprint: self.fingerprint,
            output: self.output,
            created: clock::from_ms(self.created_ms),
            expires: self.expires_ms.map(clock::from_ms),
            last_used: clock::from_ms(self.last_used_ms),
            tags: self.tags.clone(),
            size: self.size,
            inputs: self.inputs.clone(),
            args: self.args.clone(),
            call: self.call,
        }
    }
}

/// The row of an entry record (see [`EntryRecord::split`]) from its fields: its result's
/// hash, its times (created, expires, last used) and its inline result. A lookup that
/// only moves the times writes it without the rest of the record.
pub(crate) fn encode_row(
    output: &Digest,
    (created_ms, expires_ms, last_used_ms): (u64, Option<u64>, u64),
    inline: Option<&[u8]>,
) -> Vec<u8> {
    encode(&(output, created_ms, expires_ms, last_used_ms, inline))
}

/// One stored result, as [`Store::entries`](crate::Store::entries) lists it.
///
/// ```
/// #[memo::cached]
/// fn area(w: u32, h: u32) -> u32 {
///     w * h
/// }
///
/// let store = memo::Store::temporary()?;
/// memo::with_store(&store, || area(3, 4));
/// let entry = &store.entries()?[0];
/// assert!(entry.function.ends_with("::area"));
/// assert_eq!(entry.args.as_deref(), Some("w = 3, h = 4"));
/// # Ok::<(), memo::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// The cache key: code fingerprint, function identity and arguments, hashed.
    pub key: Digest,
    /// The function's stable name (`module::function`, or its `name = ".."`).
    pub function: String,
    /// The fingerprint of the function's code when the result was computed.
    pub fingerprint: Digest,
    /// The content hash of the stored result; identical results share one blob.
    pub output: Digest,
    /// When the result was computed.
    pub created: SystemTime,
    /// When it stops being returned, if the function has a `ttl`.
    pub expires: Option<SystemTime>,
    /// When it was last returned, to within a few minutes.
    pub last_used: SystemTime,
    /// The function's tags when the result was stored.
    pub tags: Vec<String>,
    /// The size of the encoded result in bytes.
    pub size: u64,
    /// The content hashes of the `Memo` arguments that fed this result (its lineage).
    pub inputs: Vec<Digest>,
    /// What the call was made with, for a person to read (`rows = 3, name = "ada"`):
    /// each keyed argument's `Debug` (a `#[derive(CacheKey)]` type's fields but those it
    /// skips; a `Memo`'s hash; a type without `Debug`, its name), cut at a few hundred
    /// bytes. `None` when it was not recorded: `#[cached(args = "hidden")]`, an entry
    /// from before stores kept arguments, or one pulled from a shared tier.
    pub args: Option<String>,
    /// The call this entry is a result of, whatever the version of the code: entries of
    /// one call under several versions share it (`memo history`). `None` for an entry
    /// stored before stores kept it.
    pub call: Option<Digest>,
}

/// What the store knows of one cached function: where it is, and every fingerprint of its
/// code that has written here.
///
/// ```
/// #[memo::cached]
/// fn area(w: u32, h: u32) -> u32 {
///     w * h
/// }
///
/// let store = memo::Store::temporary()?;
/// memo::with_store(&store, || area(3, 4));
/// let record = &store.functions()?[0];
/// assert_eq!(record.versions.len(), 1);
/// assert_eq!(record.current, record.versions[0].fingerprint);
/// # Ok::<(), memo::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FunctionRecord {
    /// The function's stable name.
    pub name: String,
    /// The module it is defined in.
    pub module: String,
    /// The source file, as the compiler named it.
    pub file: String,
    /// The line of its `#[cached]` attribute.
    pub line: u32,
    /// The type of its stored values, as written in its signature.
    pub output_type: String,
    /// The fingerprint of the code that used this store most recently.
    pub current: Digest,
    /// Every fingerprint seen, oldest first.
    pub versions: Vec<FunctionVersion>,
}

/// One version of a function's code, as its fingerprint.
///
/// ```
/// #[memo::cached]
/// fn area(w: u32, h: u32) -> u32 {
///     w * h
/// }
///
/// let store = memo::Store::temporary()?;
/// memo::with_store(&store, || area(3, 4));
/// let version = &store.functions()?[0].versions[0];
/// assert!(version.first_seen_ms <= version.last_seen_ms);
/// # Ok::<(), memo::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FunctionVersion {
    /// The fingerprint of this version.
    pub fingerprint: Digest,
    /// When a program with this version first used the store (ms since the Unix epoch).
    pub first_seen_ms: u64,
    /// When one last did.
    pub last_seen_ms: u64,
    /// What the fingerprint is made of.
    pub components: Vec<Component>,
}

/// One part of a fingerprint: the function itself, a helper, a const, a macro, a crate.
///
/// ```
/// #[memo::cached]
/// fn area_of_one_component(w: u32, h: u32) -> u32 {
///     w * h
/// }
///
/// let own = &memo::explain("area_of_one_component").unwrap().components[0];
/// assert_eq!(own.kind, "fn");
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Component {
    /// What kind of item it is (`fn`, `const`, `macro`, `crate`, ...).
    pub kind: String,
    /// Its path, as written in the package.
    pub path: String,
    /// Where it is defined (`file:line`), or the crate version.
    pub location: String,
    /// The hash of its canonical tokens.
    pub hash: Digest,
    /// Its source text, as the program of this version had it, once loaded
    /// ([`Store::load_sources`](crate::Store::load_sources), [`explain`](crate::explain));
    /// `None` for what has none (a crate, a cfg) or was not recorded. Kept apart from the
    /// function records, so not part of their encoding.
    #[serde(skip)]
    pub source: Option<String>,
}

/// Counters kept across runs.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Counters {
    pub hits: u64,
    pub misses: u64,
    pub evictions: u64,
    /// Results or connections the holder refused (see `serve`). Stores of format 4 and
    /// before kept no such count: their record, a field short, decodes with 0.
    pub refused: u64,
}

impl Counters {
    /// Decodes the stored counters, of this format or of one before `refused`.
    pub(crate) fn decode(raw: &[u8]) -> Option<Counters> {
        decode_exact(raw).or_else(|| decode_exact(&[raw, &[0]].concat()))
    }
}

/// Decodes a whole postcard value: trailing bytes are an error, not ignored.
pub(crate) fn decode_exact<T: serde::de::DeserializeOwned>(bytes: &[u8]) -> Option<T> {
    match postcard::take_from_bytes(bytes) {
        Ok((value, [])) => Some(value),
        _ => None,
    }
}

pub(crate) fn encode<T: Serialize>(value: &T) -> Vec<u8> {
    postcard::to_stdvec(value).expect("store records always encode")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(compute_ns: Option<u64>, mac: Option<Digest>) -> EntryRecord {
        EntryRecord {
            output: Digest([1; 32]),
            created_ms: 5,
            expires_ms: None,
            last_used_ms: 6,
            inline: Some(vec![7]),
            function: "m::f".into(),
            fingerprint: Digest([2; 32]),
            tags: vec!["t".into()],
            size: 1,
            inputs: Vec::new(),
            call: Some(Digest([3; 32])),
            args: Some("x = 1".into()),
            compute_ns,
            mac,
        }
    }

    #[test]
    fn a_record_split_into_its_row_and_details_reads_back_whole() {
        let signed = record(Some(9), Some(Digest([9; 32])));
        let (row, details) = signed.split();
        assert_eq!(EntryRecord::join(&row, &details), Some(signed.clone()));
        assert_eq!(
            [row.as_slice(), &details].concat(),
            encode(&signed),
            "one encoding"
        );
        assert_eq!(EntryRecord::join(&row, &details[1..]), None);
        assert_eq!(EntryRecord::join(&row[1..], &details), None);
    }

    #[test]
    fn older_records_read_with_what_they_lack_as_none_and_nothing_else_is_taken_for_one() {
        let signed = record(Some(1_234_567), Some(Digest([9; 32])));
        assert_eq!(EntryRecord::decode(&encode(&signed)), Some(signed.clone()));
        // Format 4 wrote every field but the MAC; format 3 every one but the compute time
        // too: a `None` is one zero byte.
        let timed = encode(&record(Some(1_234_567), None));
        let format_4 = &timed[..timed.len() - 1];
        assert_eq!(
            EntryRecord::decode(format_4),
            Some(record(Some(1_234_567), None))
        );
        let untimed = encode(&record(None, None));
        let format_3 = &untimed[..untimed.len() - 2];
        assert_eq!(EntryRecord::decode(format_3), Some(record(None, None)));
        // Shorter still, or longer, is damage.
        assert_eq!(EntryRecord::decode(&format_3[..format_3.len() - 1]), None);
        let longer = [encode(&signed).as_slice(), &[0]].concat();
        assert_eq!(EntryRecord::decode(&longer), None);
    }
}
