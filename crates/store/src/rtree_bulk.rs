//! Bulk loading of an SQLite R-tree: pack the boxes bottom-up (sort-tile-recursive) and write
//! the R-tree's three shadow tables directly, instead of a million one-by-one inserts each
//! choosing a leaf and splitting nodes. GDAL loads GeoPackage indexes the same way.
//!
//! The node format is SQLite's (`ext/rtree/rtree.c`): every node is a blob of the tree's node
//! size; bytes 0–1 hold the depth of the tree (read from the root only), bytes 2–3 the number of
//! cells, big-endian; each cell is an 8-byte big-endian rowid (or child node number) and the
//! box as big-endian 32-bit floats `minx, maxx, miny, maxy`, rounded outwards. Node 1 is the
//! root. `_rowid` maps each entry to its leaf, `_parent` each non-root node to its parent.
//! `rtreecheck()` verifies the result in the tests.

use rusqlite::{Transaction, params};

/// One node being built: its entries (rowid or child node number, box).
struct Node {
    cells: Vec<(i64, [f32; 4])>,
}

impl Node {
    fn bbox(&self) -> [f32; 4] {
        let mut b = [
            f32::INFINITY,
            f32::NEG_INFINITY,
            f32::INFINITY,
            f32::NEG_INFINITY,
        ];
        for (_, c) in &self.cells {
            b[0] = b[0].min(c[0]);
            b[1] = b[1].max(c[1]);
            b[2] = b[2].min(c[2]);
            b[3] = b[3].max(c[3]);
        }
        b
    }
}

fn down(v: f64) -> f32 {
    let f = v as f32;
    if f64::from(f) > v { f.next_down() } else { f }
}

fn up(v: f64) -> f32 {
    let f = v as f32;
    if f64::from(f) < v { f.next_up() } else { f }
}

/// Groups `items` into nodes of at most `cap`, sort-tile-recursive: vertical slices by box
/// centre x, each slice by centre y.
fn pack(mut items: Vec<(i64, [f32; 4])>, cap: usize) -> Vec<Node> {
    let cx = |b: &[f32; 4]| (b[0] + b[1]) / 2.0;
    let cy = |b: &[f32; 4]| (b[2] + b[3]) / 2.0;
    let leaves = items.len().div_ceil(cap);
    let slices = (leaves as f64).sqrt().ceil().max(1.0) as usize;
    let per_slice = slices * cap;
    items.sort_by(|a, b| cx(&a.1).total_cmp(&cx(&b.1)));
    let mut nodes = Vec::with_capacity(leaves);
    for slice in items.chunks_mut(per_slice) {
        slice.sort_by(|a, b| cy(&a.1).total_cmp(&cy(&b.1)));
        for chunk in slice.chunks(cap) {
            nodes.push(Node {
                cells: chunk.to_vec(),
            });
        }
    }
    nodes
}

fn blob(node: &Node, depth: u16, size: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(size);
    out.extend_from_slice(&depth.to_be_bytes());
    out.extend_from_slice(&(node.cells.len() as u16).to_be_bytes());
    for (id, b) in &node.cells {
        out.extend_from_slice(&id.to_be_bytes());
        for v in b {
            out.extend_from_slice(&v.to_be_bytes());
        }
    }
    out.resize(size, 0);
    out
}

/// Replaces the content of the (2-D) R-tree `name` with `boxes` (`rowid, [minx, maxx, miny,
/// maxy]`), packed bottom-up.
///
/// # Performance
/// O(n log n) for the sorts, then one insert per node and per entry into plain tables.
pub fn load(tx: &Transaction, name: &str, boxes: Vec<(i64, [f64; 4])>) -> rusqlite::Result<()> {
    let size: usize = tx.query_row(
        &format!("SELECT length(data) FROM \"{name}_node\" WHERE nodeno = 1"),
        [],
        |r| r.get(0),
    )?;
    let cap = ((size - 4) / 24).max(2);
    tx.execute_batch(&format!(
        "DELETE FROM \"{name}_node\"; DELETE FROM \"{name}_rowid\"; DELETE FROM \"{name}_parent\";"
    ))?;
    let items: Vec<(i64, [f32; 4])> = boxes
        .into_iter()
        .map(|(id, b)| (id, [down(b[0]), up(b[1]), down(b[2]), up(b[3])]))
        .collect();
    // Levels, leaves first; each level's nodes numbered after all higher levels' nodes.
    let mut levels: Vec<Vec<Node>> = vec![if items.is_empty() {
        vec![Node { cells: Vec::new() }]
    } else {
        pack(items, cap)
    }];
    while levels.last().is_some_and(|l| l.len() > 1) {
        let below = levels.last().map_or(0, Vec::len);
        // Children are numbered later; index in the level below stands in for now.
        let parents: Vec<(i64, [f32; 4])> = levels
            .last()
            .map(|l| {
                l.iter()
                    .enumerate()
                    .map(|(i, n)| (i as i64, n.bbox()))
                    .collect()
            })
            .unwrap_or_default();
        debug_assert_eq!(parents.len(), below);
        levels.push(pack(parents, cap));
    }
    // Node numbers: root = 1, then each level downwards.
    let mut first = vec![0i64; levels.len()];
    let mut next = 1i64;
    for (depth, level) in levels.iter().enumerate().rev() {
        first[depth] = next;
        next += level.len() as i64;
    }
    let depth = (levels.len() - 1) as u16;
    let mut node_stmt = tx.prepare(&format!("INSERT INTO \"{name}_node\" VALUES (?1, ?2)"))?;
    let mut parent_stmt = tx.prepare(&format!("INSERT INTO \"{name}_parent\" VALUES (?1, ?2)"))?;
    let mut rowid_stmt = tx.prepare(&format!(
        "INSERT INTO \"{name}_rowid\" (rowid, nodeno) VALUES (?1, ?2)"
    ))?;
    for (level_index, level) in levels.iter_mut().enumerate() {
        for (i, node) in level.iter_mut().enumerate() {
            let nodeno = first[level_index] + i as i64;
            if level_index > 0 {
                // Cells point at nodes of the level below: turn indices into node numbers, and
                // record the children's parent.
                for cell in node.cells.iter_mut() {
                    cell.0 += first[level_index - 1];
                    parent_stmt.execute(params![cell.0, nodeno])?;
                }
            } else {
                for (rowid, _) in &node.cells {
                    rowid_stmt.execute(params![rowid, nodeno])?;
                }
            }
            let d = if nodeno == 1 { depth } else { 0 };
            node_stmt.execute(params![nodeno, blob(node, d, size)])?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use rusqlite::Connection;

    fn check(n: usize) {
        let mut conn = Connection::open_in_memory().unwrap();
        conn.execute_batch("CREATE VIRTUAL TABLE t USING rtree(id, minx, maxx, miny, maxy)")
            .unwrap();
        let boxes: Vec<(i64, [f64; 4])> = (0..n)
            .map(|i| {
                let x = 121.0 + ((i * 7919) % 1000) as f64 * 1e-3;
                let y = 31.0 + ((i * 104_729) % 997) as f64 * 1e-3;
                (i as i64 + 1, [x, x + 2e-4, y, y + 1e-4])
            })
            .collect();
        let tx = conn.transaction().unwrap();
        load(&tx, "t", boxes.clone()).unwrap();
        tx.commit().unwrap();
        let ok: String = conn
            .query_row("SELECT rtreecheck('t')", [], |r| r.get(0))
            .unwrap();
        assert_eq!(ok, "ok", "{n} boxes");
        let count: i64 = conn
            .query_row("SELECT count(*) FROM t", [], |r| r.get(0))
            .unwrap();
        assert_eq!(count as usize, n);
        // Window queries find exactly what a scan finds.
        let (qx, qy) = (121.3, 31.4);
        let found: i64 = conn
            .query_row(
                "SELECT count(*) FROM t WHERE maxx >= ?1 AND minx <= ?2 AND maxy >= ?3 AND miny <= ?4",
                params![qx, qx + 0.1, qy, qy + 0.1],
                |r| r.get(0),
            )
            .unwrap();
        // Against the boxes as the R-tree stores them: rounded outwards to f32.
        let want = boxes
            .iter()
            .map(|(_, b)| [down(b[0]), up(b[1]), down(b[2]), up(b[3])].map(f64::from))
            .filter(|b| b[1] >= qx && b[0] <= qx + 0.1 && b[3] >= qy && b[2] <= qy + 0.1)
            .count();
        assert_eq!(found as usize, want);
        // The tree stays usable by SQLite's own inserts and deletes.
        conn.execute(
            "INSERT INTO t VALUES (?1, 120.0, 120.1, 30.0, 30.1)",
            [n as i64 + 10],
        )
        .unwrap();
        conn.execute("DELETE FROM t WHERE id = 1", []).unwrap();
        let ok: String = conn
            .query_row("SELECT rtreecheck('t')", [], |r| r.get(0))
            .unwrap();
        assert_eq!(ok, "ok");
    }

    #[test]
    fn packed_trees_pass_sqlites_own_check() {
        for n in [0, 1, 50, 167, 168, 5_000, 60_000] {
            check(n);
        }
    }
}
