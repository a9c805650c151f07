//! The typed model of a `#[cached]` function: its receiver, arguments and return, borrowing
//! the `syn` nodes so errors can point at them.

use proc_macro2::{TokenStream, TokenTree};
use quote::ToTokens;
use syn::{FnArg, GenericArgument, Ident, ItemFn, Pat, PathArguments, Receiver, ReturnType, Type};

pub struct Function<'a> {
    pub item: &'a ItemFn,
    pub receiver: Option<&'a Receiver>,
    pub args: Vec<Arg<'a>>,
    /// `None` for a function that returns `()`.
    pub output: Option<Output<'a>>,
    /// Whether the signature or body names `Self`: the function is associated with a type
    /// that the key must then name.
    pub mentions_self: bool,
}

pub struct Arg<'a> {
    pub pat: &'a Pat,
    pub ty: &'a Type,
}

impl Arg<'_> {
    /// The name the argument is bound to, if its pattern is a plain binding.
    pub fn ident(&self) -> Option<&Ident> {
        match self.pat {
            Pat::Ident(pat) if pat.subpat.is_none() && pat.by_ref.is_none() => Some(&pat.ident),
            _ => None,
        }
    }
}

/// The return type, and how its values are stored.
pub struct Output<'a> {
    pub ty: &'a Type,
    /// `Result<T, E>` (or an alias like `io::Result<T>`): only `Ok` values are stored.
    pub fallible: bool,
    pub stored: Stored<'a>,
}

pub enum Stored<'a> {
    /// Stored as itself.
    Plain(&'a Type),
    /// A `Memo<T>`: stored as its `T`, rebuilt with its hash.
    Memo(&'a Type),
}

impl<'a> Function<'a> {
    pub fn from_syn(item: &'a ItemFn) -> Function<'a> {
        let mut receiver = None;
        let mut args = Vec::new();
        for input in &item.sig.inputs {
            match input {
                FnArg::Receiver(r) => receiver = Some(r),
                FnArg::Typed(typed) => args.push(Arg {
                    pat: &typed.pat,
                    ty: &typed.ty,
                }),
            }
        }
        let output = match &item.sig.output {
            ReturnType::Default => None,
            ReturnType::Type(_, ty) if is_unit(ty) => None,
            ReturnType::Type(_, ty) => Some(Output::classify(ty)),
        };
        let mut tokens = item.sig.to_token_stream();
        item.block.to_tokens(&mut tokens);
        Function {
            item,
            receiver,
            args,
            output,
            mentions_self: names_self(tokens),
        }
    }
}

impl<'a> Output<'a> {
    /// With `retries`, an `Option` return fails on `None`: like an `Err`, never stored.
    pub fn none_fails(self) -> Output<'a> {
        match generic_of(self.ty, "Option") {
            Some(some) if !self.fallible => Output {
                ty: self.ty,
                fallible: true,
                stored: Stored::of(some),
            },
            _ => self,
        }
    }

    fn classify(ty: &'a Type) -> Output<'a> {
        match generic_of(ty, "Result") {
            Some(ok) => Output {
                ty,
                fallible: true,
                stored: Stored::of(ok),
            },
            None => Output {
                ty,
                fallible: false,
                stored: Stored::of(ty),
            },
        }
    }
}

impl<'a> Stored<'a> {
    fn of(ty: &'a Type) -> Stored<'a> {
        match generic_of(ty, "Memo") {
            Some(inner) => Stored::Memo(inner),
            None => Stored::Plain(ty),
        }
    }
}

fn is_unit(ty: &Type) -> bool {
    match ty {
        Type::Tuple(tuple) => tuple.elems.is_empty(),
        Type::Paren(paren) => is_unit(&paren.elem),
        _ => false,
    }
}

/// The first type argument of `ty` if it is a path ending in `name<..>`.
fn generic_of<'a>(ty: &'a Type, name: &str) -> Option<&'a Type> {
    let Type::Path(path) = ty else { return None };
    let last = path.path.segments.last()?;
    if last.ident != name {
        return None;
    }
    let PathArguments::AngleBracketed(args) = &last.arguments else {
        return None;
    };
    args.args.iter().find_map(|arg| match arg {
        GenericArgument::Type(ty) => Some(ty),
        _ => None,
    })
}

fn names_self(tokens: TokenStream) -> bool {
    tokens.into_iter().any(|tt| match tt {
        TokenTree::Ident(ident) => ident == "Self",
        TokenTree::Group(group) => names_self(group.stream()),
        _ => false,
    })
}
