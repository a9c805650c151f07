//! `MEMO_AUDIT=<rate>`: that share of hits also run the function and compare the fresh
//! result with the stored one — the run-time net under the compile-time fingerprint.
//!
//! A fresh result that differs from the stored one while two fresh runs agree means the
//! fingerprint missed a change: one loud warning names the function and what its
//! fingerprint is made of, the function's entries are dropped and the fresh value is
//! returned and stored. Two fresh runs that differ mean the function is nondeterministic:
//! that is said instead, and the stored value is returned as it would have been.

use std::cell::Cell;
use std::sync::OnceLock;

use super::{Call, CallSite, Outcome, Stored, degraded};
use crate::warn;

/// The share of hits audited, read from `MEMO_AUDIT` once: 0 when unset or malformed.
#[inline]
pub(crate) fn rate() -> f64 {
    static RATE: OnceLock<f64> = OnceLock::new();
    *RATE.get_or_init(|| {
        let Some(raw) = std::env::var_os("MEMO_AUDIT") else {
            return 0.0;
        };
        let raw = raw.to_string_lossy();
        match parse_rate(&raw) {
            Some(rate) => rate,
            None => {
                warn::once("MEMO_AUDIT", || {
                    format!(
                        "MEMO_AUDIT={raw:?} is not a share of hits (a number from 0 to 1, or a percentage like 5%); no hit is audited"
                    )
                });
                0.0
            }
        }
    })
}

/// A rate from `0.01`, `1` or `5%`.
fn parse_rate(raw: &str) -> Option<f64> {
    let raw = raw.trim();
    let (number, scale) = match raw.strip_suffix('%') {
        Some(number) => (number.trim(), 100.0),
        None => (raw, 1.0),
    };
    let rate = number.parse::<f64>().ok()? / scale;
    (0.0..=1.0).contains(&rate).then_some(rate)
}

/// Whether this call is audited: drawn at the audit rate, from a per-thread generator.
pub(crate) fn sampled() -> bool {
    let rate = rate();
    if rate <= 0.0 {
        return false;
    }
    if rate >= 1.0 {
        return true;
    }
    thread_local! {
        static STATE: Cell<u64> = Cell::new(seed());
    }
    let draw = STATE.with(|state| {
        // xorshift64*: plenty for sampling.
        let mut x = state.get();
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        state.set(x);
        x.wrapping_mul(0x2545_f491_4f6c_dd1d)
    });
    ((draw >> 11) as f64 / (1u64 << 53) as f64) < rate
}

fn seed() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write_u64(0x6d656d6f);
    hasher.finish() | 1
}

/// A stored value found for an audited call, with the content hash of its bytes.
pub(super) struct Found<V> {
    pub value: V,
    pub output: crate::Digest,
}

impl<V> Call<'_, V> {
    /// Judges a hit against fresh runs of the body; returns what the caller gets.
    pub(super) fn audit<S: Stored<Value = V>, R: Outcome<Ok = S::Value>>(
        &self,
        found: Found<S::Value>,
        same: super::body::SameFn<S::Value>,
        (first, second): (R, Option<R>),
        args: Option<String>,
    ) -> R {
        let site = self.site;
        // A fresh run that failed says nothing of the stored result.
        let Some(fresh) = first.stored() else {
            return R::from_stored(found.value);
        };
        // Results compare by the hash of their encoding, streamed: a large result is
        // never encoded into memory to be compared.
        let digest = |value: &S::Value| super::stored::digest::<S>(value, site);
        let Some(fresh_digest) = digest(fresh) else {
            return R::from_stored(found.value);
        };
        let agree = |a: &S::Value, a_digest: crate::Digest, b: &S::Value| {
            digest(b) == Some(a_digest) || same(a, b)
        };
        if let Some(again) = second.as_ref().and_then(Outcome::stored)
            && !agree(fresh, fresh_digest, again)
        {
            warn::once(&format!("audit nondeterministic {}", site.name), || {
                nondeterministic(site)
            });
            return R::from_stored(found.value);
        }
        // The stored bytes may be of the other codec (written before this function's
        // results needed CBOR): then the stored value, encoded as the fresh one was, says.
        if fresh_digest == found.output || agree(fresh, fresh_digest, &found.value) {
            return first;
        }
        warn::loud(&format!("audit {}", site.name), || {
            missed(site, second.is_some())
        });
        match self.store.invalidate_fn(site.name) {
            Ok(_) => {
                self.save::<S>(fresh, args.as_deref(), None);
            }
            Err(error) => degraded(&self.store, &error),
        }
        first
    }
}

fn missed(site: &CallSite, ran_twice: bool) -> String {
    let components = site
        .components()
        .iter()
        .map(|c| {
            let mut line = format!("\n  {} {}", c.kind, c.path);
            if !c.location.is_empty() {
                line.push_str(&format!(" ({})", c.location));
            }
            line
        })
        .collect::<String>();
    let certainty = if ran_twice {
        "two fresh runs agree with each other and not with it, so the fingerprint missed a change"
    } else {
        "the fingerprint missed a change, or the function is nondeterministic (its arguments cannot be cloned, or it is an `async fn`, so memo could not run it twice to tell)"
    };
    format!(
        "MEMO_AUDIT: `{}` returned a different result than the one stored for the same arguments and code fingerprint: {certainty}. Its stored results were dropped and the fresh one returned. Name what else it depends on with `deps = [..]`, or bump `version`, so its results follow it. Its fingerprint is made of:{components}",
        site.name
    )
}

fn nondeterministic(site: &CallSite) -> String {
    format!(
        "MEMO_AUDIT: `{}` is nondeterministic: two fresh runs with the same arguments returned different results, so a stored result is only one of them. Cache only deterministic work: key what varies (skip nothing it depends on), or do not cache it",
        site.name
    )
}

#[cfg(test)]
mod tests {
    use super::parse_rate;

    #[test]
    fn rates_are_shares_or_percentages() {
        assert_eq!(parse_rate("0.01"), Some(0.01));
        assert_eq!(parse_rate(" 1 "), Some(1.0));
        assert_eq!(parse_rate("5%"), Some(0.05));
        assert_eq!(parse_rate("0"), Some(0.0));
        assert_eq!(parse_rate("2"), None);
        assert_eq!(parse_rate("-0.5"), None);
        assert_eq!(parse_rate("often"), None);
        assert_eq!(parse_rate("NaN"), None);
    }
}
