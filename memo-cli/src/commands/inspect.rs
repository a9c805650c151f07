//! The read commands: stats, ls, show, get, fns, explain.

use std::collections::HashMap;
use std::io::{IsTerminal, Write};
use std::path::Path;

use memo_runtime::{Change, Component, Entry, FunctionVersion, Store, diff_components};
use serde_json::{Value, json};

use super::{Result, entry_by_prefix, fail, fingerprint_by_prefix, function_name, short};
use crate::output::{self, bytes, count, epoch, relative, table, when};
use crate::render::render;

/// `memo remote status`: the tier this process would use, and whether it answers.
pub fn remote_status(store: &Store, json: bool) -> Result {
    let (Some(ping), Some(stats)) = (store.ping_remote(), store.remote_stats()) else {
        return Err(
            "no shared tier is configured: set MEMO_REMOTE (and MEMO_REMOTE_KEY or MEMO_REMOTE_KEY_FILE)"
                .into(),
        );
    };
    let namespace = stats
        .namespace
        .clone()
        .unwrap_or_else(|| "each function's crate".into());
    let mode = if stats.read_write { "rw" } else { "ro" };
    let values = ping.is_ok().then(|| store.remote_values()).flatten();
    if json {
        output::json(&json!({
            "url": stats.url,
            "mode": mode,
            "namespace": stats.namespace,
            "reachable": ping.is_ok(),
            "latency_us": ping.as_ref().ok().map(|d| d.as_micros() as u64),
            "error": ping.as_ref().err(),
            "values": values.as_ref().and_then(|v| v.as_ref().ok()),
        }));
    } else {
        println!("{:<10} {}", "server", stats.url);
        println!("{:<10} {mode}", "mode");
        println!("{:<10} {namespace}", "namespace");
        match &ping {
            Ok(took) => println!(
                "{:<10} answers in {:.2} ms",
                "status",
                took.as_secs_f64() * 1000.0
            ),
            Err(why) => println!("{:<10} {why}", "status"),
        }
        if let Some(Ok(values)) = &values {
            println!("{:<10} {values} named in its indexes", "values");
        }
    }
    ping.map(drop)
        .map_err(|why| format!("the shared tier at {} does not answer: {why}", stats.url))
}

pub fn stats(store: &Store, json: bool) -> Result {
    let s = store.stats().map_err(fail)?;
    // The breaker's state, as a call made now would find it.
    let ping = store.ping_remote();
    if json {
        output::json(&json!({
            "dir": store.dir(),
            "entries": s.entries,
            "blobs": s.blobs,
            "bytes": s.bytes,
            "disk_bytes": s.disk_bytes,
            "hits": s.hits,
            "misses": s.misses,
            "hit_rate": s.hit_rate(),
            "evictions": s.evictions,
            "refused": s.refused,
            "remote": store.remote_stats().map(|r| json!({
                "url": r.url,
                "mode": if r.read_write { "rw" } else { "ro" },
                "namespace": r.namespace,
                "reachable": ping.as_ref().is_some_and(Result::is_ok),
                "breaker_open": ping.as_ref().is_some_and(Result::is_err),
            })),
            "remote_counts": {
                "hits": s.remote.hits,
                "misses": s.remote.misses,
                "writes": s.remote.writes,
                "errors": s.remote.errors,
                "mac_failures": s.remote.mac_failures,
                "oversize": s.remote.oversize,
                "dropped": s.remote.dropped,
                "fast_skipped": s.remote.fast_skipped,
            },
        }));
        return Ok(());
    }
    let rows = vec![
        vec!["entries".into(), s.entries.to_string()],
        vec![
            "results".into(),
            format!("{} in {}", bytes(s.bytes), count(s.blobs, "blob", "blobs")),
        ],
        vec!["on disk".into(), bytes(s.disk_bytes)],
        vec!["hits".into(), s.hits.to_string()],
        vec!["misses".into(), s.misses.to_string()],
        vec!["hit rate".into(), format!("{:.1}%", s.hit_rate() * 100.0)],
        vec!["evictions".into(), s.evictions.to_string()],
        vec!["refused".into(), s.refused.to_string()],
    ];
    let rows = rows.into_iter().chain(store.remote_stats().map(|r| {
        let mode = if r.read_write {
            "read-write"
        } else {
            "read-only"
        };
        let state = match &ping {
            Some(Ok(took)) => format!("answers in {:.2} ms", took.as_secs_f64() * 1000.0),
            Some(Err(why)) => format!("breaker open: {why}"),
            None => String::new(),
        };
        vec!["remote".into(), format!("{} ({mode}; {state})", r.url)]
    }));
    // Kept across runs, whether or not a tier is configured now.
    let r = &s.remote;
    let counted = (!r.is_empty()).then(|| {
        vec![
            "remote use".into(),
            format!(
                "{} hits, {} misses, {} writes, {} errors, {} MAC failures, {} too large, {} dropped, {} skipped as fast",
                r.hits,
                r.misses,
                r.writes,
                r.errors,
                r.mac_failures,
                r.oversize,
                r.dropped,
                r.fast_skipped
            ),
        ]
    });
    let rows = rows.chain(counted);
    for row in rows {
        println!("{:<10} {}", row[0], row[1]);
    }
    Ok(())
}

fn entry_json(entry: &Entry) -> Value {
    json!({
        "key": entry.key.to_string(),
        "function": entry.function,
        "fingerprint": entry.fingerprint.to_string(),
        "output": entry.output.to_string(),
        "created": epoch(entry.created),
        "last_used": epoch(entry.last_used),
        "expires": entry.expires.map(epoch),
        "tags": entry.tags,
        "size": entry.size,
        "inputs": entry.inputs.iter().map(ToString::to_string).collect::<Vec<_>>(),
        "args": entry.args,
        "call": entry.call.map(|call| call.to_string()),
    })
}

/// An entry's arguments for a table cell: cut to a width a row can hold.
fn args_cell(entry: &Entry) -> String {
    const WIDTH: usize = 40;
    match &entry.args {
        None => "-".into(),
        Some(args) if args.chars().count() > WIDTH => {
            let mut cut: String = args.chars().take(WIDTH - 1).collect();
            cut.push('…');
            cut
        }
        Some(args) => args.clone(),
    }
}

pub fn ls(
    store: &Store,
    function: Option<&str>,
    tag: Option<&str>,
    limit: Option<usize>,
    json: bool,
) -> Result {
    let function = function.map(|f| function_name(store, f)).transpose()?;
    let entries: Vec<Entry> = store
        .entries()
        .map_err(fail)?
        .into_iter()
        .filter(|e| function.as_ref().is_none_or(|f| &e.function == f))
        .filter(|e| tag.is_none_or(|t| e.tags.iter().any(|x| x == t)))
        .take(limit.unwrap_or(usize::MAX))
        .collect();
    if json {
        output::json(&entries.iter().map(entry_json).collect::<Vec<_>>());
        return Ok(());
    }
    if entries.is_empty() {
        println!("no entries");
        return Ok(());
    }
    let rows: Vec<Vec<String>> = entries
        .iter()
        .map(|e| {
            vec![
                short(&e.key),
                e.function.clone(),
                relative(e.created),
                e.expires.map_or_else(|| "-".into(), relative),
                bytes(e.size),
                e.tags.join(","),
                args_cell(e),
            ]
        })
        .collect();
    table(
        &[
            "KEY", "FUNCTION", "CREATED", "EXPIRES", "SIZE", "TAGS", "ARGS",
        ],
        &rows,
    );
    Ok(())
}

/// The result type of `entry`'s function, as its record names it (empty if unknown).
pub fn output_type(store: &Store, entry: &Entry) -> String {
    store
        .function(&entry.function)
        .ok()
        .flatten()
        .map(|f| f.output_type)
        .unwrap_or_default()
}

/// The components of the version of `entry`'s function that wrote it.
/// Prints a change's diff, indented under it, when asked for and known.
pub fn print_diff(change: &Change, wanted: bool) {
    if let Some(diff) = change.diff.as_deref().filter(|_| wanted) {
        for line in diff.lines() {
            println!("      {line}");
        }
    }
}

/// The version of its function's code an entry was computed by, if the store recorded it.
fn version_of(store: &Store, entry: &Entry) -> Option<FunctionVersion> {
    store
        .function(&entry.function)
        .ok()
        .flatten()
        .and_then(|record| {
            record
                .versions
                .into_iter()
                .find(|v| v.fingerprint == entry.fingerprint)
        })
}

/// [`components_of`], with the source text the store recorded for that version.
pub fn code_of(store: &Store, entry: &Entry) -> Vec<Component> {
    let Some(mut version) = version_of(store, entry) else {
        return Vec::new();
    };
    let _ = store.load_sources(&mut version);
    version.components
}

pub fn components_of(store: &Store, entry: &Entry) -> Vec<Component> {
    version_of(store, entry)
        .map(|v| v.components)
        .unwrap_or_default()
}

pub fn show(store: &Store, key: &str, json: bool) -> Result {
    let entry = entry_by_prefix(store, key)?;
    let components = components_of(store, &entry);
    let outputs: HashMap<_, _> = store
        .entries()
        .map_err(fail)?
        .into_iter()
        .map(|e| (e.output, e))
        .collect();
    let consumers = store.consumers(&entry.output).map_err(fail)?;
    if json {
        let mut value = entry_json(&entry);
        value["components"] = components.iter().map(component_json).collect();
        value["consumers"] = consumers
            .iter()
            .map(|k| Value::String(k.to_string()))
            .collect();
        output::json(&value);
        return Ok(());
    }
    println!("key          {}", entry.key);
    println!("function     {}", entry.function);
    println!("fingerprint  {}", entry.fingerprint);
    println!("created      {}", when(entry.created));
    println!("last used    {}", when(entry.last_used));
    println!(
        "expires      {}",
        entry.expires.map_or_else(|| "never".into(), when)
    );
    println!(
        "tags         {}",
        if entry.tags.is_empty() {
            "-".into()
        } else {
            entry.tags.join(", ")
        }
    );
    println!("args         {}", shown_args(&entry, &outputs));
    println!("output       {}", entry.output);
    println!("size         {}", bytes(entry.size));
    section("components", components.is_empty(), "(not recorded)");
    let width = components.iter().map(|c| c.path.len()).max().unwrap_or(0);
    for c in &components {
        println!(
            "  {:<7} {:<width$}  {}  {}",
            c.kind,
            c.path,
            c.hash.short(),
            c.location
        );
    }
    section("inputs", entry.inputs.is_empty(), "-");
    for input in &entry.inputs {
        let from = outputs.get(input).map_or_else(
            || "(not in this store)".into(),
            |e| format!("from {} {}", short(&e.key), e.function),
        );
        println!("  {}  {from}", input.short());
    }
    section("fed", consumers.is_empty(), "-");
    for consumer in &consumers {
        let function = store
            .entry(consumer)
            .ok()
            .flatten()
            .map_or_else(String::new, |e| e.function);
        println!("  {}  {function}", consumer.short());
    }
    Ok(())
}

/// An entry's arguments as `show` prints them: each `Memo` argument's hash followed by
/// the function that produced it, when this store has it.
fn shown_args(entry: &Entry, outputs: &HashMap<memo_runtime::Digest, Entry>) -> String {
    let Some(args) = &entry.args else {
        return "(not recorded)".into();
    };
    let mut shown = args.clone();
    for input in &entry.inputs {
        if let Some(from) = outputs.get(input) {
            let hash = format!("#{}", input.short());
            shown = shown.replace(&hash, &format!("{hash} (from {})", from.function));
        }
    }
    shown
}

/// A heading of `show`, with `empty` beside it when nothing follows.
fn section(name: &str, is_empty: bool, empty: &str) {
    if is_empty {
        println!("{name:<12} {empty}");
    } else {
        println!("{name}");
    }
}

fn component_json(c: &Component) -> Value {
    json!({ "kind": c.kind, "path": c.path, "location": c.location, "hash": c.hash.to_string() })
}

pub fn get(store: &Store, key: &str, out: Option<&Path>, raw: bool, json: bool) -> Result {
    let entry = entry_by_prefix(store, key)?;
    let blob = store
        .result(&entry.key)
        .map_err(fail)?
        .ok_or_else(|| "the result is missing or damaged; `memo verify` repairs the store, and the next call recomputes it".to_owned())?;
    if let Some(path) = out {
        std::fs::write(path, &blob).map_err(|e| format!("cannot write {}: {e}", path.display()))?;
        eprintln!(
            "memo: wrote {} to {}",
            bytes(blob.len() as u64),
            path.display()
        );
        return Ok(());
    }
    let type_name = output_type(store, &entry);
    let rendered = (!raw).then(|| render(&type_name, &blob)).flatten();
    match (json, rendered) {
        (true, rendered) => output::json(&json!({
            "key": entry.key.to_string(),
            "type": type_name,
            "size": blob.len(),
            "value": rendered,
        })),
        (false, Some(value)) => println!(
            "{}",
            serde_json::to_string_pretty(&value).expect("JSON values print")
        ),
        (false, None) if raw || !std::io::stdout().is_terminal() => std::io::stdout()
            .write_all(&blob)
            .map_err(|e| format!("cannot write the result: {e}"))?,
        (false, None) => {
            println!(
                "{} of postcard-encoded `{}`; write them with -o FILE or --raw",
                bytes(blob.len() as u64),
                if type_name.is_empty() {
                    "?"
                } else {
                    &type_name
                }
            );
            for chunk in blob.chunks(16).take(16) {
                let hex: Vec<String> = chunk.iter().map(|b| format!("{b:02x}")).collect();
                println!("  {}", hex.join(" "));
            }
            if blob.len() > 256 {
                println!("  ...");
            }
        }
    }
    Ok(())
}

pub fn fns(store: &Store, json: bool) -> Result {
    let functions = store.functions().map_err(fail)?;
    let entries = store.entries().map_err(fail)?;
    let rows: Vec<(String, String, String, usize, usize, usize)> = functions
        .iter()
        .map(|f| {
            let own = entries.iter().filter(|e| e.function == f.name);
            let (total, stale) = own.fold((0, 0), |(t, s), e| {
                (t + 1, s + usize::from(e.fingerprint != f.current))
            });
            (
                f.name.clone(),
                f.current.to_string(),
                format!("{}:{}", f.file, f.line),
                f.versions.len(),
                total,
                stale,
            )
        })
        .collect();
    if json {
        let list: Vec<Value> = rows
            .iter()
            .map(|(name, fp, location, versions, total, stale)| {
                json!({
                    "name": name, "fingerprint": fp, "location": location,
                    "versions": versions, "entries": total, "stale": stale,
                })
            })
            .collect();
        output::json(&list);
        return Ok(());
    }
    if rows.is_empty() {
        println!("no functions");
        return Ok(());
    }
    let table_rows: Vec<Vec<String>> = rows
        .iter()
        .map(|(name, fp, location, versions, total, stale)| {
            vec![
                name.clone(),
                fp[..12].to_owned(),
                total.to_string(),
                stale.to_string(),
                versions.to_string(),
                location.clone(),
            ]
        })
        .collect();
    table(
        &[
            "FUNCTION",
            "FINGERPRINT",
            "ENTRIES",
            "STALE",
            "VERSIONS",
            "DEFINED",
        ],
        &table_rows,
    );
    Ok(())
}

pub fn explain(
    store: &Store,
    function: &str,
    fingerprints: &[String],
    diff: bool,
    json: bool,
) -> Result {
    let name = function_name(store, function)?;
    let record = store
        .function(&name)
        .map_err(fail)?
        .ok_or_else(|| format!("no record of `{name}`"))?;
    let current = record
        .versions
        .iter()
        .find(|v| v.fingerprint == record.current)
        .ok_or_else(|| format!("the record of `{name}` lacks its current version"))?;
    let (old, new) = match fingerprints {
        [] => {
            let mut others: Vec<_> = record
                .versions
                .iter()
                .filter(|v| v.fingerprint != record.current)
                .collect();
            others.sort_by_key(|v| std::cmp::Reverse(v.last_seen_ms));
            (others.first().copied(), current)
        }
        [one] => (Some(fingerprint_by_prefix(&record.versions, one)?), current),
        [a, b, ..] => (
            Some(fingerprint_by_prefix(&record.versions, a)?),
            fingerprint_by_prefix(&record.versions, b)?,
        ),
    };
    let with_source = |version: &FunctionVersion| {
        let mut version = version.clone();
        if diff {
            // A version recorded without its text still says what changed, not how.
            let _ = store.load_sources(&mut version);
        }
        version
    };
    let changes: Vec<Change> = old
        .map(|old| diff_components(&with_source(old).components, &with_source(new).components))
        .unwrap_or_default();
    if json {
        output::json(&json!({
            "function": name,
            "fingerprint": new.fingerprint.to_string(),
            "components": new.components.iter().map(component_json).collect::<Vec<_>>(),
            "compared_with": old.map(|o| o.fingerprint.to_string()),
            "changes": changes.iter().map(|c| json!({
                "change": c.change.to_string(), "kind": c.kind, "path": c.path, "location": c.location,
                "diff": c.diff,
            })).collect::<Vec<_>>(),
        }));
        return Ok(());
    }
    println!("{name}, fingerprint {}", new.fingerprint.short());
    let rows: Vec<Vec<String>> = new
        .components
        .iter()
        .map(|c| {
            vec![
                c.kind.clone(),
                c.path.clone(),
                c.hash.short(),
                c.location.clone(),
            ]
        })
        .collect();
    table(&["KIND", "PATH", "HASH", "WHERE"], &rows);
    match old {
        None => println!("\nno other version of `{name}` has used this store"),
        Some(old) => {
            println!(
                "\nchanged since {}: {}",
                old.fingerprint.short(),
                count(changes.len() as u64, "component", "components")
            );
            for c in &changes {
                println!("  {:<8} {:<7} {}  {}", c.change, c.kind, c.path, c.location);
                print_diff(c, diff);
            }
            if diff
                && changes
                    .iter()
                    .any(|c| c.diff.is_none() && c.kind != "crate")
            {
                println!(
                    "\n(a version without its code recorded shows what changed, not how: it ran with memo's `source` feature off, or an older memo)"
                );
            }
        }
    }
    println!(
        "\n{} of `{name}` seen; `memo gc --stale` drops entries of older ones",
        count(record.versions.len() as u64, "version", "versions")
    );
    Ok(())
}
