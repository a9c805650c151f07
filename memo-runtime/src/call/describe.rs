//! The readable form of a call's arguments, recorded with the entry it stores (`memo ls`,
//! `memo show`): written once, on a miss, before the body takes the arguments.
//!
//! How an argument reads is settled by its type at the expansion site, with autoref
//! specialisation: a type whose fields `#[derive(CacheKey)]` describes (so a field the key
//! skips, a secret, stays out), or a `Memo` (its content hash), reads so; any other type
//! with `Debug` reads as its `Debug`; the rest as their type's name. Nothing is bound on
//! the user's types. The text stops at [`ArgsText::LIMIT`] bytes, and a `Debug` that
//! would go on longer is cut off as it writes, so a huge argument costs no more.

use std::fmt::{self, Debug, Write};

use crate::Memo;

/// The text of one call's arguments, bounded.
#[doc(hidden)]
#[derive(Default)]
pub struct ArgsText {
    text: String,
    full: bool,
    args: usize,
}

impl ArgsText {
    /// The most bytes of text kept for one call.
    pub const LIMIT: usize = 300;

    /// Starts the argument `name`.
    pub fn arg(&mut self, name: &str) {
        if self.args > 0 {
            let _ = self.write_str(", ");
        }
        self.args += 1;
        let _ = self.write_str(name);
        let _ = self.write_str(" = ");
    }

    /// The text, `…` at its end if it was cut.
    pub fn finish(mut self) -> String {
        if self.full {
            self.text.push('…');
        }
        self.text
    }
}

impl Write for ArgsText {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        if self.full {
            return Err(fmt::Error);
        }
        let room = Self::LIMIT.saturating_sub(self.text.len());
        if s.len() <= room {
            self.text.push_str(s);
            return Ok(());
        }
        let mut cut = room;
        while !s.is_char_boundary(cut) {
            cut -= 1;
        }
        self.text.push_str(&s[..cut]);
        self.full = true;
        // Stops the `Debug` that is writing: the rest would be cut anyway.
        Err(fmt::Error)
    }
}

/// Writes a value's readable form for the store: implemented by `#[derive(CacheKey)]`
/// (leaving out the fields the key skips) and by `Memo`. Not a public API.
#[doc(hidden)]
pub trait DescribeFields {
    /// Writes the readable form.
    fn describe_fields(&self, out: &mut ArgsText);
}

impl<T: DescribeFields + ?Sized> DescribeFields for &T {
    fn describe_fields(&self, out: &mut ArgsText) {
        (**self).describe_fields(out);
    }
}

impl<T> DescribeFields for Memo<T> {
    fn describe_fields(&self, out: &mut ArgsText) {
        let _ = write!(
            out,
            "Memo<{}>#{}",
            short_type(std::any::type_name::<T>()),
            self.hash().short()
        );
    }
}

/// A type's name without its paths: `alloc::vec::Vec<u32>` reads `Vec<u32>`.
fn short_type(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    let mut word = String::new();
    for c in name.chars() {
        if c.is_alphanumeric() || c == '_' || c == ':' {
            word.push(c);
        } else {
            out.push_str(word.rsplit("::").next().unwrap_or(&word));
            word.clear();
            out.push(c);
        }
    }
    out.push_str(word.rsplit("::").next().unwrap_or(&word));
    out
}

/// One argument, asked how it reads.
#[doc(hidden)]
pub struct Describe<'a, T: ?Sized>(pub &'a T);

/// Chosen first: a type that describes its fields.
#[doc(hidden)]
pub trait DescribeByFields {
    /// Writes the argument.
    fn describe_into(&self, out: &mut ArgsText);
}

impl<T: DescribeFields + ?Sized> DescribeByFields for &Describe<'_, T> {
    fn describe_into(&self, out: &mut ArgsText) {
        self.0.describe_fields(out);
    }
}

/// Chosen next: a type with `Debug`.
#[doc(hidden)]
pub trait DescribeByDebug {
    /// Writes the argument.
    fn describe_into(&self, out: &mut ArgsText);
}

impl<T: Debug + ?Sized> DescribeByDebug for &&Describe<'_, T> {
    fn describe_into(&self, out: &mut ArgsText) {
        let _ = write!(out, "{:?}", self.0);
    }
}

/// Chosen last: any type, by its name.
#[doc(hidden)]
pub trait DescribeByType {
    /// Writes the argument.
    fn describe_into(&self, out: &mut ArgsText);
}

impl<T: ?Sized> DescribeByType for Describe<'_, T> {
    fn describe_into(&self, out: &mut ArgsText) {
        let _ = write!(out, "<{}>", short_type(std::any::type_name::<T>()));
    }
}

/// How a cached function's arguments read: written by the generated code.
#[doc(hidden)]
pub type DescribeFn<A> = fn(&A, &mut ArgsText);

#[cfg(test)]
// The probes are called as the expansion calls them: through references.
#[allow(clippy::needless_borrow)]
mod tests {
    use super::*;

    fn read(describe: impl Fn(&mut ArgsText)) -> String {
        let mut text = ArgsText::default();
        describe(&mut text);
        text.finish()
    }

    #[test]
    fn each_type_reads_by_the_best_it_has() {
        struct Opaque;
        let memo = Memo::new(vec![1u32, 2]);
        let text = read(|out| {
            out.arg("n");
            (&&Describe(&42u64)).describe_into(out);
            out.arg("name");
            (&&Describe(&"ada")).describe_into(out);
            out.arg("data");
            (&&Describe(&&memo)).describe_into(out);
            out.arg("token");
            (&&Describe(&Opaque)).describe_into(out);
        });
        assert_eq!(
            text,
            format!(
                "n = 42, name = \"ada\", data = Memo<Vec<u32>>#{}, token = <Opaque>",
                memo.hash().short()
            )
        );
    }

    #[test]
    fn a_long_argument_is_cut_while_it_is_written() {
        let huge: Vec<u64> = (0..1_000_000).collect();
        let text = read(|out| {
            out.arg("huge");
            (&&Describe(&huge)).describe_into(out);
        });
        assert!(
            text.len() <= ArgsText::LIMIT + '…'.len_utf8(),
            "{}",
            text.len()
        );
        assert!(text.starts_with("huge = [0, 1, 2") && text.ends_with('…'));
        // Cut inside a character: never a broken one.
        let text = read(|out| {
            out.arg("s");
            (&&Describe(&"é".repeat(400))).describe_into(out);
        });
        assert!(text.ends_with('…'));
    }

    #[test]
    fn type_names_lose_their_paths() {
        assert_eq!(
            short_type("alloc::vec::Vec<std::string::String>"),
            "Vec<String>"
        );
        assert_eq!(
            short_type("(u8, core::option::Option<i32>)"),
            "(u8, Option<i32>)"
        );
    }
}
