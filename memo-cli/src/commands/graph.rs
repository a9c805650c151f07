//! `memo graph`: the lineage of `Memo` chains — which entries fed which — as DOT, as an
//! SVG drawn here (no Graphviz needed), or as JSON.

use std::collections::HashMap;

use memo_runtime::{Digest, Store};
use serde_json::json;

use super::{Result, entry_by_prefix, fail, function_name};
use crate::cli::GraphFormat;
use crate::lineage::{dot, lineage};
use crate::svg;

/// What `memo graph` draws: around one entry, around a function's entries, or every
/// entry that takes part in a chain.
pub enum Around<'a> {
    Key(&'a str),
    Function(&'a str),
    Chains,
}

pub fn graph(store: &Store, around: Around<'_>, format: GraphFormat, json: bool) -> Result {
    let entries = store.entries().map_err(fail)?;
    let current: HashMap<String, Digest> = store
        .functions()
        .map_err(fail)?
        .into_iter()
        .map(|f| (f.name, f.current))
        .collect();
    let start: Vec<Digest> = match around {
        Around::Key(prefix) => vec![entry_by_prefix(store, prefix)?.key],
        Around::Function(name) => {
            let name = function_name(store, name)?;
            entries
                .iter()
                .filter(|e| e.function == name)
                .map(|e| e.key)
                .collect()
        }
        Around::Chains => Vec::new(),
    };
    let graph = lineage(&entries, &current, &start);
    if json {
        crate::output::json(&json!({
            "nodes": graph.nodes.iter().map(|n| json!({
                "id": n.id, "label": n.label, "stale": n.stale, "missing": n.missing,
            })).collect::<Vec<_>>(),
            "edges": graph.edges.iter().map(|(from, to)| json!({
                "from": graph.nodes[*from].id, "to": graph.nodes[*to].id,
            })).collect::<Vec<_>>(),
        }));
        return Ok(());
    }
    if graph.nodes.is_empty() {
        eprintln!("memo: no entry here is part of a `Memo` chain");
    }
    match format {
        GraphFormat::Dot => print!("{}", dot(&graph)),
        GraphFormat::Svg => print!("{}", svg::render(&graph)),
    }
    Ok(())
}
