//! The code fingerprint: blake3 over a canonical walk of token trees. Our own walk, not
//! `TokenStream::to_string()`, whose spacing may change between compilers; doc attributes
//! are dropped, and comments and whitespace are not tokens, so neither can change it.

use proc_macro2::{Delimiter, Spacing, TokenStream, TokenTree};

/// The version of the fingerprint: a change to what is hashed bumps it, so old results
/// stop matching rather than colliding.
const FORMAT: &[u8] = b"memo fingerprint v3";

/// One thing the fingerprint is made of, with the hash of its own tokens.
pub struct Component {
    pub kind: &'static str,
    pub path: String,
    /// Where it is (`file:line`, a version); shown, never hashed, so moving code does not
    /// change the fingerprint.
    pub location: String,
    pub hash: [u8; 32],
    /// Its source text as written, when it has one worth showing (`memo explain --diff`);
    /// never hashed.
    pub source: Option<String>,
}

/// The hash of a token stream's canonical form.
pub fn hash_tokens(tokens: TokenStream) -> [u8; 32] {
    let mut hasher = blake3::Hasher::new();
    walk(tokens, None, false, &mut hasher);
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

/// Walks `tokens`, the inside of a group `delimiter` (`None` at the top). Inside a macro's
/// invocation or definition (`verbatim`) every token counts as written: a macro may match
/// on a comma, a `pub` or a doc attribute that means nothing elsewhere.
fn walk(
    tokens: TokenStream,
    delimiter: Option<Delimiter>,
    verbatim: bool,
    hasher: &mut blake3::Hasher,
) {
    let tokens: Vec<TokenTree> = tokens.into_iter().collect();
    let mut i = 0;
    while i < tokens.len() {
        if verbatim {
            hash_tree(&tokens, i, true, hasher);
            i += 1;
            continue;
        }
        if let Some(len) = doc_attribute_len(&tokens[i..]) {
            i += len;
            continue;
        }
        if trailing_comma(&tokens, i, delimiter) {
            i += 1;
            continue;
        }
        if let Some(len) = visibility_len(&tokens[i..]) {
            i += len;
            continue;
        }
        if let Some(inner) = arm_block(&tokens, i) {
            // `=> { e }` is `=> e,`: what rustfmt writes either way.
            punct(hasher, '>', Spacing::Alone);
            walk(inner, delimiter, false, hasher);
            i += 2;
            if matches!(tokens.get(i), Some(TokenTree::Punct(p)) if p.as_char() == ',') {
                i += 1;
            }
            if i < tokens.len() {
                punct(hasher, ',', Spacing::Alone);
            }
            continue;
        }
        hash_tree(&tokens, i, false, hasher);
        i += 1;
    }
}

/// Hashes `tokens[i]`, and a group's inside.
fn hash_tree(tokens: &[TokenTree], i: usize, verbatim: bool, hasher: &mut blake3::Hasher) {
    match &tokens[i] {
        TokenTree::Ident(ident) => {
            hasher.update(b"i");
            text(hasher, &ident.to_string());
        }
        TokenTree::Punct(p) => punct(hasher, p.as_char(), p.spacing()),
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
            let verbatim = verbatim || after_bang(tokens, i);
            walk(group.stream(), Some(delimiter), verbatim, hasher);
            hasher.update(b"e");
        }
    }
}

/// Whether the group `tokens[i]` is a macro's input or body: `m!(..)`, `macro_rules! m {..}`.
fn after_bang(tokens: &[TokenTree], i: usize) -> bool {
    let bang = |t: Option<&TokenTree>| matches!(t, Some(TokenTree::Punct(p)) if p.as_char() == '!');
    (i >= 1 && bang(tokens.get(i - 1)))
        || (i >= 2 && matches!(tokens[i - 1], TokenTree::Ident(_)) && bang(tokens.get(i - 2)))
}

fn punct(hasher: &mut blake3::Hasher, c: char, spacing: Spacing) {
    hasher.update(b"p");
    hasher.update(&u32::from(c).to_le_bytes());
    hasher.update(match spacing {
        Spacing::Alone => b"a",
        Spacing::Joint => b"j",
    });
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

/// How many tokens a visibility (`pub`, `pub(crate)`, `pub(in path)`) at the start of
/// `tokens` spans: who may name an item is not what it computes.
fn visibility_len(tokens: &[TokenTree]) -> Option<usize> {
    match tokens.first()? {
        TokenTree::Ident(ident) if ident == "pub" => {}
        _ => return None,
    }
    let restricted = matches!(tokens.get(1), Some(TokenTree::Group(group))
        if group.delimiter() == Delimiter::Parenthesis
            && matches!(group.stream().into_iter().next(), Some(TokenTree::Ident(first))
                if ["crate", "super", "self", "in"].iter().any(|k| first == k)));
    Some(if restricted { 2 } else { 1 })
}

/// The inside of a match arm's block that holds one expression — `tokens[i]` is the `>`
/// of `=>` and a `{ .. }` follows with no statement, item or inner attribute in it.
fn arm_block(tokens: &[TokenTree], i: usize) -> Option<TokenStream> {
    let arrow = matches!(&tokens[i], TokenTree::Punct(p) if p.as_char() == '>')
        && i > 0
        && matches!(&tokens[i - 1], TokenTree::Punct(p) if p.as_char() == '=' && p.spacing() == Spacing::Joint);
    if !arrow {
        return None;
    }
    let TokenTree::Group(group) = tokens.get(i + 1)? else {
        return None;
    };
    if group.delimiter() != Delimiter::Brace {
        return None;
    }
    let inner: Vec<TokenTree> = group.stream().into_iter().collect();
    const STATEMENT: [&str; 14] = [
        "let",
        "fn",
        "use",
        "struct",
        "enum",
        "union",
        "impl",
        "trait",
        "mod",
        "static",
        "const",
        "type",
        "extern",
        "macro_rules",
    ];
    let expression = match inner.first()? {
        TokenTree::Punct(p) => p.as_char() != '#',
        TokenTree::Ident(first) => !STATEMENT.iter().any(|k| first == k),
        _ => true,
    } && !inner
        .iter()
        .any(|t| matches!(t, TokenTree::Punct(p) if p.as_char() == ';'));
    expression.then(|| group.stream())
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
        // Visibility, and a match arm's block of one expression, are what rustfmt and
        // a refactor change without changing what runs.
        assert_eq!(
            hash_tokens(
                "pub(crate) struct S { pub a: u8, pub(in crate::m) b: u8 }"
                    .parse()
                    .unwrap()
            ),
            hash_tokens("struct S { a: u8, b: u8 }".parse().unwrap())
        );
        assert_eq!(
            hash_tokens(
                "fn f(a: u8) -> u8 { match a { 0 => { a + 1 } _ => { g(a) } } }"
                    .parse()
                    .unwrap()
            ),
            hash_tokens(
                "fn f(a: u8) -> u8 { match a { 0 => a + 1, _ => g(a), } }"
                    .parse()
                    .unwrap()
            )
        );
        // A block with a statement is not one expression.
        assert_ne!(
            hash_tokens(
                "fn f(a: u8) -> u8 { match a { 0 => { g(a); 1 } _ => 2 } }"
                    .parse()
                    .unwrap()
            ),
            hash_tokens(
                "fn f(a: u8) -> u8 { match a { 0 => g(a); 1, _ => 2 } }"
                    .parse()
                    .unwrap()
            )
        );
        assert_ne!(
            hash_tokens(
                "fn f(a: u8) -> u8 { match a { 0 => { 1 } _ => 2 } }"
                    .parse()
                    .unwrap()
            ),
            hash_tokens(
                "fn f(a: u8) -> u8 { match a { 0 => 1 _ => 2 } }"
                    .parse()
                    .unwrap()
            )
        );
        // Inside a macro every token counts: it may match on any of them.
        for (a, b) in [
            ("m!(pub 1)", "m!(1)"),
            ("m!(1, 2,)", "m!(1, 2)"),
            (
                "macro_rules! m { (pub $x:expr) => { 1 }; }",
                "macro_rules! m { ($x:expr) => { 1 }; }",
            ),
            (
                "m! { #[doc = \"a\"] struct S; }",
                "m! { #[doc = \"b\"] struct S; }",
            ),
        ] {
            assert_ne!(
                hash_tokens(a.parse().unwrap()),
                hash_tokens(b.parse().unwrap()),
                "{a} vs {b}"
            );
        }
        // `(x,)` is a tuple; `(x)` is not.
        assert_ne!(
            hash_tokens("fn f() -> (u8,) { (1,) }".parse().unwrap()),
            hash_tokens("fn f() -> (u8) { (1) }".parse().unwrap())
        );
    }
}
