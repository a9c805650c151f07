//! Finding a cached function by the name a person types: its stored name
//! (`module::function`), or just the last part when only one function has it.

/// The item named `name`; else the one item whose name ends in `::name`. `None` when there
/// is none, or several end so.
pub(crate) fn by_name<'a, T>(
    items: impl IntoIterator<Item = (&'a str, T)>,
    name: &str,
) -> Option<T> {
    let suffix = format!("::{name}");
    let mut found = None;
    let mut several = false;
    for (candidate, item) in items {
        if candidate == name {
            return Some(item);
        }
        if candidate.ends_with(&suffix) {
            several |= found.is_some();
            found = Some(item);
        }
    }
    found.filter(|_| !several)
}

#[cfg(test)]
mod tests {
    use super::by_name;

    #[test]
    fn a_full_name_wins_and_a_short_one_must_be_unique() {
        let names = [("a::load", 1), ("b::load", 2), ("b::save", 3), ("load", 4)];
        assert_eq!(by_name(names, "a::load"), Some(1));
        assert_eq!(
            by_name(names, "load"),
            Some(4),
            "the exact name, even short"
        );
        assert_eq!(
            by_name(names[..2].iter().copied(), "load"),
            None,
            "two end so"
        );
        assert_eq!(by_name(names, "save"), Some(3));
        assert_eq!(by_name(names, "ave"), None, "a suffix is a whole segment");
    }
}
