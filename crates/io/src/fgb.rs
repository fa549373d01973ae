//! FlatGeobuf features read straight from their flatbuffer bytes.
//!
//! The `flatgeobuf` crate runs the flatbuffers verifier over a feature's whole buffer before
//! anything is read from it (every table, vtable and vector: about 7% of `gridmap assign`'s
//! CPU on a million footprints), and then reads without checks. Here each read is
//! bounds-checked as it is made instead, and the fields gridmap does not use (z, m, t, tm, the
//! per-feature columns) are never visited. A damaged feature is still an error, never a panic
//! and never a read outside its own bytes; the tests hold the answers to the `flatgeobuf`
//! crate's on files it wrote, and feed damaged bytes. The file's header is still read by the
//! crate (once a file).
//!
//! The layout (flatbuffers): a buffer starts with the offset of its root table; a table starts
//! with the signed offset back to its vtable; a vtable is its own length, the table's length,
//! then one 16-bit offset per field (0: absent). A vector or table field holds an offset
//! relative to itself; a vector starts with its length in elements.

/// What was wrong with a damaged feature.
pub(crate) type Damaged = &'static str;

const OUTSIDE: Damaged = "an offset points outside the feature";

fn bytes<const N: usize>(buf: &[u8], at: usize) -> Result<[u8; N], Damaged> {
    buf.get(at..at.checked_add(N).ok_or(OUTSIDE)?)
        .and_then(|b| b.try_into().ok())
        .ok_or(OUTSIDE)
}

fn u16_at(buf: &[u8], at: usize) -> Result<u16, Damaged> {
    bytes(buf, at).map(u16::from_le_bytes)
}

fn u32_at(buf: &[u8], at: usize) -> Result<usize, Damaged> {
    bytes(buf, at).map(|b| u32::from_le_bytes(b) as usize)
}

/// A table: its position in the buffer and its vtable.
#[derive(Clone, Copy)]
struct Table<'a> {
    buf: &'a [u8],
    pos: usize,
    vtable: &'a [u8],
}

impl<'a> Table<'a> {
    fn at(buf: &'a [u8], pos: usize) -> Result<Self, Damaged> {
        let back = i64::from(i32::from_le_bytes(bytes(buf, pos)?));
        let vt = usize::try_from(pos as i64 - back).map_err(|_| OUTSIDE)?;
        let len = u16_at(buf, vt)? as usize;
        if len < 4 || !len.is_multiple_of(2) {
            return Err("a table's vtable is malformed");
        }
        let vtable = buf.get(vt..vt + len).ok_or(OUTSIDE)?;
        Ok(Table { buf, pos, vtable })
    }

    /// Where field `id` lies, `None` when absent.
    fn field(&self, id: usize) -> Option<usize> {
        let at = 4 + 2 * id;
        let offset = self.vtable.get(at..at + 2)?;
        let offset = u16::from_le_bytes([offset[0], offset[1]]) as usize;
        (offset != 0).then_some(self.pos + offset)
    }

    /// Where the table or vector of field `id` lies, `None` when absent.
    fn target(&self, id: usize) -> Result<Option<usize>, Damaged> {
        let Some(at) = self.field(id) else {
            return Ok(None);
        };
        at.checked_add(u32_at(self.buf, at)?)
            .ok_or(OUTSIDE)
            .map(Some)
    }

    /// The elements of vector field `id` (each `size` bytes) as bytes, and where they start.
    fn vector(&self, id: usize, size: usize) -> Result<Option<(usize, &'a [u8])>, Damaged> {
        let Some(at) = self.target(id)? else {
            return Ok(None);
        };
        let len = u32_at(self.buf, at)?;
        let start = at + 4;
        let end = len
            .checked_mul(size)
            .and_then(|n| n.checked_add(start))
            .ok_or(OUTSIDE)?;
        let elements = self.buf.get(start..end).ok_or(OUTSIDE)?;
        Ok(Some((start, elements)))
    }

    fn table(&self, id: usize) -> Result<Option<Table<'a>>, Damaged> {
        match self.target(id)? {
            Some(at) => Table::at(self.buf, at).map(Some),
            None => Ok(None),
        }
    }

    fn u8_or(&self, id: usize, default: u8) -> Result<u8, Damaged> {
        match self.field(id) {
            Some(at) => self.buf.get(at).copied().ok_or(OUTSIDE),
            None => Ok(default),
        }
    }
}

/// One feature of a FlatGeobuf file.
pub(crate) struct Feature<'a> {
    /// The property buffer: (u16 column, value) pairs.
    pub properties: Option<&'a [u8]>,
    /// The geometry, `None` when null.
    pub geometry: Option<Geometry<'a>>,
}

impl<'a> Feature<'a> {
    /// Reads a feature from its bytes as stored, with their 4-byte size prefix.
    pub fn read(prefixed: &'a [u8]) -> Result<Self, Damaged> {
        let buf = prefixed.get(4..).ok_or(OUTSIDE)?;
        let root = Table::at(buf, u32_at(buf, 0)?)?;
        Ok(Feature {
            properties: root.vector(1, 1)?.map(|(_, b)| b),
            geometry: root.table(0)?.map(Geometry),
        })
    }
}

/// A FlatGeobuf geometry table.
#[derive(Clone, Copy)]
pub(crate) struct Geometry<'a>(Table<'a>);

impl<'a> Geometry<'a> {
    /// The geometry type as stored (0, unknown, when absent).
    pub fn kind(&self) -> Result<u8, Damaged> {
        self.0.u8_or(6, 0)
    }

    /// The coordinates, as pairs of little-endian doubles (a trailing lone x is dropped).
    pub fn xy(&self) -> Result<impl ExactSizeIterator<Item = geo::Coord> + 'a, Damaged> {
        let xy = self.0.vector(1, 8)?.map_or(&[][..], |(_, b)| b);
        Ok(xy.chunks_exact(16).map(|c| {
            let f = |b: &[u8]| f64::from_le_bytes(b.try_into().unwrap_or([0; 8]));
            geo::Coord {
                x: f(&c[..8]),
                y: f(&c[8..]),
            }
        }))
    }

    /// The end (in coordinate pairs) of each ring or line part, `None` when absent.
    pub fn ends(&self) -> Result<Option<impl ExactSizeIterator<Item = usize> + 'a>, Damaged> {
        Ok(self.0.vector(0, 4)?.map(|(_, b)| {
            b.chunks_exact(4)
                .map(|c| u32::from_le_bytes([c[0], c[1], c[2], c[3]]) as usize)
        }))
    }

    /// The parts of a multi-geometry, `None` when absent.
    pub fn parts(&self) -> Result<Option<Vec<Geometry<'a>>>, Damaged> {
        let Some((start, offsets)) = self.0.vector(7, 4)? else {
            return Ok(None);
        };
        (0..offsets.len() / 4)
            .map(|k| {
                let at = start + 4 * k;
                let table = at.checked_add(u32_at(self.0.buf, at)?).ok_or(OUTSIDE)?;
                Table::at(self.0.buf, table).map(Geometry)
            })
            .collect::<Result<Vec<_>, _>>()
            .map(Some)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use flatgeobuf::{ColumnType, FgbWriter, GeometryType};
    use geo::{Geometry as G, LineString, MultiPolygon, Polygon};
    use geozero::PropertyProcessor as _;

    fn square(x: f64, y: f64, side: f64) -> LineString {
        LineString::from(vec![
            (x, y),
            (x + side, y),
            (x + side, y + side),
            (x, y + side),
            (x, y),
        ])
    }

    /// A FlatGeobuf file written by the `flatgeobuf` crate: its features' bytes (prefixed).
    fn features(kind: GeometryType, geometries: Vec<G>) -> Vec<Vec<u8>> {
        let n = geometries.len();
        let mut fgb = FgbWriter::create("t", kind).unwrap();
        fgb.add_column("id", ColumnType::String, |_, col| col.nullable = true);
        for geometry in geometries {
            fgb.add_feature_geom(geometry, |f| {
                f.property(0, "id", &geozero::ColumnValue::String("a-1"))
                    .unwrap();
            })
            .unwrap();
        }
        let mut file = Vec::new();
        fgb.write(&mut file).unwrap();
        let header_len = u32::from_le_bytes(file[8..12].try_into().unwrap()) as usize;
        let header = flatgeobuf::size_prefixed_root_as_header(&file[8..]).unwrap();
        let mut pos = 12 + header_len;
        let (count, node) = (header.features_count() as usize, header.index_node_size());
        if node > 0 && count > 0 {
            pos += flatgeobuf::packed_r_tree::PackedRTree::index_size(count, node);
        }
        let mut out = Vec::new();
        while pos + 4 <= file.len() {
            let size = u32::from_le_bytes(file[pos..pos + 4].try_into().unwrap()) as usize;
            out.push(file[pos..pos + 4 + size].to_vec());
            pos += 4 + size;
        }
        assert_eq!(out.len(), n);
        out
    }

    fn multipolygons() -> Vec<G> {
        vec![
            G::MultiPolygon(MultiPolygon(vec![
                Polygon::new(square(0.0, 0.0, 4.0), vec![square(1.0, 1.0, 1.0)]),
                Polygon::new(square(10.0, 10.0, 1.0), vec![]),
            ])),
            G::MultiPolygon(MultiPolygon(vec![Polygon::new(
                square(121.5, 31.2, 0.1),
                vec![],
            )])),
        ]
    }

    #[test]
    fn reads_what_the_flatgeobuf_crate_reads() {
        for bytes in features(GeometryType::MultiPolygon, multipolygons()) {
            let theirs = flatgeobuf::size_prefixed_root_as_feature(&bytes).unwrap();
            let ours = Feature::read(&bytes).unwrap();
            assert_eq!(
                ours.properties,
                theirs.properties().map(|p| p.bytes()),
                "properties"
            );
            let (g, t) = (ours.geometry.unwrap(), theirs.geometry().unwrap());
            assert_eq!(g.kind().unwrap(), t.type_().0);
            let parts = g.parts().unwrap().unwrap();
            let their_parts = t.parts().unwrap();
            assert_eq!(parts.len(), their_parts.len());
            for (p, q) in parts.iter().zip(their_parts.iter()) {
                let xy: Vec<f64> = q.xy().unwrap().iter().collect();
                let ours: Vec<f64> = p.xy().unwrap().flat_map(|c| [c.x, c.y]).collect();
                assert_eq!(ours, xy);
                let ends: Option<Vec<usize>> = p.ends().unwrap().map(|e| e.collect());
                let theirs: Option<Vec<usize>> =
                    q.ends().map(|e| e.iter().map(|e| e as usize).collect());
                assert_eq!(ends, theirs);
            }
        }
    }

    #[test]
    fn a_polygon_without_parts_reads_its_rings() {
        let polygon = Polygon::new(square(0.0, 0.0, 4.0), vec![square(1.0, 1.0, 1.0)]);
        let bytes = &features(GeometryType::Polygon, vec![G::Polygon(polygon)])[0];
        let g = Feature::read(bytes).unwrap().geometry.unwrap();
        assert!(g.parts().unwrap().is_none());
        assert_eq!(g.xy().unwrap().len(), 10);
        assert_eq!(g.ends().unwrap().unwrap().collect::<Vec<_>>(), vec![5, 10]);
    }

    #[test]
    fn damaged_bytes_are_errors_not_panics() {
        let bytes = &features(GeometryType::MultiPolygon, multipolygons())[0];
        // Every truncation and every single-byte change: an answer or an error, no panic.
        let read = |b: &[u8]| -> Result<(), Damaged> {
            let f = Feature::read(b)?;
            if let Some(g) = f.geometry {
                g.kind()?;
                let _ = g.xy()?.count();
                let _ = g.ends()?.map(|e| e.count());
                for p in g.parts()?.unwrap_or_default() {
                    let _ = p.xy()?.count();
                    let _ = p.ends()?.map(|e| e.count());
                }
            }
            Ok(())
        };
        for len in 0..bytes.len() {
            let _ = read(&bytes[..len]);
        }
        assert!(read(&bytes[..bytes.len() / 2]).is_err());
        for at in 0..bytes.len() {
            for v in [0u8, 1, 0x7f, 0x80, 0xff] {
                let mut b = bytes.clone();
                b[at] = v;
                let _ = read(&b);
            }
        }
    }
}
