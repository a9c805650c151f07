//! The code fingerprint: blake3 over a canonical walk of token trees. Our own walk, not
//! `TokenStream::to_string()`, whose spacing may change between compilers; doc attributes
//! are dropped, and comments and whitespace are not tokens, so neither can change it.

use proc_macro2::{Delimiter, Spacing, TokenStream, TokenTree};

/// The version of the fingerprint: a change to what is hashed bumps it, so old results
/// stop matching rather than colliding.
const FORMAT: &[u8] = b"memo fingerprint v2";

/// One thing the fingerprint is made of, with the hash of its own tokens.
pub struct Component {
    pub kind: &'static str,
    pub path: String,
    /// Where it is (`file:line`, a version); shown, never hashed, so moving code does not
    /// change the fingerprint.
    pub location: String,
    pub hash: [u8; 32],
}

/// The hash of a token stream's canonical form.
pub fn hash_tokens(tokens: TokenStream) -> [u8; 32] {
    let mut hasher = blake3::Hasher::new();
    walk(tokens, None, &mut hasher);
    *hasher.finalize().as_bytes()
}

/// The fingerprint of a function: its components, in order, and its semantic options.
pub fn combine(components: &[Component], options: &[(&'static str, String)]) -> [u8; 32] {
    let mut hasher = blake3::Hasher::new();
    hasher.update(FORMAT);
    // An item's tokens name it; where it lives is not what it computes, so moving it to
    // another module is no change: items count by kind and hash, as a set. Other
    // components (a crate, a cfg, a file, an environment variable) are told apart by
    // their path.
    let mut parts: Vec<(&str, &str, &[u8; 32])> = components
        .iter()
        .map(|c| {
            let item = matches!(
                c.kind,
                "fn" | "method" | "const" | "static" | "macro" | "type" | "trait"
            );
            (c.kind, if item { "" } else { c.path.as_str() }, &c.hash)
        })
        .collect();
    parts.sort();
    for (kind, path, hash) in parts {
        text(&mut hasher, kind);
        text(&mut hasher, path);
        hasher.update(hash);
    }
    for (key, value) in options {
        text(&mut hasher, key);
        text(&mut hasher, value);
    }
    *hasher.finalize().as_bytes()
}

fn text(hasher: &mut blake3::Hasher, s: &str) {
    hasher.update(&(s.len() as u64).to_le_bytes());
    hasher.update(s.as_bytes());
}

fn walk(tokens: TokenStream, delimiter: Option<Delimiter>, hasher: &mut blake3::Hasher) {
    let tokens: Vec<TokenTree> = tokens.into_iter().collect();
    let mut i = 0;
    while i < tokens.len() {
        if let Some(len) = doc_attribute_len(&tokens[i..]) {
            i += len;
            continue;
        }
        if trailing_comma(&tokens, i, delimiter) {
            i += 1;
            continue;
        }
        match &tokens[i] {
            TokenTree::Ident(ident) => {
                hasher.update(b"i");
                text(hasher, &ident.to_string());
            }
            TokenTree::Punct(punct) => {
                hasher.update(b"p");
                hasher.update(&u32::from(punct.as_char()).to_le_bytes());
                hasher.update(match punct.spacing() {
                    Spacing::Alone => b"a",
                    Spacing::Joint => b"j",
                });
            }
            TokenTree::Literal(literal) => {
                hasher.update(b"l");
                text(hasher, &literal.to_string());
            }
            TokenTree::Group(group) => {
                hasher.update(match group.delimiter() {
                    Delimiter::Parenthesis => b"(",
                    Delimiter::Brace => b"{",
                    Delimiter::Bracket => b"[",
                    Delimiter::None => b"_",
                });
                // `f(x,)` is a call of one argument; `(x,)` after a keyword or an
                // operator is a tuple of one.
                let call = i > 0
                    && matches!(&tokens[i - 1], TokenTree::Ident(name) if !KEYWORDS.contains(&name.to_string().as_str()));
                let delimiter = match group.delimiter() {
                    Delimiter::Parenthesis if call => Delimiter::Bracket,
                    other => other,
                };
                walk(group.stream(), Some(delimiter), hasher);
                hasher.update(b"e");
            }
        }
        i += 1;
    }
}

/// Keywords after which a parenthesised group is an expression or a pattern, not the
/// arguments of a call.
const KEYWORDS: [&str; 16] = [
    "return", "in", "if", "match", "while", "break", "let", "mut", "move", "else", "as", "yield",
    "ref", "for", "loop", "await",
];

/// Whether `tokens[i]` is a comma that ends its group and changes nothing: any but the
/// one that makes `(x,)` a tuple of one.
fn trailing_comma(tokens: &[TokenTree], i: usize, delimiter: Option<Delimiter>) -> bool {
    let is_comma = |t: &TokenTree| matches!(t, TokenTree::Punct(p) if p.as_char() == ',');
    if !is_comma(&tokens[i]) || i + 1 != tokens.len() {
        return false;
    }
    delimiter != Some(Delimiter::Parenthesis) || tokens.iter().filter(|t| is_comma(t)).count() > 1
}

/// How many tokens a `#[doc ...]` or `#![doc ...]` attribute at the start of `tokens`
/// spans, if one is there — or an attribute that changes nothing a function computes
/// (`inline`, `must_use`, `cold`, lint levels, rustfmt and clippy tool attributes). Doc
/// comments reach a macro as such attributes.
fn doc_attribute_len(tokens: &[TokenTree]) -> Option<usize> {
    let TokenTree::Punct(pound) = tokens.first()? else {
        return None;
    };
    if pound.as_char() != '#' {
        return None;
    }
    let (bang, group) = match tokens.get(1)? {
        TokenTree::Punct(bang) if bang.as_char() == '!' => (1, tokens.get(2)?),
        other => (0, other),
    };
    let TokenTree::Group(group) = group else {
        return None;
    };
    if group.delimiter() != Delimiter::Bracket {
        return None;
    }
    const INERT: [&str; 12] = [
        "doc",
        "inline",
        "must_use",
        "cold",
        "allow",
        "warn",
        "deny",
        "expect",
        "forbid",
        "rustfmt",
        "clippy",
        "diagnostic",
    ];
    match group.stream().into_iter().next()? {
        TokenTree::Ident(ident) if INERT.contains(&ident.to_string().as_str()) => Some(2 + bang),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::hash_tokens;
    use quote::quote;

    #[test]
    fn layout_and_doc_comments_do_not_count() {
        let a: proc_macro2::TokenStream = "fn f(x: u32) -> u32 { x + 1 }".parse().unwrap();
        let b: proc_macro2::TokenStream =
            "/// Adds one.\nfn f(x:u32)->u32{\n    // a comment\n    x+1\n}"
                .parse()
                .unwrap();
        assert_eq!(hash_tokens(a), hash_tokens(b));
    }

    #[test]
    fn inner_doc_attributes_do_not_count() {
        let a = quote!(
            fn f() -> u8 {
                1
            }
        );
        let b = quote!(
            fn f() -> u8 {
                #![doc = "inner"]
                1
            }
        );
        assert_eq!(hash_tokens(a), hash_tokens(b));
    }

    #[test]
    fn code_changes_count() {
        let base = hash_tokens(quote!(
            fn f(x: u32) -> u32 {
                x + 1
            }
        ));
        assert_ne!(
            base,
            hash_tokens(quote!(
                fn f(x: u32) -> u32 {
                    x + 2
                }
            ))
        );
        assert_ne!(
            base,
            hash_tokens(quote!(
                fn f(x: u32) -> u32 {
                    x - 1
                }
            ))
        );
        assert_ne!(
            base,
            hash_tokens(quote!(
                fn f(x: u32) -> u32 {
                    (x + 1)
                }
            ))
        );
        assert_ne!(
            base,
            hash_tokens(quote!(
                fn f(x: u64) -> u32 {
                    x + 1
                }
            ))
        );
        // `a::b` vs `a: :b`: joint and alone punctuation differ.
        assert_ne!(
            hash_tokens(quote!(a::b)),
            hash_tokens("a: :b".parse().unwrap())
        );
    }

    #[test]
    fn other_attributes_count() {
        assert_ne!(
            hash_tokens(quote!(
                #[track_caller]
                fn f() -> u8 {
                    1
                }
            )),
            hash_tokens(quote!(
                fn f() -> u8 {
                    1
                }
            ))
        );
    }

    #[test]
    fn inert_attributes_and_trailing_commas_do_not_count() {
        let plain: proc_macro2::TokenStream =
            "fn f(a: u8, b: u8) -> [u8; 2] { let s = S { a, b }; match a { 0 => [a, b], _ => [b, a] } }"
                .parse()
                .unwrap();
        let noisy: proc_macro2::TokenStream =
            "#[inline(always)] #[must_use] #[allow(clippy::all)] fn f(a: u8, b: u8,) -> [u8; 2] { let s = S { a, b, }; match a { 0 => [a, b,], _ => [b, a], } }"
                .parse()
                .unwrap();
        assert_eq!(hash_tokens(plain), hash_tokens(noisy));
        assert_eq!(
            hash_tokens("fn f() -> u8 { g(1,) }".parse().unwrap()),
            hash_tokens("fn f() -> u8 { g(1) }".parse().unwrap())
        );
        // `(x,)` is a tuple; `(x)` is not.
        assert_ne!(
            hash_tokens("fn f() -> (u8,) { (1,) }".parse().unwrap()),
            hash_tokens("fn f() -> (u8) { (1) }".parse().unwrap())
        );
    }
}
