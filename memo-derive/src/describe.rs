//! The `DescribeFields` impl: how a derived type reads in the store's record of a call's
//! arguments (`memo ls`, `memo show`) — its keyed fields, each by the best its type has,
//! and `..` where the key skips one, so a field kept out of the key (a secret, a handle)
//! is kept out of the store too.

use proc_macro2::TokenStream;
use quote::quote;
use syn::DeriveInput;

use crate::ast::{Body, Input, Shape, Style};

pub fn implement(input: &DeriveInput, model: &Input) -> TokenStream {
    let out = quote!(__memo_out);
    let name = model.ident.to_string();
    let body = match &model.body {
        Body::Struct(shape) => {
            let pattern = shape.pattern(quote!(Self));
            let fields = write_shape(shape, &name, &out);
            quote! {
                let #pattern = self;
                #fields
            }
        }
        Body::Enum(variants) if variants.is_empty() => quote!(match *self {}),
        Body::Enum(variants) => {
            let arms = variants.iter().map(|variant| {
                let ident = variant.ident;
                let pattern = variant.shape.pattern(quote!(Self::#ident));
                let fields = write_shape(&variant.shape, &format!("{name}::{ident}"), &out);
                quote!(#pattern => { #fields })
            });
            quote!(match self { #(#arms)* })
        }
    };
    let ident = model.ident;
    let (impl_generics, ty_generics, where_clause) = input.generics.split_for_impl();
    quote! {
        #[automatically_derived]
        impl #impl_generics ::memo::__private::DescribeFields for #ident #ty_generics #where_clause {
            fn describe_fields(&self, #out: &mut ::memo::__private::ArgsText) {
                #[allow(unused_imports)]
                use ::core::fmt::Write as _;
                #[allow(unused_imports)]
                use ::memo::__private::{
                    DescribeByDebug as _, DescribeByFields as _, DescribeByType as _,
                };
                #body
            }
        }
    }
}

/// Writes `path`, then the keyed fields of `shape` as `Debug` would lay them out.
fn write_shape(shape: &Shape, path: &str, out: &TokenStream) -> TokenStream {
    let skips = shape.fields.len() > shape.keyed().count();
    let (open, close) = match shape.style {
        Style::Unit => return quote!(let _ = #out.write_str(#path);),
        Style::Named => (" { ", " }"),
        Style::Tuple => ("(", ")"),
    };
    let mut writes = Vec::new();
    for (at, field) in shape.keyed().enumerate() {
        let binding = field.binding();
        let label = match shape.style {
            Style::Named => format!("{}: ", field.key_name()),
            _ => String::new(),
        };
        let separator = if at == 0 { "" } else { ", " };
        let lead = format!("{separator}{label}");
        writes.push(quote! {
            let _ = #out.write_str(#lead);
            (&&::memo::__private::Describe(#binding)).describe_into(#out);
        });
    }
    let rest = match (skips, writes.is_empty()) {
        (true, true) => "..",
        (true, false) => ", ..",
        (false, _) => "",
    };
    let open = format!("{path}{open}");
    quote! {
        let _ = #out.write_str(#open);
        #(#writes)*
        let _ = #out.write_str(#rest);
        let _ = #out.write_str(#close);
    }
}
