//! The command line: commands, options and their help.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// Inspect and manage a memo store, like `git` for cached results.
///
/// The store is `--dir`, else `$MEMO_DIR`, else the nearest `.memo/` in the working
/// directory or above it.
#[derive(Debug, Parser)]
#[command(name = "memo", version, propagate_version = true)]
pub struct Cli {
    /// The store directory.
    #[arg(long, global = true, value_name = "DIR")]
    pub dir: Option<PathBuf>,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Args, Clone, Copy)]
pub struct Json {
    /// Print JSON, for scripts.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Entries, bytes, blobs, hits, misses, hit rate and evictions.
    #[command(after_help = "Example:\n  memo stats\n  memo stats --json | jq .hit_rate")]
    Stats(#[command(flatten)] Json),

    /// The shared tier (MEMO_REMOTE): where it is, how it is used, whether it answers.
    #[command(subcommand)]
    Remote(RemoteCommand),

    /// List entries, newest first.
    #[command(
        after_help = "Examples:\n  memo ls\n  memo ls --fn train --limit 5\n  memo ls --tag ml --json"
    )]
    Ls {
        /// Only entries of this function (its stored name, or the last part of it).
        #[arg(long = "fn", value_name = "NAME")]
        function: Option<String>,
        /// Only entries with this tag.
        #[arg(long, value_name = "TAG")]
        tag: Option<String>,
        /// At most this many entries.
        #[arg(long, value_name = "N")]
        limit: Option<usize>,
        #[command(flatten)]
        json: Json,
    },

    /// Show one entry: function, fingerprint, components, times, tags, size, lineage.
    #[command(after_help = "Example:\n  memo show 3fa9c1")]
    Show {
        /// The entry's key, or any unique prefix of it.
        key: String,
        #[command(flatten)]
        json: Json,
    },

    /// Print a stored result: readable where its type allows, else its bytes.
    #[command(after_help = "Examples:\n  memo get 3fa9c1\n  memo get 3fa9c1 -o result.bin")]
    Get {
        /// The entry's key, or any unique prefix of it.
        key: String,
        /// Write the stored bytes (postcard) to this file.
        #[arg(short, long, value_name = "FILE")]
        output: Option<PathBuf>,
        /// Write the stored bytes to standard output even on a terminal.
        #[arg(long, conflicts_with = "json")]
        raw: bool,
        #[command(flatten)]
        json: Json,
    },

    /// The functions this store has seen, their fingerprints, entries and stale entries.
    #[command(after_help = "Example:\n  memo fns")]
    Fns(#[command(flatten)] Json),

    /// What a function's fingerprint is made of; with fingerprints, which parts differ.
    #[command(
        after_help = "Examples:\n  memo explain train               # current vs the version before\n  memo explain train --diff        # and the lines that changed\n  memo explain train 1a2b 9f8e     # two versions, by fingerprint prefix"
    )]
    Explain {
        /// The function's stored name, or the last part of it.
        function: String,
        /// Fingerprints (or prefixes) to compare; one is compared with the current one.
        #[arg(value_name = "FINGERPRINT", num_args = 0..=2)]
        fingerprints: Vec<String>,
        /// Print each changed component's code as a unified diff.
        #[arg(long)]
        diff: bool,
        #[command(flatten)]
        json: Json,
    },

    /// Every version of one call the store holds: the same function and arguments under
    /// each version of the code, and whether the output changed.
    #[command(after_help = "Example:\n  memo history 3fa9c1")]
    History {
        /// An entry of the call: its key, or any unique prefix of it.
        key: String,
        #[command(flatten)]
        json: Json,
    },

    /// How two entries differ: function, code, arguments and output.
    #[command(after_help = "Example:\n  memo diff 3fa9c1 77b2e0")]
    Diff {
        /// The first entry's key, or any unique prefix of it.
        a: String,
        /// The second entry's key, or any unique prefix of it.
        b: String,
        #[command(flatten)]
        json: Json,
    },

    /// Draw the lineage of `Memo` chains: which entries fed which.
    #[command(
        after_help = "Examples:\n  memo graph                       # every chain, as DOT\n  memo graph 3fa9c1 --format svg > lineage.svg\n  memo graph --fn summarize --json"
    )]
    Graph {
        /// Around this entry (its key, or a unique prefix): what fed it and what it fed.
        #[arg(conflicts_with = "function")]
        key: Option<String>,
        /// Around every entry of this function.
        #[arg(long = "fn", value_name = "NAME")]
        function: Option<String>,
        /// DOT (for Graphviz and most graph tools) or SVG (drawn here).
        #[arg(long, value_enum, default_value_t = GraphFormat::Dot)]
        format: GraphFormat,
        #[command(flatten)]
        json: Json,
    },

    /// Remove the entries of a tag or of a function.
    #[command(after_help = "Examples:\n  memo invalidate --tag ml\n  memo invalidate --fn train")]
    Invalidate {
        /// Remove the entries stored with this tag.
        #[arg(
            long,
            value_name = "TAG",
            required_unless_present = "function",
            conflicts_with = "function"
        )]
        tag: Option<String>,
        /// Remove the entries of this function.
        #[arg(long = "fn", value_name = "NAME")]
        function: Option<String>,
    },

    /// Remove one entry.
    #[command(after_help = "Example:\n  memo rm 3fa9c1")]
    Rm {
        /// The entry's key, or any unique prefix of it.
        key: String,
    },

    /// Collect garbage: expired, stale, old or over-budget entries, and unused blobs.
    #[command(
        after_help = "Examples:\n  memo gc                        # expired entries and unused blobs\n  memo gc --stale --older-than 30d\n  memo gc --max-size 1GB"
    )]
    Gc {
        /// Remove entries whose ttl has passed (the default when no other choice is given).
        #[arg(long)]
        expired: bool,
        /// Remove entries of older versions of their function's code.
        #[arg(long)]
        stale: bool,
        /// Remove entries computed longer ago than this (`30d`, `12h`).
        #[arg(long, value_name = "AGE", value_parser = humantime::parse_duration)]
        older_than: Option<std::time::Duration>,
        /// Remove entries not used for longer than this (`30d`, `12h`).
        #[arg(long, value_name = "AGE", value_parser = humantime::parse_duration)]
        unused_for: Option<std::time::Duration>,
        /// Remove the least recently used entries until results take at most this (`1GB`).
        #[arg(long, value_name = "SIZE", value_parser = parse_size)]
        max_size: Option<u64>,
        #[command(flatten)]
        json: Json,
    },

    /// Remove every entry and result.
    #[command(after_help = "Example:\n  memo clear")]
    Clear,

    /// Re-hash every blob and check every entry; remove what is damaged.
    #[command(after_help = "Examples:\n  memo verify\n  memo verify --repair")]
    Verify {
        /// If the database file itself is damaged, move it aside (to store.redb.damaged or store.sled.damaged)
        /// and start a fresh store, as a program using the store does by itself.
        #[arg(long)]
        repair: bool,
        #[command(flatten)]
        json: Json,
    },

    /// The store's path, engine, format, holder, size, and the last problem seen, without
    /// changing anything.
    #[command(after_help = "Example:\n  memo doctor")]
    Doctor(#[command(flatten)] Json),

    /// Write the store's entries and results to a portable archive.
    #[command(after_help = "Example:\n  memo export results.memo")]
    Export {
        /// The archive to write.
        file: PathBuf,
        #[command(flatten)]
        json: Json,
    },

    /// Add an archive's entries and results to the store; what exists is skipped.
    /// With `memo export`, it moves a store to another engine. Entries the store cannot
    /// check (their MAC is not under its secret: another store's archive, or altered)
    /// are refused, and counted, unless `--trust` says you trust the archive.
    #[command(
        after_help = "Examples:\n  memo import results.memo\n  memo import --trust from-ci.memo\n  memo --dir .memo-sled import results.memo --engine sled"
    )]
    Import {
        /// The archive to read.
        file: PathBuf,
        /// Also import the entries this store cannot check — another store's archive,
        /// or one from before archives carried MACs — signing them as this store's.
        #[arg(long)]
        trust: bool,
        /// The engine of a store the import creates (`redb` or `sled`; an existing store
        /// must be of this engine). Default: the store's own, else `MEMO_ENGINE`, else redb.
        #[arg(long, value_parser = parse_engine)]
        engine: Option<memo_runtime::Engine>,
        #[command(flatten)]
        json: Json,
    },
}

/// What `memo remote` does.
#[derive(Debug, Subcommand)]
pub enum RemoteCommand {
    /// The server (its password hidden), the mode and namespace, and how long it takes
    /// to answer; fails if it does not.
    #[command(
        after_help = "Example:\n  MEMO_REMOTE=redis://cache:6379/0 MEMO_REMOTE_KEY=… memo remote status"
    )]
    Status(#[command(flatten)] Json),
    /// Send every entry of the store to the tier (needs MEMO_REMOTE_MODE=rw); what is there
    /// already stays.
    #[command(after_help = "Example:\n  MEMO_REMOTE_MODE=rw memo remote push")]
    Push(#[command(flatten)] Json),
    /// Copy every value of the tier's namespace into the store; what is here stays.
    #[command(after_help = "Example:\n  MEMO_REMOTE_NAMESPACE=team memo remote pull")]
    Pull(#[command(flatten)] Json),
}

fn parse_engine(text: &str) -> Result<memo_runtime::Engine, String> {
    memo_runtime::Engine::from_name(text)
        .ok_or_else(|| format!("`{text}` is not a storage engine: `redb` or `sled`"))
}

fn parse_size(text: &str) -> Result<u64, String> {
    text.trim()
        .parse::<bytesize::ByteSize>()
        .map(|size| size.as_u64())
        .map_err(|e| format!("`{text}` is not a size like 500MB or 1GiB: {e}"))
}

/// How `memo graph` writes the graph.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum GraphFormat {
    /// Graphviz's language.
    Dot,
    /// An SVG picture.
    Svg,
}
