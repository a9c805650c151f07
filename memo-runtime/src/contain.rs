//! Panics that memo contains: the storage engine's on a damaged file, a result's
//! `Serialize`. Each becomes an error said once as a warning, so the panic hook must not
//! also print it with a backtrace. A hook installed on first use stays silent while this
//! thread is inside [`quietly`] and hands every other panic to the hook installed before.

use std::any::Any;
use std::cell::Cell;
use std::panic::{self, AssertUnwindSafe};
use std::sync::Once;

thread_local! {
    /// How deep this thread is in contained calls.
    static DEPTH: Cell<u32> = const { Cell::new(0) };
}

/// Runs `work`, turning a panic into its message; the panic prints nothing.
pub(crate) fn quietly<T>(work: impl FnOnce() -> T) -> Result<T, String> {
    install();
    DEPTH.with(|depth| depth.set(depth.get() + 1));
    let result = panic::catch_unwind(AssertUnwindSafe(work));
    DEPTH.with(|depth| depth.set(depth.get() - 1));
    result.map_err(|panic| message(&*panic))
}

/// A panic's message, when it has one.
pub(crate) fn message(panic: &(dyn Any + Send)) -> String {
    panic
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "no message".into())
}

fn install() {
    static INSTALL: Once = Once::new();
    INSTALL.call_once(|| {
        let previous = panic::take_hook();
        panic::set_hook(Box::new(move |info| {
            // A thread being torn down has no depth to read: let the panic be heard.
            let contained = DEPTH.try_with(|depth| depth.get() > 0).unwrap_or(false);
            if !contained {
                previous(info);
            }
        }));
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_contained_panic_is_its_message() {
        assert_eq!(quietly(|| 7), Ok(7));
        let err = quietly(|| -> u8 { panic!("damaged page {}", 3) }).unwrap_err();
        assert_eq!(err, "damaged page 3");
        let err = quietly(|| -> u8 { std::panic::panic_any(5_u32) }).unwrap_err();
        assert_eq!(err, "no message");
        // Nested calls leave the depth where they found it.
        assert!(quietly(|| quietly(|| -> u8 { panic!("inner") }).is_err()).unwrap());
        assert_eq!(DEPTH.with(Cell::get), 0);
    }
}
