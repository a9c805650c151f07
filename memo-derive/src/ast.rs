//! The typed model of a derive input: its variants and fields with their attributes.

use proc_macro2::{Span, TokenStream};
use quote::{ToTokens, format_ident};
use syn::{Data, DeriveInput, Error, Fields, Ident, Member, Type};

use crate::attr::{self, FieldAttrs};

/// A struct or enum to derive for.
pub struct Input<'a> {
    pub ident: &'a Ident,
    pub body: Body<'a>,
}

pub enum Body<'a> {
    Struct(Shape<'a>),
    Enum(Vec<Variant<'a>>),
}

pub struct Variant<'a> {
    pub ident: &'a Ident,
    pub shape: Shape<'a>,
}

/// The fields of a struct or variant.
pub struct Shape<'a> {
    pub style: Style,
    pub fields: Vec<Field<'a>>,
}

#[derive(Clone, Copy, PartialEq)]
pub enum Style {
    Named,
    Tuple,
    Unit,
}

pub struct Field<'a> {
    pub member: Member,
    pub ty: &'a Type,
    pub attrs: FieldAttrs,
}

impl Field<'_> {
    /// The name keyed for this field: its identifier, or its index in a tuple.
    pub fn key_name(&self) -> String {
        match &self.member {
            Member::Named(ident) => ident.to_string(),
            Member::Unnamed(index) => index.index.to_string(),
        }
    }

    /// The local a pattern binds this field to.
    pub fn binding(&self) -> Ident {
        match &self.member {
            Member::Named(ident) => format_ident!("__memo_{}", ident),
            Member::Unnamed(index) => format_ident!("__memo_{}", index.index),
        }
    }

    pub fn is_keyed(&self) -> bool {
        self.attrs.skip.is_none()
    }
}

impl<'a> Input<'a> {
    /// Builds the model, collecting every mistake into `errors`.
    pub fn from_syn(input: &'a DeriveInput, errors: &mut Vec<Error>) -> Option<Input<'a>> {
        attr::reject_misplaced(&input.attrs, "the type", errors);
        let body = match &input.data {
            Data::Struct(data) => Body::Struct(Shape::from_syn(&data.fields, errors)),
            Data::Enum(data) => Body::Enum(
                data.variants
                    .iter()
                    .map(|variant| {
                        attr::reject_misplaced(&variant.attrs, "a variant", errors);
                        Variant {
                            ident: &variant.ident,
                            shape: Shape::from_syn(&variant.fields, errors),
                        }
                    })
                    .collect(),
            ),
            Data::Union(data) => {
                errors.push(Error::new_spanned(
                    data.union_token,
                    "`CacheKey` cannot be derived for a union: which field is live is not known; \
                     implement `CacheKey` by hand",
                ));
                return None;
            }
        };
        Some(Input {
            ident: &input.ident,
            body,
        })
    }
}

impl<'a> Shape<'a> {
    fn from_syn(fields: &'a Fields, errors: &mut Vec<Error>) -> Shape<'a> {
        let style = match fields {
            Fields::Named(_) => Style::Named,
            Fields::Unnamed(_) => Style::Tuple,
            Fields::Unit => Style::Unit,
        };
        let fields = fields
            .iter()
            .enumerate()
            .map(|(i, field)| Field {
                member: match &field.ident {
                    Some(ident) => Member::Named(ident.clone()),
                    None => Member::Unnamed(syn::Index {
                        index: i as u32,
                        span: Span::call_site(),
                    }),
                },
                ty: &field.ty,
                attrs: attr::field_attrs(&field.attrs, errors),
            })
            .collect();
        Shape { style, fields }
    }

    pub fn keyed(&self) -> impl Iterator<Item = &Field<'a>> {
        self.fields.iter().filter(|f| f.is_keyed())
    }

    /// A pattern that binds every keyed field, for matching `self` or a variant.
    pub fn pattern(&self, path: TokenStream) -> TokenStream {
        let keyed = self.keyed().map(|field| {
            let member = &field.member;
            let binding = field.binding();
            quote::quote!(#member: #binding)
        });
        match self.style {
            Style::Unit => path,
            Style::Named | Style::Tuple => {
                let mut out = path;
                quote::quote!({ #(#keyed,)* .. }).to_tokens(&mut out);
                out
            }
        }
    }
}
