//! Single-flight: concurrent misses on one key of one store, in this process, run the
//! function once; the others wait and share its encoded result. (Across processes, the
//! store's holder says who computes: see `Store::try_lead`.)

use std::cell::RefCell;
use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, LazyLock, Mutex, MutexGuard};
use std::task::{Context, Poll, Waker};

use crate::Digest;

/// An encoded result handed from the caller that computed it to those that waited: its
/// content hash and its bytes, or the file that holds them.
pub(crate) type Shared = (Digest, crate::store::Payload);

/// A key of one store: the store's id and the call's key.
type Key = (u64, Digest);

/// The flights in progress in this process, by store and key.
#[derive(Default)]
struct Table {
    running: Mutex<HashMap<Key, Arc<Flight>>>,
    /// How many flights have finished: a caller that saw no change since its lookup knows
    /// no result was stored in between, and need not look again.
    finished: AtomicU64,
}

static TABLE: LazyLock<Table> = LazyLock::new(Table::default);

pub(crate) struct Flight {
    state: Mutex<State>,
    finished: Condvar,
}

thread_local! {
    /// The flights whose leader is running its computation on this thread right now —
    /// a body, or one poll of an async body — by store and key: a call the body makes on
    /// the same key (through a `skip`ped argument, say) would wait for itself.
    static LEADING: RefCell<Vec<Key>> = const { RefCell::new(Vec::new()) };
}

/// Runs `compute` as the leader of `key`'s flight.
pub(crate) fn leading<T>(key: Key, compute: impl FnOnce() -> T) -> T {
    struct Pop;
    impl Drop for Pop {
        fn drop(&mut self) {
            let _ = LEADING.try_with(|leading| leading.borrow_mut().pop());
        }
    }
    LEADING.with(|leading| leading.borrow_mut().push(key));
    let _pop = Pop;
    compute()
}

/// An async body, run as the leader of its flight: each poll is [`leading`].
pub(crate) struct Leading<F> {
    key: Key,
    body: Pin<Box<F>>,
}

impl<F: Future> Leading<F> {
    pub(crate) fn new(key: Key, body: F) -> Self {
        Leading {
            key,
            body: Box::pin(body),
        }
    }
}

impl<F: Future> Future for Leading<F> {
    type Output = F::Output;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        let this = &mut *self;
        leading(this.key, || this.body.as_mut().poll(cx))
    }
}

#[derive(Default)]
struct State {
    /// `Some` once the leader finished: its shared result, if it had one.
    result: Option<Option<Shared>>,
    /// Async followers to wake when it does.
    wakers: Vec<Waker>,
}

/// How a caller joined the flight for its key.
pub(crate) enum Joined {
    /// It computes; the others wait for [`Leader::finish`].
    Leader(Leader),
    /// Another caller computes; wait for it with [`Flight::wait`].
    Follower(Arc<Flight>),
    /// This caller's own computation of the key is further up the stack: waiting would
    /// never end, so the call computes directly.
    Reentrant,
}

/// The computing caller's duty to finish its flight. Dropped unfinished — the function
/// panicked, or the process that computed for the holder went away — it finishes with
/// nothing, and a waiting caller takes over.
pub(crate) struct Leader {
    key: Key,
    flight: Arc<Flight>,
    finished: bool,
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|poison| poison.into_inner())
}

/// How many flights have finished so far.
pub(crate) fn finished() -> u64 {
    TABLE.finished.load(Ordering::Acquire)
}

/// Joins the flight on `key`, leading it if there is none; a caller inside its own
/// flight's computation is told so rather than made to wait for itself.
pub(crate) fn join(key: Key) -> Joined {
    if LEADING.with(|leading| leading.borrow().contains(&key)) {
        return Joined::Reentrant;
    }
    let mut running = lock(&TABLE.running);
    if let Some(flight) = running.get(&key) {
        return Joined::Follower(Arc::clone(flight));
    }
    let flight = Arc::new(Flight {
        state: Mutex::new(State::default()),
        finished: Condvar::new(),
    });
    running.insert(key, Arc::clone(&flight));
    Joined::Leader(Leader {
        key,
        flight,
        finished: false,
    })
}

impl Leader {
    /// Ends the flight, handing `result` to every waiting caller; `None` tells them to
    /// compute for themselves (the result was an error, or could not be stored).
    pub(crate) fn finish(mut self, result: Option<Shared>) {
        self.complete(result);
    }

    fn complete(&mut self, result: Option<Shared>) {
        self.finished = true;
        // Counted before the flight leaves the table: whoever leads next sees the count.
        TABLE.finished.fetch_add(1, Ordering::Release);
        lock(&TABLE.running).remove(&self.key);
        let wakers = {
            let mut state = lock(&self.flight.state);
            state.result = Some(result);
            std::mem::take(&mut state.wakers)
        };
        self.flight.finished.notify_all();
        wakers.into_iter().for_each(Waker::wake);
    }
}

impl Drop for Leader {
    fn drop(&mut self) {
        if !self.finished {
            self.complete(None);
        }
    }
}

impl Flight {
    /// Blocks until the leader finishes; its shared result, if it had one.
    pub(crate) fn wait(&self) -> Option<Shared> {
        let mut state = lock(&self.state);
        loop {
            if let Some(result) = &state.result {
                return result.clone();
            }
            state = self
                .finished
                .wait(state)
                .unwrap_or_else(|poison| poison.into_inner());
        }
    }

    /// Waits for the leader without blocking the thread.
    pub(crate) fn wait_async(self: Arc<Self>) -> WaitAsync {
        WaitAsync { flight: self }
    }
}

/// The future of [`Flight::wait_async`].
pub(crate) struct WaitAsync {
    flight: Arc<Flight>,
}

impl Future for WaitAsync {
    type Output = Option<Shared>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Shared>> {
        let mut state = lock(&self.flight.state);
        match &state.result {
            Some(result) => Poll::Ready(result.clone()),
            None => {
                if !state.wakers.iter().any(|w| w.will_wake(cx.waker())) {
                    state.wakers.push(cx.waker().clone());
                }
                Poll::Pending
            }
        }
    }
}
