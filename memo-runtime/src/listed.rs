//! `MEMO_BYPASS`: functions that always run uncached, named in the environment — a tool
//! that must never be served from a cache, a function under suspicion — without touching
//! the code.
//!
//! A comma-separated list of patterns, each matched against a function's stored name
//! (`module::function`, or its `name = ".."`):
//! - a full name, `my_crate::fetch::latest`;
//! - a prefix ending in `::*`, `my_crate::fetch::*`, for everything under it;
//! - a path from `crate::`, `crate::fetch::latest` or `crate::fetch::*`, in whichever crate;
//! - a bare name, `latest`, for every function called that;
//! - `*`, for every function.

use std::sync::OnceLock;

use crate::warn;

/// One pattern of the list.
#[derive(Debug, PartialEq, Eq)]
enum Pattern {
    All,
    Exact(String),
    Under(String),
    /// `crate::rest`: `rest` after any crate's name; `under` for `crate::rest::*`.
    AnyCrate {
        rest: String,
        under: bool,
    },
    Named(String),
}

impl Pattern {
    fn parse(text: &str) -> Option<Pattern> {
        let text = text.trim();
        if text == "*" {
            return Some(Pattern::All);
        }
        let (path, under) = match text.strip_suffix("::*") {
            Some(path) => (path, true),
            None => (text, false),
        };
        let valid = !path.is_empty()
            && path.split("::").all(|part| {
                !part.is_empty() && part.chars().all(|c| c.is_alphanumeric() || c == '_')
            });
        if !valid {
            return None;
        }
        Some(match path.strip_prefix("crate::") {
            Some(rest) => Pattern::AnyCrate {
                rest: rest.to_owned(),
                under,
            },
            None if path == "crate" && under => Pattern::All,
            None if under => Pattern::Under(path.to_owned()),
            None if !path.contains("::") => Pattern::Named(path.to_owned()),
            None => Pattern::Exact(path.to_owned()),
        })
    }

    fn matches(&self, name: &str) -> bool {
        let under = |prefix: &str, name: &str| {
            name.strip_prefix(prefix)
                .is_some_and(|rest| rest.starts_with("::"))
        };
        match self {
            Pattern::All => true,
            Pattern::Exact(full) => name == full,
            Pattern::Under(prefix) => under(prefix, name),
            Pattern::Named(last) => name.rsplit("::").next() == Some(last.as_str()),
            Pattern::AnyCrate { rest, under: below } => {
                let Some((_, after)) = name.split_once("::") else {
                    return false;
                };
                if *below {
                    under(rest, after)
                } else {
                    after == rest
                }
            }
        }
    }
}

/// The patterns of `MEMO_BYPASS`, read once; one warning names those that are not.
fn patterns() -> &'static [Pattern] {
    static PATTERNS: OnceLock<Vec<Pattern>> = OnceLock::new();
    PATTERNS.get_or_init(|| {
        let Ok(raw) = std::env::var("MEMO_BYPASS") else {
            return Vec::new();
        };
        parse_list(&raw)
    })
}

fn parse_list(raw: &str) -> Vec<Pattern> {
    let mut bad = Vec::new();
    let patterns = raw
        .split(',')
        .filter(|text| !text.trim().is_empty())
        .filter_map(|text| {
            let parsed = Pattern::parse(text);
            if parsed.is_none() {
                bad.push(text.trim().to_owned());
            }
            parsed
        })
        .collect();
    if !bad.is_empty() {
        warn::once("MEMO_BYPASS", || {
            format!(
                "MEMO_BYPASS: {} not a function name, a `path::*` or `*`, so ignored: {}",
                if bad.len() == 1 {
                    "this is"
                } else {
                    "these are"
                },
                bad.join(", ")
            )
        });
    }
    patterns
}

/// Whether `MEMO_BYPASS` names the function stored as `name`.
pub(crate) fn bypassed(name: &str) -> bool {
    patterns().iter().any(|pattern| pattern.matches(name))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn matches(list: &str, name: &str) -> bool {
        parse_list(list).iter().any(|p| p.matches(name))
    }

    #[test]
    fn patterns_match_names_paths_and_crates() {
        assert!(matches("app::fetch::latest", "app::fetch::latest"));
        assert!(!matches("app::fetch::latest", "app::fetch::latest_two"));
        assert!(matches("app::fetch::*", "app::fetch::latest"));
        assert!(matches("app::fetch::*", "app::fetch::deep::er"));
        assert!(!matches("app::fetch::*", "app::fetcher::x"));
        assert!(!matches("app::fetch::*", "app::fetch"));
        assert!(matches("crate::fetch::latest", "other::fetch::latest"));
        assert!(!matches("crate::fetch::latest", "other::x::fetch::latest"));
        assert!(matches("crate::fetch::*", "any::fetch::a"));
        assert!(matches("latest", "app::fetch::latest"));
        assert!(!matches("latest", "app::fetch::latest2"));
        assert!(matches(" a::b , *", "z::y"));
        assert!(matches("crate::*", "z::y"));
        assert!(!matches("", "a::b"));
    }

    #[test]
    fn malformed_patterns_are_left_out() {
        let parsed = parse_list("a::*b, ::x, a::, a b, good::f");
        assert_eq!(parsed, vec![Pattern::Exact("good::f".into())]);
    }
}
