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
    relative: String,
}

pub fn file(index: &mut Index, parsed: &syn::File, file: &Path, relative: &Path) {
    let ctx = Ctx {
        file,
        relative: relative.to_string_lossy().replace('\\', "/"),
    };
    let module = module_of(relative);
    items(index, &ctx, &parsed.items, &module);
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
        match item {
            SynItem::Fn(f) => add(index, ctx, "fn", &f.sig.ident, None, module, item),
            SynItem::Const(c) => add(index, ctx, "const", &c.ident, None, module, item),
            SynItem::Static(s) => add(index, ctx, "static", &s.ident, None, module, item),
            SynItem::Struct(s) => add(index, ctx, "type", &s.ident, None, module, item),
            SynItem::Enum(e) => add(index, ctx, "type", &e.ident, None, module, item),
            SynItem::Union(u) => add(index, ctx, "type", &u.ident, None, module, item),
            SynItem::Type(t) => add(index, ctx, "type", &t.ident, None, module, item),
            SynItem::Trait(t) => {
                add(index, ctx, "trait", &t.ident, None, module, item);
                let owner = t.ident.to_string();
                for member in &t.items {
                    if let TraitItem::Fn(f) = member
                        && f.default.is_some()
                    {
                        let tokens = member.to_token_stream();
                        let span = member.span();
                        let name = f.sig.ident.to_string();
                        add_tokens(
                            index,
                            ctx,
                            "method",
                            name,
                            Some(&owner),
                            module,
                            tokens,
                            span,
                        );
                    }
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
                for member in &imp.items {
                    let (kind, name) = match member {
                        ImplItem::Fn(f) => ("method", f.sig.ident.to_string()),
                        ImplItem::Const(c) => ("const", c.ident.to_string()),
                        ImplItem::Type(t) => ("type", t.ident.to_string()),
                        _ => continue,
                    };
                    let mut tokens = header.clone();
                    member.to_tokens(&mut tokens);
                    let span = member.span();
                    add_tokens(
                        index,
                        ctx,
                        kind,
                        name,
                        owner.as_deref(),
                        module,
                        tokens,
                        span,
                    );
                }
            }
            SynItem::Macro(m) => {
                if m.mac.path.is_ident("macro_rules") {
                    if let Some(ident) = &m.ident {
                        add(index, ctx, "macro", ident, None, module, item);
                    }
                } else {
                    // `thread_local!`, `lazy_static!` and the like define the items named
                    // after `static`, `const` or `fn` in their input.
                    for name in defined_names(m.mac.tokens.clone()) {
                        let tokens = item.to_token_stream();
                        add_tokens(
                            index,
                            ctx,
                            "static",
                            name,
                            None,
                            module,
                            tokens,
                            item.span(),
                        );
                    }
                }
            }
            SynItem::Mod(m) => {
                if let Some((_, content)) = &m.content {
                    let inner = format!("{module}::{}", m.ident);
                    items(index, ctx, content, &inner);
                }
            }
            SynItem::Use(u) => uses(index, &u.tree, None),
            _ => {}
        }
    }
}

#[allow(clippy::too_many_arguments)]
fn add(
    index: &mut Index,
    ctx: &Ctx,
    kind: &'static str,
    ident: &syn::Ident,
    owner: Option<&str>,
    module: &str,
    item: &SynItem,
) {
    let tokens = item.to_token_stream();
    add_tokens(
        index,
        ctx,
        kind,
        ident.to_string(),
        owner,
        module,
        tokens,
        item.span(),
    );
}

#[allow(clippy::too_many_arguments)]
fn add_tokens(
    index: &mut Index,
    ctx: &Ctx,
    kind: &'static str,
    name: String,
    owner: Option<&str>,
    module: &str,
    tokens: TokenStream,
    span: Span,
) {
    let (start, end) = (span.start().line, span.end().line);
    let mut refs = references(tokens.clone(), Some(ctx.file));
    if let Some(owner) = owner {
        refs.add(Usage::Qualified, owner.to_owned());
    }
    let path = match owner {
        Some(owner) => format!("{module}::{owner}::{name}"),
        None => format!("{module}::{name}"),
    };
    index.add(Item {
        kind,
        name,
        owner: owner.map(str::to_owned),
        module: module.to_owned(),
        path,
        file: ctx.file.to_path_buf(),
        lines: (start, end.max(start)),
        location: format!("{}:{start}", ctx.relative),
        hash: hash_tokens(tokens),
        refs,
    });
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
fn uses(index: &mut Index, tree: &UseTree, root: Option<&str>) {
    match tree {
        UseTree::Path(path) => {
            let first = root.map_or_else(|| path.ident.to_string(), str::to_owned);
            uses(index, &path.tree, Some(&first));
        }
        UseTree::Name(name) => {
            let local = name.ident.to_string();
            let first = root.map_or_else(|| local.clone(), str::to_owned);
            index.uses.entry(local).or_default().insert(first);
        }
        UseTree::Rename(rename) => {
            let first = root.map_or_else(|| rename.ident.to_string(), str::to_owned);
            let local = rename.rename.to_string();
            index.uses.entry(local).or_default().insert(first);
        }
        UseTree::Glob(_) => {
            if let Some(root) = root {
                index.globs.insert(root.to_owned());
            }
        }
        UseTree::Group(group) => {
            for tree in &group.items {
                uses(index, tree, root);
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
            && matches!(keyword.to_string().as_str(), "static" | "const" | "fn")
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
