//! `memo doctor` and `memo verify --repair`: the state of a store, and its repair.

use std::path::Path;

use memo_runtime::{Diagnosis, Store};
use serde_json::json;

use super::{Result, fail};
use crate::output::{self, bytes, count, when};

pub fn doctor(dir: &Path, json: bool) -> Result {
    let d = Store::diagnose(dir);
    if json {
        output::json(&json!({
            "dir": d.dir,
            "engine": d.engine,
            "file": d.file,
            "file_bytes": d.file_bytes,
            "format": d.format.as_ref().ok(),
            "problem_opening": d.format.as_ref().err(),
            "holder": d.holder.map(|h| json!({ "pid": h.pid, "running": h.running })),
            "entries": d.entries,
            "damaged_copy": d.damaged_copy.as_ref().map(|(path, size, at)| json!({
                "path": path, "bytes": size, "moved_ms": ms(*at),
            })),
            "last_problem": d.last_problem.as_ref().map(|p| json!({
                "at_ms": ms(p.at), "pid": p.pid, "message": p.message,
            })),
            "healthy": d.is_healthy(),
        }));
        return Ok(());
    }
    println!("store        {}", d.dir.display());
    println!(
        "engine       {} ({}, {})",
        d.engine,
        d.file.display(),
        d.file_bytes.map_or_else(|| "missing".into(), bytes)
    );
    match &d.format {
        Ok(version) => println!("format       {version}"),
        Err(problem) => println!("format       unreadable: {problem}"),
    }
    println!("holder       {}", holder(&d));
    println!(
        "entries      {}",
        d.entries.map_or_else(|| "-".into(), |n| n.to_string())
    );
    match &d.damaged_copy {
        Some((path, size, at)) => println!(
            "damaged copy {} ({}, moved aside {})",
            path.display(),
            bytes(*size),
            when(*at)
        ),
        None => println!("damaged copy -"),
    }
    match &d.last_problem {
        Some(p) => println!("last problem {} (pid {}): {}", when(p.at), p.pid, p.message),
        None => println!("last problem -"),
    }
    if d.is_healthy() {
        println!("\nhealthy");
    } else {
        println!("\nnot healthy: {}", advice(&d));
    }
    Ok(())
}

fn holder(d: &Diagnosis) -> String {
    match d.holder {
        None => "-".into(),
        Some(h) if h.running => format!("pid {} (running)", h.pid),
        Some(h) => format!("pid {} (not running; the next program takes over)", h.pid),
    }
}

fn advice(d: &Diagnosis) -> &'static str {
    match &d.format {
        Err(problem) if problem.contains("in use by another process") => {
            "another process holds the store; wait for it to exit"
        }
        Err(problem) if problem.contains("format version") => {
            "the store is of another memo version; remove the directory to start a new one"
        }
        Err(problem) if problem.contains("is refused") => {
            "the directory is not yours alone: own it and let nobody else write to it (`chmod go-w`), or use another"
        }
        _ => "`memo verify --repair` moves the damaged file aside and starts a fresh store",
    }
}

fn ms(at: std::time::SystemTime) -> u64 {
    at.duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// Repairs the store in `dir`: replaces a damaged file, or verifies a sound one.
pub fn repair(dir: &Path, json: bool) -> Result {
    match Store::repair(dir).map_err(fail)? {
        Some(report) => {
            super::manage::print_verify(&report, json);
            Ok(())
        }
        None => {
            let d = Store::diagnose(dir);
            let kept = d.damaged_copy.as_ref().map_or_else(
                || "it could not be kept".into(),
                |(p, ..)| p.display().to_string(),
            );
            if json {
                output::json(&json!({
                    "repaired": true,
                    "damaged_copy": d.damaged_copy.as_ref().map(|(p, ..)| p),
                    "entries": d.entries,
                    "problem": d.last_problem.as_ref().map(|p| &p.message),
                }));
            } else {
                println!(
                    "repaired: the database file was damaged; it is kept as {kept}, and a fresh store \
                     ({}) took its place",
                    count(d.entries.unwrap_or(0), "entry", "entries")
                );
            }
            Ok(())
        }
    }
}
