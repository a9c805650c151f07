//! How the tier holds one function's results by their key stream, settled by the types.

use std::any::Any;
use std::marker::PhantomData;
use std::sync::Arc;

use super::{Encoded, Held, Slot};
use crate::Digest;

/// How the tier holds one function's results by their key stream: as themselves when
/// the type is `Clone + Send + Sync + 'static`, as bytes otherwise, or not at all when
/// the exact path keeps them by their arguments. `#[cached]` settles it by the types,
/// with [`ShareProbe`].
pub struct Share<V> {
    kind: Kind<V>,
}

enum Kind<V> {
    Off,
    Bytes,
    Typed {
        wrap: fn(Box<[u8]>, &V) -> Held,
        matches: fn(&(dyn Any + Send + Sync), &[u8]) -> bool,
        take: fn(&(dyn Any + Send + Sync)) -> Option<V>,
    },
}

impl<V> Clone for Share<V> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<V> Copy for Share<V> {}

impl<V> Clone for Kind<V> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<V> Copy for Kind<V> {}

impl<V> Share<V> {
    /// Results held as bytes.
    pub const BYTES: Share<V> = Share { kind: Kind::Bytes };
    /// Results not held by their key stream: the exact path keeps them.
    pub const OFF: Share<V> = Share { kind: Kind::Off };

    /// Whether results are held by their key stream at all.
    pub(crate) fn is_on(&self) -> bool {
        !matches!(self.kind, Kind::Off)
    }

    /// Whether `held` is this function's result for `stream`. Runs no user code.
    pub(crate) fn matches(&self, held: &Held, stream: &[u8]) -> bool {
        match self.kind {
            Kind::Off => false,
            Kind::Bytes => held
                .downcast_ref::<Slot<Box<[u8]>, Encoded>>()
                .is_some_and(|slot| &*slot.key == stream),
            Kind::Typed { matches, .. } => matches(&**held, stream),
        }
    }

    /// The value in `held`, which [`matches`](Share::matches) the call, cloned or
    /// decoded; `None` if it does not decode.
    pub(crate) fn take<S: crate::call::Stored<Value = V>>(&self, held: &Held) -> Option<V> {
        match self.kind {
            Kind::Off => None,
            Kind::Bytes => {
                let slot = held.downcast_ref::<Slot<Box<[u8]>, Encoded>>()?;
                crate::call::stored::decode::<S>(&slot.value.bytes, slot.value.output)
            }
            Kind::Typed { take, .. } => take(&**held),
        }
    }

    /// What to hold for `stream`: the value, or its stored bytes. Runs the value's
    /// `Clone`: call it outside the thread's state.
    pub(crate) fn hold(
        &self,
        stream: &[u8],
        value: &V,
        output: Digest,
        bytes: &Arc<[u8]>,
    ) -> Option<(Held, usize)> {
        let key: Box<[u8]> = stream.into();
        match self.kind {
            Kind::Off => None,
            Kind::Bytes => Some((
                Arc::new(Slot {
                    key,
                    value: Encoded {
                        output,
                        bytes: Arc::clone(bytes),
                    },
                }),
                stream.len() + bytes.len(),
            )),
            Kind::Typed { wrap, .. } => Some((
                wrap(key, value),
                stream.len() + bytes.len() + size_of::<V>(),
            )),
        }
    }
}

impl<V: Clone + Send + Sync + 'static> Share<V> {
    /// Results held as themselves.
    pub fn typed() -> Share<V> {
        Share {
            kind: Kind::Typed {
                wrap: |key, value| {
                    Arc::new(Slot {
                        key,
                        value: value.clone(),
                    })
                },
                matches: |held, stream| {
                    held.downcast_ref::<Slot<Box<[u8]>, V>>()
                        .is_some_and(|slot| &*slot.key == stream)
                },
                take: |held| {
                    held.downcast_ref::<Slot<Box<[u8]>, V>>()
                        .map(|slot| slot.value.clone())
                },
            },
        }
    }
}

/// Picks a [`Share`] for `V` by autoref specialisation: `(&ShareProbe::<V>::new()).share()`
/// resolves to [`ShareTyped`] when `V` can be held as itself, to [`ShareBytes`] otherwise.
pub struct ShareProbe<V>(PhantomData<fn() -> V>);

impl<V> ShareProbe<V> {
    /// The probe for `V`.
    #[allow(clippy::new_without_default)]
    pub const fn new() -> ShareProbe<V> {
        ShareProbe(PhantomData)
    }
}

/// Holds results as themselves.
pub trait ShareTyped<V> {
    /// [`Share::typed`].
    fn share(&self) -> Share<V>;
}

impl<V: Clone + Send + Sync + 'static> ShareTyped<V> for ShareProbe<V> {
    fn share(&self) -> Share<V> {
        Share::typed()
    }
}

/// Holds results as bytes.
pub trait ShareBytes<V> {
    /// [`Share::BYTES`].
    fn share(&self) -> Share<V>;
}

impl<V> ShareBytes<V> for &ShareProbe<V> {
    fn share(&self) -> Share<V> {
        Share::BYTES
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::bytes_of;
    use super::*;
    use crate::call::Plain;

    #[test]
    fn an_entry_answers_only_for_what_was_hashed() {
        for share in [Share::<u64>::typed(), Share::BYTES] {
            let value = 41u64;
            let bytes = bytes_of(value);
            let output = Digest::of_bytes(&bytes);
            let (held, cost) = share.hold(b"stream a", &value, output, &bytes).unwrap();
            assert!(cost >= b"stream a".len() + bytes.len());
            assert!(share.matches(&held, b"stream a"));
            // Another call's arguments whose hash collided: not its result.
            assert!(!share.matches(&held, b"stream b"));
            assert!(!share.matches(&held, b"stream a "));
            assert_eq!(share.take::<Plain<u64>>(&held), Some(41));
        }
        // The typed and the byte forms never read each other's entries.
        let bytes = bytes_of(1);
        let (typed, _) = Share::<u64>::typed()
            .hold(b"k", &1, Digest::of_bytes(&bytes), &bytes)
            .unwrap();
        assert!(!Share::<u64>::BYTES.matches(&typed, b"k"));
        let (held, _) = Share::<u64>::BYTES
            .hold(b"k", &1, Digest::of_bytes(&bytes), &bytes)
            .unwrap();
        assert!(!Share::<u64>::typed().matches(&held, b"k"));
        assert!(
            Share::<u64>::OFF
                .hold(b"k", &1, Digest::of_bytes(&bytes), &bytes)
                .is_none()
        );
    }
}
