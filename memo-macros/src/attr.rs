//! The options of `#[cached(...)]`, parsed with `syn::meta::parser`: each key into an
//! `Option`, one duplicate check, unknown keys rejected with the list of known ones.

use proc_macro2::TokenStream;
use syn::meta::ParseNestedMeta;
use syn::parse::Parser;
use syn::spanned::Spanned;
use syn::{Error, Expr, ExprArray, Ident, Lit, LitInt, LitStr, Path, Token};

/// The options of one `#[cached]`, with the tokens they came from for error spans.
#[derive(Default)]
pub struct Options {
    /// `ttl`: seconds.
    pub ttl: Option<u64>,
    pub tags: Option<Vec<LitStr>>,
    pub name: Option<LitStr>,
    pub version: Option<u64>,
    pub skip: Option<Vec<Ident>>,
    pub deps: Option<Vec<Path>>,
    /// `args = "hidden"`: the arguments' readable form is not recorded with the entries.
    pub hide_args: Option<bool>,
    /// `env = ["VAR", ..]`: environment variables whose values, read at each call, key it.
    pub env: Option<Vec<LitStr>>,
    /// `flag`: the function returns `memo::Cached<T>`, which says whether it was a hit.
    pub flag: Option<bool>,
    /// `retries = N`: an `Err` or `None` runs the body again, up to N more times.
    pub retries: Option<u32>,
}

const KNOWN: &str =
    "`ttl`, `tags`, `name`, `version`, `skip`, `deps`, `args`, `env`, `flag`, `retries`";
const TTL_HELP: &str =
    "`ttl` expects a duration like \"90s\", \"30m\", \"1h\" or \"7d\", or a number of seconds";

/// Parses the arguments of `#[cached(...)]`, collecting every mistake.
pub fn parse(args: TokenStream, errors: &mut Vec<Error>) -> Options {
    let mut options = Options::default();
    let mut seen: Vec<String> = Vec::new();
    let parser = syn::meta::parser(|meta| {
        let key = meta
            .path
            .get_ident()
            .map(Ident::to_string)
            .unwrap_or_default();
        if seen.contains(&key) {
            errors.push(meta.error(format!("duplicate `{key}` option")));
            return skip_value(&meta);
        }
        seen.push(key.clone());
        let parsed = match key.as_str() {
            "ttl" => ttl(&meta).map(|v| options.ttl = Some(v)),
            "tags" => tags(&meta).map(|v| options.tags = Some(v)),
            "name" => name(&meta).map(|v| options.name = Some(v)),
            "version" => version(&meta).map(|v| options.version = Some(v)),
            "skip" => skip(&meta).map(|v| options.skip = Some(v)),
            "deps" => deps(&meta).map(|v| options.deps = Some(v)),
            "args" => args_option(&meta).map(|v| options.hide_args = Some(v)),
            "env" => env(&meta).map(|v| options.env = Some(v)),
            "flag" => flag(&meta).map(|v| options.flag = Some(v)),
            "retries" => retries(&meta).map(|v| options.retries = Some(v)),
            _ => {
                errors.push(meta.error(format!(
                    "unknown `cached` option{}; expected one of {KNOWN}",
                    if key.is_empty() {
                        String::new()
                    } else {
                        format!(" `{key}`")
                    }
                )));
                return skip_value(&meta);
            }
        };
        if let Err(error) = parsed {
            errors.push(error);
        }
        Ok(())
    });
    if let Err(error) = parser.parse2(args) {
        errors.push(error);
    }
    options
}

/// Steps over the value of an option that was rejected, so parsing can go on.
fn skip_value(meta: &ParseNestedMeta) -> syn::Result<()> {
    if meta.input.peek(Token![=]) {
        meta.value()?.parse::<Expr>()?;
    } else if meta.input.peek(syn::token::Paren) {
        meta.input.parse::<proc_macro2::Group>()?;
    }
    Ok(())
}

/// `args = "hidden"` or `args = "shown"` (the default).
fn args_option(meta: &ParseNestedMeta) -> syn::Result<bool> {
    let lit: LitStr = meta.value()?.parse().map_err(|error| {
        Error::new(
            error.span(),
            "`args` expects \"hidden\" (keep the arguments out of the store) or \"shown\"",
        )
    })?;
    match lit.value().as_str() {
        "hidden" => Ok(true),
        "shown" => Ok(false),
        _ => Err(Error::new(
            lit.span(),
            "`args` expects \"hidden\" (keep the arguments out of the store) or \"shown\"",
        )),
    }
}

fn ttl(meta: &ParseNestedMeta) -> syn::Result<u64> {
    let lit: Lit = meta.value()?.parse()?;
    let seconds = match &lit {
        Lit::Int(int) => int.base10_parse::<u64>().ok(),
        Lit::Str(text) => parse_duration(&text.value()),
        _ => None,
    };
    match seconds {
        Some(0) => Err(Error::new(lit.span(), "`ttl` must be longer than zero")),
        Some(seconds) => Ok(seconds),
        None => Err(Error::new(lit.span(), TTL_HELP)),
    }
}

/// `"90s"`, `"30m"`, `"1h"`, `"7d"`, several of them in a row (`"1h 30m"`), or a plain
/// number of seconds.
fn parse_duration(text: &str) -> Option<u64> {
    let text = text.trim();
    if let Ok(seconds) = text.parse::<u64>() {
        return Some(seconds);
    }
    let mut total: u64 = 0;
    let mut number = String::new();
    for c in text.chars() {
        if c.is_ascii_digit() {
            number.push(c);
            continue;
        }
        if c.is_whitespace() && number.is_empty() {
            continue;
        }
        let unit = match c {
            's' => 1,
            'm' => 60,
            'h' => 3600,
            'd' => 86_400,
            _ => return None,
        };
        let n: u64 = number.parse().ok()?;
        total = total.checked_add(n.checked_mul(unit)?)?;
        number.clear();
    }
    (number.is_empty() && !text.is_empty()).then_some(total)
}

fn tags(meta: &ParseNestedMeta) -> syn::Result<Vec<LitStr>> {
    let array: ExprArray = meta.value()?.parse()?;
    array
        .elems
        .iter()
        .map(|elem| match elem {
            Expr::Lit(syn::ExprLit {
                lit: Lit::Str(tag), ..
            }) if !tag.value().is_empty() => Ok(tag.clone()),
            other => Err(Error::new(
                other.span(),
                "`tags` expects non-empty string literals, like `tags = [\"ml\", \"nightly\"]`",
            )),
        })
        .collect()
}

/// `retries = N`, at most 100: a retry loop longer than that is a bug, not resilience.
fn retries(meta: &ParseNestedMeta) -> syn::Result<u32> {
    const HELP: &str = "`retries` expects a number of retries from 0 to 100, like `retries = 3`";
    let lit: LitInt = meta
        .value()?
        .parse()
        .map_err(|e| Error::new(e.span(), HELP))?;
    match lit.base10_parse::<u32>() {
        Ok(n) if n <= 100 => Ok(n),
        _ => Err(Error::new(lit.span(), HELP)),
    }
}

/// `flag`, or `flag = true` / `flag = false`.
fn flag(meta: &ParseNestedMeta) -> syn::Result<bool> {
    if !meta.input.peek(Token![=]) {
        return Ok(true);
    }
    let value: syn::LitBool = meta.value()?.parse().map_err(|e| {
        Error::new(
            e.span(),
            "`flag` stands alone (`#[cached(flag)]`) or takes `true` or `false`",
        )
    })?;
    Ok(value.value)
}

/// `env = ["A", "B"]`, or `env = "A"` for one.
fn env(meta: &ParseNestedMeta) -> syn::Result<Vec<LitStr>> {
    let value: Expr = meta.value()?.parse()?;
    let elems: Vec<&Expr> = match &value {
        Expr::Array(array) => array.elems.iter().collect(),
        one @ Expr::Lit(_) => vec![one],
        other => {
            return Err(Error::new(
                other.span(),
                "`env` expects names of environment variables, like `env = [\"MODEL_URL\", \"LANG\"]`",
            ));
        }
    };
    let mut names: Vec<LitStr> = Vec::new();
    for elem in elems {
        match elem {
            Expr::Lit(syn::ExprLit {
                lit: Lit::Str(var), ..
            }) if !var.value().is_empty() && !var.value().contains(['=', '\0']) => {
                if names.iter().any(|n| n.value() == var.value()) {
                    return Err(Error::new(var.span(), "`env` names this variable twice"));
                }
                names.push(var.clone());
            }
            other => {
                return Err(Error::new(
                    other.span(),
                    "`env` expects names of environment variables, like `env = [\"MODEL_URL\", \"LANG\"]`",
                ));
            }
        }
    }
    Ok(names)
}

fn name(meta: &ParseNestedMeta) -> syn::Result<LitStr> {
    let name: LitStr = meta.value()?.parse()?;
    if name.value().trim().is_empty() {
        return Err(Error::new(name.span(), "`name` must not be empty"));
    }
    Ok(name)
}

fn version(meta: &ParseNestedMeta) -> syn::Result<u64> {
    let lit: LitInt = meta
        .value()?
        .parse()
        .map_err(|e| Error::new(e.span(), "`version` expects an integer, like `version = 2`"))?;
    lit.base10_parse()
}

fn skip(meta: &ParseNestedMeta) -> syn::Result<Vec<Ident>> {
    let mut names = Vec::new();
    meta.parse_nested_meta(|arg| {
        let ident =
            arg.path.get_ident().cloned().ok_or_else(|| {
                arg.error("`skip` expects argument names, like `skip(verbose, log)`")
            })?;
        names.push(ident);
        Ok(())
    })?;
    Ok(names)
}

fn deps(meta: &ParseNestedMeta) -> syn::Result<Vec<Path>> {
    let array: ExprArray = meta.value()?.parse()?;
    array
        .elems
        .iter()
        .map(|elem| match elem {
            Expr::Path(path) if path.qself.is_none() => Ok(path.path.clone()),
            other => Err(Error::new(
                other.span(),
                "`deps` expects paths of items, like `deps = [helper, crate::config::LIMIT]`",
            )),
        })
        .collect()
}

impl Options {
    /// The span-free text of each semantic option, for the fingerprint.
    pub fn semantic(&self) -> Vec<(&'static str, String)> {
        let mut out = Vec::new();
        if let Some(name) = &self.name {
            out.push(("name", name.value()));
        }
        if let Some(version) = self.version {
            out.push(("version", version.to_string()));
        }
        if let Some(skip) = &self.skip {
            for ident in skip {
                out.push(("skip", ident.to_string()));
            }
        }
        if let Some(deps) = &self.deps {
            for path in deps {
                out.push(("deps", quote::quote!(#path).to_string()));
            }
        }
        for var in self.env.iter().flatten() {
            out.push(("env", var.value()));
        }
        // Retried, an `Option` function stores its `Some` values alone: other bytes.
        if self.retries.is_some_and(|n| n > 0) {
            out.push(("retries", "on".into()));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::parse_duration;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("90s"), Some(90));
        assert_eq!(parse_duration("30m"), Some(1800));
        assert_eq!(parse_duration("1h"), Some(3600));
        assert_eq!(parse_duration("7d"), Some(604_800));
        assert_eq!(parse_duration("1h30m"), Some(5400));
        assert_eq!(parse_duration("1h 30m"), Some(5400));
        assert_eq!(parse_duration("3600"), Some(3600));
        assert_eq!(parse_duration("1h30"), None);
        assert_eq!(parse_duration("1 hour"), None);
        assert_eq!(parse_duration(""), None);
        assert_eq!(parse_duration("h"), None);
    }
}
