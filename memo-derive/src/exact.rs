//! The `ExactKey` impl that lets a derived struct key memo's exact path: a comparison,
//! hash and copy of exactly the keyed fields, generated here so that no `Eq` of the user's
//! is trusted to agree with the key.

use proc_macro2::TokenStream;
use quote::quote;
use syn::DeriveInput;

use crate::ast::{Body, Input};

/// The impl, for a struct without generic parameters whose fields are all keyed as
/// themselves (no `skip`, no `with`); nothing otherwise. Each field's type is bounded by
/// `ExactField<'__memo>`: a bound that names the impl's lifetime is not trivially false,
/// so a struct with a field that is not exact gets an impl that never applies (its
/// functions then use the stream tiers) instead of a compile error.
pub fn implement(input: &DeriveInput, model: &Input) -> TokenStream {
    let Body::Struct(shape) = &model.body else {
        return TokenStream::new();
    };
    let plain = input.generics.params.is_empty()
        && shape
            .fields
            .iter()
            .all(|field| field.is_keyed() && field.attrs.with.is_none());
    if !plain {
        return TokenStream::new();
    }
    let ident = model.ident;
    let exact = quote!(::memo::__private::ExactField);
    let types = shape.fields.iter().map(|field| field.ty);
    let members: Vec<_> = shape.fields.iter().map(|field| &field.member).collect();
    quote! {
        #[automatically_derived]
        impl<'__memo> ::memo::__private::ExactKey for #ident
        where
            #(#types: #exact<'__memo>,)*
        {
            fn exact_eq(&self, other: &Self) -> bool {
                true #(&& #exact::field_eq(&self.#members, &other.#members))*
            }
            fn exact_hash<__H: ::core::hash::Hasher>(&self, state: &mut __H) {
                #(#exact::field_hash(&self.#members, state);)*
                let _ = state;
            }
            fn exact_clone(&self) -> Self {
                Self { #(#members: #exact::field_clone(&self.#members),)* }
            }
        }
    }
}
