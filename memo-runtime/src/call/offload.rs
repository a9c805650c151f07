//! A blocking wait, run on a thread of its own as a future: how an `async` call waits for
//! another process's computation without blocking its executor, and without memo
//! depending on any one async runtime. It is rare — two processes missing the same key
//! at once — so a thread per wait costs nothing that matters.

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};

/// What the thread hands back: its result once it has one, and whom to wake.
struct Slot<T> {
    result: Option<T>,
    waker: Option<Waker>,
    /// The thread could not be started, or ended without a result (it panicked).
    lost: bool,
}

/// The future of [`run`].
pub(super) struct Offloaded<T> {
    slot: Arc<Mutex<Slot<T>>>,
    /// Run inline on the first poll if no thread could be started.
    inline: Option<Box<dyn FnOnce() -> T + Send>>,
}

/// Runs `wait` on a new thread; the future is ready when it returns. If no thread can be
/// started, `wait` runs in place on the first poll: it blocks, but it still ends.
pub(super) fn run<T: Send + 'static>(wait: impl FnOnce() -> T + Send + 'static) -> Offloaded<T> {
    let slot = Arc::new(Mutex::new(Slot {
        result: None,
        waker: None,
        lost: false,
    }));
    let theirs = Arc::clone(&slot);
    let wait = Arc::new(Mutex::new(Some(wait)));
    let job = Arc::clone(&wait);
    let spawned = std::thread::Builder::new()
        .name("memo-await".into())
        .spawn(move || {
            /// Wakes the future however the thread ends, so it never waits forever.
            struct Hand<T>(Arc<Mutex<Slot<T>>>, Option<T>);
            impl<T> Drop for Hand<T> {
                fn drop(&mut self) {
                    let mut slot = lock(&self.0);
                    match self.1.take() {
                        Some(result) => slot.result = Some(result),
                        None => slot.lost = true,
                    }
                    if let Some(waker) = slot.waker.take() {
                        waker.wake();
                    }
                }
            }
            let mut hand = Hand(theirs, None);
            let wait = lock(&job).take();
            if let Some(wait) = wait {
                hand.1 = Some(wait());
            }
        });
    let inline = match spawned {
        Ok(_) => None,
        Err(_) => lock(&wait)
            .take()
            .map(|wait| Box::new(wait) as Box<dyn FnOnce() -> T + Send>),
    };
    Offloaded { slot, inline }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|poison| poison.into_inner())
}

/// Ready with the wait's result, or `None` if the thread ended without one.
impl<T> Future for Offloaded<T> {
    type Output = Option<T>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<T>> {
        if let Some(wait) = self.inline.take() {
            return Poll::Ready(Some(wait()));
        }
        let mut slot = lock(&self.slot);
        if let Some(result) = slot.result.take() {
            return Poll::Ready(Some(result));
        }
        if slot.lost {
            return Poll::Ready(None);
        }
        slot.waker = Some(cx.waker().clone());
        Poll::Pending
    }
}

impl<T> Unpin for Offloaded<T> {}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, Instant};

    /// Polls a future to its end on this thread, parking between wakes.
    fn block_on<F: Future>(future: F) -> F::Output {
        struct Unpark(std::thread::Thread);
        impl std::task::Wake for Unpark {
            fn wake(self: Arc<Self>) {
                self.0.unpark();
            }
        }
        let waker = Waker::from(Arc::new(Unpark(std::thread::current())));
        let mut cx = Context::from_waker(&waker);
        let mut future = std::pin::pin!(future);
        loop {
            if let Poll::Ready(value) = future.as_mut().poll(&mut cx) {
                return value;
            }
            std::thread::park_timeout(Duration::from_millis(100));
        }
    }

    #[test]
    fn the_wait_runs_elsewhere_and_its_result_comes_back() {
        let caller = std::thread::current().id();
        let began = Instant::now();
        let (value, thread) = block_on(run(move || {
            std::thread::sleep(Duration::from_millis(30));
            (7, std::thread::current().id())
        }))
        .unwrap();
        assert_eq!(value, 7);
        assert_ne!(thread, caller);
        assert!(began.elapsed() >= Duration::from_millis(30));
    }

    #[test]
    fn a_wait_that_panics_ends_the_future_rather_than_leaving_it_pending() {
        // A panic in memo's own wait: the future must still end.
        let outcome = block_on(run(|| -> u8 {
            panic!("the wait failed (as this test means)")
        }));
        assert_eq!(outcome, None);
    }

    #[test]
    fn a_future_polled_before_the_wait_ends_is_woken_when_it_does() {
        let mut future = run(|| std::thread::sleep(Duration::from_millis(50)));
        let waker = Waker::noop();
        let mut cx = Context::from_waker(waker);
        assert!(Pin::new(&mut future).poll(&mut cx).is_pending());
        assert_eq!(block_on(future), Some(()));
    }
}
