//! A lineage graph drawn as SVG: nodes in columns by their depth in the chain (the longest
//! way from an entry that nothing fed), edges as curves from producer to consumer.

use std::fmt::Write;

use crate::lineage::Graph;

const WIDTH: usize = 220;
const HEIGHT: usize = 52;
const GAP_X: usize = 80;
const GAP_Y: usize = 24;
const MARGIN: usize = 20;

/// The column of each node: 0 for one nothing feeds, else one past its deepest producer.
fn columns(graph: &Graph) -> Vec<usize> {
    let mut column = vec![0; graph.nodes.len()];
    // Longest paths by relaxation: a lineage is acyclic (a result cannot feed its own
    // inputs), and the passes are bounded all the same.
    for _ in 0..graph.nodes.len() {
        let mut changed = false;
        for (from, to) in &graph.edges {
            if column[*to] < column[*from] + 1 {
                column[*to] = column[*from] + 1;
                changed = true;
            }
        }
        if !changed {
            break;
        }
    }
    column
}

/// Each node's (column, row): a column's nodes in the order of their producers' rows, so
/// that the edges of a chain do not cross.
fn places(graph: &Graph, column: &[usize]) -> Vec<(usize, usize)> {
    let columns = column.iter().max().map_or(0, |c| c + 1);
    let mut row = vec![0usize; graph.nodes.len()];
    for c in 0..columns {
        let mut here: Vec<(f64, usize)> = (0..graph.nodes.len())
            .filter(|n| column[*n] == c)
            .map(|n| {
                let fed_by: Vec<usize> = graph
                    .edges
                    .iter()
                    .filter(|(_, to)| *to == n)
                    .map(|(from, _)| row[*from])
                    .collect();
                let at = if fed_by.is_empty() {
                    n as f64
                } else {
                    fed_by.iter().sum::<usize>() as f64 / fed_by.len() as f64
                };
                (at, n)
            })
            .collect();
        here.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
        for (r, (_, n)) in here.into_iter().enumerate() {
            row[n] = r;
        }
    }
    column.iter().copied().zip(row).collect()
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// The SVG document.
pub fn render(graph: &Graph) -> String {
    let column = columns(graph);
    let place = places(graph, &column);
    let mut rows = vec![0usize; column.iter().max().map_or(0, |c| c + 1)];
    for (c, _) in &place {
        rows[*c] += 1;
    }
    let x = |c: usize| MARGIN + c * (WIDTH + GAP_X);
    let y = |r: usize| MARGIN + r * (HEIGHT + GAP_Y);
    let width = x(rows.len().max(1)) - GAP_X + MARGIN;
    let height = y(rows.iter().copied().max().unwrap_or(0).max(1)) - GAP_Y + MARGIN;
    let mut out = String::new();
    let _ = write!(
        out,
        r##"<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" viewBox="0 0 {width} {height}" font-family="monospace" font-size="12">
<defs><marker id="arrow" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="8" markerHeight="8" orient="auto"><path d="M0,0 L10,5 L0,10 z" fill="#555"/></marker></defs>
"##
    );
    for (from, to) in &graph.edges {
        let (fc, fr) = place[*from];
        let (tc, tr) = place[*to];
        let (x1, y1) = (x(fc) + WIDTH, y(fr) + HEIGHT / 2);
        let (x2, y2) = (x(tc), y(tr) + HEIGHT / 2);
        let bend = (x2.saturating_sub(x1) / 2).max(20);
        let _ = writeln!(
            out,
            r##"<path class="edge" d="M{x1},{y1} C{},{y1} {},{y2} {x2},{y2}" fill="none" stroke="#555" marker-end="url(#arrow)"/>"##,
            x1 + bend,
            x2.saturating_sub(bend),
        );
    }
    for (node, (c, r)) in graph.nodes.iter().zip(&place) {
        let dash = if node.missing {
            r#" stroke-dasharray="2,3""#
        } else if node.stale {
            r#" stroke-dasharray="6,4""#
        } else {
            ""
        };
        let fill = if node.stale || node.missing {
            "#f4f4f4"
        } else {
            "#eef4ff"
        };
        let _ = writeln!(
            out,
            r##"<g class="node" id="n{}"><title>{}</title><rect x="{}" y="{}" width="{WIDTH}" height="{HEIGHT}" rx="6" fill="{fill}" stroke="#345"{dash}/>"##,
            &node.id[..node.id.len().min(16)],
            escape(&node.id),
            x(*c),
            y(*r),
        );
        for (line, text) in node.label.iter().enumerate() {
            let mut shown: String = text.chars().take(28).collect();
            if text.chars().count() > 28 {
                shown.push('…');
            }
            let _ = writeln!(
                out,
                r#"<text x="{}" y="{}">{}</text>"#,
                x(*c) + 10,
                y(*r) + 20 + line * 18,
                escape(&shown)
            );
        }
        out.push_str("</g>\n");
    }
    out.push_str("</svg>\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lineage::Node;

    fn node(name: &str) -> Node {
        Node {
            id: name.into(),
            label: vec![name.into()],
            stale: false,
            missing: false,
        }
    }

    #[test]
    fn each_chain_keeps_its_row_so_edges_do_not_cross() {
        // One source, two branches whose last steps were listed in the other order.
        let graph = Graph {
            nodes: ["load", "clip a", "clip b", "sum b", "sum a"]
                .into_iter()
                .map(node)
                .collect(),
            edges: vec![(0, 1), (0, 2), (2, 3), (1, 4)],
        };
        let place = places(&graph, &columns(&graph));
        assert_eq!(place[0], (0, 0));
        assert_eq!(
            (place[1].0, place[2].0, place[3].0, place[4].0),
            (1, 1, 2, 2)
        );
        assert_eq!(place[4].1, place[1].1, "sum a beside clip a");
        assert_eq!(place[3].1, place[2].1, "sum b beside clip b");
        let svg = render(&graph);
        assert_eq!(svg.matches("class=\"node\"").count(), 5);
        assert_eq!(svg.matches("class=\"edge\"").count(), 4);
    }

    #[test]
    fn labels_are_escaped() {
        let graph = Graph {
            nodes: vec![node("<Vec<u8> & \"x\">")],
            edges: Vec::new(),
        };
        let svg = render(&graph);
        assert!(
            svg.contains("&lt;Vec&lt;u8&gt; &amp; &quot;x&quot;&gt;"),
            "{svg}"
        );
    }
}
