//! The lineage of a store's `Memo` chains as a graph: its entries, and which fed which
//! (an entry's inputs are the content hashes of the results it was called with).

use std::collections::{BTreeMap, BTreeSet, HashMap};

use memo_runtime::{Digest, Entry};

use crate::output::bytes;

/// One box of the drawing: an entry, or an input this store does not hold.
pub struct Node {
    pub id: String,
    /// Its lines of text: function, key, size.
    pub label: Vec<String>,
    /// An entry of an older version of its function's code.
    pub stale: bool,
    /// An input named by an entry whose producer is not in the store.
    pub missing: bool,
}

/// The lineage: nodes, and edges from producer to consumer (indexes into `nodes`).
pub struct Graph {
    pub nodes: Vec<Node>,
    pub edges: Vec<(usize, usize)>,
}

/// The lineage of `start` (every ancestor and descendant of those entries), or, when it
/// is empty, of every entry that feeds or is fed by another.
pub fn lineage(entries: &[Entry], current: &HashMap<String, Digest>, start: &[Digest]) -> Graph {
    let by_key: HashMap<Digest, &Entry> = entries.iter().map(|e| (e.key, e)).collect();
    let mut producers: HashMap<Digest, Vec<Digest>> = HashMap::new();
    let mut consumers: HashMap<Digest, Vec<Digest>> = HashMap::new();
    for entry in entries {
        producers.entry(entry.output).or_default().push(entry.key);
        for input in &entry.inputs {
            consumers.entry(*input).or_default().push(entry.key);
        }
    }
    // The entries drawn, and the inputs whose producers are not here.
    let mut drawn: BTreeSet<Digest> = BTreeSet::new();
    let mut missing: BTreeSet<Digest> = BTreeSet::new();
    if start.is_empty() {
        for entry in entries {
            if !entry.inputs.is_empty() || consumers.contains_key(&entry.output) {
                drawn.insert(entry.key);
            }
        }
    } else {
        // Up through the inputs, down through the consumers, from each start.
        let mut up: Vec<Digest> = start.to_vec();
        while let Some(key) = up.pop() {
            if drawn.insert(key) {
                for input in &by_key[&key].inputs {
                    up.extend(producers.get(input).into_iter().flatten());
                }
            }
        }
        let mut down: Vec<Digest> = start.to_vec();
        let mut seen: BTreeSet<Digest> = BTreeSet::new();
        while let Some(key) = down.pop() {
            if seen.insert(key) {
                drawn.insert(key);
                let output = by_key[&key].output;
                down.extend(consumers.get(&output).into_iter().flatten());
            }
        }
    }
    for key in &drawn {
        for input in &by_key[key].inputs {
            if !producers.contains_key(input) {
                missing.insert(*input);
            }
        }
    }
    let mut nodes = Vec::new();
    let mut index: BTreeMap<Digest, usize> = BTreeMap::new();
    for key in &drawn {
        let entry = by_key[key];
        index.insert(*key, nodes.len());
        nodes.push(Node {
            id: key.to_string(),
            label: vec![
                entry.function.clone(),
                format!("{}  {}", key.short(), bytes(entry.size)),
            ],
            stale: current
                .get(&entry.function)
                .is_some_and(|fp| *fp != entry.fingerprint),
            missing: false,
        });
    }
    let mut missing_index: BTreeMap<Digest, usize> = BTreeMap::new();
    for input in &missing {
        missing_index.insert(*input, nodes.len());
        nodes.push(Node {
            id: input.to_string(),
            label: vec!["(not in this store)".into(), input.short()],
            stale: false,
            missing: true,
        });
    }
    let mut edges = Vec::new();
    for key in &drawn {
        let to = index[key];
        for input in &by_key[key].inputs {
            match producers.get(input) {
                Some(from) => edges.extend(
                    from.iter()
                        .filter_map(|producer| index.get(producer))
                        .map(|from| (*from, to)),
                ),
                None => edges.push((missing_index[input], to)),
            }
        }
    }
    edges.sort_unstable();
    edges.dedup();
    Graph { nodes, edges }
}

/// The graph in Graphviz's language.
pub fn dot(graph: &Graph) -> String {
    let quote = |text: &str| text.replace('\\', "\\\\").replace('"', "\\\"");
    let mut out = String::from("digraph memo {\n  rankdir=LR;\n  node [shape=box];\n");
    for node in &graph.nodes {
        let style = match (node.missing, node.stale) {
            (true, _) => ", style=dotted",
            (false, true) => ", style=dashed",
            _ => "",
        };
        let label: Vec<String> = node.label.iter().map(|line| quote(line)).collect();
        out.push_str(&format!(
            "  \"{}\" [label=\"{}\"{style}];\n",
            node.id,
            label.join("\\n")
        ));
    }
    for (from, to) in &graph.edges {
        out.push_str(&format!(
            "  \"{}\" -> \"{}\";\n",
            graph.nodes[*from].id, graph.nodes[*to].id
        ));
    }
    out.push_str("}\n");
    out
}
