//! The code fingerprint: blake3 over a canonical walk of token trees. Our own walk, not
//! `TokenStream::to_string()`, whose spacing may change between compilers; doc attributes
//! are dropped, and comments and whitespace are not tokens, so neither can change it.

use proc_macro2::{Delimiter, Spacing, TokenStream, TokenTree};

/// The version of the fingerprint: a change to what is hashed bumps it, so old results
/// stop matching rather than colliding.
const FORMAT: &[u8] = b"memo fingerprint v1";

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
    walk(tokens, &mut hasher);
    *hasher.finalize().as_bytes()
}

/// The fingerprint of a function: its components, in order, and its semantic options.
pub fn combine(components: &[Component], options: &[(&'static str, String)]) -> [u8; 32] {
    let mut hasher = blake3::Hasher::new();
    hasher.update(FORMAT);
    for component in components {
        text(&mut hasher, component.kind);
        text(&mut hasher, &component.path);
        hasher.update(&component.hash);
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

fn walk(tokens: TokenStream, hasher: &mut blake3::Hasher) {
    let tokens: Vec<TokenTree> = tokens.into_iter().collect();
    let mut i = 0;
    while i < tokens.len() {
        if let Some(len) = doc_attribute_len(&tokens[i..]) {
            i += len;
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
                walk(group.stream(), hasher);
                hasher.update(b"e");
            }
        }
        i += 1;
    }
}

/// How many tokens a `#[doc ...]` or `#![doc ...]` attribute at the start of `tokens`
/// spans, if one is there. Doc comments reach a macro as such attributes.
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
    match group.stream().into_iter().next()? {
        TokenTree::Ident(ident) if ident == "doc" => Some(2 + bang),
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
                #[inline]
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
}
