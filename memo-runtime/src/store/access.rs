//! Reading and writing results: the store's half of the call path.

use super::files::{self, BlobFile};
use super::record::{EntryRecord, FunctionVersion, encode, encode_row};
use super::{Inner, Store};
use crate::clock;
use crate::error::Result;
use crate::{Digest, FunctionRecord};

/// Results up to this size are kept in their entry rather than as a shared blob.
pub(crate) const INLINE_MAX: usize = 256;

/// Reading an entry rewrites its `last_used` at most this often, so hits stay reads.
const LAST_USED_GRANULARITY_MS: u64 = 10 * 60 * 1000;

/// A stored result: its content hash, where its encoded bytes are, and when it expires.
pub(crate) struct Hit {
    pub output: Digest,
    pub payload: Payload,
    pub expires_ms: Option<u64>,
}

/// Where a result's encoded bytes are.
#[derive(Clone)]
pub(crate) enum Payload {
    /// In memory, verified against their hash.
    Bytes(super::engine::Bytes),
    /// In a file too large to read whole: its bytes are verified as they are read.
    File(BlobFile),
}

/// How a result's bytes are kept, as [`Store::insert`] writes them.
#[derive(Clone, Copy)]
pub(crate) enum Bytes<'a> {
    /// The encoded bytes themselves: in the entry, or as a blob in the tree.
    Held(&'a [u8]),
    /// A finished file of this size in the store's `blobs` directory.
    File(u64),
}

impl Bytes<'_> {
    fn len(&self) -> u64 {
        match self {
            Bytes::Held(bytes) => bytes.len() as u64,
            Bytes::File(size) => *size,
        }
    }
}

/// The separator between a name and a key in the index trees: never part of UTF-8.
const SEP: u8 = 0xff;

/// The start of every tag-index line of `tag`.
pub(super) fn tag_prefix(tag: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(tag.len() + 33);
    out.extend_from_slice(tag.as_bytes());
    out.push(SEP);
    out
}

pub(super) fn index_key(tag: &str, key: &Digest) -> Vec<u8> {
    let mut out = tag_prefix(tag);
    out.extend_from_slice(key.as_bytes());
    out
}

pub(super) fn lineage_key(input: &Digest, key: &Digest) -> [u8; 64] {
    let mut out = [0u8; 64];
    out[..32].copy_from_slice(input.as_bytes());
    out[32..].copy_from_slice(key.as_bytes());
    out
}

impl Store {
    /// The stored result for `key`, if there is a live one whose bytes match their hash.
    /// An expired entry, or one whose blob is missing or damaged, is removed and is a miss.
    pub(crate) fn lookup(&self, key: &Digest) -> Result<Option<Hit>> {
        let inner = &*self.inner;
        if let Some(remote) = &inner.remote {
            return remote.get(key, &inner.seal);
        }
        let trees = &inner.trees();
        let Some(raw) = trees.entries.get(key).map_err(|e| inner.storage(e))? else {
            return Ok(None);
        };
        let Some(head) = EntryHead::read(&raw) else {
            crate::warn::once("bad entry", || {
                format!(
                    "an entry in {} could not be read and was removed; `memo verify` checks the whole store",
                    inner.dir.display()
                )
            });
            inner.remove_key(key, &raw)?;
            return Ok(None);
        };
        let now = clock::now_ms();
        // Written with a clock ahead, or before this one was stepped back: it counts from
        // now, so no clock stretches its `ttl`.
        let future = clock::from_the_future(head.created_ms, head.expires_ms, now);
        let expires_ms = future.map_or(head.expires_ms, |(_, expires)| expires);
        if expires_ms.is_some_and(|at| at <= now) {
            inner.remove_key(key, &raw)?;
            inner.live.evicted(1);
            return Ok(None);
        }
        let payload = match head.inline {
            Some(inline) => Payload::Bytes(super::engine::Bytes::from(inline)),
            None => match trees.blobs.get(head.output).map_err(|e| inner.storage(e))? {
                Some(bytes) => match files::read_pointer(&bytes) {
                    Some(size) => {
                        let file = BlobFile::of(&inner.dir, &head.output, size);
                        if !file.is_there() {
                            inner.drop_damaged(key, &raw, &head.output)?;
                            return Ok(None);
                        }
                        Payload::File(file)
                    }
                    None => Payload::Bytes(bytes),
                },
                None => {
                    inner.remove_key(key, &raw)?;
                    return Ok(None);
                }
            },
        };
        if let Payload::Bytes(bytes) = &payload
            && Digest::of_bytes(bytes) != head.output
        {
            if head.inline.is_none() {
                inner.drop_damaged(key, &raw, &head.output)?;
            } else {
                inner.bad_blob();
                inner.remove_key(key, &raw)?;
            }
            return Ok(None);
        }
        if future.is_some() || now.saturating_sub(head.last_used_ms) > LAST_USED_GRANULARITY_MS {
            // Only the row changes: its times.
            let (created_ms, expires_ms) = future.unwrap_or((head.created_ms, head.expires_ms));
            let touched = encode_row(&head.output, (created_ms, expires_ms, now), head.inline);
            trees
                .entries
                .insert(key, touched)
                .map_err(|e| inner.storage(e))?;
        }
        Ok(Some(Hit {
            output: head.output,
            payload,
            expires_ms,
        }))
    }

    /// Stores `bytes`, whose content hash is `output`, as the result of `site` for `key`.
    ///
    /// A small result goes inside the entry, a single write. A larger one goes to the blobs
    /// tree first — or, for a file, a pointer to it — and the entry last, each index line
    /// before the entry it points at: a crash in between leaves an unreferenced blob or a
    /// dangling index line, which lookups ignore and `gc` collects, never an entry without
    /// its result.
    pub(crate) fn insert(
        &self,
        site: &NewEntry<'_>,
        key: &Digest,
        output: Digest,
        bytes: Bytes<'_>,
        inputs: &[Digest],
    ) -> Result<()> {
        let inner = &*self.inner;
        let mac = inner.seal.mac(key, &output);
        if let Some(remote) = &inner.remote {
            return remote.put(site, key, output, bytes, inputs, mac);
        }
        let trees = &inner.trees();
        let storage = |e| inner.storage(e);
        let inline = match bytes {
            Bytes::Held(bytes) if bytes.len() <= INLINE_MAX => Some(bytes.to_vec()),
            _ => None,
        };
        let new_blob = inline.is_none() && !trees.blobs.contains_key(output).map_err(storage)?;
        if new_blob {
            match bytes {
                Bytes::Held(bytes) => trees.blobs.insert(output, bytes),
                Bytes::File(size) => trees.blobs.insert(output, files::pointer(size)),
            }
            .map_err(storage)?;
        }
        for tag in &site.tags {
            trees
                .tags
                .insert(index_key(tag, key), [])
                .map_err(storage)?;
        }
        for input in inputs {
            trees
                .lineage
                .insert(lineage_key(input, key), [])
                .map_err(storage)?;
        }
        let record = EntryRecord {
            output,
            created_ms: site.created_ms,
            expires_ms: site.expires_ms,
            last_used_ms: site.created_ms,
            inline,
            function: site.name.to_owned(),
            fingerprint: Digest(site.fingerprint),
            tags: site.tags.iter().map(|t| (*t).to_owned()).collect(),
            size: bytes.len(),
            inputs: inputs.to_vec(),
            call: site.call,
            args: site.args.map(str::to_owned),
            compute_ns: site.compute_ns,
            mac: Some(mac),
        };
        // An entry written over a live one (a refresh, or a race) keeps the old one's index
        // lines; `invalidate_tag` checks the entry's own tags, so a stale line is harmless,
        // and the write stays free of a read.
        inner.write_entry(key, &record)?;
        if let Some(budget) = &inner.budget {
            // A result already stored for another entry adds no bytes.
            let added = record.inline.is_some() || new_blob;
            budget.grew(if added { record.size } else { 0 });
        }
        Ok(())
    }

    /// Counts a hit: on any thread, as often as it likes, without contention.
    #[inline]
    pub(crate) fn count_hit(&self) {
        self.inner.live.hit();
    }

    pub(crate) fn count_miss(&self) {
        self.inner.live.miss();
    }

    /// Names this store's current file: function records written under another token
    /// are gone (the file was replaced for damage) and must be written again.
    pub(crate) fn record_token(&self) -> u64 {
        self.inner.record_token()
    }

    /// Writes a version of the function `name`, which `info` describes, to the function
    /// records — once per process and file.
    pub(crate) fn record_function(
        &self,
        name: &'static str,
        info: impl FnOnce() -> FunctionInfo,
    ) -> Result<()> {
        let inner = &*self.inner;
        let token = inner.record_token();
        {
            let mut recorded = inner
                .recorded
                .lock()
                .unwrap_or_else(|poison| poison.into_inner());
            if recorded.0 != token {
                *recorded = (token, Default::default());
            }
            if !recorded.1.insert(name) {
                return Ok(());
            }
        }
        match &inner.remote {
            Some(remote) => remote.record(&info()),
            None => self.write_function(info()),
        }
    }
}

/// The leading fields of an `EntryRecord`: all a hit needs, read without allocating.
#[derive(serde::Deserialize)]
struct EntryHead<'a> {
    output: Digest,
    created_ms: u64,
    expires_ms: Option<u64>,
    last_used_ms: u64,
    #[serde(borrow)]
    inline: Option<&'a [u8]>,
}

/// Reads the head of an entry record, as a hit does; `None` if it does not decode.
pub(crate) fn read_entry_head(raw: &[u8]) -> Option<Digest> {
    EntryHead::read(raw).map(|head| head.output)
}

impl<'a> EntryHead<'a> {
    fn read(raw: &'a [u8]) -> Option<EntryHead<'a>> {
        postcard::take_from_bytes(raw).ok().map(|(head, _)| head)
    }
}

impl Store {
    /// Records a version of a function in the function records.
    pub(super) fn write_function(&self, info: FunctionInfo) -> Result<()> {
        let inner = &*self.inner;
        let functions = &inner.trees().functions;
        let mut record = inner
            .read::<FunctionRecord>(functions, &info.name)?
            .unwrap_or_else(|| FunctionRecord {
                name: info.name.clone(),
                module: String::new(),
                file: String::new(),
                line: 0,
                output_type: String::new(),
                current: info.fingerprint,
                versions: Vec::new(),
            });
        let now = clock::now_ms();
        record.module = info.module;
        record.file = info.file;
        record.line = info.line;
        record.output_type = info.output_type;
        record.current = info.fingerprint;
        let seen = record
            .versions
            .iter_mut()
            .find(|v| v.fingerprint == info.fingerprint);
        let new = seen.is_none();
        match seen {
            Some(version) => version.last_seen_ms = now,
            None => record.versions.push(FunctionVersion {
                fingerprint: info.fingerprint,
                first_seen_ms: now,
                last_seen_ms: now,
                components: info.components,
            }),
        }
        // Each text once, under its key, when a version is new; a version first seen by a
        // program without its text (its own is missing) gets it from the first that has it.
        let sources = &inner.trees().sources;
        let storage = |e| inner.storage(e);
        let missing = |key: &Digest| sources.contains_key(key).map(|has| !has);
        if let Some((own, _)) = info.sources.first()
            && (new || missing(own).map_err(storage)?)
        {
            for (key, text) in info.sources {
                if missing(&key).map_err(storage)? {
                    sources.insert(key, &text).map_err(storage)?;
                }
            }
        }
        functions
            .insert(info.name.as_bytes(), encode(&record))
            .map_err(|e| inner.storage(e))?;
        Ok(())
    }
}

/// What a new entry is stored with, from its function.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub(crate) struct NewEntry<'a> {
    pub name: &'a str,
    pub fingerprint: [u8; 32],
    /// When the result was computed (ms since the Unix epoch): read once, so the expiry
    /// is exactly `ttl` after it.
    pub created_ms: u64,
    /// When the entry expires, from the function's `ttl`; the in-memory tier keeps the
    /// same instant.
    pub expires_ms: Option<u64>,
    #[serde(borrow)]
    pub tags: Vec<&'a str>,
    /// The arguments' readable form, when the function describes them.
    #[serde(borrow)]
    pub args: Option<&'a str>,
    /// The call's identity across versions of the code.
    pub call: Option<Digest>,
    /// How long the result took to compute, in ns.
    pub compute_ns: Option<u64>,
}

/// A version of a function, as the function records keep it.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub(crate) struct FunctionInfo {
    pub name: String,
    pub module: String,
    pub file: String,
    pub line: u32,
    pub output_type: String,
    pub fingerprint: Digest,
    pub components: Vec<crate::Component>,
    /// The components' source texts the program carries, deflated, by key (`crate::code`):
    /// the function's own first.
    pub sources: Vec<(Digest, std::borrow::Cow<'static, [u8]>)>,
}

impl Store {
    /// Starts a file in this store for a result too large to encode into memory.
    pub(crate) fn stage(&self) -> std::io::Result<files::Staged> {
        files::Staged::create(&self.inner.dir)
    }

    /// Says that the file of `output`, which a lookup handed out, did not match its hash
    /// as it was read: it goes, and the next lookup of any entry naming it is a miss
    /// that removes the entry.
    pub(crate) fn file_damaged(&self, output: &Digest) {
        self.inner.bad_blob();
        files::remove(&self.inner.dir, output);
    }
}

impl Inner {
    /// Says once for this store that a stored result was damaged.
    fn bad_blob(&self) {
        crate::warn::once(&format!("bad blob in {}", self.dir.display()), || {
            format!(
                "a stored result in {} was damaged or missing (its bytes did not match their hash); it was removed and will be recomputed",
                self.dir.display()
            )
        });
    }

    /// Removes the entry under `key` and its result `output`, which is missing or damaged.
    fn drop_damaged(&self, key: &Digest, raw: &[u8], output: &Digest) -> Result<()> {
        self.bad_blob();
        self.trees()
            .blobs
            .remove(output)
            .map_err(|e| self.storage(e))?;
        files::remove(&self.dir, output);
        self.remove_key(key, raw)
    }

    /// Removes the entry under `key`, whose row is `row`, with its index lines if its
    /// record can be read.
    pub(super) fn remove_key(&self, key: &Digest, row: &[u8]) -> Result<()> {
        let trees = self.trees();
        let details = trees.details.get(key).map_err(|e| self.storage(e))?;
        match details.and_then(|details| EntryRecord::join(row, &details)) {
            Some(record) => self.remove_entry(key, &record),
            None => {
                trees.entries.remove(key).map_err(|e| self.storage(e))?;
                trees.details.remove(key).map_err(|e| self.storage(e))
            }
        }
    }

    /// Removes an entry and its index lines. Its blob stays until `gc`, since other
    /// entries may share it.
    pub(super) fn remove_entry(&self, key: &Digest, record: &EntryRecord) -> Result<()> {
        let trees = &self.trees();
        let storage = |e| self.storage(e);
        trees.entries.remove(key).map_err(storage)?;
        trees.details.remove(key).map_err(storage)?;
        for tag in &record.tags {
            trees.tags.remove(index_key(tag, key)).map_err(storage)?;
        }
        for input in &record.inputs {
            trees
                .lineage
                .remove(&lineage_key(input, key)[..])
                .map_err(storage)?;
        }
        Ok(())
    }
}
