//! A connection to the process that holds a store, with a breaker: a holder that stops
//! answering costs a call at most [`RECEIPT_TIMEOUT`] (a removal, which a user asked for,
//! [`REMOVAL_RECEIPT_TIMEOUT`]), after which the process runs
//! uncached and asks again only after a backoff. A connection that failed is never used
//! again — a late answer must not be read as the next request's — so each retry connects
//! afresh, to whichever process holds the store by then.

use std::io::{self, Read};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use super::peer::{self, Refusal};
use super::{Address, Numbered, RECEIPT, Request, Response, read_message, write_message};
use crate::error::{Error, Result};
use crate::store::BlobFile;
use crate::store::access::{Bytes, FunctionInfo, Hit, NewEntry, Payload};
use crate::store::seal::Seal;
use crate::{Digest, Store};

/// How long a holder has to say it received a request.
const RECEIPT_TIMEOUT: Duration = Duration::from_millis(50);
/// How long a holder has to receive a removal: asked for by a user (`memo invalidate`, a
/// program's `invalidate_tag`), not on a call's path, so a busy holder is waited for.
const REMOVAL_RECEIPT_TIMEOUT: Duration = Duration::from_secs(5);
/// How long a holder that received a request has to answer it (it may be reading a large
/// result).
const ANSWER_TIMEOUT: Duration = Duration::from_secs(30);
/// How long a holder has to take each part of a large request: one that reads nothing
/// for this long has stopped.
const WRITE_TIMEOUT: Duration = Duration::from_secs(1);
/// The first and the longest wait before a holder that did not answer is asked again.
const BACKOFF: (Duration, Duration) = (Duration::from_millis(100), Duration::from_secs(5));

/// A connection to the process that holds a store.
pub(crate) struct Remote {
    dir: PathBuf,
    holder: Option<u32>,
    state: Mutex<State>,
    /// Set when the holder is gone (nothing listens at its address): the store must be
    /// opened again, held here or served by whoever holds it now.
    broken: AtomicBool,
}

/// A connection, registered so that a forked child closes it at once.
struct Connection(UnixStream);

impl Connection {
    fn new(stream: UnixStream) -> Connection {
        crate::store::fork::track_connection(std::os::fd::AsRawFd::as_raw_fd(&stream));
        Connection(stream)
    }
}

impl Drop for Connection {
    fn drop(&mut self) {
        crate::store::fork::untrack_connection(std::os::fd::AsRawFd::as_raw_fd(&self.0));
    }
}

struct State {
    stream: Option<Connection>,
    /// The number of the next request.
    next: u64,
    /// Failures in a row, and when to try again after the last.
    failures: u32,
    retry_at: Option<Instant>,
}

/// A connection to the holder of the store in `dir`, greeted: the holder is this user's
/// and speaks this protocol.
fn connect(dir: &Path) -> Result<UnixStream, Refusal> {
    let mut stream = Address::of(dir).connect()?;
    stream.set_write_timeout(Some(WRITE_TIMEOUT))?;
    peer::greet_holder(&mut stream)?;
    Ok(stream)
}

impl Remote {
    /// Connects to the holder of the store in `dir`, if one serves it; an error if it
    /// serves it but cannot serve this process (another user's, another protocol's).
    pub(crate) fn connect(dir: &Path, holder: Option<u32>) -> Result<Option<Remote>> {
        let stream = match connect(dir) {
            Ok(stream) => stream,
            Err(Refusal::Failed(_)) => return Ok(None),
            Err(Refusal::Incompatible(detail)) => {
                return Err(Error::Served {
                    dir: dir.to_owned(),
                    holder,
                    detail,
                });
            }
        };
        Ok(Some(Remote {
            dir: dir.to_owned(),
            holder,
            state: Mutex::new(State {
                stream: Some(Connection::new(stream)),
                next: 1,
                failures: 0,
                retry_at: None,
            }),
            broken: AtomicBool::new(false),
        }))
    }

    fn failure(&self, detail: impl Into<String>) -> Error {
        Error::Served {
            dir: self.dir.clone(),
            holder: self.holder,
            detail: detail.into(),
        }
    }

    fn request(&self, request: Request<'_>) -> Result<Response> {
        let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        if state.stream.is_none() {
            if state.retry_at.is_some_and(|at| Instant::now() < at) {
                return Err(self.failure("it did not answer; asking again shortly"));
            }
            match connect(&self.dir) {
                Ok(stream) => state.stream = Some(Connection::new(stream)),
                Err(refusal) => {
                    let error = match refusal {
                        Refusal::Failed(error) => error,
                        // Whoever holds the store now cannot serve this process.
                        Refusal::Incompatible(detail) => io::Error::other(detail),
                    };
                    self.gone(&mut state, &error);
                    return Err(self.failure(error.to_string()));
                }
            }
        }
        let number = state.next;
        state.next += 1;
        let Some(Connection(stream)) = state.stream.as_mut() else {
            return Err(self.failure("not connected"));
        };
        let receipt = match request {
            Request::Remove(_) => REMOVAL_RECEIPT_TIMEOUT,
            _ => RECEIPT_TIMEOUT,
        };
        match exchange(stream, number, request, receipt) {
            Ok(response) => {
                state.failures = 0;
                match response {
                    Response::Failed(detail) => Err(self.failure(detail)),
                    response => Ok(response),
                }
            }
            Err(error) => {
                self.gone(&mut state, &error);
                Err(self.failure(error.to_string()))
            }
        }
    }

    /// Drops the connection after `error`, and backs off before the next.
    fn gone(&self, state: &mut State, error: &io::Error) {
        state.stream = None;
        state.failures += 1;
        let backoff = BACKOFF.0.saturating_mul(1 << state.failures.min(8)) / 2;
        state.retry_at = Some(Instant::now() + backoff.min(BACKOFF.1));
        // Nothing listens: the holder exited or died, and the store can be taken over.
        if matches!(
            error.kind(),
            io::ErrorKind::NotFound
                | io::ErrorKind::ConnectionRefused
                | io::ErrorKind::ConnectionReset
                | io::ErrorKind::BrokenPipe
                | io::ErrorKind::UnexpectedEof
        ) {
            self.broken.store(true, Ordering::Release);
        }
    }

    /// The result stored under `key`, checked as it arrives: the holder binds it to the
    /// key with the store's secret (`seal`), and its bytes must be what it names.
    pub(crate) fn get(&self, key: &Digest, seal: &Seal) -> Result<Option<Hit>> {
        let (output, payload, expires_ms, mac) = match self.request(Request::Get(*key))? {
            Response::Found(Some((output, bytes, expires_ms, mac))) => {
                if Digest::of_bytes(&bytes) != output {
                    return Err(self.failure("it sent a result whose bytes are not its hash's"));
                }
                (output, Payload::Bytes(bytes.into()), expires_ms, mac)
            }
            // The file is in the store's directory, shared: read here, not sent (and
            // checked against its hash as it is read).
            Response::FoundFile(output, size, expires_ms, mac) => {
                let file = BlobFile::of(&self.dir, &output, size);
                if !file.is_there() {
                    return Ok(None);
                }
                (output, Payload::File(file), expires_ms, mac)
            }
            _ => return Ok(None),
        };
        if !seal.checks(key, &output, Some(&mac)) {
            return Err(self.failure("it sent a result not bound to its key by the store's secret"));
        }
        Ok(Some(Hit {
            output,
            payload,
            expires_ms,
        }))
    }

    /// Offers the holder a result for `key`, bound to it by `mac` (see `seal`).
    pub(crate) fn put(
        &self,
        entry: &NewEntry<'_>,
        key: &Digest,
        output: Digest,
        bytes: Bytes<'_>,
        inputs: &[Digest],
        mac: Digest,
    ) -> Result<()> {
        let (entry, key, inputs) = (entry.clone(), *key, inputs.to_vec());
        self.request(match bytes {
            Bytes::Held(bytes) => Request::Put {
                entry,
                key,
                output,
                bytes,
                inputs,
                mac,
            },
            // Written by this process beside the database: only its pointer is sent.
            Bytes::File(size) => Request::PutFile {
                entry,
                key,
                output,
                size,
                inputs,
                mac,
            },
        })
        .map(drop)
    }

    pub(crate) fn record(&self, info: &FunctionInfo) -> Result<()> {
        self.request(Request::Record(info.clone())).map(drop)
    }

    /// Asks the holder to lead the computation of `key`; `false` if another process (or
    /// the holder) already computes it.
    pub(crate) fn lead(&self, key: &Digest) -> Result<bool> {
        match self.request(Request::Lead(*key))? {
            Response::Lead(leads) => Ok(leads),
            _ => Ok(true),
        }
    }

    /// Waits a moment for the computation of `key` that another process leads; whether it
    /// has finished.
    pub(crate) fn wait(&self, key: &Digest) -> Result<bool> {
        match self.request(Request::Await(*key))? {
            Response::Awaited(finished) => Ok(finished),
            _ => Ok(true),
        }
    }

    /// Tells the holder a result was replaced, so that its memory tiers start afresh.
    pub(crate) fn forget(&self) -> Result<()> {
        self.request(Request::Forget).map(drop)
    }

    /// Hands the holder what this process's shared tier counted, for the store's totals.
    pub(crate) fn count_remote(&self, counts: crate::RemoteCounts) -> Result<()> {
        self.request(Request::CountRemote(counts)).map(drop)
    }

    /// Has the holder remove entries; how many it removed.
    pub(crate) fn remove(&self, removal: super::Removal<'_>) -> Result<u64> {
        match self.request(Request::Remove(removal))? {
            Response::Removed(removed) => Ok(removed),
            _ => Err(self.failure("it answered a removal with something else")),
        }
    }

    /// Gives up leading the computation of `key`.
    pub(crate) fn release(&self, key: &Digest) -> Result<()> {
        self.request(Request::Release(*key)).map(drop)
    }

    /// Whether the holder has gone, so that the store can be opened again.
    pub(crate) fn is_broken(&self) -> bool {
        self.broken.load(Ordering::Acquire)
    }

    /// The process serving this store.
    pub(crate) fn holder(&self) -> Option<u32> {
        self.holder
    }
}

/// An entry of function `name` made now, with nothing else known of it.
fn bare_entry(name: &str) -> NewEntry<'_> {
    NewEntry {
        name,
        fingerprint: [0; 32],
        created_ms: crate::clock::now_ms(),
        expires_ms: None,
        tags: Vec::new(),
        args: None,
        call: None,
        compute_ns: None,
    }
}

/// Sends request `number` and reads its answer: the receipt within `receipt_timeout`,
/// then the response, which must carry the same number.
fn exchange(
    stream: &mut UnixStream,
    number: u64,
    request: Request<'_>,
    receipt_timeout: Duration,
) -> io::Result<Response> {
    write_message(stream, &Numbered { number, request })?;
    stream.set_read_timeout(Some(receipt_timeout))?;
    let mut receipt = [0u8];
    stream.read_exact(&mut receipt)?;
    if receipt[0] != RECEIPT {
        return Err(io::Error::other("the holder answered out of turn"));
    }
    stream.set_read_timeout(Some(ANSWER_TIMEOUT))?;
    let bytes = read_message(stream)?;
    match postcard::from_bytes::<(u64, Response)>(&bytes) {
        Ok((answered, response)) if answered == number => Ok(response),
        Ok(_) => Err(io::Error::other("the holder answered another request")),
        Err(error) => Err(io::Error::other(error)),
    }
}

/// Who computes a key that every process sharing the store missed.
pub(crate) enum Lead {
    /// Nobody can say (the holder does not answer): this process computes.
    Alone,
    /// This process computes; the others wait until the lease is dropped.
    Leads(Lease),
    /// Another process is computing it: wait for it ([`Store::await_lead`]), then look
    /// the key up.
    Busy,
}

/// The lead of one computation among the processes sharing a store; dropped, it is let
/// go of (a no-op for a served process once its result was stored, which ends it too).
pub(crate) enum Lease {
    /// Taken in the holder's own table.
    Here { _held: super::Held },
    /// Taken from the holder, by a process it serves.
    Served { store: Store, key: Digest },
}

impl Drop for Lease {
    fn drop(&mut self) {
        if let Lease::Served { store, key } = self
            && let Some(remote) = &store.inner.remote
        {
            let _ = remote.release(key);
        }
    }
}

impl Store {
    /// For a store another process holds, has the holder make a removal — so that its
    /// memory tiers forget what it removes, as they do for its own — and says how many
    /// entries went; `None` for a store this process holds.
    pub(crate) fn remove_through_holder(
        &self,
        removal: super::Removal<'_>,
    ) -> Result<Option<usize>> {
        let Some(remote) = &self.inner.remote else {
            return Ok(None);
        };
        if self.inner.forked() {
            // The handle of a parent process: says so.
            return self.inner.local().map(|()| None);
        }
        let removed = remote.remove(removal)?;
        self.inner
            .epoch
            .fetch_add(1, std::sync::atomic::Ordering::AcqRel);
        Ok(Some(usize::try_from(removed).unwrap_or(usize::MAX)))
    }

    /// Offers the holder `bytes` as the result for `key` with a MAC made for `bound_to`:
    /// a served process planting a result under another key (`raw::offer`).
    pub(crate) fn offer(&self, key: &Digest, bound_to: &Digest, bytes: &[u8]) -> Result<()> {
        let Some(remote) = &self.inner.remote else {
            return Err(Error::Served {
                dir: self.inner.dir.clone(),
                holder: None,
                detail: "this process holds the store: there is nobody to offer to".into(),
            });
        };
        let output = Digest::of_bytes(bytes);
        let mac = self.inner.seal.mac(bound_to, &output);
        remote.put(
            &bare_entry("planted::result"),
            key,
            output,
            Bytes::Held(bytes),
            &[],
            mac,
        )
    }

    /// Whether this process computes `key`, which it missed, or another process sharing
    /// the store already does. Asks the holder when another process holds the store;
    /// never waits for a computation.
    pub(crate) fn try_lead(&self, key: &Digest) -> Lead {
        let Some(remote) = &self.inner.remote else {
            return match self.inner.leases.take(*key) {
                Some(held) => Lead::Leads(Lease::Here { _held: held }),
                None => Lead::Busy,
            };
        };
        match remote.lead(key) {
            Ok(true) => Lead::Leads(Lease::Served {
                store: self.clone(),
                key: *key,
            }),
            Ok(false) => Lead::Busy,
            Err(_) => Lead::Alone,
        }
    }

    /// Blocks until the computation of `key` another process leads has ended — or the
    /// holder can no longer say: the caller looks the key up, then asks to lead again.
    pub(crate) fn await_lead(&self, key: &Digest) {
        // In slices, so that a holder that stopped answering is noticed.
        let wait = || match &self.inner.remote {
            None => Ok(self.inner.leases.wait_for(key, super::AWAIT_SLICE)),
            Some(remote) => remote.wait(key),
        };
        while let Ok(false) = wait() {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::serve::{peer, read_message};
    use std::io::Write as _;

    /// A holder that answers every `Get` with `answer`: a process that took the store's
    /// address, or one whose memory went bad.
    fn rogue_holder(dir: &Path, answer: Response) -> std::thread::JoinHandle<()> {
        let listener = Address::of(dir).bind().unwrap();
        std::thread::spawn(move || {
            let (mut stream, _) = listener.accept().unwrap();
            peer::greet_asker(&mut stream).unwrap();
            let asked = read_message(&mut stream).unwrap();
            let Numbered { number, .. } = postcard::from_bytes(&asked).unwrap();
            stream.write_all(&[RECEIPT]).unwrap();
            write_message(&mut stream, &(number, answer)).unwrap();
        })
    }

    #[test]
    fn a_result_from_the_holder_is_checked_against_its_hash_and_its_key() {
        let key = Digest([5; 32]);
        let bytes = b"a result".to_vec();
        let output = Digest::of_bytes(&bytes);
        let dir = tempfile::tempdir().unwrap();
        let seal = Seal::load_or_create(dir.path(), true).unwrap();
        let other_key = Digest([6; 32]);
        for (answer, why) in [
            (
                Response::Found(Some((
                    output,
                    bytes.clone(),
                    None,
                    seal.mac(&other_key, &output),
                ))),
                "not bound to its key",
            ),
            (
                Response::Found(Some((
                    output,
                    b"other bytes".to_vec(),
                    None,
                    seal.mac(&key, &output),
                ))),
                "bytes are not its hash",
            ),
        ] {
            let holder = rogue_holder(dir.path(), answer);
            let remote = Remote::connect(dir.path(), None).unwrap().unwrap();
            let Err(error) = remote.get(&key, &seal) else {
                panic!("took a result {why}");
            };
            let error = error.to_string();
            assert!(error.contains(why), "{error}");
            holder.join().unwrap();
            Address::of(dir.path()).remove();
        }
        // What a holder with the store's secret sends is taken.
        let holder = rogue_holder(
            dir.path(),
            Response::Found(Some((output, bytes.clone(), None, seal.mac(&key, &output)))),
        );
        let remote = Remote::connect(dir.path(), None).unwrap().unwrap();
        let hit = remote.get(&key, &seal).unwrap().unwrap();
        assert_eq!(hit.output, output);
        holder.join().unwrap();
    }

    #[test]
    fn the_holder_refuses_and_counts_a_result_not_bound_to_its_key() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let seal = Seal::load(&store.inner.dir).unwrap();
        let remote = Remote::connect(&store.inner.dir, None).unwrap().unwrap();
        let (planted, honest) = (Digest([7; 32]), Digest([8; 32]));
        let bytes: &[u8] = b"a result";
        let output = Digest::of_bytes(bytes);
        let entry = bare_entry("m::f");
        let offer = |key: &Digest, mac: Digest, bytes: &[u8]| {
            remote.put(&entry, key, output, Bytes::Held(bytes), &[], mac)
        };
        // Bound to another key; bound right but with other bytes; under another secret.
        let elsewhere = tempfile::tempdir().unwrap();
        let foreign = Seal::load_or_create(elsewhere.path(), true).unwrap();
        for (mac, bytes) in [
            (seal.mac(&honest, &output), bytes),
            (seal.mac(&planted, &output), &b"other bytes"[..]),
            (foreign.mac(&planted, &output), bytes),
        ] {
            let error = offer(&planted, mac, bytes).unwrap_err().to_string();
            assert!(error.contains("refused"), "{error}");
        }
        offer(&honest, seal.mac(&honest, &output), bytes).unwrap();
        assert!(store.entry(&planted).unwrap().is_none(), "not stored");
        assert!(store.entry(&honest).unwrap().is_some());
        assert_eq!(store.stats().unwrap().refused, 3);
        assert!(store.verify(&mut |_, _| {}).unwrap().is_clean());
    }
}
