//! Parsing of `#[cache_key(...)]` attributes on fields.

use syn::{Attribute, Error, Path};

/// What a field's `#[cache_key(...)]` attributes ask for.
#[derive(Default)]
pub struct FieldAttrs {
    /// `#[cache_key(skip)]`: the field is left out of the key.
    pub skip: Option<syn::Ident>,
    /// `#[cache_key(with = path)]`: the field is keyed by `path(&field, hasher)`.
    pub with: Option<Path>,
}

const KNOWN: &str = "`skip`, `with = path`";

/// Parses every `#[cache_key]` attribute of a field, pushing each mistake to `errors`.
pub fn field_attrs(attrs: &[Attribute], errors: &mut Vec<Error>) -> FieldAttrs {
    let mut out = FieldAttrs::default();
    for attr in attrs.iter().filter(|a| a.path().is_ident("cache_key")) {
        let result = attr.parse_nested_meta(|meta| {
            let Some(ident) = meta.path.get_ident().cloned() else {
                return Err(meta.error(format!(
                    "unknown `cache_key` attribute; expected one of {KNOWN}"
                )));
            };
            if ident == "skip" {
                if out.skip.is_some() {
                    return Err(Error::new(ident.span(), "duplicate `cache_key(skip)`"));
                }
                out.skip = Some(ident);
            } else if ident == "with" {
                if !meta.input.peek(syn::Token![=]) {
                    return Err(Error::new(
                        ident.span(),
                        "`with` expects the path of a function: `with = path::to::key_fn`",
                    ));
                }
                let path: Path = meta.value()?.parse()?;
                if out.with.is_some() {
                    return Err(Error::new(
                        ident.span(),
                        "duplicate `cache_key(with = ...)`",
                    ));
                }
                out.with = Some(path);
            } else {
                return Err(Error::new(
                    ident.span(),
                    format!("unknown `cache_key` attribute `{ident}`; expected one of {KNOWN}"),
                ));
            }
            Ok(())
        });
        if let Err(error) = result {
            errors.push(error);
        }
    }
    if let (Some(skip), Some(with)) = (&out.skip, &out.with) {
        let mut error = Error::new(
            skip.span(),
            "`cache_key(skip)` and `cache_key(with = ...)` cannot be combined: a skipped field is not keyed",
        );
        error.combine(Error::new_spanned(with, "`with` given here"));
        errors.push(error);
    }
    out
}

/// Rejects `#[cache_key]` on the type itself or on a variant, where it has no meaning.
pub fn reject_misplaced(attrs: &[Attribute], place: &str, errors: &mut Vec<Error>) {
    for attr in attrs.iter().filter(|a| a.path().is_ident("cache_key")) {
        errors.push(Error::new_spanned(
            attr,
            format!("`cache_key` attributes go on fields, not on {place}"),
        ));
    }
}
