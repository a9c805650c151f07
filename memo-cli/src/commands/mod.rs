//! The commands, over an open store.

mod archive;
mod diff;
mod doctor;
mod graph;
mod history;
mod inspect;
mod manage;

use memo_runtime::{Digest, Entry, Store};

use crate::cli::{Cli, Command, RemoteCommand};
use crate::locate;

/// A command's failure: one line that says what to do.
pub type Result<T = ()> = std::result::Result<T, String>;

/// A store error as a command's failure; its message already says what to do.
pub fn fail(error: memo_runtime::Error) -> String {
    error.to_string()
}

pub fn run(cli: Cli) -> Result {
    let creates = matches!(cli.command, Command::Import { .. });
    // The doctor sees a directory in any state, even one that lost its database.
    let examines = matches!(cli.command, Command::Doctor(_));
    let dir = match locate::store_dir(cli.dir.as_deref()) {
        Err(_) if creates && cli.dir.is_some() => cli.dir.clone().expect("checked"),
        other => other?,
    };
    if !creates && !examines && !is_store(&dir) {
        return Err(format!(
            "{} is not a memo store (it holds no database); check --dir or MEMO_DIR",
            dir.display()
        ));
    }
    eprintln!("memo: store {}", dir.display());
    // Only looking never changes a damaged store: `verify --repair` does, on demand.
    match &cli.command {
        Command::Doctor(json) => return doctor::doctor(&dir, json.json),
        Command::Verify { repair: true, json } => return doctor::repair(&dir, json.json),
        _ => {}
    }
    let mut builder = Store::builder(&dir).heal(false);
    if let Command::Import {
        engine: Some(engine),
        ..
    } = &cli.command
    {
        builder = builder.engine(*engine);
    }
    let store = builder.open().map_err(fail)?;
    match cli.command {
        Command::Stats(json) => inspect::stats(&store, json.json),
        Command::Remote(RemoteCommand::Status(json)) => inspect::remote_status(&store, json.json),
        Command::Remote(RemoteCommand::Push(json)) => archive::push(&store, json.json),
        Command::Remote(RemoteCommand::Pull(json)) => archive::pull(&store, json.json),
        Command::Ls {
            function,
            tag,
            limit,
            json,
        } => inspect::ls(
            &store,
            function.as_deref(),
            tag.as_deref(),
            limit,
            json.json,
        ),
        Command::Show { key, json } => inspect::show(&store, &key, json.json),
        Command::Get {
            key,
            output,
            raw,
            json,
        } => inspect::get(&store, &key, output.as_deref(), raw, json.json),
        Command::Fns(json) => inspect::fns(&store, json.json),
        Command::Diff { a, b, json } => diff::diff(&store, &a, &b, json.json),
        Command::History { key, json } => history::history(&store, &key, json.json),
        Command::Graph {
            key,
            function,
            format,
            json,
        } => {
            let around = match (&key, &function) {
                (Some(key), _) => graph::Around::Key(key),
                (None, Some(function)) => graph::Around::Function(function),
                (None, None) => graph::Around::Chains,
            };
            graph::graph(&store, around, format, json.json)
        }
        Command::Explain {
            function,
            fingerprints,
            diff,
            json,
        } => inspect::explain(&store, &function, &fingerprints, diff, json.json),
        Command::Invalidate { tag, function } => manage::invalidate(&store, tag, function),
        Command::Rm { key } => manage::rm(&store, &key),
        Command::Gc {
            expired,
            stale,
            older_than,
            unused_for,
            max_size,
            json,
        } => manage::gc(
            &store,
            manage::GcChoice {
                expired,
                stale,
                older_than,
                unused_for,
                max_size,
            },
            json.json,
        ),
        Command::Clear => manage::clear(&store),
        Command::Verify { json, .. } => manage::verify(&store, json.json),
        Command::Doctor(json) => doctor::doctor(&dir, json.json),
        Command::Export { file, json } => archive::export(&store, &file, json.json),
        Command::Import {
            file, trust, json, ..
        } => archive::import(&store, &file, trust, json.json),
    }
}

/// Whether `dir` holds a store's database: its redb file, its sled directory, or the sled
/// files of a store of format version 1 (which opening then refuses, saying so).
fn is_store(dir: &std::path::Path) -> bool {
    dir.join("store.redb").is_file()
        || dir.join("store.sled").is_dir()
        || dir.join("conf").is_file()
}

/// The entry whose key starts with `prefix` (hex, any case); an error if none or several do.
pub fn entry_by_prefix(store: &Store, prefix: &str) -> Result<Entry> {
    let prefix = prefix.trim().to_ascii_lowercase();
    if prefix.is_empty() || !prefix.chars().all(|c| c.is_ascii_hexdigit()) {
        return Err(format!(
            "`{prefix}` is not a key: keys are hexadecimal; `memo ls` lists them"
        ));
    }
    let entries = store.entries().map_err(|e| e.to_string())?;
    let mut matching = entries
        .into_iter()
        .filter(|entry| entry.key.to_string().starts_with(&prefix));
    match (matching.next(), matching.next()) {
        (Some(entry), None) => Ok(entry),
        (None, _) => Err(format!(
            "no entry has a key starting with `{prefix}`; `memo ls` lists them"
        )),
        (Some(_), Some(_)) => Err(format!(
            "`{prefix}` is ambiguous: {} entries have keys starting with it; give more digits",
            2 + matching.count()
        )),
    }
}

/// The function whose stored name is `name`, or ends with `::name` for exactly one.
pub fn function_name(store: &Store, name: &str) -> Result<String> {
    let functions = store.functions().map_err(|e| e.to_string())?;
    if functions.iter().any(|f| f.name == name) {
        return Ok(name.to_owned());
    }
    let suffix = format!("::{name}");
    let matching: Vec<&str> = functions
        .iter()
        .map(|f| f.name.as_str())
        .filter(|n| n.ends_with(&suffix))
        .collect();
    match matching.as_slice() {
        [one] => Ok((*one).to_owned()),
        [] => Err(format!(
            "no function named `{name}` has used this store; `memo fns` lists them"
        )),
        several => Err(format!(
            "`{name}` is ambiguous: {}; give the full name",
            several.join(", ")
        )),
    }
}

/// A fingerprint of `versions` by prefix.
pub fn fingerprint_by_prefix<'a>(
    versions: &'a [memo_runtime::FunctionVersion],
    prefix: &str,
) -> Result<&'a memo_runtime::FunctionVersion> {
    let prefix = prefix.to_ascii_lowercase();
    let matching: Vec<_> = versions
        .iter()
        .filter(|v| v.fingerprint.to_string().starts_with(&prefix))
        .collect();
    match matching.as_slice() {
        [one] => Ok(one),
        [] => Err(format!(
            "no version has a fingerprint starting with `{prefix}`; `memo explain` without fingerprints lists them"
        )),
        _ => Err(format!(
            "`{prefix}` matches several fingerprints; give more digits"
        )),
    }
}

pub fn short(digest: &Digest) -> String {
    digest.short()
}
