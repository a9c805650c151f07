//! Turning a parsed file into index items: functions, methods, consts, statics, macros,
//! types and traits, and the `use` declarations that say which crates names come from.

use std::path::Path;

use proc_macro2::{Span, TokenStream, TokenTree};
use quote::ToTokens;
use syn::spanned::Spanned;
use syn::{ImplItem, Item as SynItem, TraitItem, Type, UseTree};

use super::{Index, Item, Usage, references};
use crate::fingerprint::hash_tokens;

struct Ctx<'a> {
    file: &'a Path,
    /// The file's text, from which each item's source is cut.
    text: &'a str,
    relative: String,
    /// The package's `src/`, whose files the index reads anyway.
    src: &'a Path,
    /// How many `#[path]` modules and item-level `include!`s led here.
    depth: usize,
}

pub fn file(index: &mut Index, parsed: &syn::File, text: &str, file: &Path, relative: &Path) {
    let manifest_dir = file
        .ancestors()
        .nth(relative.components().count())
        .unwrap_or(file);
    let src = manifest_dir.join("src");
    let ctx = Ctx {
        file,
        text,
        relative: relative.to_string_lossy().replace('\\', "/"),
        src: &src,
        depth: 0,
    };
    let module = module_of(relative);
    items(index, &ctx, &parsed.items, &module);
}

/// Indexes the items of a file that a `#[path]` module or an item-level `include!` brings
/// in from outside `src/` (a shared directory, build-script output in `OUT_DIR`).
fn outside(index: &mut Index, ctx: &Ctx, path: &Path, module: &str) {
    let Ok(path) = path.canonicalize() else {
        return;
    };
    let src = ctx
        .src
        .canonicalize()
        .unwrap_or_else(|_| ctx.src.to_path_buf());
    if path.starts_with(&src) || ctx.depth > 8 {
        return;
    }
    let path = path.as_path();
    let Ok(text) = std::fs::read_to_string(path) else {
        return;
    };
    let Ok(parsed) = syn::parse_file(&text) else {
        return;
    };
    let inner = Ctx {
        file: path,
        text: &text,
        relative: path.to_string_lossy().into_owned(),
        src: ctx.src,
        depth: ctx.depth + 1,
    };
    items(index, &inner, &parsed.items, module);
}

/// The module a file holds, from its place under `src/`: `src/a/b.rs` → `crate::a::b`.
fn module_of(relative: &Path) -> String {
    let parts: Vec<String> = relative
        .with_extension("")
        .iter()
        .map(|p| p.to_string_lossy().into_owned())
        .collect();
    match parts.as_slice() {
        [src, rest @ ..] if src == "src" => {
            let mut path = vec!["crate".to_owned()];
            match rest {
                [root] if root == "lib" || root == "main" => {}
                [bin, name] if bin == "bin" => return name.clone(),
                [dirs @ .., last] if last == "mod" => path.extend(dirs.iter().cloned()),
                all => path.extend(all.iter().cloned()),
            }
            path.join("::")
        }
        [.., last] => last.clone(),
        [] => "crate".to_owned(),
    }
}

fn items(index: &mut Index, ctx: &Ctx, list: &[SynItem], module: &str) {
    for item in list {
        let named = |kind: &'static str, ident: &syn::Ident| Entry {
            kind,
            name: ident.to_string(),
            owner: None,
            owners: Vec::new(),
            tokens: item.to_token_stream(),
            span: item.span(),
        };
        match item {
            SynItem::Fn(f) => {
                add(index, ctx, module, named("fn", &f.sig.ident));
            }
            SynItem::Const(c) => {
                add(index, ctx, module, named("const", &c.ident));
            }
            SynItem::Static(s) => {
                add(index, ctx, module, named("static", &s.ident));
            }
            SynItem::Struct(s) => {
                let mut entry = named("type", &s.ident);
                entry.tokens = type_tokens(item, &s.attrs);
                add(index, ctx, module, entry);
            }
            SynItem::Enum(e) => {
                let mut entry = named("type", &e.ident);
                entry.tokens = type_tokens(item, &e.attrs);
                let id = add(index, ctx, module, entry);
                // `use Enum::*` brings variants in by their own names.
                for variant in &e.variants {
                    index.also_named(variant.ident.to_string(), id);
                }
            }
            SynItem::Union(u) => {
                add(index, ctx, module, named("type", &u.ident));
            }
            SynItem::Type(t) => {
                if let Some(target) = type_name(&t.ty) {
                    index.alias(&t.ident.to_string(), &target);
                }
                add(index, ctx, module, named("type", &t.ident));
            }
            SynItem::Trait(t) => {
                add(index, ctx, module, named("trait", &t.ident));
                let supers = t.supertraits.iter().filter_map(|bound| match bound {
                    syn::TypeParamBound::Trait(b) => {
                        b.path.segments.last().map(|s| s.ident.to_string())
                    }
                    _ => None,
                });
                index
                    .supertraits
                    .entry(t.ident.to_string())
                    .or_default()
                    .extend(supers);
                let owner = t.ident.to_string();
                for member in &t.items {
                    let (kind, name) = match member {
                        TraitItem::Fn(f) if f.default.is_some() => ("method", &f.sig.ident),
                        TraitItem::Const(c) => ("const", &c.ident),
                        TraitItem::Type(t) => ("type", &t.ident),
                        _ => continue,
                    };
                    let entry = Entry {
                        kind,
                        name: name.to_string(),
                        owner: Some(owner.clone()),
                        owners: Vec::new(),
                        tokens: member.to_token_stream(),
                        span: member.span(),
                    };
                    add(index, ctx, module, entry);
                }
            }
            SynItem::Impl(imp) => {
                let owner = type_name(&imp.self_ty);
                // What the methods depend on besides their own tokens: the impl's header.
                let mut header = imp.self_ty.to_token_stream();
                if let Some((_, path, _)) = &imp.trait_ {
                    path.to_tokens(&mut header);
                }
                imp.generics.to_tokens(&mut header);
                // An impl can run with none of its names written (operators, `.into()`,
                // formatting): it belongs to every type and trait its header names.
                let owners = idents(header.clone());
                for member in &imp.items {
                    let (kind, name) = match member {
                        ImplItem::Fn(f) => ("method", f.sig.ident.to_string()),
                        ImplItem::Const(c) => ("const", c.ident.to_string()),
                        ImplItem::Type(t) => ("type", t.ident.to_string()),
                        _ => continue,
                    };
                    let mut tokens = header.clone();
                    member.to_tokens(&mut tokens);
                    let entry = Entry {
                        kind,
                        name,
                        owner: owner.clone(),
                        owners: owners.clone(),
                        tokens,
                        span: member.span(),
                    };
                    let id = add(index, ctx, module, entry);
                    // A cached method in `impl<T: Display> W<T>` runs `T`'s `Display`,
                    // whatever `T` is: the impl's bounds are its own.
                    index.items[id].refs.bounds = super::bound_traits(&imp.generics);
                }
            }
            SynItem::Macro(m) => {
                let tokens = item.to_token_stream();
                if m.mac.path.is_ident("macro_rules") {
                    if let Some(ident) = &m.ident {
                        // It belongs to the names in its body: a macro that writes
                        // `impl Display for $t` is reached from `Display`.
                        let mut entry = named("macro", ident);
                        entry.owners = idents(m.mac.tokens.clone());
                        let id = add(index, ctx, module, entry);
                        // The items its expansion defines under names of its own.
                        for name in defined_names(m.mac.tokens.clone()) {
                            index.also_named(name, id);
                        }
                    }
                } else if m.mac.path.is_ident("include")
                    && let Some(path) = included_file(item.to_token_stream(), ctx.file)
                {
                    // `include!` where items go: its file's items are this module's.
                    outside(index, ctx, &path, module);
                    let entry = named("static", m.ident.as_ref().unwrap_or(&ident("include")));
                    add(index, ctx, module, entry);
                } else {
                    // A macro called where items go (`thread_local!`, `impl_ops!(Meters)`)
                    // defines items the index cannot see: it stands for them under every
                    // name in its input, and belongs to the macro and those names.
                    let input = idents(m.mac.tokens.clone());
                    let macro_name = m.mac.path.segments.last().map(|s| s.ident.to_string());
                    let mut owners = input.clone();
                    owners.extend(macro_name.clone());
                    let mut names = input;
                    names.extend(defined_names(m.mac.tokens.clone()));
                    names.sort();
                    names.dedup();
                    let Some(first) = names.first().cloned().or(macro_name) else {
                        continue;
                    };
                    let entry = Entry {
                        kind: "static",
                        name: first,
                        owner: None,
                        owners,
                        tokens,
                        span: item.span(),
                    };
                    let id = add(index, ctx, module, entry);
                    for name in names.into_iter().skip(1) {
                        index.also_named(name, id);
                    }
                }
            }
            SynItem::Mod(m) => {
                let inner = format!("{module}::{}", m.ident);
                if let Some((_, content)) = &m.content {
                    items(index, ctx, content, &inner);
                } else if let Some(path) = path_attribute(&m.attrs) {
                    let base = ctx.file.parent().unwrap_or(ctx.file);
                    outside(index, ctx, &base.join(path), &inner);
                }
            }
            SynItem::Use(u) => uses(index, ctx, &u.tree, None, module),
            _ => {}
        }
    }
}

/// The file a `#[path = "file.rs"]` attribute names.
fn path_attribute(attrs: &[syn::Attribute]) -> Option<String> {
    attrs.iter().find_map(|attr| {
        let syn::Meta::NameValue(nv) = &attr.meta else {
            return None;
        };
        if !nv.path.is_ident("path") {
            return None;
        }
        match &nv.value {
            syn::Expr::Lit(syn::ExprLit {
                lit: syn::Lit::Str(s),
                ..
            }) => Some(s.value()),
            _ => None,
        }
    })
}

/// The file an item-level `include!(..)` reads.
fn included_file(tokens: TokenStream, file: &Path) -> Option<std::path::PathBuf> {
    references(tokens, Some(file)).files.into_iter().next()
}

fn ident(name: &str) -> syn::Ident {
    syn::Ident::new(name, Span::call_site())
}

/// What goes into the index for one item.
struct Entry {
    kind: &'static str,
    name: String,
    owner: Option<String>,
    owners: Vec<String>,
    tokens: TokenStream,
    span: Span,
}

fn add(index: &mut Index, ctx: &Ctx, module: &str, entry: Entry) -> usize {
    let Entry {
        kind,
        name,
        owner,
        owners,
        tokens,
        span,
    } = entry;
    let (start, end) = (span.start().line, span.end().line);
    let mut refs = references(tokens.clone(), Some(ctx.file));
    if let Some(owner) = &owner {
        refs.add(Usage::Qualified, owner.clone());
    }
    let path = match &owner {
        Some(owner) => format!("{module}::{owner}::{name}"),
        None => format!("{module}::{name}"),
    };
    index.add(Item {
        kind,
        name,
        owner,
        owners,
        module: module.to_owned(),
        path,
        file: ctx.file.to_path_buf(),
        lines: (start, end.max(start)),
        source: lines_of(ctx.text, start, end.max(start)),
        location: format!("{}:{start}", ctx.relative),
        hash: hash_tokens(tokens),
        refs,
    })
}

/// Lines `start..=end` (counted from 1) of `text`, as written.
fn lines_of(text: &str, start: usize, end: usize) -> String {
    let mut out: String = text
        .lines()
        .skip(start.saturating_sub(1))
        .take(end + 1 - start.max(1))
        .collect::<Vec<_>>()
        .join("\n");
    out.push('\n');
    out
}

/// A type's tokens for its hash. A derive from outside std and serde may turn doc
/// comments into code (displaydoc does): then they count, as a doc-preserving attribute.
fn type_tokens(item: &SynItem, attrs: &[syn::Attribute]) -> TokenStream {
    const PLAIN: [&str; 11] = [
        "Debug",
        "Clone",
        "Copy",
        "PartialEq",
        "Eq",
        "PartialOrd",
        "Ord",
        "Hash",
        "Default",
        "Serialize",
        "Deserialize",
    ];
    let tokens = item.to_token_stream();
    let derives = attrs
        .iter()
        .filter(|a| a.path().is_ident("derive"))
        .flat_map(|a| idents(a.meta.to_token_stream()));
    let mut docs_are_code = false;
    for derive in derives {
        if derive != "derive" && !PLAIN.contains(&derive.as_str()) && !derive.starts_with("serde") {
            docs_are_code = true;
        }
    }
    if !docs_are_code {
        return tokens;
    }
    // Each doc attribute's text, renamed so the hash walk keeps it.
    let docs: Vec<String> = attrs_with_docs(item);
    let mut out = TokenStream::new();
    for text in docs {
        out.extend(quote::quote!(#[memo_doc = #text]));
    }
    out.extend(tokens);
    out
}

/// Every doc comment in an item, its fields' and variants' included, in order.
fn attrs_with_docs(item: &SynItem) -> Vec<String> {
    let mut out = Vec::new();
    let mut tokens = vec![item.to_token_stream()];
    while let Some(stream) = tokens.pop() {
        let list: Vec<TokenTree> = stream.into_iter().collect();
        for (i, token) in list.iter().enumerate() {
            if let TokenTree::Group(group) = token {
                let inner: Vec<TokenTree> = group.stream().into_iter().collect();
                let is_doc = matches!(inner.first(), Some(TokenTree::Ident(id)) if id == "doc")
                    && i > 0
                    && matches!(&list[i - 1], TokenTree::Punct(p) if p.as_char() == '#');
                if is_doc {
                    out.push(group.stream().to_string());
                } else {
                    tokens.push(group.stream());
                }
            }
        }
    }
    out
}

/// Every identifier in a token stream, in order, without repeats.
fn idents(tokens: TokenStream) -> Vec<String> {
    let mut out = Vec::new();
    let mut stack = vec![tokens];
    while let Some(stream) = stack.pop() {
        for token in stream {
            match token {
                TokenTree::Ident(ident) => {
                    let name = ident.to_string();
                    if !out.contains(&name) {
                        out.push(name);
                    }
                }
                TokenTree::Group(group) => stack.push(group.stream()),
                _ => {}
            }
        }
    }
    out
}

/// The name of an impl's self type: `Foo` for `Foo<T>`, `&Foo`, `crate::a::Foo`.
fn type_name(ty: &Type) -> Option<String> {
    match ty {
        Type::Path(path) => path.path.segments.last().map(|s| s.ident.to_string()),
        Type::Reference(reference) => type_name(&reference.elem),
        Type::Paren(paren) => type_name(&paren.elem),
        Type::Group(group) => type_name(&group.elem),
        _ => None,
    }
}

/// Records what a `use` tree brings in: each local name → the first segment of its path.
fn uses(index: &mut Index, ctx: &Ctx, tree: &UseTree, root: Option<&str>, module: &str) {
    match tree {
        UseTree::Path(path) => {
            let first = root.map_or_else(|| path.ident.to_string(), str::to_owned);
            uses(index, ctx, &path.tree, Some(&first), module);
        }
        UseTree::Name(name) => {
            let local = name.ident.to_string();
            let first = root.map_or_else(|| local.clone(), str::to_owned);
            index.uses.entry(local).or_default().insert(first);
        }
        UseTree::Rename(rename) => {
            let first = root.map_or_else(|| rename.ident.to_string(), str::to_owned);
            let local = rename.rename.to_string();
            index.alias(&local, &rename.ident.to_string());
            index.uses.entry(local).or_default().insert(first);
        }
        UseTree::Glob(glob) => {
            if let Some(root) = root {
                let line = glob.star_token.span.start().line;
                let location = format!("{}:{line}", ctx.relative);
                index
                    .globs
                    .insert((module.to_owned(), root.to_owned(), location));
            }
        }
        UseTree::Group(group) => {
            for tree in &group.items {
                uses(index, ctx, tree, root, module);
            }
        }
    }
}

/// The names after `static`, `const` or `fn` in a macro's input.
fn defined_names(tokens: TokenStream) -> Vec<String> {
    let tokens: Vec<TokenTree> = tokens.into_iter().collect();
    let mut names = Vec::new();
    for pair in tokens.windows(3) {
        if let TokenTree::Ident(keyword) = &pair[0]
            && matches!(
                keyword.to_string().as_str(),
                "static" | "const" | "fn" | "struct" | "enum" | "type" | "trait" | "union"
            )
        {
            // `static ref NAME` (lazy_static) puts `ref` before the name.
            let name = match (&pair[1], &pair[2]) {
                (TokenTree::Ident(r), TokenTree::Ident(name)) if r == "ref" => name,
                (TokenTree::Ident(name), _) => name,
                _ => continue,
            };
            names.push(name.to_string());
        }
    }
    names
}
