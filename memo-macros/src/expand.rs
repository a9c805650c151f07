//! Expansion of `#[cached]`: the function keeps its signature; its body runs only on a miss.

use proc_macro2::{Span, TokenStream};
use quote::{ToTokens, quote, quote_spanned};
use syn::spanned::Spanned;
use syn::{Error, GenericParam, ItemFn};

use crate::ast::{Arg, Function, Stored};
use crate::attr::{self, Options};
use crate::fingerprint::{self, Component};
use crate::{cargo, closure, config, index, source, valid};

/// Where the macro was invoked: the source file and the attribute's line.
pub struct Origin {
    pub file: Option<std::path::PathBuf>,
    pub line: Option<usize>,
}

pub fn cached(args: TokenStream, item: TokenStream, origin: &Origin) -> TokenStream {
    let item_fn: ItemFn = match syn::parse2(item.clone()) {
        Ok(item_fn) => item_fn,
        Err(_) => {
            let error = Error::new(
                Span::call_site(),
                "`#[cached]` goes on a function with a body",
            );
            return with_item(error, item);
        }
    };
    let mut errors = Vec::new();
    let options = attr::parse(args, &mut errors);
    let mut function = Function::from_syn(&item_fn);
    if options.retries.is_some_and(|n| n > 0) {
        function.output = function.output.map(|output| output.none_fails());
    }
    valid::check(&function, &options, &mut errors);
    let (components, own_source) = reach(&function, &options, origin, &mut errors);
    match errors.into_iter().reduce(|mut all, next| {
        all.combine(next);
        all
    }) {
        Some(error) => with_item(error, item),
        None => expand(&function, &options, &components, own_source),
    }
}

/// The package items and crates the function reaches, and those named by `deps`; and the
/// function's own source text, as its file has it.
fn reach(
    function: &Function,
    options: &Options,
    origin: &Origin,
    errors: &mut Vec<Error>,
) -> (Vec<Component>, Option<String>) {
    let Some(manifest_dir) = std::env::var_os("CARGO_MANIFEST_DIR").map(std::path::PathBuf::from)
    else {
        return (Vec::new(), None);
    };
    let package = std::env::var("CARGO_PKG_NAME").unwrap_or_default();
    let version = std::env::var("CARGO_PKG_VERSION").unwrap_or_default();
    let index = index::of_package(&manifest_dir, origin.file.as_deref());
    let deps = cargo::of_package(&manifest_dir, &package, &version);

    let ItemFn {
        attrs, sig, block, ..
    } = function.item;
    let mut refs = index::references(quote!(#(#attrs)* #sig #block), origin.file.as_deref());
    refs.bounds = index::bound_traits(&sig.generics);
    for path in options.deps.iter().flatten() {
        let first = path.segments.first().map(|s| s.ident.to_string());
        let last = path.segments.last().map(|s| s.ident.to_string());
        let known = last.as_deref().is_some_and(|n| !index.named(n).is_empty())
            || first.as_deref().is_some_and(|n| !deps.get(n).is_empty());
        if !known {
            errors.push(Error::new_spanned(
                path,
                "`deps` names an item that is neither in this package nor a dependency; name a function, const, static, macro or type of this package, or a dependency crate",
            ));
        }
        for name in first.into_iter().chain(last) {
            refs.add(index::Usage::Qualified, name);
        }
    }
    let origin = closure::Origin {
        file: origin.file.as_deref(),
        line: origin.line,
    };
    let mut components = closure::components(&refs, &index, &deps, config::current(), &origin);
    let own_source = closure::own_source(&index, &origin);
    for component in &mut components {
        if component.kind == "file" {
            let path = std::path::Path::new(&component.location);
            if let Ok(relative) = path.strip_prefix(&manifest_dir) {
                component.location = relative.to_string_lossy().into_owned();
            }
        }
    }
    (components, own_source)
}

/// The errors, beside the user's function unchanged, so that one mistake gives one
/// message and not a cascade from code that calls the function.
fn with_item(error: Error, item: TokenStream) -> TokenStream {
    let error = error.into_compile_error();
    quote!(#error #item)
}

fn expand(
    function: &Function,
    options: &Options,
    reached: &[Component],
    own_source: Option<String>,
) -> TokenStream {
    let ItemFn {
        attrs,
        vis,
        sig,
        block,
    } = function.item;
    let output = function
        .output
        .as_ref()
        .expect("validated: the function returns a value");

    let fn_name = sig.ident.to_string();
    let name = match &options.name {
        Some(name) => name.to_token_stream(),
        None => quote!(::core::concat!(::core::module_path!(), "::", #fn_name)),
    };
    // The function's own name is its identity (`name`), not its code: renaming it with a
    // `name = ".."` in place keeps its results.
    let mut anonymous = sig.clone();
    anonymous.ident = syn::Ident::new("__memo_fn", sig.ident.span());
    let own = Component {
        kind: "fn",
        path: options.name.as_ref().map_or(fn_name, syn::LitStr::value),
        location: String::new(),
        hash: fingerprint::hash_tokens(quote!(#(#attrs)* #anonymous #block)),
        // A function the index does not hold (a macro wrote it) shows as its tokens.
        source: Some(own_source.unwrap_or_else(|| quote!(#(#attrs)* #sig #block).to_string())),
    };
    let mut all = vec![own];
    all.extend(reached.iter().map(|c| Component {
        kind: c.kind,
        path: c.path.clone(),
        location: c.location.clone(),
        hash: c.hash,
        source: c.source.clone(),
    }));
    let fingerprint = fingerprint::combine(&all, &options.semantic());
    let fingerprint = bytes(&fingerprint);
    let own_hash = bytes(&all[0].hash);
    let own_kind = all[0].kind;
    // A function under a `cfg` of its own may be compiled out, and the texts with it.
    let conditional = attrs
        .iter()
        .any(|a| a.path().is_ident("cfg") || a.path().is_ident("cfg_attr"));
    let own_source = all[0].source.as_deref().map(source::deflate);
    let own_source = proc_macro2::Literal::byte_string(own_source.as_deref().unwrap_or_default());
    let sources = proc_macro2::Literal::byte_string(&source::frames(&all[1..], conditional));
    let reached_lines: String = reached
        .iter()
        .map(|c| {
            let hash: String = c.hash.iter().map(|b| format!("{b:02x}")).collect();
            format!(
                "{}\t{}\t{}\t{hash}\n",
                c.kind,
                escape(&c.path),
                escape(&c.location)
            )
        })
        .collect();
    let ttl = match options.ttl {
        Some(seconds) => quote!(::core::option::Option::Some(#seconds)),
        None => quote!(::core::option::Option::None),
    };
    let tags = options.tags.iter().flatten();

    let keys = key_statements(function, options);
    let output_type = match output.stored {
        Stored::Plain(ty) | Stored::Memo(ty) => quote!(#ty).to_string().replace(' ', ""),
    };
    let stored = match output.stored {
        Stored::Plain(ty) => quote_spanned!(ty.span()=> ::memo::__private::Plain<#ty>),
        Stored::Memo(ty) => quote_spanned!(ty.span()=> ::memo::__private::MemoOf<#ty>),
    };
    let ret = output.ty;
    let site = quote!(&__MEMO_SITE);
    // The call is spanned at the return type, so an unstorable type is reported there.
    let span = ret.span();
    let value = match output.stored {
        Stored::Plain(ty) => quote!(#ty),
        Stored::Memo(ty) => quote!(::memo::Memo<#ty>),
    };
    // How two results compare when a hit is audited (`MEMO_AUDIT`), and whether the body
    // can run twice: both settled by the types, through the runtime's probes.
    let same = quote! {
        (&::memo::__private::SameProbe::<#value>::new()).same_fn()
    };
    let probes = quote! {
        #[allow(unused_imports)]
        use ::memo::__private::{
            ArgsCloned as _, ArgsMoved as _, SameByBytes as _, SameByEq as _,
        };
    };
    let describe = describe_fn(function, options);
    // With `retries`, each attempt runs on its own clone of the arguments.
    let retries = options.retries.filter(|n| *n > 0);
    let retry_checks: Vec<TokenStream> = match retries {
        Some(_) => function
            .args
            .iter()
            .map(|arg| {
                let ty = arg.ty;
                quote_spanned! {ty.span()=> ::memo::__private::retry_arg::<#ty>(); }
            })
            .collect(),
        None => Vec::new(),
    };
    let body = if sig.asyncness.is_some() {
        // The body takes the arguments, so that they can be described on a miss before
        // its future is made. The closure's parameter is inferred, not written: the
        // future borrows what the arguments borrow, for their own lifetimes.
        let pats: Vec<_> = function.args.iter().map(|arg| arg.pat).collect();
        let idents: Vec<_> = function.args.iter().filter_map(Arg::ident).collect();
        let future = match retries {
            None => quote_spanned! {span=> move |(#(#pats,)*)| async move #block },
            Some(n) => quote_spanned! {span=>
                move |__memo_args| async move {
                    ::memo::__private::retrying_async(#n, || {
                        let (#(#pats,)*) = ::core::clone::Clone::clone(&__memo_args);
                        async move #block
                    })
                    .await
                }
            },
        };
        quote_spanned! {span=>
            {
                #probes
                #(#retry_checks)*
                ::memo::__private::Deferred::new(
                    (#(#idents,)*),
                    #future,
                    #same,
                    #describe,
                )
            }
        }
    } else {
        // The body takes the arguments, so that with arguments that clone it can run
        // twice. It captures nothing else but the receiver: by reference, or — for a
        // receiver taken by value, which the body may consume — once.
        let pats = function.args.iter().map(|arg| arg.pat);
        let tys = function.args.iter().map(|arg| arg.ty);
        let idents: Vec<_> = function.args.iter().filter_map(Arg::ident).collect();
        let kind = match function.receiver {
            Some(receiver) if receiver.reference.is_none() => quote!(::memo::__private::Moved),
            _ => quote! {
                (&::memo::__private::ArgsProbe::<(#(#tys,)*)>::new()).args_kind()
            },
        };
        let tys = function.args.iter().map(|arg| arg.ty);
        // The body's statements, not its block: braces around a lone expression would
        // draw `unused_braces` in the user's crate.
        let stmts = &block.stmts;
        // Every argument counts as used, as it did when the key read it.
        let uses = (!idents.is_empty()).then(|| quote!(let _ = (#(&#idents,)*);));
        let run = match retries {
            None => quote_spanned! {span=>
                move |(#(#pats,)*): (#(#tys,)*)| -> #ret {
                    #uses
                    #(#stmts)*
                }
            },
            Some(n) => {
                let pats = function.args.iter().map(|arg| arg.pat);
                quote_spanned! {span=>
                    move |__memo_args: (#(#tys,)*)| -> #ret {
                        ::memo::__private::retrying(#n, || -> #ret {
                            let (#(#pats,)*) = ::core::clone::Clone::clone(&__memo_args);
                            #uses
                            #(#stmts)*
                        })
                    }
                }
            }
        };
        quote_spanned! {span=>
            {
                #probes
                #(#retry_checks)*
                #kind.wrap(
                    (#(#idents,)*),
                    #run,
                    #same,
                    #describe,
                )
            }
        }
    };
    // How the in-memory tier holds the results — as themselves when the type is
    // `Clone + Send + Sync`, else as bytes — settled by the type, through a probe.
    let share = quote! {
        {
            #[allow(unused_imports)]
            use ::memo::__private::{ShareBytes as _, ShareTyped as _};
            (&::memo::__private::ShareProbe::<#value>::new()).share()
        }
    };
    let exact_tier = exact_tier(function, options);
    // The exact path keeps its results by the arguments themselves: the call path then
    // holds none by their key stream.
    let (probed, share) = if exact_tier.is_some() {
        (share, quote!(__memo_share))
    } else {
        (TokenStream::new(), share)
    };
    // With `flag`, the `_flagged` form of each: it returns `memo::Cached<R>`.
    let flagged = options.flag == Some(true);
    let suffix = |name: &str| {
        let name = if flagged {
            format!("{name}_flagged")
        } else {
            name.to_owned()
        };
        syn::Ident::new(&name, span)
    };
    let (call_plain, call_ok, call_async, call_ok_async) = (
        suffix("call"),
        suffix("call_ok"),
        suffix("call_async"),
        suffix("call_ok_async"),
    );
    let call = match (sig.asyncness.is_some(), output.fallible) {
        (false, false) => quote_spanned! {span=>
            ::memo::__private::#call_plain::<#stored>(#site, &__memo_key, #share, #body)
        },
        (false, true) => quote_spanned! {span=>
            ::memo::__private::#call_ok::<#stored, #ret>(#site, &__memo_key, #share, #body)
        },
        (true, false) => quote_spanned! {span=>
            ::memo::__private::#call_async::<#stored>(#site, &__memo_key, #share, #body).await
        },
        (true, true) => quote_spanned! {span=>
            ::memo::__private::#call_ok_async::<#stored, #ret>(
                #site, &__memo_key, #share, #body,
            )
            .await
        },
    };
    // The signature as callers see it: `flag` wraps the return type.
    let mut outer = sig.clone();
    if flagged {
        outer.output = syn::parse_quote_spanned! {span=> -> ::memo::Cached<#ret> };
    }

    // The exact path is asked first, before the key stream is built: a hit there needs
    // nothing else.
    let (exact, call) = match exact_tier {
        Some(args) => (
            quote! {
            let (__memo_begun, __memo_share) = {
                #[allow(unused_imports)]
                use ::memo::__private::{ExactFallback as _, ExactTier as _, ExactWords as _};
                let __memo_args = (#(&#args,)*);
                let __memo_exact =
                    ::memo::__private::Exact::<_, #ret, #stored>::new(&__memo_args);
                let __memo_share = (&&&__memo_exact).exact_share(#probed);
                match (&&&__memo_exact).exact_lookup(#site) {
                    ::core::result::Result::Ok(__memo_hit) => return __memo_hit,
                    ::core::result::Result::Err(__memo_begun) => (__memo_begun, __memo_share),
                }
            };
            },
            quote! {
                let __memo_value = #call;
                __memo_begun.keep(#site, &__memo_value);
                __memo_value
            },
        ),
        None => (TokenStream::new(), call),
    };

    quote! {
        #(#attrs)*
        #vis #outer {
            static __MEMO_SITE: ::memo::__private::CallSite = ::memo::__private::CallSite {
                name: #name,
                module: ::core::module_path!(),
                file: ::core::file!(),
                line: ::core::line!(),
                fingerprint: [#(#fingerprint),*],
                ttl_secs: #ttl,
                tags: &[#(#tags),*],
                components: &[::memo::__private::StaticComponent {
                    kind: #own_kind,
                    path: #name,
                    location: ::core::concat!(::core::file!(), ":", ::core::line!()),
                    hash: [#(#own_hash),*],
                }],
                reached: #reached_lines,
                source: ::memo::__source!(#own_source),
                sources: ::memo::__source!(#sources),
                output_type: #output_type,
                state: ::memo::__private::SiteState::new(),
            };
            ::memo::__private::inventory::submit! {
                ::memo::__private::Registration(&__MEMO_SITE)
            }
            #exact
            #[allow(unused_mut)]
            let mut __memo_key = __MEMO_SITE.hasher();
            #(#keys)*
            #call
        }
    }
}

/// How the arguments read, for the entries: `None` with `args = "hidden"`, else a function
/// of the argument tuple writing each keyed argument by the best its type has (see the
/// runtime's `describe`), skipped ones left out.
fn describe_fn(function: &Function, options: &Options) -> TokenStream {
    if options.hide_args == Some(true) {
        return quote!(::core::option::Option::None);
    }
    let skipped = |name: &str| options.skip.iter().flatten().any(|s| s == name);
    let tys = function.args.iter().map(|arg| arg.ty);
    let mut binds = Vec::new();
    let mut writes = Vec::new();
    for arg in &function.args {
        let ident = arg
            .ident()
            .expect("validated: arguments are plain bindings");
        let name = ident.to_string();
        if skipped(&name) {
            binds.push(quote!(_));
            continue;
        }
        binds.push(quote!(#ident));
        writes.push(quote! {
            __memo_text.arg(#name);
            (&&::memo::__private::Describe(#ident)).describe_into(__memo_text);
        });
    }
    quote! {
        ::core::option::Option::Some(
            |__memo_args: &(#(#tys,)*), __memo_text: &mut ::memo::__private::ArgsText| {
                #[allow(unused_imports)]
                use ::memo::__private::{
                    DescribeByDebug as _, DescribeByFields as _, DescribeByType as _,
                };
                #[allow(unused_variables)]
                let (#(#binds,)*) = __memo_args;
                #(#writes)*
            },
        )
    }
}

/// The keyed arguments, when the exact path can serve the function: a plain synchronous
/// function, neither fallible nor expiring, with no receiver, `Self` or generic parameter
/// in its key. Whether its argument types allow it is decided by the types (autoref
/// specialisation in the runtime), so this only rules out what the key would not match.
fn exact_tier<'f>(function: &'f Function, options: &Options) -> Option<Vec<&'f syn::Ident>> {
    let sig = &function.item.sig;
    let output = function.output.as_ref()?;
    let plain = sig.asyncness.is_none()
        && !output.fallible
        && options.ttl.is_none()
        // What the environment holds is not in the arguments it keeps by.
        && options.env.is_none()
        // A flagged call says how it was answered, which this path does not.
        && options.flag != Some(true)
        && function.receiver.is_none()
        && !function.mentions_self
        && sig
            .generics
            .params
            .iter()
            .all(|param| matches!(param, GenericParam::Lifetime(_)))
        && function.args.len() <= 6;
    if !plain {
        return None;
    }
    let skipped = |name: &str| options.skip.iter().flatten().any(|s| s == name);
    Some(
        function
            .args
            .iter()
            .filter_map(Arg::ident)
            .filter(|ident| !skipped(&ident.to_string()))
            .collect(),
    )
}

/// Feeds every keyed input into `__memo_key`: the receiver, the type of `Self` where the
/// body depends on it, the concrete generic arguments, and each argument not skipped.
/// Each argument's call is spanned at its type, so a missing `CacheKey` impl is one error
/// that points there.
fn key_statements(function: &Function, options: &Options) -> Vec<TokenStream> {
    let skipped = |name: &str| options.skip.iter().flatten().any(|s| s == name);
    let mut keys = Vec::new();
    match function.receiver {
        Some(receiver) if !skipped("self") => {
            let ty = &receiver.ty;
            let self_token = &receiver.self_token;
            keys.push(quote_spanned! {self_token.span=>
                <#ty as ::memo::__private::CacheKey>::cache_key(&self, &mut __memo_key);
            });
        }
        Some(_) => {}
        None if function.mentions_self => keys.push(quote! {
            <str as ::memo::__private::CacheKey>::cache_key(
                ::core::any::type_name::<Self>(),
                &mut __memo_key,
            );
        }),
        None => {}
    }
    for param in &function.item.sig.generics.params {
        match param {
            GenericParam::Type(param) => {
                let ident = &param.ident;
                keys.push(quote! {
                    <str as ::memo::__private::CacheKey>::cache_key(
                        ::core::any::type_name::<#ident>(),
                        &mut __memo_key,
                    );
                });
            }
            GenericParam::Const(param) => {
                let ident = &param.ident;
                keys.push(quote! {
                    ::memo::__private::CacheKey::cache_key(&#ident, &mut __memo_key);
                });
            }
            GenericParam::Lifetime(_) => {}
        }
    }
    for arg in &function.args {
        let ident = arg
            .ident()
            .expect("validated: arguments are plain bindings");
        if skipped(&ident.to_string()) {
            continue;
        }
        let ty = arg.ty;
        keys.push(quote_spanned! {ty.span()=>
            <#ty as ::memo::__private::CacheKey>::cache_key(&#ident, &mut __memo_key);
        });
    }
    for var in options.env.iter().flatten() {
        keys.push(quote! {
            ::memo::__private::key_env(&mut __memo_key, #var);
        });
    }
    keys
}

/// A path or location for a line of `CallSite::reached`: backslash, tab and newline escaped.
fn escape(text: &str) -> String {
    text.replace('\\', "\\\\")
        .replace('\t', "\\t")
        .replace('\n', "\\n")
}

fn bytes(digest: &[u8; 32]) -> impl Iterator<Item = proc_macro2::Literal> + '_ {
    digest
        .iter()
        .map(|b| proc_macro2::Literal::u8_unsuffixed(*b))
}
