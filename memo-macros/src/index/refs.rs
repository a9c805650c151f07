//! What a token stream references: the names in it, with how each is used, and the files
//! it includes.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use proc_macro2::{TokenStream, TokenTree};

/// How a name is used, which narrows what it can resolve to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Usage {
    /// A one-segment path, `helper(x)` or `LIMIT`: an item of the same module shadows any
    /// other of that name.
    Bare,
    /// After `::`, as in `util::helper` or `Self::new`: any item of that name.
    Qualified,
    /// After `.`, as in `x.area()`: a method.
    Method,
    /// Before `!`: a macro.
    Macro,
}

/// The names a piece of code uses, and the files it pulls in with `include_str!`,
/// `include_bytes!` or `include!`, resolved against the file the code is in.
#[derive(Default, Clone)]
pub struct Refs {
    pub names: BTreeSet<(Usage, String)>,
    pub files: BTreeSet<PathBuf>,
    /// The environment variables read by `env!` and `option_env!`, at compile time.
    pub envs: BTreeSet<String>,
}

impl Refs {
    pub fn add(&mut self, usage: Usage, name: String) {
        self.names.insert((usage, name));
    }
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
                let before = i.checked_sub(1).and_then(|j| punct(&tokens[j]));
                let path_sep = before == Some(':')
                    && i.checked_sub(2).and_then(|j| punct(&tokens[j])) == Some(':');
                let after = tokens.get(i + 1).and_then(punct);
                let usage = if after == Some('!') {
                    Usage::Macro
                } else if before == Some('.') {
                    Usage::Method
                } else if path_sep {
                    Usage::Qualified
                } else {
                    Usage::Bare
                };
                if usage == Usage::Macro
                    && matches!(name.as_str(), "include_str" | "include_bytes" | "include")
                    && let Some(path) = included_path(&tokens[i + 1..], file)
                {
                    refs.files.insert(path);
                }
                if usage == Usage::Macro
                    && matches!(name.as_str(), "env" | "option_env")
                    && let Some(var) = first_literal(&tokens[i + 1..])
                {
                    refs.envs.insert(var);
                }
                refs.add(usage, name);
            }
            TokenTree::Group(group) => walk(group.stream(), file, refs),
            TokenTree::Literal(literal) => format_arguments(&literal.to_string(), refs),
            TokenTree::Punct(_) => {}
        }
    }
}

fn punct(token: &TokenTree) -> Option<char> {
    match token {
        TokenTree::Punct(p) => Some(p.as_char()),
        _ => None,
    }
}

/// Names captured by a format string, as in `println!("{LIMIT}")`: a const can be used
/// there with no other mention.
fn format_arguments(literal: &str, refs: &mut Refs) {
    if !literal.starts_with('"') && !literal.starts_with('r') {
        return;
    }
    let mut rest = literal;
    while let Some(open) = rest.find('{') {
        rest = &rest[open + 1..];
        if rest.starts_with('{') {
            rest = &rest[1..];
            continue;
        }
        let name: String = rest
            .chars()
            .take_while(|c| c.is_alphanumeric() || *c == '_')
            .collect();
        let next = rest[name.len()..].chars().next();
        if !name.is_empty()
            && !name.starts_with(|c: char| c.is_ascii_digit())
            && matches!(next, Some('}' | ':'))
        {
            refs.add(Usage::Bare, name);
        }
    }
}

/// The contents of the first string literal of `!("text", ..)`, after a macro's name.
fn first_literal(rest: &[TokenTree]) -> Option<String> {
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
    Some(literal.strip_prefix('"')?.strip_suffix('"')?.to_owned())
}

/// The file of `!("path")` following an `include*` identifier.
fn included_path(rest: &[TokenTree], file: Option<&Path>) -> Option<PathBuf> {
    let relative = first_literal(rest)?;
    let base = file?.parent()?;
    Some(base.join(relative))
}

#[cfg(test)]
mod tests {
    use super::{Usage, references};

    fn has(code: &str, usage: Usage, name: &str) -> bool {
        let refs = references(code.parse().unwrap(), None);
        refs.names.contains(&(usage, name.to_owned()))
    }

    #[test]
    fn usages() {
        let code = "fn f(s: &S) -> u8 { let v = util::helper(s.area()); bump!(v) + LIMIT }";
        assert!(has(code, Usage::Qualified, "helper"));
        assert!(has(code, Usage::Bare, "util"));
        assert!(has(code, Usage::Method, "area"));
        assert!(has(code, Usage::Macro, "bump"));
        assert!(has(code, Usage::Bare, "LIMIT"));
        assert!(
            has(code, Usage::Bare, "S"),
            "a type after a single colon is not qualified"
        );
    }

    #[test]
    fn environment_reads_are_recorded() {
        let code =
            r#"fn f() -> &'static str { option_env!("MODE").unwrap_or(env!("CARGO_PKG_NAME")) }"#;
        let refs = references(code.parse().unwrap(), None);
        let envs: Vec<&str> = refs.envs.iter().map(String::as_str).collect();
        assert_eq!(envs, ["CARGO_PKG_NAME", "MODE"]);
    }

    #[test]
    fn format_strings_capture_names() {
        let code = r#"fn f() { println!("{LIMIT} {x:>4} {{not}} {0}", 1); }"#;
        assert!(has(code, Usage::Bare, "LIMIT"));
        assert!(has(code, Usage::Bare, "x"));
        assert!(!has(code, Usage::Bare, "not"));
    }
}
