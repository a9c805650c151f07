//! Which type parameters need a `CacheKey` bound: those that a keyed field's type mentions.

use std::collections::BTreeSet;

use syn::visit::{self, Visit};
use syn::{Generics, Ident, Type, TypePath};

/// The type parameters of `generics` that occur in `types`, outside `PhantomData<..>`.
pub fn used_params<'a>(generics: &Generics, types: impl Iterator<Item = &'a Type>) -> Vec<Ident> {
    let params: BTreeSet<&Ident> = generics.type_params().map(|p| &p.ident).collect();
    let mut finder = Finder {
        params: &params,
        found: BTreeSet::new(),
    };
    for ty in types {
        finder.visit_type(ty);
    }
    generics
        .type_params()
        .filter(|p| finder.found.contains(&p.ident))
        .map(|p| p.ident.clone())
        .collect()
}

struct Finder<'p> {
    params: &'p BTreeSet<&'p Ident>,
    found: BTreeSet<Ident>,
}

impl<'ast> Visit<'ast> for Finder<'_> {
    fn visit_type_path(&mut self, path: &'ast TypePath) {
        let last = path.path.segments.last();
        if last.is_some_and(|s| s.ident == "PhantomData") {
            return;
        }
        if path.qself.is_none()
            && let Some(first) = path.path.segments.first()
            && self.params.contains(&first.ident)
        {
            self.found.insert(first.ident.clone());
        }
        visit::visit_type_path(self, path);
    }
}
