//! `memo history`: every version of one call the store still holds — the entries of the
//! same function and arguments under each version of its code, oldest first, and whether
//! each one's output changed from the version before.

use memo_runtime::Store;
use serde_json::json;

use super::{Result, entry_by_prefix, fail, short};
use crate::output::{relative, table};

pub fn history(store: &Store, key: &str, json: bool) -> Result {
    let entry = entry_by_prefix(store, key)?;
    let Some(call) = entry.call else {
        return Err(format!(
            "entry {} does not say which call it is (it was stored before stores kept that); its history is itself",
            short(&entry.key)
        ));
    };
    let current = store
        .function(&entry.function)
        .map_err(fail)?
        .map(|f| f.current);
    let mut versions: Vec<_> = store
        .entries()
        .map_err(fail)?
        .into_iter()
        .filter(|e| e.call == Some(call))
        .collect();
    versions.sort_by(|a, b| a.created.cmp(&b.created).then(a.key.cmp(&b.key)));
    let changed: Vec<Option<bool>> = versions
        .iter()
        .enumerate()
        .map(|(at, e)| {
            at.checked_sub(1)
                .map(|before| versions[before].output != e.output)
        })
        .collect();
    if json {
        crate::output::json(&json!({
            "call": call.to_string(),
            "function": entry.function,
            "args": entry.args,
            "versions": versions.iter().zip(&changed).map(|(e, changed)| json!({
                "key": e.key.to_string(),
                "fingerprint": e.fingerprint.to_string(),
                "current": Some(e.fingerprint) == current,
                "created": crate::output::epoch(e.created),
                "output": e.output.to_string(),
                "output_changed": changed,
            })).collect::<Vec<_>>(),
        }));
        return Ok(());
    }
    println!("call       {}  {}", call.short(), entry.function);
    println!(
        "args       {}",
        entry.args.as_deref().unwrap_or("(not recorded)")
    );
    let rows: Vec<Vec<String>> = versions
        .iter()
        .zip(&changed)
        .map(|(e, changed)| {
            let code = if Some(e.fingerprint) == current {
                format!("{} (current)", e.fingerprint.short())
            } else {
                e.fingerprint.short()
            };
            vec![
                code,
                short(&e.key),
                relative(e.created),
                e.output.short(),
                match changed {
                    None => "-".into(),
                    Some(true) => "changed".into(),
                    Some(false) => "same".into(),
                },
            ]
        })
        .collect();
    table(
        &["CODE", "KEY", "CREATED", "OUTPUT", "OUTPUT VS BEFORE"],
        &rows,
    );
    Ok(())
}
