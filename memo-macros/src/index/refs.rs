//! What a token stream references: the names in it, with how each is used, and the files
//! it includes.

use std::collections::{BTreeSet, HashSet};
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
    /// The traits a generic function's parameters are bound by.
    pub bounds: BTreeSet<String>,
    /// Names after `root::..::`, with their path's first segment: when that root is no
    /// local item, module or import (`String::new`, `std::fmt::Debug`), the name is
    /// another crate's and matches nothing here.
    pub rooted: BTreeSet<(String, String)>,
}

impl Refs {
    pub fn add(&mut self, usage: Usage, name: String) {
        self.names.insert((usage, name));
    }
}

pub fn references(tokens: TokenStream, file: Option<&Path>) -> Refs {
    let mut refs = Refs::default();
    walk(tokens, file, false, &HashSet::new(), &mut refs);
    refs
}

/// Walks `tokens` with `locals`, the bindings in scope: a function's parameters, and
/// `let` bindings from the end of their statement to the end of their block. A bare
/// lowercase name bound there is the binding, not an item (a binding cannot shadow a
/// const or a unit struct, and an item nested in a body does not see the bindings).
fn walk(
    tokens: TokenStream,
    file: Option<&Path>,
    in_attr: bool,
    locals: &HashSet<String>,
    refs: &mut Refs,
) {
    let tokens: Vec<TokenTree> = tokens.into_iter().collect();
    let mut locals = locals.clone();
    let mut pending: Vec<String> = Vec::new();
    // The body of a `fn` seen here, and the parameters it binds.
    let mut body: Option<(usize, HashSet<String>)> = None;
    for (i, token) in tokens.iter().enumerate() {
        match token {
            TokenTree::Ident(ident) if ident == "let" => {
                let mut j = i + 1;
                if matches!(tokens.get(j), Some(TokenTree::Ident(m)) if m == "mut") {
                    j += 1;
                }
                if let Some(TokenTree::Ident(name)) = tokens.get(j)
                    && !matches!(tokens.get(j + 1), Some(TokenTree::Group(_)))
                    && !(punct_at(&tokens, j + 1) == Some(':')
                        && punct_at(&tokens, j + 2) == Some(':'))
                {
                    pending.push(name.to_string());
                }
            }
            TokenTree::Ident(ident) if ident == "fn" => {
                body = function_body(&tokens, i);
            }
            TokenTree::Punct(p) if p.as_char() == ';' => locals.extend(pending.drain(..)),
            _ => {}
        }
        match token {
            TokenTree::Ident(ident) => {
                let name = ident.to_string();
                let name = name.strip_prefix("r#").unwrap_or(&name).to_owned();
                let lowercase = name.starts_with(|c: char| c.is_lowercase() || c == '_');
                let path_next =
                    punct_at(&tokens, i + 1) == Some(':') && punct_at(&tokens, i + 2) == Some(':');
                let after_path = i > 0 && matches!(punct_at(&tokens, i - 1), Some('.' | ':'));
                // `x: T` declares a parameter, a binding or a field; it names no item.
                let declared = lowercase && punct_at(&tokens, i + 1) == Some(':') && !path_next;
                let local = locals.contains(&name)
                    && lowercase
                    && !path_next
                    && !after_path
                    && punct_at(&tokens, i + 1) != Some('!');
                // The name an item or binding declares is no use of anything.
                let keyword = |j: usize| match tokens.get(j) {
                    Some(TokenTree::Ident(k)) => k.to_string(),
                    _ => String::new(),
                };
                let prev = i.checked_sub(1).map(keyword).unwrap_or_default();
                let before_mut = i.checked_sub(2).map(keyword).unwrap_or_default();
                let declares = matches!(
                    prev.as_str(),
                    "fn" | "struct"
                        | "enum"
                        | "union"
                        | "trait"
                        | "type"
                        | "mod"
                        | "static"
                        | "const"
                ) || (lowercase
                    && (prev == "let"
                        || (prev == "mut" && matches!(before_mut.as_str(), "let" | "static"))));
                if (local || declared || declares) && !after_path {
                    continue;
                }
                let before = i.checked_sub(1).and_then(|j| punct(&tokens[j]));
                let path_sep = before == Some(':')
                    && i.checked_sub(2).and_then(|j| punct(&tokens[j])) == Some(':');
                let after = tokens.get(i + 1).and_then(punct);
                let usage = if after == Some('!') {
                    Usage::Macro
                } else if before == Some('.') {
                    Usage::Method
                } else if path_sep {
                    if let Some(root) = path_root(&tokens, i) {
                        refs.rooted.insert((root, name));
                        continue;
                    }
                    Usage::Qualified
                } else {
                    Usage::Bare
                };
                if usage == Usage::Macro
                    && matches!(name.as_str(), "include_str" | "include_bytes" | "include")
                    && let Some(path) = included_path(&tokens[i + 1..], file)
                {
                    refs.files.insert(path);
                } else if usage == Usage::Macro
                    && let Some(TokenTree::Group(args)) = tokens.get(i + 2)
                {
                    // A path handed to a macro that includes it (`load!("table.txt")`):
                    // any literal argument naming an existing file counts as that file.
                    existing_files(args.stream(), file, refs);
                }
                if usage == Usage::Macro
                    && matches!(name.as_str(), "env" | "option_env")
                    && let Some(var) = first_literal(&tokens[i + 1..])
                {
                    refs.envs.insert(var);
                }
                refs.add(usage, name);
            }
            TokenTree::Group(group) => {
                let after_pound = |j: usize| matches!(tokens.get(j), Some(TokenTree::Punct(p)) if p.as_char() == '#');
                let attribute = group.delimiter() == proc_macro2::Delimiter::Bracket
                    && i > 0
                    && (after_pound(i - 1)
                        || (punct(&tokens[i - 1]) == Some('!') && i > 1 && after_pound(i - 2)));
                let scope = match &body {
                    Some((at, params)) if *at == i => params,
                    _ => &locals,
                };
                walk(group.stream(), file, in_attr || attribute, scope, refs);
            }
            TokenTree::Literal(literal) => {
                let literal = literal.to_string();
                format_arguments(&literal, &locals, refs);
                // `#[serde(with = "module")]`, `#[serde(default = "path::to::f")]`: paths
                // in attribute strings are code.
                if in_attr && let Some(text) = string_value(&literal) {
                    attribute_path(&text, refs);
                }
            }
            TokenTree::Punct(_) => {}
        }
    }
}

/// The first segment of the plain path `a::b::name` ending at `at`, or `::` for a path
/// from the crate root of the extern prelude (`::std::x`). `None` when the path is not
/// plain (`<T as Trait>::name`, `Vec::<T>::name`) or starts at `crate`, `self`, `super`
/// or `Self`: those are resolved by name alone.
fn path_root(tokens: &[TokenTree], at: usize) -> Option<String> {
    let mut i = at;
    loop {
        // tokens[i] is a segment; is it preceded by `::`?
        let sep =
            i >= 2 && punct(&tokens[i - 1]) == Some(':') && punct(&tokens[i - 2]) == Some(':');
        if !sep {
            let root = match &tokens[i] {
                TokenTree::Ident(ident) => ident.to_string(),
                _ => return None,
            };
            return (!matches!(root.as_str(), "crate" | "self" | "super" | "Self")).then_some(root);
        }
        match i.checked_sub(3).map(|j| &tokens[j]) {
            Some(TokenTree::Ident(_)) => i -= 3,
            // `::std::x`, or `(::std::x)`: the extern prelude.
            None | Some(TokenTree::Punct(_) | TokenTree::Group(_))
                if !matches!(i.checked_sub(3).and_then(|j| punct(&tokens[j])), Some('>')) =>
            {
                return Some("::".to_owned());
            }
            _ => return None,
        }
    }
}

fn punct_at(tokens: &[TokenTree], i: usize) -> Option<char> {
    tokens.get(i).and_then(punct)
}

/// For `fn name(params) .. { body }` starting at `at`: the body's index and the names its
/// parameters bind (`x: T`, `mut x: T`).
fn function_body(tokens: &[TokenTree], at: usize) -> Option<(usize, HashSet<String>)> {
    let Some(TokenTree::Group(params)) = tokens.get(at + 2) else {
        return None;
    };
    let body = (at + 3..tokens.len()).find(|&j| {
        matches!(&tokens[j], TokenTree::Group(g) if g.delimiter() == proc_macro2::Delimiter::Brace)
            || punct(&tokens[j]) == Some(';')
    })?;
    let TokenTree::Group(_) = &tokens[body] else {
        return None;
    };
    let params: Vec<TokenTree> = params.stream().into_iter().collect();
    let mut names = HashSet::new();
    for part in params.split(|t| punct(t) == Some(',')) {
        let part = match part {
            [TokenTree::Ident(m), rest @ ..] if m == "mut" => rest,
            all => all,
        };
        if let [TokenTree::Ident(name), colon, next, ..] = part
            && punct(colon) == Some(':')
            && punct(next) != Some(':')
        {
            names.insert(name.to_string());
        }
    }
    Some((body, names))
}

fn punct(token: &TokenTree) -> Option<char> {
    match token {
        TokenTree::Punct(p) => Some(p.as_char()),
        _ => None,
    }
}

/// Names captured by a format string, as in `println!("{LIMIT}")`: a const can be used
/// there with no other mention.
fn format_arguments(literal: &str, locals: &HashSet<String>, refs: &mut Refs) {
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
            && !locals.contains(&name)
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
    args.stream().into_iter().find_map(|t| match t {
        TokenTree::Literal(literal) => string_value(&literal.to_string()),
        _ => None,
    })
}

/// The text of a string literal, plain (`"a\\b"`) or raw (`r#"a"#`).
fn string_value(literal: &str) -> Option<String> {
    if let Some(raw) = literal.strip_prefix('r') {
        let hashes = raw.len() - raw.trim_start_matches('#').len();
        let inner = raw.get(hashes..raw.len().checked_sub(hashes)?)?;
        return Some(inner.strip_prefix('"')?.strip_suffix('"')?.to_owned());
    }
    let inner = literal.strip_prefix('"')?.strip_suffix('"')?;
    let mut out = String::with_capacity(inner.len());
    let mut chars = inner.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next()? {
            'n' => out.push('\n'),
            't' => out.push('\t'),
            other @ ('\\' | '"' | '\'') => out.push(other),
            _ => return None,
        }
    }
    Some(out)
}

/// The value of a compile-time string expression: a literal, `env!("X")`, or
/// `concat!(..)` of those.
fn evaluate(tokens: &[TokenTree]) -> Option<String> {
    match tokens {
        [TokenTree::Literal(literal)] => string_value(&literal.to_string()),
        [
            TokenTree::Ident(name),
            TokenTree::Punct(bang),
            TokenTree::Group(args),
        ] if bang.as_char() == '!' => {
            let args: Vec<TokenTree> = args.stream().into_iter().collect();
            match name.to_string().as_str() {
                "env" => std::env::var(evaluate(&args[..1.min(args.len())])?).ok(),
                "concat" => args
                    .split(|t| punct(t) == Some(','))
                    .filter(|part| !part.is_empty())
                    .map(evaluate)
                    .collect(),
                _ => None,
            }
        }
        _ => None,
    }
}

/// The file of `!("path")` following an `include*` identifier, its path a literal or
/// built by `concat!` and `env!` (`concat!(env!("OUT_DIR"), "/gen.rs")`).
fn included_path(rest: &[TokenTree], file: Option<&Path>) -> Option<PathBuf> {
    let (Some(TokenTree::Punct(bang)), Some(TokenTree::Group(args))) = (rest.first(), rest.get(1))
    else {
        return None;
    };
    if bang.as_char() != '!' {
        return None;
    }
    let args: Vec<TokenTree> = args.stream().into_iter().collect();
    let end = args
        .iter()
        .position(|t| punct(t) == Some(','))
        .unwrap_or(args.len());
    let path = evaluate(&args[..end])?;
    let base = file?.parent()?;
    Some(base.join(path))
}

/// String literals among a macro's arguments that name existing files.
fn existing_files(tokens: TokenStream, file: Option<&Path>, refs: &mut Refs) {
    let Some(base) = file.and_then(Path::parent) else {
        return;
    };
    for token in tokens {
        if let TokenTree::Literal(literal) = token
            && let Some(text) = string_value(&literal.to_string())
            && !text.is_empty()
            && !text.contains(['{', '\n'])
            && (text.contains('.') || text.contains('/'))
        {
            let path = base.join(&text);
            if path.is_file() {
                refs.files.insert(path);
            }
        }
    }
}

/// The names of a path written as a string in an attribute.
fn attribute_path(text: &str, refs: &mut Refs) {
    let segments: Vec<&str> = text.split("::").collect();
    let ident = |s: &&str| {
        let mut chars = s.chars();
        chars.next().is_some_and(|c| c.is_alphabetic() || c == '_')
            && chars.all(|c| c.is_alphanumeric() || c == '_')
    };
    if segments.iter().all(ident) {
        for (i, segment) in segments.iter().enumerate() {
            let usage = if i == 0 {
                Usage::Bare
            } else {
                Usage::Qualified
            };
            refs.add(usage, (*segment).to_owned());
        }
        // `with = "module"` names a module whose `serialize` and `deserialize` run.
        for function in ["serialize", "deserialize"] {
            refs.add(Usage::Qualified, function.to_owned());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{Usage, references};

    fn refs_of(code: &str) -> super::Refs {
        references(code.parse().unwrap(), None)
    }

    fn has(code: &str, usage: Usage, name: &str) -> bool {
        let refs = references(code.parse().unwrap(), None);
        refs.names.contains(&(usage, name.to_owned()))
    }

    #[test]
    fn usages() {
        let code = "fn f(s: &S) -> u8 { let v = util::helper(s.area()); bump!(v) + LIMIT }";
        assert!(
            refs_of(code)
                .rooted
                .contains(&("util".to_owned(), "helper".to_owned()))
        );
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
    fn included_paths_are_evaluated() {
        let file = std::path::Path::new("/p/src/main.rs");
        let code = r##"fn f() { include_str!(r#"data.txt"#); include_bytes!(concat!("/abs", "/x.bin")); }"##;
        let refs = references(code.parse().unwrap(), Some(file));
        let files: Vec<String> = refs.files.iter().map(|p| p.display().to_string()).collect();
        assert_eq!(files, ["/abs/x.bin", "/p/src/data.txt"]);
    }

    #[test]
    fn paths_in_attribute_strings_are_names() {
        let code = r#"struct S { #[serde(with = "codec::hex")] x: u8, y: &'static str }"#;
        assert!(has(code, Usage::Bare, "codec"));
        assert!(has(code, Usage::Qualified, "hex"));
        let code = r#"fn f() -> &'static str { "codec" }"#;
        assert!(!has(code, Usage::Bare, "codec"), "not outside attributes");
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
    fn paths_keep_their_root() {
        let code = "fn f() { let s = String::new(); std::fmt::Debug::fmt; crate::a::helper(); <T as Tr>::go(); Vec::<u8>::with_capacity(1); ::std::mem::take(x); Self::make() }";
        let refs = references(code.parse().unwrap(), None);
        let rooted: Vec<(&str, &str)> = refs
            .rooted
            .iter()
            .map(|(r, n)| (r.as_str(), n.as_str()))
            .collect();
        assert!(rooted.contains(&("String", "new")), "{rooted:?}");
        assert!(rooted.contains(&("std", "fmt")) && rooted.contains(&("std", "Debug")));
        assert!(rooted.contains(&("::", "take")), "{rooted:?}");
        assert!(
            has(code, Usage::Qualified, "helper"),
            "crate:: resolves by name"
        );
        assert!(
            has(code, Usage::Qualified, "go"),
            "a qualified path resolves by name"
        );
        assert!(
            has(code, Usage::Qualified, "with_capacity"),
            "a turbofish path resolves by name"
        );
        assert!(
            has(code, Usage::Qualified, "make"),
            "Self:: resolves by name"
        );
    }

    #[test]
    fn bindings_are_not_items() {
        let code = "fn f(total: u64, mut g: u8) -> u64 { let n = count(total); let count = n; helper(count, g, format!(\"{count}\")) }";
        assert!(!has(code, Usage::Bare, "total"), "a parameter");
        assert!(!has(code, Usage::Bare, "g"), "a mut parameter");
        assert!(
            has(code, Usage::Bare, "count"),
            "called before the let that shadows it"
        );
        assert!(has(code, Usage::Bare, "helper"));
        let nested = "fn f(helper: u8) -> u8 { fn inner() -> u8 { helper() } inner() + helper }";
        assert!(
            has(nested, Usage::Bare, "helper"),
            "a nested fn does not see the parameter"
        );
        let declared = "fn total() -> u8 { let mut count = 1; struct Count; count }";
        assert!(!has(declared, Usage::Bare, "total") && !has(declared, Usage::Bare, "count"));
        assert!(
            !has(declared, Usage::Bare, "Count"),
            "a declaration is no use"
        );
        let shadowed = "fn f() -> u64 { let total = total(); total }";
        assert!(
            has(shadowed, Usage::Bare, "total"),
            "the initializer runs the fn"
        );
    }

    #[test]
    fn format_strings_capture_names() {
        let code = r#"fn f() { println!("{LIMIT} {x:>4} {{not}} {0}", 1); }"#;
        assert!(has(code, Usage::Bare, "LIMIT"));
        assert!(has(code, Usage::Bare, "x"));
        assert!(!has(code, Usage::Bare, "not"));
    }
}
