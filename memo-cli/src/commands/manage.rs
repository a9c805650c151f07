//! The commands that change the store: invalidate, rm, gc, clear, verify.

use std::time::Duration;

use memo_runtime::{Gc, Store};
use serde_json::json;

use super::{Result, entry_by_prefix, fail, function_name, short};
use crate::output::{self, bytes, count};
use crate::progress;

pub fn invalidate(store: &Store, tag: Option<String>, function: Option<String>) -> Result {
    let (removed, what) = match (tag, function) {
        (Some(tag), _) => (
            store.invalidate_tag(&tag).map_err(fail)?,
            format!("tag `{tag}`"),
        ),
        (None, Some(function)) => {
            // Held by a running program, the store lists nothing here: the name is given
            // to the holder as it is written (in full, `module::function`).
            let name = match function_name(store, &function) {
                Err(_) if store.is_served() => function,
                other => other?,
            };
            (
                store.invalidate_fn(&name).map_err(fail)?,
                format!("function `{name}`"),
            )
        }
        (None, None) => return Err("say what to invalidate: --tag TAG or --fn NAME".into()),
    };
    println!(
        "removed {} of {what}",
        count(removed as u64, "entry", "entries")
    );
    Ok(())
}

pub fn rm(store: &Store, key: &str) -> Result {
    // Held by a running program, a whole key goes to the holder: it lists nothing here.
    if store.is_served()
        && let Ok(key) = key.trim().parse::<memo_runtime::Digest>()
    {
        let removed = store.remove(&key).map_err(fail)?;
        println!(
            "{} {}",
            if removed { "removed" } else { "no entry" },
            short(&key)
        );
        return Ok(());
    }
    let entry = entry_by_prefix(store, key)?;
    store.remove(&entry.key).map_err(fail)?;
    println!("removed {} ({})", short(&entry.key), entry.function);
    Ok(())
}

pub struct GcChoice {
    pub expired: bool,
    pub stale: bool,
    pub older_than: Option<Duration>,
    pub unused_for: Option<Duration>,
    pub max_size: Option<u64>,
}

pub fn gc(store: &Store, choice: GcChoice, json: bool) -> Result {
    let any = choice.stale
        || choice.older_than.is_some()
        || choice.unused_for.is_some()
        || choice.max_size.is_some();
    let mut policy = Gc::new();
    if choice.expired || !any {
        policy = policy.expired();
    }
    if choice.stale {
        policy = policy.stale();
    }
    if let Some(age) = choice.older_than {
        policy = policy.older_than(age);
    }
    if let Some(age) = choice.unused_for {
        policy = policy.unused_for(age);
    }
    if let Some(size) = choice.max_size {
        policy = policy.max_bytes(size);
    }
    let spinner = progress::bar("gc");
    spinner.enable_steady_tick(Duration::from_millis(120));
    let report = store.gc(&policy).map_err(fail)?;
    spinner.finish_and_clear();
    if json {
        output::json(&json!({
            "entries_removed": report.entries_removed,
            "blobs_removed": report.blobs_removed,
            "bytes_freed": report.bytes_freed,
            "disk_bytes_freed": report.disk_bytes_freed,
        }));
    } else {
        println!(
            "removed {} and {}, freeing {}",
            count(report.entries_removed, "entry", "entries"),
            count(report.blobs_removed, "blob", "blobs"),
            bytes(report.bytes_freed)
        );
        if report.disk_bytes_freed > 0 {
            println!(
                "compacted the store file by {}",
                bytes(report.disk_bytes_freed)
            );
        }
    }
    Ok(())
}

pub fn clear(store: &Store) -> Result {
    // Held by a running program, the store counts nothing here: the holder clears it.
    let entries = match store.stats() {
        Err(_) if store.is_served() => None,
        other => Some(other.map_err(fail)?.entries),
    };
    store.clear().map_err(fail)?;
    match entries {
        Some(entries) => println!("removed {}", count(entries, "entry", "entries")),
        None => println!("cleared, through the process holding the store"),
    }
    Ok(())
}

pub fn verify(store: &Store, json: bool) -> Result {
    let bar = progress::bar("verify");
    let report = store.verify(&mut progress::track(&bar)).map_err(fail)?;
    bar.finish_and_clear();
    print_verify(&report, json);
    Ok(())
}

/// Says what a verification found and removed.
pub fn print_verify(report: &memo_runtime::VerifyReport, json: bool) {
    if json {
        output::json(&json!({
            "blobs_checked": report.blobs_checked,
            "entries_checked": report.entries_checked,
            "bad_blobs": report.bad_blobs.iter().map(ToString::to_string).collect::<Vec<_>>(),
            "bad_entries": report.bad_entries,
            "forged_entries": report.forged_entries,
            "clean": report.is_clean(),
        }));
    } else if report.is_clean() {
        println!(
            "ok: {} and {} checked, nothing damaged",
            count(report.blobs_checked, "blob", "blobs"),
            count(report.entries_checked, "entry", "entries")
        );
    } else {
        println!(
            "damaged: {} removed of {}, {} removed of {}; what is removed is recomputed on its next call",
            count(report.bad_blobs.len() as u64, "blob", "blobs"),
            report.blobs_checked,
            count(report.bad_entries, "entry", "entries"),
            report.entries_checked
        );
        for hash in &report.bad_blobs {
            println!("  bad blob {}", hash.short());
        }
        if report.forged_entries > 0 {
            println!(
                "forged: {} removed, not bound to their key by the store's secret (written by something that does not know it, or altered)",
                count(report.forged_entries, "entry", "entries")
            );
        }
    }
}
