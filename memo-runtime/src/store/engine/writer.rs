//! The write buffer and the thread that commits it.
//!
//! Writes gather in `pending`. The writer takes all of them at once into `committing`,
//! commits them in one transaction, and empties `committing`; both are read under one
//! lock, so a read finds a write in the buffer until the moment the file has it. Batches
//! are numbered: `sync` waits for the batch that holds what was written before it.
//!
//! Reads of the file go through a snapshot (one read transaction with its tables open),
//! shared until the next commit: opening a transaction and its table costs more than the
//! read itself. Each commit starts a new generation, and a snapshot serves only the
//! generation it was taken in, so no read misses a committed write.

use std::collections::HashMap;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use super::{Bytes, EngineError, EngineResult, Shared, Snapshot, Table};

/// How long `sync` waits for the writer before it reports a failure (a full disk can
/// stall a write), on top of [`PER_MIB`] for each MiB it has to write: a large result is
/// waited for as long as writing it takes on a slow disk, not cut off at a fixed time.
const SYNC_TIMEOUT: Duration = Duration::from_secs(3);
const PER_MIB: Duration = Duration::from_millis(50);

/// How long writing `bytes` may take.
fn allowance(bytes: usize) -> Duration {
    SYNC_TIMEOUT + PER_MIB * u32::try_from(bytes >> 20).unwrap_or(u32::MAX)
}

/// Above this many buffered bytes a write waits for the writer, so memory stays bounded
/// when results come faster than the disk takes them.
const MAX_PENDING_BYTES: usize = 32 << 20;

/// What a buffered write costs beyond its bytes: its map slot and two allocations.
const OP_OVERHEAD: usize = 64;

/// How long the writer gathers writes before it commits them, unless someone waits. Each
/// commit copies the pages it touches, so fewer, larger commits keep the file smaller; a
/// crash loses at most this much.
const GATHER: Duration = Duration::from_millis(10);

type Map = HashMap<Box<[u8]>, Option<Bytes>, foldhash::fast::FixedState>;

/// Writes of one transaction, by table; `None` removes.
#[derive(Default)]
pub(crate) struct Batch {
    tables: [Map; Table::ALL.len()],
    bytes: usize,
}

impl Batch {
    pub(super) fn ops(&self, table: Table) -> &Map {
        &self.tables[table.index()]
    }

    fn is_empty(&self) -> bool {
        self.tables.iter().all(Map::is_empty)
    }

    /// Adds a write of `key` in `table` (`None` removes).
    pub(super) fn put(&mut self, table: Table, key: &[u8], value: Option<Bytes>) {
        self.bytes += key.len() + value.as_ref().map_or(0, |v| v.len()) + OP_OVERHEAD;
        self.tables[table.index()].insert(key.into(), value);
    }

    fn get(&self, table: Table, key: &[u8]) -> Option<Option<Bytes>> {
        let map = &self.tables[table.index()];
        if map.is_empty() {
            return None;
        }
        map.get(key).cloned()
    }
}

struct State {
    pending: Batch,
    committing: Arc<Batch>,
    /// Batches taken by the writer, and finished (committed or failed).
    started: u64,
    finished: u64,
    /// The error of the last batch that failed, the batch's number, and whether it was
    /// damage.
    failed: Option<(u64, String, bool)>,
    /// The last failed batch a `sync` reported.
    reported: u64,
    stop: bool,
    /// Someone waits for the pending writes: commit them without gathering more.
    urgent: bool,
    /// Bumped by every change to the file; `snapshot` was taken in this generation.
    generation: u64,
    snapshot: Option<Arc<Snapshot>>,
}

/// Where a read finds its value.
pub(super) enum Found {
    /// In the buffer: the value, or `None` if it is buffered as removed.
    Buffered(Option<Bytes>),
    /// In the file, as of `generation`, through `snapshot` if one is current.
    InFile {
        generation: u64,
        snapshot: Option<Arc<Snapshot>>,
    },
}

/// The buffer: what is written and not yet in the file.
pub(crate) struct Buffered {
    state: Mutex<State>,
    /// Signalled when there is work for the writer, and when a batch finishes.
    changed: Condvar,
    on_error: Box<dyn Fn(&EngineError) + Send + Sync>,
}

impl Buffered {
    pub(super) fn new(on_error: Box<dyn Fn(&EngineError) + Send + Sync>) -> Buffered {
        Buffered {
            state: Mutex::new(State {
                pending: Batch::default(),
                committing: Arc::default(),
                started: 0,
                finished: 0,
                failed: None,
                reported: 0,
                stop: false,
                urgent: false,
                generation: 0,
                snapshot: None,
            }),
            changed: Condvar::new(),
            on_error,
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state
            .lock()
            .unwrap_or_else(|poison| poison.into_inner())
    }

    /// Where the value under `key` is to be read.
    pub(super) fn find(&self, table: Table, key: &[u8]) -> Found {
        let state = self.lock();
        match state
            .pending
            .get(table, key)
            .or_else(|| state.committing.get(table, key))
        {
            Some(value) => Found::Buffered(value),
            None => Found::InFile {
                generation: state.generation,
                snapshot: state.snapshot.clone(),
            },
        }
    }

    /// Keeps `snapshot`, taken after `generation` began, for the reads that follow, unless
    /// the file has changed since.
    pub(super) fn keep_snapshot(&self, generation: u64, snapshot: &Arc<Snapshot>) {
        let mut state = self.lock();
        if state.generation == generation {
            state.snapshot = Some(Arc::clone(snapshot));
        }
    }

    /// Says that the file changed: the current snapshot no longer serves.
    pub(super) fn file_changed(&self) {
        let mut state = self.lock();
        state.generation += 1;
        state.snapshot = None;
    }

    pub(super) fn put(&self, table: Table, key: &[u8], value: Option<Bytes>) {
        let mut state = self.lock();
        let was_empty = state.pending.is_empty();
        state.pending.put(table, key, value);
        if state.pending.bytes > MAX_PENDING_BYTES {
            // Wait for the writer to take the buffer, unless it stopped.
            let target = state.started + 1;
            state.urgent = true;
            self.changed.notify_all();
            let _unused = self
                .changed
                .wait_timeout_while(state, SYNC_TIMEOUT, |s| s.started < target && !s.stop);
        } else if was_empty {
            // The writer sleeps until there is something to gather.
            drop(state);
            self.changed.notify_all();
        }
    }

    /// Waits until everything written before this call is committed.
    pub(super) fn sync(&self) -> EngineResult<()> {
        let mut state = self.lock();
        let target = if !state.pending.is_empty() {
            state.started + 1
        } else {
            state.started
        };
        if state.finished < target {
            state.urgent = true;
            self.changed.notify_all();
            let deadline = Instant::now() + allowance(state.pending.bytes + state.committing.bytes);
            while state.finished < target {
                let left = deadline.saturating_duration_since(Instant::now());
                if left.is_zero() || state.stop {
                    return Err(EngineError::Failed(
                        "the storage engine did not finish writing in time (is the disk full?)"
                            .into(),
                    ));
                }
                state = self
                    .changed
                    .wait_timeout(state, left)
                    .unwrap_or_else(|poison| poison.into_inner())
                    .0;
            }
        }
        // Any batch that failed since the last one reported counts, not only the last:
        // what it held is not on disk.
        match &state.failed {
            Some((batch, error, damage)) if *batch <= target && *batch > state.reported => {
                let error = if *damage {
                    EngineError::Corrupt(error.clone())
                } else {
                    EngineError::Failed(error.clone().into())
                };
                state.reported = *batch;
                Err(error)
            }
            _ => Ok(()),
        }
    }
}

/// The writer thread; dropping this commits what is left and stops it.
pub(crate) struct Writer {
    shared: Arc<Shared>,
    thread: Option<JoinHandle<()>>,
}

impl Writer {
    pub(super) fn start(shared: Arc<Shared>) -> std::io::Result<Writer> {
        let thread = {
            let shared = Arc::clone(&shared);
            std::thread::Builder::new()
                .name("memo-writer".into())
                .spawn(move || run(&shared))?
        };
        Ok(Writer {
            shared,
            thread: Some(thread),
        })
    }

    /// Commits what is buffered and stops the thread, waiting up to the sync timeout for
    /// it; `false` if it did not stop in time (it is then left to finish on its own).
    pub(crate) fn stop(&mut self) -> bool {
        let buffer = &self.shared.buffer;
        let _ = buffer.sync();
        buffer.lock().stop = true;
        buffer.changed.notify_all();
        let Some(thread) = self.thread.take() else {
            return true;
        };
        let left = {
            let state = buffer.lock();
            state.pending.bytes + state.committing.bytes
        };
        let deadline = Instant::now() + allowance(left);
        while !thread.is_finished() {
            if Instant::now() >= deadline {
                return false;
            }
            std::thread::sleep(Duration::from_millis(1));
        }
        let _ = thread.join();
        true
    }
}

impl Drop for Writer {
    fn drop(&mut self) {
        self.stop();
    }
}

fn run(shared: &Shared) {
    let buffer = &shared.buffer;
    loop {
        let (batch, number) = {
            let mut state = buffer.lock();
            while state.pending.is_empty() && !state.stop {
                state = buffer
                    .changed
                    .wait(state)
                    .unwrap_or_else(|poison| poison.into_inner());
            }
            if !state.urgent && !state.stop {
                state = buffer
                    .changed
                    .wait_timeout_while(state, GATHER, |s| !s.urgent && !s.stop)
                    .unwrap_or_else(|poison| poison.into_inner())
                    .0;
            }
            if state.pending.is_empty() {
                return; // stopped, with nothing left
            }
            state.urgent = false;
            let batch = Arc::new(std::mem::take(&mut state.pending));
            state.committing = Arc::clone(&batch);
            state.started += 1;
            (batch, state.started)
        };
        buffer.changed.notify_all();
        // A panic inside the engine must not take the writer down with what it holds; a
        // damaged file is replaced and the batch committed to the fresh one.
        let result = shared.healing(|| super::contained(|| shared.commit(&batch)));
        // Taken by the empty stand-in of a file that could not be opened again: it
        // serves the batch meanwhile, and forgets it when the file is back.
        let detached = shared.is_detached();
        if let Err(error) = &result {
            (buffer.on_error)(error);
        }
        let mut state = buffer.lock();
        // In one step with emptying `committing`: a read that no longer finds the batch
        // there takes a snapshot that has it.
        state.generation += 1;
        let stale = state.snapshot.take();
        state.committing = Arc::default();
        state.finished = number;
        let failed = result.is_err();
        if let Err(error) = result {
            state.failed = Some((
                number,
                match &error {
                    EngineError::Corrupt(detail) => detail.clone(),
                    other => other.to_string(),
                },
                error.is_damage(),
            ));
        }
        if failed || detached {
            // A lost result is only a miss; a lost removal would bring back what was
            // invalidated. Removals go back in the buffer, unless a newer write of the
            // same key is there, and are committed with the next batch — to the file,
            // once it is back (not once the writer is stopping: nothing would be left to
            // take them).
            let stopping = state.stop;
            for table in Table::ALL.into_iter().filter(|_| !stopping) {
                for (key, value) in batch.ops(table) {
                    let pending = &mut state.pending.tables[table.index()];
                    if value.is_none() && !pending.contains_key(key) {
                        pending.insert(key.clone(), None);
                        state.pending.bytes += key.len() + OP_OVERHEAD;
                    }
                }
            }
        }
        drop(state);
        drop(stale); // its read transaction ends here, outside the lock
        buffer.changed.notify_all();
        if failed || detached {
            // Not straight back at a disk that just failed, or a file not back yet.
            let state = buffer.lock();
            let _unused = buffer
                .changed
                .wait_timeout_while(state, RETRY_AFTER_FAILURE, |s| !s.stop)
                .unwrap_or_else(|poison| poison.into_inner());
        }
    }
}

/// How long the writer waits after a commit failed before it tries the next.
const RETRY_AFTER_FAILURE: Duration = Duration::from_millis(100);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_large_write_is_waited_for_as_long_as_a_slow_disk_takes() {
        assert_eq!(allowance(0), SYNC_TIMEOUT);
        assert_eq!(allowance(1 << 20), SYNC_TIMEOUT + PER_MIB);
        // 1.2 GB: a minute on a disk of 20 MB/s, not 3 s.
        assert!(allowance(1_200 << 20) >= Duration::from_secs(60));
    }
}
