//! The report of [`observe`](super::observe) and `MEMO_REPORT=1`: per function, what its
//! calls did, as a table.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::OnceLock;
use std::time::Duration;

use super::How;

/// What the cached calls of one function did while a report was gathered.
///
/// ```
/// #[memo::cached]
/// fn area(w: u32, h: u32) -> u32 {
///     w * h
/// }
///
/// let store = memo::Store::temporary()?;
/// let (_, report) = memo::with_store(&store, || memo::observe(|| area(1, 2)));
/// let row = report.function("area").unwrap();
/// assert_eq!((row.calls, row.misses, row.hits), (1, 1, 0));
/// # Ok::<(), memo::Error>(())
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FunctionReport {
    /// Calls made.
    pub calls: u64,
    /// Answered from memory, the store, the shared tier or another caller's computation.
    pub hits: u64,
    /// Computed and stored.
    pub misses: u64,
    /// Run without caching: caching off, a bypass, an argument no key stands for, a call
    /// from inside its own computation.
    pub uncached: u64,
    /// Time spent computing the misses.
    pub computing: Duration,
    /// What the hits saved: the time each one's result took to compute when it was stored.
    pub saved: Duration,
    /// Hits whose compute time is not known (a result pulled from a shared tier, or stored
    /// by an older memo), so not in `saved`.
    pub saved_unknown: u64,
}

impl FunctionReport {
    fn add(&mut self, other: &FunctionReport) {
        self.calls += other.calls;
        self.hits += other.hits;
        self.misses += other.misses;
        self.uncached += other.uncached;
        self.computing += other.computing;
        self.saved += other.saved;
        self.saved_unknown += other.saved_unknown;
    }
}

/// The cached calls made while [`observe`](super::observe) ran, by function.
///
/// Its `Display` is a table, one row a function and a total.
///
/// ```
/// let (_, report) = memo::observe(|| ());
/// assert!(report.to_string().starts_with("FUNCTION"));
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Report {
    functions: BTreeMap<&'static str, FunctionReport>,
}

impl Report {
    pub(super) fn add(&mut self, function: &'static str, how: How, saved: Option<Duration>) {
        let row = self.functions.entry(function).or_default();
        row.calls += 1;
        match how {
            How::Hit => {
                row.hits += 1;
                match saved {
                    Some(saved) => row.saved += saved,
                    None => row.saved_unknown += 1,
                }
            }
            How::Miss(took) => {
                row.misses += 1;
                row.computing += took;
            }
            How::Uncached => row.uncached += 1,
        }
    }

    /// Each function called, by its stored name (`module::function`), in name order.
    ///
    /// ```
    /// #[memo::cached]
    /// fn step(x: u32) -> u32 {
    ///     x + 1
    /// }
    ///
    /// let store = memo::Store::temporary()?;
    /// let (_, report) = memo::with_store(&store, || memo::observe(|| (step(1), step(1))));
    /// let (name, row) = report.functions().next().unwrap();
    /// assert!(name.ends_with("::step"));
    /// assert_eq!((row.calls, row.hits), (2, 1));
    /// # Ok::<(), memo::Error>(())
    /// ```
    pub fn functions(&self) -> impl Iterator<Item = (&str, &FunctionReport)> {
        self.functions.iter().map(|(name, row)| (*name, row))
    }

    /// One function's row, by its stored name or, when only one function has it, the
    /// last part of it.
    ///
    /// ```
    /// #[memo::cached]
    /// fn step(x: u32) -> u32 {
    ///     x + 1
    /// }
    ///
    /// let store = memo::Store::temporary()?;
    /// let (_, report) = memo::with_store(&store, || memo::observe(|| (step(1), step(1))));
    /// assert_eq!(report.function("step").unwrap().misses, 1);
    /// assert!(report.function("other").is_none());
    /// # Ok::<(), memo::Error>(())
    /// ```
    pub fn function(&self, name: &str) -> Option<&FunctionReport> {
        crate::names::by_name(self.functions.iter().map(|(n, row)| (*n, row)), name)
    }

    /// Every function's row, added up.
    ///
    /// ```
    /// #[memo::cached]
    /// fn step(x: u32) -> u32 {
    ///     x + 1
    /// }
    ///
    /// let store = memo::Store::temporary()?;
    /// let (_, report) = memo::with_store(&store, || memo::observe(|| (step(1), step(1))));
    /// assert_eq!(report.total().calls, 2);
    /// # Ok::<(), memo::Error>(())
    /// ```
    pub fn total(&self) -> FunctionReport {
        let mut total = FunctionReport::default();
        for row in self.functions.values() {
            total.add(row);
        }
        total
    }

    /// Whether no cached call was made.
    ///
    /// ```
    /// let (_, report) = memo::observe(|| 1 + 1);
    /// assert!(report.is_empty());
    /// ```
    pub fn is_empty(&self) -> bool {
        self.functions.is_empty()
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let total = self.total();
        let mut rows: Vec<[String; 7]> = vec![[
            "FUNCTION".into(),
            "CALLS".into(),
            "HITS".into(),
            "MISSES".into(),
            "UNCACHED".into(),
            "COMPUTING".into(),
            "SAVED".into(),
        ]];
        let row = |name: &str, r: &FunctionReport| {
            let saved = match r.saved_unknown {
                0 => duration(r.saved),
                n => format!("{} (+{n} unknown)", duration(r.saved)),
            };
            [
                name.to_owned(),
                r.calls.to_string(),
                r.hits.to_string(),
                r.misses.to_string(),
                r.uncached.to_string(),
                duration(r.computing),
                saved,
            ]
        };
        rows.extend(self.functions().map(|(name, r)| row(name, r)));
        rows.push(row("total", &total));
        let widths: Vec<usize> = (0..7)
            .map(|i| rows.iter().map(|r| r[i].chars().count()).max().unwrap_or(0))
            .collect();
        for r in &rows {
            let mut line = format!("{:<w$}", r[0], w = widths[0]);
            for (cell, width) in r.iter().zip(&widths).skip(1) {
                line.push_str(&format!("  {cell:>width$}"));
            }
            writeln!(f, "{}", line.trim_end())?;
        }
        Ok(())
    }
}

/// A duration as a person reads it: `0 s`, `850 µs`, `12.3 ms`, `4.56 s`, `2 min 5 s`.
fn duration(d: Duration) -> String {
    let secs = d.as_secs_f64();
    if d.is_zero() {
        "0 s".into()
    } else if secs < 1e-3 {
        format!("{} µs", d.as_micros())
    } else if secs < 1.0 {
        format!("{:.1} ms", secs * 1e3)
    } else if secs < 120.0 {
        format!("{secs:.2} s")
    } else {
        format!("{} min {} s", d.as_secs() / 60, d.as_secs() % 60)
    }
}

/// Whether `MEMO_REPORT` asks for the process's report at exit: set, and not `0`, `false`,
/// `off`, `no` or empty.
pub(super) fn wanted() -> bool {
    std::env::var("MEMO_REPORT").is_ok_and(|value| {
        !matches!(
            value.trim().to_ascii_lowercase().as_str(),
            "" | "0" | "false" | "off" | "no"
        )
    })
}

/// Prints the whole process's report, which `report` gives, to standard error when it
/// exits.
pub(super) fn print_at_exit(report: fn() -> Option<Report>) {
    static REPORT: OnceLock<fn() -> Option<Report>> = OnceLock::new();
    if REPORT.set(report).is_err() {
        return;
    }
    super::on_exit(|| {
        if let Some(report) = REPORT.get().and_then(|report| report()) {
            eprint!("memo report (MEMO_REPORT):\n{report}");
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_add_up_and_read_as_a_table() {
        let mut report = Report::default();
        report.add("a::load", How::Miss(Duration::from_millis(40)), None);
        report.add("a::load", How::Hit, Some(Duration::from_millis(40)));
        report.add("a::load", How::Hit, None);
        report.add("b::load", How::Uncached, None);
        let load = report.function("a::load").unwrap();
        assert_eq!((load.calls, load.hits, load.misses), (3, 2, 1));
        assert_eq!(
            (load.saved, load.saved_unknown),
            (Duration::from_millis(40), 1)
        );
        assert!(report.function("load").is_none(), "two functions end so");
        assert_eq!(report.total().calls, 4);
        let table = report.to_string();
        assert!(table.starts_with("FUNCTION"), "{table}");
        assert!(table.contains("40.0 ms (+1 unknown)"), "{table}");
        assert!(
            table.lines().last().unwrap().starts_with("total"),
            "{table}"
        );
        assert_eq!(duration(Duration::from_micros(850)), "850 µs");
        assert_eq!(duration(Duration::from_secs(125)), "2 min 5 s");
    }
}
