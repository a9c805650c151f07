//! `memo diff`: how two entries differ — their function, its code (which components), their
//! arguments as far as the keys tell, and their outputs (a diff of the values, when both
//! can be shown).

use memo_runtime::{Entry, Store, diff_components};
use serde_json::{Value, json};

use super::inspect::{code_of, output_type, print_diff};
use super::{Result, entry_by_prefix, fail};
use crate::render::render;

/// What one side of the diff renders to, when its type is one memo can show.
fn rendered(store: &Store, entry: &Entry) -> Result<Option<Value>> {
    let Some(blob) = store.result(&entry.key).map_err(fail)? else {
        return Ok(None);
    };
    Ok(render(&output_type(store, entry), &blob))
}

/// Whether the arguments differ: by the calls the entries are (one call under two
/// versions of the code has the same arguments), by their recorded text, or as far as two
/// keys can say (the same function and code under two keys means other arguments).
fn arguments(a: &Entry, b: &Entry) -> String {
    let texts = |verb: &str| match (&a.args, &b.args) {
        (Some(x), Some(y)) if x != y => format!("{verb}: {x} / {y}"),
        (Some(x), _) | (_, Some(x)) => format!("{verb}: {x}"),
        _ => verb.to_owned(),
    };
    if a.key == b.key || (a.call.is_some() && a.call == b.call) {
        texts("same")
    } else if (a.function == b.function && a.fingerprint == b.fingerprint)
        || (a.call.is_some() && b.call.is_some() && a.function == b.function)
    {
        texts("differ")
    } else {
        match (&a.args, &b.args) {
            (Some(x), Some(y)) if x == y => "same text (the functions differ)".into(),
            (Some(x), Some(y)) => format!("differ: {x} / {y}"),
            _ => "unknown: the function or its code differs too, and a key tells nothing apart"
                .into(),
        }
    }
}

pub fn diff(store: &Store, a: &str, b: &str, json: bool) -> Result {
    let (a, b) = (entry_by_prefix(store, a)?, entry_by_prefix(store, b)?);
    let code = diff_components(&code_of(store, &a), &code_of(store, &b));
    let (value_a, value_b) = (rendered(store, &a)?, rendered(store, &b)?);
    let pretty = |v: &Value| serde_json::to_string_pretty(v).expect("JSON values print") + "\n";
    let output_diff = match (&value_a, &value_b) {
        (Some(va), Some(vb)) if a.output != b.output => Some(
            similar::TextDiff::from_lines(&pretty(va), &pretty(vb))
                .unified_diff()
                .context_radius(3)
                .header(&a.key.short(), &b.key.short())
                .to_string(),
        ),
        _ => None,
    };
    if json {
        crate::output::json(&json!({
            "a": a.key.to_string(),
            "b": b.key.to_string(),
            "function": { "same": a.function == b.function, "a": a.function, "b": b.function },
            "code": {
                "same": a.fingerprint == b.fingerprint,
                "a": a.fingerprint.to_string(),
                "b": b.fingerprint.to_string(),
                "changes": code.iter().map(|c| json!({
                    "change": c.change.to_string(), "kind": c.kind, "path": c.path, "location": c.location,
                    "diff": c.diff,
                })).collect::<Vec<_>>(),
            },
            "arguments": arguments(&a, &b),
            "output": {
                "same": a.output == b.output,
                "a": a.output.to_string(),
                "b": b.output.to_string(),
                "diff": output_diff,
            },
        }));
        return Ok(());
    }
    println!("a            {}  {}", a.key.short(), a.function);
    println!("b            {}  {}", b.key.short(), b.function);
    if a.function == b.function {
        println!("function     same");
    } else {
        println!("function     differs: {} / {}", a.function, b.function);
    }
    if a.fingerprint == b.fingerprint {
        println!("code         same (fingerprint {})", a.fingerprint.short());
    } else {
        println!(
            "code         differs: fingerprint {} / {}",
            a.fingerprint.short(),
            b.fingerprint.short()
        );
        if code.is_empty() && a.function == b.function {
            println!("  (the store has not recorded what one of them is made of)");
        }
        for c in &code {
            println!("  {:<8} {:<7} {}  {}", c.change, c.kind, c.path, c.location);
            print_diff(c, true);
        }
    }
    println!("arguments    {}", arguments(&a, &b));
    if a.output == b.output {
        println!("output       same ({})", a.output.short());
    } else {
        println!(
            "output       differs: {} / {}",
            a.output.short(),
            b.output.short()
        );
        match output_diff {
            Some(diff) => print!("{diff}"),
            None => println!("  (not shown: `memo get` each to compare them)"),
        }
    }
    Ok(())
}
