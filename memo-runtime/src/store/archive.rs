//! Export and import: a portable archive of a store's entries, blobs, function records and
//! the source text of their versions.
//!
//! The archive is a stream of frames — a kind byte, a length and a postcard payload —
//! after a magic header, closed by a frame holding the blake3 hash of all that came before.
//! Import checks that hash before it writes anything, so a damaged archive changes nothing.

use std::collections::HashSet;
use std::io::{self, Read, Seek, SeekFrom, Write};

use serde::{Deserialize, Serialize};

use super::access::{index_key, lineage_key};
use super::record::{EntryRecord, encode};
use super::{Store, decode_exact};

/// The version of the archive format: its frames and the records in them, which do not
/// change with the storage engine. Version 2's entries end with their call's identity and
/// arguments; version 3's with their compute time too, and it adds the source frames;
/// version 4's with their MAC under the exporting store's secret. Archives of versions 1
/// to 3 are read as they were (their entries have no MAC: see [`Store::import`]).
const ARCHIVE_VERSION: u32 = 4;
use crate::error::{Error, Result};
use crate::{Digest, FunctionRecord};

const MAGIC: &[u8; 8] = b"MEMOARC\x01";
const FUNCTION: u8 = 1;
const BLOB: u8 = 2;
const ENTRY: u8 = 3;
const SOURCE: u8 = 4;
const END: u8 = 0;
/// No frame is larger: a bigger length means the archive is damaged.
const MAX_FRAME: u64 = 1 << 34;

/// What an export wrote or an import added.
///
/// ```
/// #[memo::cached]
/// fn area(w: u32, h: u32) -> u32 {
///     w * h
/// }
///
/// let store = memo::Store::temporary()?;
/// memo::with_store(&store, || area(3, 4));
/// let mut archive = Vec::new();
/// let written = store.export(&mut archive, &mut |_, _| {})?;
/// assert_eq!(written.entries, 1);
/// # Ok::<(), memo::Error>(())
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ArchiveReport {
    /// Entries written, or added.
    pub entries: u64,
    /// Blobs written, or added.
    pub blobs: u64,
    /// Function records written, or merged.
    pub functions: u64,
    /// On import: entries already in the store, skipped.
    pub skipped_entries: u64,
    /// On import: blobs already in the store, skipped (identical results stay shared).
    pub skipped_blobs: u64,
    /// On import: entries this store cannot check — their MAC is not under its secret
    /// (another store's archive, one from before archives carried MACs, or altered) — and
    /// so did not import. [`Store::import_trusting`] imports them.
    pub refused_entries: u64,
}

#[derive(Serialize, Deserialize)]
struct BlobFrame {
    hash: Digest,
    bytes: Vec<u8>,
}

/// One component's source text, deflated, under its key (`crate::code`).
#[derive(Serialize, Deserialize)]
struct SourceFrame {
    key: Digest,
    text: Vec<u8>,
}

#[derive(Serialize, Deserialize)]
struct EntryFrame {
    key: Digest,
    record: EntryRecord,
}

fn damaged(detail: impl Into<String>) -> Error {
    Error::Archive(detail.into())
}

/// Writes frames while hashing them.
struct FrameWriter<W: Write> {
    out: W,
    hasher: blake3::Hasher,
}

impl<W: Write> FrameWriter<W> {
    fn raw(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.hasher.update(bytes);
        self.out.write_all(bytes)
    }

    fn frame(&mut self, kind: u8, payload: &[u8]) -> io::Result<()> {
        self.raw(&[kind])?;
        self.raw(&(payload.len() as u64).to_le_bytes())?;
        self.raw(payload)
    }
}

impl Store {
    /// Writes every function record, blob and entry to `out` as an archive that
    /// [`import`](Store::import) reads. `progress` gets items written and the total.
    ///
    /// ```
    /// #[memo::cached]
    /// fn area(w: u32, h: u32) -> u32 {
    ///     w * h
    /// }
    ///
    /// let store = memo::Store::temporary()?;
    /// memo::with_store(&store, || area(3, 4));
    /// let mut archive = Vec::new();
    /// store.export(&mut archive, &mut |done, total| assert!(done <= total))?;
    /// // Another store cannot check this one's entries: it takes them only when trusted.
    /// let other = memo::Store::temporary()?;
    /// let refused = other.import(std::io::Cursor::new(&archive), &mut |_, _| {})?;
    /// assert_eq!((refused.entries, refused.refused_entries), (0, 1));
    /// let added = other.import_trusting(std::io::Cursor::new(&archive), &mut |_, _| {})?;
    /// assert_eq!(added.entries, 1);
    /// # Ok::<(), memo::Error>(())
    /// ```
    pub fn export(
        &self,
        out: impl Write,
        progress: &mut dyn FnMut(u64, u64),
    ) -> Result<ArchiveReport> {
        self.inner.local()?;
        let inner = &*self.inner;
        let trees = &inner.trees();
        let io_error = |source| Error::Io {
            path: "archive".into(),
            source,
        };
        let mut writer = FrameWriter {
            out,
            hasher: blake3::Hasher::new(),
        };
        writer.raw(MAGIC).map_err(io_error)?;
        writer
            .raw(&ARCHIVE_VERSION.to_le_bytes())
            .map_err(io_error)?;
        let storage = |e| inner.storage(e);
        let total = trees.functions.len().map_err(storage)?
            + trees.sources.len().map_err(storage)?
            + trees.blobs.len().map_err(storage)?
            + trees.entries.len().map_err(storage)?;
        let mut done = 0;
        let mut report = ArchiveReport::default();
        for raw in trees.functions.iter().values() {
            let raw = raw.map_err(|e| inner.storage(e))?;
            writer.frame(FUNCTION, &raw).map_err(io_error)?;
            report.functions += 1;
            done += 1;
            progress(done, total);
        }
        for item in trees.sources.iter() {
            let (key, text) = item.map_err(|e| inner.storage(e))?;
            let Ok(key) = <[u8; 32]>::try_from(key.as_ref()) else {
                continue;
            };
            let frame = SourceFrame {
                key: Digest(key),
                text: text.to_vec(),
            };
            writer.frame(SOURCE, &encode(&frame)).map_err(io_error)?;
            done += 1;
            progress(done, total);
        }
        for item in trees.blobs.iter() {
            let (hash, bytes) = item.map_err(|e| inner.storage(e))?;
            let Ok(hash) = <[u8; 32]>::try_from(hash.as_ref()) else {
                continue;
            };
            // A result kept as a file travels as its bytes; damaged, it is not worth
            // carrying elsewhere.
            let Some(bytes) = super::files::blob_bytes(&inner.dir, &Digest(hash), &bytes) else {
                continue;
            };
            let frame = BlobFrame {
                hash: Digest(hash),
                bytes,
            };
            writer.frame(BLOB, &encode(&frame)).map_err(io_error)?;
            report.blobs += 1;
            done += 1;
            progress(done, total);
        }
        for (key, record) in self.records()? {
            writer
                .frame(ENTRY, &encode(&EntryFrame { key, record }))
                .map_err(io_error)?;
            report.entries += 1;
            done += 1;
            progress(done, total);
        }
        let checksum = *writer.hasher.finalize().as_bytes();
        writer.out.write_all(&[END]).map_err(io_error)?;
        writer.out.write_all(&checksum).map_err(io_error)?;
        writer.out.flush().map_err(io_error)?;
        Ok(report)
    }

    /// Adds an archive's contents to this store: entries and blobs already here are
    /// skipped, identical results keep sharing one blob, and function records are merged.
    /// The whole archive is checked first; a damaged one changes nothing.
    /// `progress` gets bytes read and the archive's size.
    ///
    /// Only what this store can check comes in: an entry whose MAC is not under this
    /// store's secret — exported by another store, by a memo before archives carried
    /// MACs, or altered since — is refused and counted
    /// ([`ArchiveReport::refused_entries`]); [`import_trusting`](Store::import_trusting)
    /// takes those too. An imported entry never lives longer than its own `ttl` from now.
    ///
    /// ```
    /// #[memo::cached]
    /// fn area(w: u32, h: u32) -> u32 {
    ///     w * h
    /// }
    ///
    /// let store = memo::Store::temporary()?;
    /// memo::with_store(&store, || area(3, 4));
    /// let mut archive = Vec::new();
    /// store.export(&mut archive, &mut |_, _| {})?;
    /// // Imported twice: the second adds nothing.
    /// let again = store.import(std::io::Cursor::new(&archive), &mut |_, _| {})?;
    /// assert_eq!((again.entries, again.skipped_entries), (0, 1));
    /// // A damaged archive changes nothing.
    /// archive[20] ^= 1;
    /// assert!(store.import(std::io::Cursor::new(&archive), &mut |_, _| {}).is_err());
    /// # Ok::<(), memo::Error>(())
    /// ```
    pub fn import<R: Read + Seek>(
        &self,
        input: R,
        progress: &mut dyn FnMut(u64, u64),
    ) -> Result<ArchiveReport> {
        self.import_with(input, false, progress)
    }

    /// As [`import`](Store::import), also taking the entries this store cannot check —
    /// another store's archive, say, whose results you trust — and signing them with
    /// this store's secret.
    ///
    /// ```
    /// #[memo::cached]
    /// fn area(w: u32, h: u32) -> u32 {
    ///     w * h
    /// }
    ///
    /// let store = memo::Store::temporary()?;
    /// memo::with_store(&store, || area(3, 4));
    /// let mut archive = Vec::new();
    /// store.export(&mut archive, &mut |_, _| {})?;
    /// let ci = memo::Store::temporary()?;
    /// let added = ci.import_trusting(std::io::Cursor::new(&archive), &mut |_, _| {})?;
    /// assert_eq!((added.entries, added.refused_entries), (1, 0));
    /// assert!(ci.verify(&mut |_, _| {})?.is_clean(), "signed with its own secret");
    /// # Ok::<(), memo::Error>(())
    /// ```
    pub fn import_trusting<R: Read + Seek>(
        &self,
        input: R,
        progress: &mut dyn FnMut(u64, u64),
    ) -> Result<ArchiveReport> {
        self.import_with(input, true, progress)
    }

    fn import_with<R: Read + Seek>(
        &self,
        mut input: R,
        trust: bool,
        progress: &mut dyn FnMut(u64, u64),
    ) -> Result<ArchiveReport> {
        self.inner.local()?;
        let io_error = |source| Error::Io {
            path: "archive".into(),
            source,
        };
        let size = input.seek(SeekFrom::End(0)).map_err(io_error)?;
        input.seek(SeekFrom::Start(0)).map_err(io_error)?;
        // Every frame is read and checked before anything is written: a damaged or
        // inconsistent archive changes nothing.
        let inner = &*self.inner;
        let stored_blob = |hash: &Digest| -> Result<Option<u64>> {
            let bytes = inner
                .trees()
                .blobs
                .get(hash)
                .map_err(|e| inner.storage(e))?;
            Ok(bytes.map(|bytes| super::files::blob_size(&bytes)))
        };
        let seal = &inner.seal;
        // An entry already here is skipped, whoever signed the archive's copy.
        let checks = |key: &Digest, record: &EntryRecord| {
            trust
                || seal.checks(key, &record.output, record.mac.as_ref())
                || inner.trees().entries.contains_key(key).unwrap_or(false)
        };
        let checked = check(&mut input, size, &stored_blob, &checks)?;
        input.seek(SeekFrom::Start(0)).map_err(io_error)?;
        let mut reader = io::BufReader::new(input);
        let mut header = [0u8; 12];
        reader.read_exact(&mut header).map_err(io_error)?;
        // Checked above: this format or an older one.
        let format = u32::from_le_bytes(header[8..].try_into().expect("four bytes"));
        let mut report = ArchiveReport::default();
        let mut read = 12u64;
        while let Some((kind, payload)) = next_frame(&mut reader)? {
            read += 9 + payload.len() as u64;
            self.apply(kind, &payload, format, &checked, &mut report)?;
            progress(read, size);
        }
        Ok(report)
    }

    fn apply(
        &self,
        kind: u8,
        payload: &[u8],
        format: u32,
        checked: &Checked,
        report: &mut ArchiveReport,
    ) -> Result<()> {
        let inner = &*self.inner;
        let trees = &inner.trees();
        let storage = |e| inner.storage(e);
        match kind {
            FUNCTION => {
                let incoming: FunctionRecord = decode_exact(payload)
                    .ok_or_else(|| damaged("a function record does not decode"))?;
                let merged = match self.function(&incoming.name)? {
                    None => incoming,
                    Some(mut existing) => {
                        for version in incoming.versions {
                            if !existing
                                .versions
                                .iter()
                                .any(|v| v.fingerprint == version.fingerprint)
                            {
                                existing.versions.push(version);
                            }
                        }
                        existing
                    }
                };
                trees
                    .functions
                    .insert(merged.name.as_bytes(), encode(&merged))
                    .map_err(storage)?;
                report.functions += 1;
            }
            SOURCE => {
                let frame: SourceFrame = decode_exact(payload)
                    .ok_or_else(|| damaged("a source record does not decode"))?;
                if !trees.sources.contains_key(frame.key).map_err(storage)? {
                    trees
                        .sources
                        .insert(frame.key, frame.text)
                        .map_err(storage)?;
                }
            }
            BLOB => {
                let frame: BlobFrame =
                    decode_exact(payload).ok_or_else(|| damaged("a blob does not decode"))?;
                if Digest::of_bytes(&frame.bytes) != frame.hash {
                    return Err(damaged("a blob does not match its hash"));
                }
                if !checked.wanted.contains(&frame.hash) {
                    // No entry that comes in needs it.
                    return Ok(());
                }
                if trees.blobs.contains_key(frame.hash).map_err(storage)? {
                    report.skipped_blobs += 1;
                } else if frame.bytes.len() > super::files::FILE_MIN {
                    // As a call stores it: a file beside the database, then its pointer.
                    let written = (|| {
                        let mut file = self.stage()?;
                        file.write_all(&frame.bytes)?;
                        file.finish()
                    })()
                    .map_err(|source| Error::Io {
                        path: inner.dir.join(super::files::DIR),
                        source,
                    })?;
                    trees
                        .blobs
                        .insert(frame.hash, super::files::pointer(written.1.size))
                        .map_err(storage)?;
                    report.blobs += 1;
                } else {
                    trees
                        .blobs
                        .insert(frame.hash, frame.bytes)
                        .map_err(storage)?;
                    report.blobs += 1;
                }
            }
            ENTRY => {
                let payload = [payload, missing_fields(format)].concat();
                let EntryFrame { key, mut record } =
                    decode_exact(&payload).ok_or_else(|| damaged("an entry does not decode"))?;
                if checked.refused.contains(&key) {
                    report.refused_entries += 1;
                    return Ok(());
                }
                // This store's own (the same MAC, if it was already), or trusted.
                record.mac = Some(inner.seal.mac(&key, &record.output));
                // An expiry is never later than the entry's own ttl from now: an archive
                // cannot make a result live longer than its function says.
                let now = crate::clock::now_ms();
                if let Some((created, expires)) =
                    crate::clock::from_the_future(record.created_ms, record.expires_ms, now)
                {
                    record.created_ms = created;
                    record.expires_ms = expires;
                    record.last_used_ms = record.last_used_ms.min(now);
                }
                if let Some(expires) = record.expires_ms {
                    let ttl = expires.saturating_sub(record.created_ms);
                    record.expires_ms = Some(expires.min(now.saturating_add(ttl)));
                }
                if trees.entries.contains_key(key).map_err(storage)? {
                    report.skipped_entries += 1;
                    return Ok(());
                }
                if record.inline.is_none()
                    && !trees.blobs.contains_key(record.output).map_err(storage)?
                {
                    return Err(damaged("an entry's result is missing from the archive"));
                }
                for tag in &record.tags {
                    trees
                        .tags
                        .insert(index_key(tag, &key), [])
                        .map_err(storage)?;
                }
                for input in &record.inputs {
                    trees
                        .lineage
                        .insert(lineage_key(input, &key), [])
                        .map_err(storage)?;
                }
                inner.write_entry(&key, &record)?;
                report.entries += 1;
            }
            other => return Err(damaged(format!("unknown frame kind {other}"))),
        }
        Ok(())
    }
}

/// What an entry of archive `format` lacks at its end, as bytes that complete it: format 1
/// ends before the call, its arguments, its compute time and its MAC, format 2 before the
/// compute time, format 3 before the MAC; a `None` (a zero byte) stands for each.
fn missing_fields(format: u32) -> &'static [u8] {
    match format {
        1 => &[0, 0, 0, 0],
        2 => &[0, 0],
        3 => &[0],
        _ => &[],
    }
}

/// Reads one frame; `None` at the closing frame.
fn next_frame(reader: &mut impl Read) -> Result<Option<(u8, Vec<u8>)>> {
    let truncated = |_| damaged("it ends early");
    let mut kind = [0u8; 1];
    reader.read_exact(&mut kind).map_err(truncated)?;
    if kind[0] == END {
        return Ok(None);
    }
    let mut len = [0u8; 8];
    reader.read_exact(&mut len).map_err(truncated)?;
    let len = u64::from_le_bytes(len);
    if len > MAX_FRAME {
        return Err(damaged("a frame is impossibly large"));
    }
    // Read what is there rather than allocate what the frame claims: a damaged length must
    // not cost memory the file does not hold.
    let mut payload = Vec::new();
    reader
        .take(len)
        .read_to_end(&mut payload)
        .map_err(truncated)?;
    if payload.len() as u64 != len {
        return Err(damaged("it ends early"));
    }
    Ok(Some((kind[0], payload)))
}

/// What checking an archive found: the entries to refuse, and the blobs the others need.
struct Checked {
    refused: HashSet<Digest>,
    wanted: HashSet<Digest>,
}

/// Checks the header, every frame's framing and contents, and the closing hash, without
/// writing: each record decodes, each blob matches its hash, each entry's size is its
/// result's, and each entry's result is in the archive or, `stored_blob` says, the store.
/// An entry `accepts` refuses is noted, not an error.
fn check(
    input: &mut (impl Read + Seek),
    size: u64,
    stored_blob: &dyn Fn(&Digest) -> Result<Option<u64>>,
    accepts: &dyn Fn(&Digest, &EntryRecord) -> bool,
) -> Result<Checked> {
    let mut checked = Checked {
        refused: HashSet::new(),
        wanted: HashSet::new(),
    };
    let mut reader = io::BufReader::new(input);
    let mut hasher = blake3::Hasher::new();
    let mut header = [0u8; 12];
    reader
        .read_exact(&mut header)
        .map_err(|_| damaged("it is too short to be a memo archive"))?;
    if &header[..8] != MAGIC {
        return Err(damaged("it does not start like a memo archive"));
    }
    let version = u32::from_le_bytes(header[8..].try_into().expect("four bytes"));
    if !(1..=ARCHIVE_VERSION).contains(&version) {
        return Err(damaged(format!(
            "it has format version {version}, and this memo reads version {ARCHIVE_VERSION}"
        )));
    }
    hasher.update(&header);
    let mut read = 12u64;
    let missing = missing_fields(version);
    // The sizes of the blobs read so far: an archive holds its blobs before its entries.
    let mut blobs: std::collections::HashMap<Digest, u64> = std::collections::HashMap::new();
    while let Some((kind, payload)) = next_frame(&mut reader)? {
        hasher.update(&[kind]);
        hasher.update(&(payload.len() as u64).to_le_bytes());
        hasher.update(&payload);
        read += 9 + payload.len() as u64;
        if read > size {
            return Err(damaged("it ends early"));
        }
        match kind {
            FUNCTION => {
                decode_exact::<FunctionRecord>(&payload)
                    .ok_or_else(|| damaged("a function record does not decode"))?;
            }
            SOURCE => {
                decode_exact::<SourceFrame>(&payload)
                    .ok_or_else(|| damaged("a source record does not decode"))?;
            }
            BLOB => {
                let frame: BlobFrame =
                    decode_exact(&payload).ok_or_else(|| damaged("a blob does not decode"))?;
                if Digest::of_bytes(&frame.bytes) != frame.hash {
                    return Err(damaged("a blob does not match its hash"));
                }
                blobs.insert(frame.hash, frame.bytes.len() as u64);
            }
            ENTRY => {
                let (key, record) =
                    check_entry(&[&payload[..], missing].concat(), &blobs, stored_blob)?;
                if accepts(&key, &record) {
                    checked.wanted.insert(record.output);
                } else {
                    checked.refused.insert(key);
                }
            }
            other => return Err(damaged(format!("unknown frame kind {other}"))),
        }
    }

    let mut checksum = [0u8; 32];
    reader
        .read_exact(&mut checksum)
        .map_err(|_| damaged("its checksum is missing"))?;
    if checksum != *hasher.finalize().as_bytes() {
        return Err(damaged("its checksum does not match its contents"));
    }
    Ok(checked)
}

/// Checks one entry of an archive: it decodes, its result is in the archive (`blobs`, the
/// sizes of those read before it) or in the store, and its size is that result's.
fn check_entry(
    payload: &[u8],
    blobs: &std::collections::HashMap<Digest, u64>,
    stored_blob: &dyn Fn(&Digest) -> Result<Option<u64>>,
) -> Result<(Digest, EntryRecord)> {
    let EntryFrame { key, record } =
        decode_exact(payload).ok_or_else(|| damaged("an entry does not decode"))?;
    let size = match &record.inline {
        Some(inline) => {
            if Digest::of_bytes(inline) != record.output {
                return Err(damaged("an entry's result does not match its hash"));
            }
            Some(inline.len() as u64)
        }
        None => match blobs.get(&record.output) {
            Some(size) => Some(*size),
            None => stored_blob(&record.output)?,
        },
    };
    match size {
        None => return Err(damaged("an entry's result is missing from the archive")),
        Some(size) if size != record.size => {
            return Err(damaged(format!(
                "an entry claims a result of {} bytes that has {size}",
                record.size
            )));
        }
        Some(_) => {}
    }
    Ok((key, record))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An archive as format 1 wrote it: one entry whose result is inside it.
    fn archive_v1(key: Digest, value: &[u8]) -> Vec<u8> {
        let mut writer = FrameWriter {
            out: Vec::new(),
            hasher: blake3::Hasher::new(),
        };
        writer.raw(MAGIC).unwrap();
        writer.raw(&1u32.to_le_bytes()).unwrap();
        // The entry record of format 1, written out here as it was, so that the import
        // is checked against it rather than against its own idea of it.
        #[derive(Serialize)]
        struct RecordV1 {
            output: Digest,
            created_ms: u64,
            expires_ms: Option<u64>,
            last_used_ms: u64,
            inline: Option<Vec<u8>>,
            function: String,
            fingerprint: Digest,
            tags: Vec<String>,
            size: u64,
            inputs: Vec<Digest>,
        }
        let record = RecordV1 {
            output: Digest::of_bytes(value),
            created_ms: 1,
            expires_ms: None,
            last_used_ms: 1,
            inline: Some(value.to_vec()),
            function: "old::f".into(),
            fingerprint: Digest([3; 32]),
            tags: vec!["t".into()],
            size: value.len() as u64,
            inputs: Vec::new(),
        };
        writer.frame(ENTRY, &encode(&(key, record))).unwrap();
        let checksum = *writer.hasher.finalize().as_bytes();
        let mut out = writer.out;
        out.push(END);
        out.extend_from_slice(&checksum);
        out
    }

    #[test]
    fn an_archive_of_format_1_is_imported_without_arguments() {
        let store = Store::temporary().unwrap();
        let key = Digest([9; 32]);
        let archive = archive_v1(key, b"\x07");
        // Its entries carry no MAC: refused unless trusted.
        let refused = store
            .import(std::io::Cursor::new(&archive), &mut |_, _| {})
            .unwrap();
        assert_eq!((refused.entries, refused.refused_entries), (0, 1));
        let report = store
            .import_trusting(std::io::Cursor::new(&archive), &mut |_, _| {})
            .unwrap();
        assert_eq!(report.entries, 1);
        let entry = store.entry(&key).unwrap().unwrap();
        assert_eq!(
            (entry.function.as_str(), entry.args, entry.call),
            ("old::f", None, None)
        );
        assert_eq!(store.result(&key).unwrap().unwrap(), b"\x07");
    }

    /// An archive of this format holding `entries`, their results inside them.
    fn archive_of(entries: &[(Digest, EntryRecord)]) -> Vec<u8> {
        let mut writer = FrameWriter {
            out: Vec::new(),
            hasher: blake3::Hasher::new(),
        };
        writer.raw(MAGIC).unwrap();
        writer.raw(&ARCHIVE_VERSION.to_le_bytes()).unwrap();
        for (key, record) in entries {
            let frame = EntryFrame {
                key: *key,
                record: record.clone(),
            };
            writer.frame(ENTRY, &encode(&frame)).unwrap();
        }
        let checksum = *writer.hasher.finalize().as_bytes();
        let mut out = writer.out;
        out.push(END);
        out.extend_from_slice(&checksum);
        out
    }

    fn record(value: &[u8], created_ms: u64, expires_ms: Option<u64>) -> EntryRecord {
        EntryRecord {
            output: Digest::of_bytes(value),
            created_ms,
            expires_ms,
            last_used_ms: created_ms,
            inline: Some(value.to_vec()),
            function: "m::f".into(),
            fingerprint: Digest([3; 32]),
            tags: Vec::new(),
            size: value.len() as u64,
            inputs: Vec::new(),
            call: None,
            args: None,
            compute_ns: None,
            mac: None,
        }
    }

    #[test]
    fn only_entries_bound_to_their_key_by_this_stores_secret_come_in_untrusted() {
        let now = crate::clock::now_ms();
        let store = Store::temporary().unwrap();
        let seal = &store.inner.seal;
        let (own, moved, foreign, unsigned) = (
            Digest([1; 32]),
            Digest([2; 32]),
            Digest([3; 32]),
            Digest([4; 32]),
        );
        let signed = |key: &Digest, value: &[u8]| {
            let mut record = record(value, now, None);
            record.mac = Some(seal.mac(key, &record.output));
            record
        };
        let other = Store::temporary().unwrap();
        let mut theirs = record(b"theirs", now, None);
        theirs.mac = Some(other.inner.seal.mac(&foreign, &theirs.output));
        let archive = archive_of(&[
            (own, signed(&own, b"own")),
            // A result signed for another key, planted under this one.
            (moved, signed(&own, b"planted")),
            (foreign, theirs),
            (unsigned, record(b"unsigned", now, None)),
        ]);
        let report = store
            .import(std::io::Cursor::new(&archive), &mut |_, _| {})
            .unwrap();
        assert_eq!((report.entries, report.refused_entries), (1, 3));
        let keys: Vec<Digest> = store.entries().unwrap().iter().map(|e| e.key).collect();
        assert_eq!(keys, vec![own]);
        assert!(store.verify(&mut |_, _| {}).unwrap().is_clean());
        // Trusted, they come in signed with this store's secret.
        let report = store
            .import_trusting(std::io::Cursor::new(&archive), &mut |_, _| {})
            .unwrap();
        assert_eq!((report.entries, report.skipped_entries), (3, 1));
        assert_eq!(store.entries().unwrap().len(), 4);
        assert!(store.verify(&mut |_, _| {}).unwrap().is_clean());
    }

    #[test]
    fn an_archive_with_one_bad_entry_changes_nothing() {
        let now = crate::clock::now_ms();
        let good = record(b"good", now, None);
        let mut lying = record(b"lie", now, None);
        lying.size = 1 << 60; // an exbibyte claimed for three bytes
        let mut wrong_hash = record(b"x", now, None);
        wrong_hash.output = Digest([1; 32]);
        for bad in [lying, wrong_hash] {
            let store = Store::temporary().unwrap();
            let archive = archive_of(&[(Digest([1; 32]), good.clone()), (Digest([2; 32]), bad)]);
            let error = store
                .import_trusting(std::io::Cursor::new(archive), &mut |_, _| {})
                .unwrap_err();
            assert!(matches!(error, Error::Archive(_)), "{error}");
            assert!(
                store.entries().unwrap().is_empty(),
                "{error}: nothing imported"
            );
        }
        let store = Store::temporary().unwrap();
        let archive = archive_of(&[(Digest([1; 32]), good)]);
        assert_eq!(
            store
                .import_trusting(std::io::Cursor::new(archive), &mut |_, _| {})
                .unwrap()
                .entries,
            1
        );
    }

    #[test]
    fn an_imported_expiry_is_never_later_than_its_ttl_from_now() {
        let now = crate::clock::now_ms();
        let hour = 3_600_000;
        let year = 365 * 24 * hour;
        // Written with a clock a year ahead, `ttl = 1h`: it lives an hour from the import,
        // not a year and an hour.
        let ahead = record(b"ahead", now + year, Some(now + year + hour));
        let store = Store::temporary().unwrap();
        let archive = archive_of(&[(Digest([1; 32]), ahead)]);
        store
            .import_trusting(std::io::Cursor::new(archive), &mut |_, _| {})
            .unwrap();
        let later = crate::clock::now_ms();
        let entry = store.entry(&Digest([1; 32])).unwrap().unwrap();
        assert!(crate::clock::to_ms(entry.created) <= later, "{entry:?}");
        assert!(
            crate::clock::to_ms(entry.expires.unwrap()) <= later + hour,
            "{entry:?}"
        );
    }
}
