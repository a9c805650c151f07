//! What `#[cached]` refuses, each with an error at the offending token that says what to do.

use syn::spanned::Spanned;
use syn::visit::{self, Visit};
use syn::{Error, Type, TypeImplTrait};

use crate::ast::Function;
use crate::attr::Options;

pub fn check(function: &Function, options: &Options, errors: &mut Vec<Error>) {
    let sig = &function.item.sig;
    if let Some(constness) = &sig.constness {
        errors.push(Error::new(
            constness.span(),
            "`#[cached]` cannot go on a `const fn`: a const fn runs at compile time, where there is no store; remove `const`",
        ));
    }
    if let Some(variadic) = &sig.variadic {
        errors.push(Error::new(
            variadic.span(),
            "`#[cached]` cannot key variadic arguments",
        ));
    }
    if let Some(receiver) = function.receiver
        && receiver.reference.is_some()
        && receiver.mutability.is_some()
    {
        errors.push(Error::new_spanned(
            receiver,
            "`#[cached]` cannot take `&mut self`: a cached call may not run, so it cannot mutate; take `&self`",
        ));
    }
    if options.retries.is_some_and(|n| n > 0)
        && let Some(receiver) = function.receiver
        && receiver.reference.is_none()
    {
        errors.push(Error::new_spanned(
            receiver,
            "`#[cached(retries)]` runs the body again after a failure, which a `self` taken by value cannot give it; take `&self`",
        ));
    }
    for arg in &function.args {
        if let Type::Reference(reference) = arg.ty
            && reference.mutability.is_some()
        {
            errors.push(Error::new_spanned(
                arg.ty,
                "`#[cached]` cannot take `&mut` arguments: a cached call may not run, so it cannot mutate; take `&T`, or return the new value",
            ));
        }
        if let Some(impl_trait) = find_impl_trait(arg.ty) {
            errors.push(Error::new_spanned(
                impl_trait,
                "`#[cached]` cannot key an `impl Trait` argument; use a generic parameter `T: CacheKey` or a concrete type",
            ));
        }
        if arg.ident().is_none() {
            errors.push(Error::new_spanned(
                arg.pat,
                "`#[cached]` keys arguments by name; bind this one to a name (`arg: T`) and destructure it in the body",
            ));
        }
    }
    if function.output.is_none() {
        let message = "`#[cached]` needs a function that returns a value: a function returning `()` has nothing to store";
        errors.push(match &sig.output {
            syn::ReturnType::Type(_, ty) => Error::new_spanned(ty, message),
            syn::ReturnType::Default => Error::new(sig.ident.span(), message),
        });
    }
    for skipped in options.skip.iter().flatten() {
        let known = skipped == "self" && function.receiver.is_some()
            || function
                .args
                .iter()
                .any(|arg| arg.ident().is_some_and(|ident| ident == skipped));
        if !known {
            errors.push(Error::new(
                skipped.span(),
                format!("`skip` names `{skipped}`, but the function has no argument of that name"),
            ));
        }
    }
}

fn find_impl_trait(ty: &Type) -> Option<&TypeImplTrait> {
    struct Find<'a>(Option<&'a TypeImplTrait>);
    impl<'a> Visit<'a> for Find<'a> {
        fn visit_type_impl_trait(&mut self, node: &'a TypeImplTrait) {
            self.0.get_or_insert(node);
        }
        fn visit_type(&mut self, node: &'a Type) {
            if self.0.is_none() {
                visit::visit_type(self, node);
            }
        }
    }
    let mut find = Find(None);
    find.visit_type(ty);
    find.0
}
