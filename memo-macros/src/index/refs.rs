//! What a token stream references: the identifiers in it, and the files it includes.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use proc_macro2::{TokenStream, TokenTree};

/// The identifiers a piece of code names, and the files it pulls in with `include_str!`,
/// `include_bytes!` or `include!`, resolved against the file the code is in.
#[derive(Default, Clone)]
pub struct Refs {
    pub idents: BTreeSet<String>,
    pub files: BTreeSet<PathBuf>,
}

pub fn references(tokens: TokenStream, file: Option<&Path>) -> Refs {
    let mut refs = Refs::default();
    walk(tokens, file, &mut refs);
    refs
}

fn walk(tokens: TokenStream, file: Option<&Path>, refs: &mut Refs) {
    let tokens: Vec<TokenTree> = tokens.into_iter().collect();
    for (i, token) in tokens.iter().enumerate() {
        match token {
            TokenTree::Ident(ident) => {
                let name = ident.to_string();
                let name = name.strip_prefix("r#").unwrap_or(&name).to_owned();
                if matches!(name.as_str(), "include_str" | "include_bytes" | "include")
                    && let Some(path) = included_path(&tokens[i + 1..], file)
                {
                    refs.files.insert(path);
                }
                refs.idents.insert(name);
            }
            TokenTree::Group(group) => walk(group.stream(), file, refs),
            _ => {}
        }
    }
}

/// The file of `!("path")` following an `include*` identifier.
fn included_path(rest: &[TokenTree], file: Option<&Path>) -> Option<PathBuf> {
    let (Some(TokenTree::Punct(bang)), Some(TokenTree::Group(args))) = (rest.first(), rest.get(1))
    else {
        return None;
    };
    if bang.as_char() != '!' {
        return None;
    }
    let literal = args.stream().into_iter().find_map(|t| match t {
        TokenTree::Literal(literal) => Some(literal.to_string()),
        _ => None,
    })?;
    let relative = literal.strip_prefix('"')?.strip_suffix('"')?;
    let base = file?.parent()?;
    Some(base.join(relative))
}
