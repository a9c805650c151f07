//! export and import: a portable archive of a store.

use std::fs::File;
use std::io::BufWriter;
use std::path::Path;

use memo_runtime::{ArchiveReport, RemoteReport, Store};
use serde_json::json;

use super::{Result, fail};
use crate::output::{self, count};
use crate::progress;

fn report_json(report: &ArchiveReport) -> serde_json::Value {
    json!({
        "entries": report.entries,
        "blobs": report.blobs,
        "functions": report.functions,
        "skipped_entries": report.skipped_entries,
        "skipped_blobs": report.skipped_blobs,
        "refused_entries": report.refused_entries,
    })
}

pub fn export(store: &Store, file: &Path, json: bool) -> Result {
    // Owner-only, as the store it comes from: it holds every result.
    let mut options = File::options();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let out = options
        .open(file)
        .map_err(|e| format!("cannot create {}: {e}", file.display()))?;
    let bar = progress::bar("export");
    let report = store
        .export(BufWriter::new(out), &mut progress::track(&bar))
        .map_err(fail)?;
    bar.finish_and_clear();
    if json {
        output::json(&report_json(&report));
    } else {
        println!(
            "exported {} with {} to {}",
            count(report.entries, "entry", "entries"),
            count(report.blobs, "blob", "blobs"),
            file.display()
        );
    }
    Ok(())
}

pub fn import(store: &Store, file: &Path, trust: bool, json: bool) -> Result {
    let input = File::open(file).map_err(|e| format!("cannot open {}: {e}", file.display()))?;
    let bar = progress::bar("import");
    let report = if trust {
        store.import_trusting(input, &mut progress::track(&bar))
    } else {
        store.import(input, &mut progress::track(&bar))
    }
    .map_err(fail)?;
    bar.finish_and_clear();
    if json {
        output::json(&report_json(&report));
    } else {
        println!(
            "imported {} and {}; {} and {} were already here",
            count(report.entries, "entry", "entries"),
            count(report.blobs, "blob", "blobs"),
            count(report.skipped_entries, "entry", "entries"),
            count(report.skipped_blobs, "blob", "blobs")
        );
    }
    if report.refused_entries > 0 {
        eprintln!(
            "memo: refused {}: this store cannot check them (their MAC is not under its secret: another store's archive, an older memo's, or altered); `memo import --trust` imports them if you trust the archive",
            count(report.refused_entries, "entry", "entries")
        );
    }
    Ok(())
}

/// `memo remote push`.
pub fn push(store: &Store, json: bool) -> Result {
    let report = moved("push", json, |track| store.push_shared(track))?;
    if !json {
        println!(
            "pushed {}; {} already there, {} too large to share or expired",
            count(report.moved, "entry", "entries"),
            report.already,
            report.skipped
        );
    }
    Ok(())
}

/// `memo remote pull`.
pub fn pull(store: &Store, json: bool) -> Result {
    let report = moved("pull", json, |track| store.pull_shared(track))?;
    if !json {
        println!(
            "pulled {}; {} already here",
            count(report.moved, "entry", "entries"),
            report.already
        );
    }
    Ok(())
}

/// Runs a move to or from the shared tier under a progress bar labelled `what`; with
/// `json`, prints its report.
fn moved(
    what: &str,
    json: bool,
    run: impl FnOnce(&mut dyn FnMut(u64, u64)) -> memo_runtime::Result<RemoteReport>,
) -> Result<RemoteReport> {
    let bar = progress::bar(what);
    let report = run(&mut progress::track(&bar)).map_err(fail)?;
    bar.finish_and_clear();
    if json {
        output::json(&json!({
            "moved": report.moved,
            "already": report.already,
            "skipped": report.skipped,
        }));
    }
    Ok(report)
}
