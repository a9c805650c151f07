//! Expansion of `#[derive(CacheKey)]` into an `impl ::memo::__private::CacheKey`.

use proc_macro2::TokenStream;
use quote::{quote, quote_spanned};
use syn::spanned::Spanned;
use syn::{DeriveInput, Error, parse_quote};

use crate::ast::{Body, Field, Input, Shape};
use crate::{bound, describe, exact};

pub fn derive(input: &DeriveInput) -> TokenStream {
    let mut errors = Vec::new();
    let model = Input::from_syn(input, &mut errors);
    match (model, errors.into_iter().reduce(combine)) {
        (Some(model), None) => implement(input, &model),
        (_, Some(error)) => fallback(input, error),
        (None, None) => unreachable!("a rejected input always records an error"),
    }
}

fn combine(mut a: Error, b: Error) -> Error {
    a.combine(b);
    a
}

/// The error, with an impl that keeps the rest of the user's code free of follow-on
/// "`CacheKey` is not implemented" errors.
fn fallback(input: &DeriveInput, error: Error) -> TokenStream {
    let ident = &input.ident;
    let (impl_generics, ty_generics, where_clause) = input.generics.split_for_impl();
    let error = error.into_compile_error();
    quote! {
        #error
        #[automatically_derived]
        impl #impl_generics ::memo::__private::CacheKey for #ident #ty_generics #where_clause {
            fn cache_key(&self, _: &mut ::memo::__private::KeyHasher) {
                ::core::unreachable!()
            }
        }
    }
}

fn implement(input: &DeriveInput, model: &Input) -> TokenStream {
    let ident = model.ident;
    let name = ident.to_string();
    let hasher = quote!(__memo_hasher);

    let body = match &model.body {
        Body::Struct(shape) => {
            let pattern = shape.pattern(quote!(Self));
            let fields = key_fields(shape, &hasher);
            let count = shape.keyed().count();
            quote! {
                let #pattern = self;
                #hasher.write_struct(#name, #count);
                #fields
            }
        }
        Body::Enum(variants) if variants.is_empty() => quote!(match *self {}),
        Body::Enum(variants) => {
            let arms = variants.iter().map(|variant| {
                let variant_ident = variant.ident;
                let variant_name = variant_ident.to_string();
                let pattern = variant.shape.pattern(quote!(Self::#variant_ident));
                let fields = key_fields(&variant.shape, &hasher);
                let count = variant.shape.keyed().count();
                quote! {
                    #pattern => {
                        #hasher.write_variant(#name, #variant_name, #count);
                        #fields
                    }
                }
            });
            quote!(match self { #(#arms)* })
        }
    };

    let mut generics = input.generics.clone();
    let bounded = bound::used_params(
        &input.generics,
        all_fields(model).filter_map(|f| (f.is_keyed() && f.attrs.with.is_none()).then_some(f.ty)),
    );
    let where_clause = generics.make_where_clause();
    for param in bounded {
        where_clause
            .predicates
            .push(parse_quote!(#param: ::memo::__private::CacheKey));
    }
    let (impl_generics, ty_generics, where_clause) = generics.split_for_impl();
    let exact = exact::implement(input, model);
    let describe = describe::implement(input, model);

    quote! {
        #[automatically_derived]
        impl #impl_generics ::memo::__private::CacheKey for #ident #ty_generics #where_clause {
            fn cache_key(&self, #hasher: &mut ::memo::__private::KeyHasher) {
                #body
            }
        }
        #exact
        #describe
    }
}

fn all_fields<'m, 'a>(model: &'m Input<'a>) -> Box<dyn Iterator<Item = &'m Field<'a>> + 'm> {
    match &model.body {
        Body::Struct(shape) => Box::new(shape.fields.iter()),
        Body::Enum(variants) => Box::new(variants.iter().flat_map(|v| v.shape.fields.iter())),
    }
}

/// Keys each keyed field, named, through its type's `CacheKey` or the `with` function; the
/// calls are spanned at the field's type so a missing impl points there.
fn key_fields(shape: &Shape, hasher: &TokenStream) -> TokenStream {
    shape
        .keyed()
        .map(|field| {
            let key_name = field.key_name();
            let binding = field.binding();
            let ty = field.ty;
            let call = match &field.attrs.with {
                Some(path) => quote_spanned!(path.span()=> #path(#binding, #hasher)),
                None => quote_spanned! {ty.span()=>
                    <#ty as ::memo::__private::CacheKey>::cache_key(#binding, #hasher)
                },
            };
            quote! {
                #hasher.write_field(#key_name);
                #call;
            }
        })
        .collect()
}
