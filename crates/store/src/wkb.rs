//! GeoPackage binary geometries: the `GP` header with an XY envelope, then ISO WKB
//! (little-endian). Written and read here directly: it is the store's on-disk format, small,
//! and on the import hot path.

use geo::{Coord, Geometry, LineString, MultiLineString, MultiPoint, MultiPolygon, Point, Polygon};

/// Why a blob is not a geometry this store can read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not a readable GeoPackage geometry: {0}")]
pub struct BlobError(pub String);

/// Encodes `g` as a GeoPackage geometry blob with SRS id `srs` and its XY envelope.
pub fn encode(g: &Geometry, srs: i32) -> Vec<u8> {
    let mut out = Vec::with_capacity(64);
    out.extend_from_slice(b"GP");
    out.push(0); // version 1.0
    let env = envelope(g);
    let empty = env.is_none();
    // Little-endian, envelope [minx, maxx, miny, maxy] unless empty.
    out.push(if empty { 0b0001_0001 } else { 0b0000_0011 });
    out.extend_from_slice(&srs.to_le_bytes());
    if let Some([minx, maxx, miny, maxy]) = env {
        for v in [minx, maxx, miny, maxy] {
            out.extend_from_slice(&v.to_le_bytes());
        }
    }
    write_wkb(g, &mut out);
    out
}

/// The envelope `[minx, maxx, miny, maxy]` stored in a blob's header, if any.
pub fn blob_envelope(blob: &[u8]) -> Option<[f64; 4]> {
    if blob.len() < 8 || &blob[0..2] != b"GP" {
        return None;
    }
    let flags = blob[3];
    if flags & 0b0001_0000 != 0 || (flags >> 1) & 0b111 == 0 || flags & 1 == 0 {
        return None;
    }
    let f = |i: usize| {
        let s = 8 + 8 * i;
        blob.get(s..s + 8)
            .map(|b| f64::from_le_bytes([b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]]))
    };
    Some([f(0)?, f(1)?, f(2)?, f(3)?])
}

/// Whether the blob's header marks it empty.
pub fn blob_is_empty(blob: &[u8]) -> bool {
    blob.len() < 4 || blob[3] & 0b0001_0000 != 0
}

/// Decodes a GeoPackage geometry blob.
pub fn decode(blob: &[u8]) -> Result<Geometry, BlobError> {
    if blob.len() < 8 || &blob[0..2] != b"GP" {
        return Err(BlobError("missing the GP header".into()));
    }
    let flags = blob[3];
    let env_len = match (flags >> 1) & 0b111 {
        0 => 0,
        1 => 32,
        2 | 3 => 48,
        4 => 64,
        other => return Err(BlobError(format!("unknown envelope type {other}"))),
    };
    let mut r = Reader {
        buf: blob,
        pos: 8 + env_len,
        le: true,
    };
    r.geometry()
}

fn envelope(g: &Geometry) -> Option<[f64; 4]> {
    use geo::BoundingRect;
    let r = g.bounding_rect()?;
    Some([r.min().x, r.max().x, r.min().y, r.max().y])
}

fn put_u32(out: &mut Vec<u8>, v: u32) {
    out.extend_from_slice(&v.to_le_bytes());
}

fn put_coords(out: &mut Vec<u8>, cs: &[Coord]) {
    put_u32(out, cs.len() as u32);
    for c in cs {
        out.extend_from_slice(&c.x.to_le_bytes());
        out.extend_from_slice(&c.y.to_le_bytes());
    }
}

fn put_polygon(out: &mut Vec<u8>, p: &Polygon) {
    put_u32(out, 1 + p.interiors().len() as u32);
    put_coords(out, &p.exterior().0);
    for r in p.interiors() {
        put_coords(out, &r.0);
    }
}

fn header(out: &mut Vec<u8>, kind: u32) {
    out.push(1);
    put_u32(out, kind);
}

fn write_wkb(g: &Geometry, out: &mut Vec<u8>) {
    match g {
        Geometry::Point(p) => {
            header(out, 1);
            out.extend_from_slice(&p.x().to_le_bytes());
            out.extend_from_slice(&p.y().to_le_bytes());
        }
        Geometry::LineString(l) => {
            header(out, 2);
            put_coords(out, &l.0);
        }
        Geometry::Polygon(p) => {
            header(out, 3);
            put_polygon(out, p);
        }
        Geometry::MultiPoint(m) => {
            header(out, 4);
            put_u32(out, m.0.len() as u32);
            for p in &m.0 {
                write_wkb(&Geometry::Point(*p), out);
            }
        }
        Geometry::MultiLineString(m) => {
            header(out, 5);
            put_u32(out, m.0.len() as u32);
            for l in &m.0 {
                header(out, 2);
                put_coords(out, &l.0);
            }
        }
        Geometry::MultiPolygon(m) => {
            header(out, 6);
            put_u32(out, m.0.len() as u32);
            for p in &m.0 {
                header(out, 3);
                put_polygon(out, p);
            }
        }
        Geometry::GeometryCollection(c) => {
            header(out, 7);
            put_u32(out, c.0.len() as u32);
            for g in &c.0 {
                write_wkb(g, out);
            }
        }
        Geometry::Line(l) => {
            write_wkb(&Geometry::LineString(LineString(vec![l.start, l.end])), out)
        }
        Geometry::Rect(r) => write_wkb(&Geometry::Polygon(r.to_polygon()), out),
        Geometry::Triangle(t) => write_wkb(&Geometry::Polygon(t.to_polygon()), out),
    }
}

struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
    le: bool,
}

impl Reader<'_> {
    fn take<const N: usize>(&mut self) -> Result<[u8; N], BlobError> {
        let b = self
            .buf
            .get(self.pos..self.pos + N)
            .ok_or_else(|| BlobError("truncated WKB".into()))?;
        self.pos += N;
        let mut a = [0u8; N];
        a.copy_from_slice(b);
        Ok(a)
    }
    fn u32(&mut self) -> Result<u32, BlobError> {
        let b = self.take::<4>()?;
        Ok(if self.le {
            u32::from_le_bytes(b)
        } else {
            u32::from_be_bytes(b)
        })
    }
    fn f64(&mut self) -> Result<f64, BlobError> {
        let b = self.take::<8>()?;
        Ok(if self.le {
            f64::from_le_bytes(b)
        } else {
            f64::from_be_bytes(b)
        })
    }
    /// Reads a count, refusing counts the rest of the blob cannot hold.
    fn count(&mut self, min_item: usize) -> Result<usize, BlobError> {
        let n = self.u32()? as usize;
        if n.saturating_mul(min_item) > self.buf.len() - self.pos {
            return Err(BlobError("count larger than the blob".into()));
        }
        Ok(n)
    }
    /// Coordinates; Z and M values, when present, are skipped.
    fn coords(&mut self, dims: usize) -> Result<Vec<Coord>, BlobError> {
        let n = self.count(8 * dims)?;
        let mut out = Vec::with_capacity(n);
        for _ in 0..n {
            let (x, y) = (self.f64()?, self.f64()?);
            for _ in 2..dims {
                self.f64()?;
            }
            out.push(Coord { x, y });
        }
        Ok(out)
    }
    fn polygon(&mut self, dims: usize) -> Result<Polygon, BlobError> {
        let rings = self.count(4)?;
        let mut lines = Vec::with_capacity(rings);
        for _ in 0..rings {
            lines.push(LineString(self.coords(dims)?));
        }
        let mut it = lines.into_iter();
        let exterior = it.next().unwrap_or_else(|| LineString(vec![]));
        Ok(Polygon::new(exterior, it.collect()))
    }
    fn geometry(&mut self) -> Result<Geometry, BlobError> {
        self.le = self.take::<1>()?[0] == 1;
        let raw = self.u32()?;
        // ISO (1000s) and EWKB-style (high bits) dimension flags.
        let (kind, dims) = match raw {
            k if k & 0x8000_0000 != 0 || k & 0x4000_0000 != 0 => {
                let z = k & 0x8000_0000 != 0;
                let m = k & 0x4000_0000 != 0;
                (k & 0xFFFF, 2 + usize::from(z) + usize::from(m))
            }
            k => (k % 1000, [2, 3, 3, 4][(k / 1000) as usize % 4]),
        };
        Ok(match kind {
            1 => {
                let c = self.coords_one(dims)?;
                Geometry::Point(Point(c))
            }
            2 => Geometry::LineString(LineString(self.coords(dims)?)),
            3 => Geometry::Polygon(self.polygon(dims)?),
            4..=7 => {
                let n = self.count(5)?;
                let mut parts = Vec::with_capacity(n);
                for _ in 0..n {
                    parts.push(self.geometry()?);
                }
                match kind {
                    4 => Geometry::MultiPoint(MultiPoint(
                        parts
                            .into_iter()
                            .filter_map(|g| Point::try_from(g).ok())
                            .collect(),
                    )),
                    5 => Geometry::MultiLineString(MultiLineString(
                        parts
                            .into_iter()
                            .filter_map(|g| LineString::try_from(g).ok())
                            .collect(),
                    )),
                    6 => Geometry::MultiPolygon(MultiPolygon(
                        parts
                            .into_iter()
                            .filter_map(|g| Polygon::try_from(g).ok())
                            .collect(),
                    )),
                    _ => Geometry::GeometryCollection(geo::GeometryCollection(parts)),
                }
            }
            other => return Err(BlobError(format!("unsupported WKB type {other}"))),
        })
    }
    fn coords_one(&mut self, dims: usize) -> Result<Coord, BlobError> {
        let (x, y) = (self.f64()?, self.f64()?);
        for _ in 2..dims {
            self.f64()?;
        }
        Ok(Coord { x, y })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use geo::polygon;

    #[test]
    fn round_trip_of_each_kind() {
        let p = polygon!(
            exterior: [(x: 121.0, y: 31.0), (x: 121.1, y: 31.0), (x: 121.1, y: 31.1), (x: 121.0, y: 31.0)],
            interiors: [[(x: 121.01, y: 31.01), (x: 121.02, y: 31.01), (x: 121.02, y: 31.02), (x: 121.01, y: 31.01)]],
        );
        let cases = vec![
            Geometry::Point(Point::new(121.5, 31.2)),
            Geometry::Polygon(p.clone()),
            Geometry::MultiPolygon(MultiPolygon(vec![p.clone(), p])),
            Geometry::LineString(LineString::from(vec![(1.0, 2.0), (3.0, 4.0)])),
        ];
        for g in cases {
            let blob = encode(&g, 4326);
            assert_eq!(decode(&blob).unwrap(), g);
            assert!(blob_envelope(&blob).is_some());
        }
    }

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        assert!(decode(b"").is_err());
        assert!(decode(b"GP\0\x03\0\0\0\0").is_err());
        let mut blob = encode(&Geometry::Point(Point::new(1.0, 2.0)), 4326);
        blob.truncate(blob.len() - 3);
        assert!(decode(&blob).is_err());
        let mut huge = encode(
            &Geometry::LineString(LineString::from(vec![(1.0, 2.0)])),
            4326,
        );
        let n = huge.len();
        huge[n - 20..n - 16].copy_from_slice(&u32::MAX.to_le_bytes());
        assert!(decode(&huge).is_err());
    }
}
