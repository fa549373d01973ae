//! Every building's assignment, in chunks that successive coverages share.

use std::sync::Arc;

use rayon::prelude::*;

use super::Assignment;

/// Assignments per chunk: 4,096 of 24 bytes, 96 KiB.
const CHUNK: usize = 1 << 12;

/// Every building's [`Assignment`], by position, kept in chunks of 4,096 that clones share.
///
/// # Design
/// A grid edit on a district re-assigns a few hundred buildings out of a million. With one
/// vector, each edit's coverage copied (renumbered) all million, and the one it replaced was
/// freed again: on two cores under a campaign's load that was a third of an edit's
/// validation, and the freeing a twentieth of the server's time. Here a clone copies the
/// chunks' pointers only, and [`Assignments::set`] copies a chunk the first time it writes into
/// one that is shared (`Arc::make_mut`): an edit copies the few chunks its buildings fall in.
///
/// ```
/// use gridmap_core::assign::{Assignment, Assignments};
/// let mut a = Assignments::from(vec![Assignment::NoGrid; 10_000]);
/// let before = a.clone(); // shares every chunk
/// a.set(9_999, Assignment::One { grid: 3, outside_share: None, on_edge: false });
/// assert_eq!(a[9_999].grid(), Some(3));
/// assert_eq!(before[9_999], Assignment::NoGrid);
/// assert_eq!(a.shared_chunks_with(&before), 2); // of 3: only the last was copied
/// ```
#[derive(Clone, Default, PartialEq)]
pub struct Assignments {
    chunks: Vec<Arc<Vec<Assignment>>>,
    len: usize,
}

impl Assignments {
    /// How many buildings.
    pub fn len(&self) -> usize {
        self.len
    }

    /// No buildings at all.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The assignment of building `i`, if there is one.
    pub fn get(&self, i: usize) -> Option<&Assignment> {
        self.chunks.get(i / CHUNK)?.get(i % CHUNK)
    }

    /// Sets building `i`'s assignment, copying its chunk first if another clone shares it.
    ///
    /// # Panics
    /// When `i` is not below [`Assignments::len`].
    pub fn set(&mut self, i: usize, a: Assignment) {
        assert!(i < self.len, "assignment {i} of {}", self.len);
        Arc::make_mut(&mut self.chunks[i / CHUNK])[i % CHUNK] = a;
    }

    /// The assignments in building order.
    pub fn iter(&self) -> Iter<'_> {
        Iter {
            chunks: self.chunks.iter(),
            chunk: [].iter(),
        }
    }

    /// The positions of the buildings whose assignment satisfies `keep`, in order, found in
    /// parallel.
    pub fn positions(&self, keep: impl Fn(&Assignment) -> bool + Sync) -> Vec<u32> {
        self.chunks
            .par_iter()
            .enumerate()
            .flat_map_iter(|(c, chunk)| {
                let keep = &keep;
                chunk
                    .iter()
                    .enumerate()
                    .filter(move |(_, a)| keep(a))
                    .map(move |(k, _)| (c * CHUNK + k) as u32)
            })
            .collect()
    }

    /// Each assignment mapped by `f`, in parallel, into chunks of their own.
    pub fn map(&self, f: impl Fn(&Assignment) -> Assignment + Sync) -> Assignments {
        Assignments {
            chunks: self
                .chunks
                .par_iter()
                .map(|c| Arc::new(c.iter().map(&f).collect()))
                .collect(),
            len: self.len,
        }
    }

    /// A plain vector of the assignments.
    pub fn to_vec(&self) -> Vec<Assignment> {
        self.iter().cloned().collect()
    }

    /// How many chunks `self` and `other` share (the same memory, not equal contents): what a
    /// test checks to see that an edit copied only what it changed.
    pub fn shared_chunks_with(&self, other: &Assignments) -> usize {
        self.chunks
            .iter()
            .zip(&other.chunks)
            .filter(|(a, b)| Arc::ptr_eq(a, b))
            .count()
    }
}

impl From<Vec<Assignment>> for Assignments {
    fn from(all: Vec<Assignment>) -> Assignments {
        let len = all.len();
        let chunks = all.chunks(CHUNK).map(|c| Arc::new(c.to_vec())).collect();
        Assignments { chunks, len }
    }
}

impl std::ops::Index<usize> for Assignments {
    type Output = Assignment;

    fn index(&self, i: usize) -> &Assignment {
        match self.get(i) {
            Some(a) => a,
            None => panic!("assignment {i} of {}", self.len),
        }
    }
}

impl std::fmt::Debug for Assignments {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.iter()).finish()
    }
}

impl<'a> IntoIterator for &'a Assignments {
    type Item = &'a Assignment;
    type IntoIter = Iter<'a>;

    fn into_iter(self) -> Iter<'a> {
        self.iter()
    }
}

/// The assignments of [`Assignments::iter`], in building order.
pub struct Iter<'a> {
    chunks: std::slice::Iter<'a, Arc<Vec<Assignment>>>,
    chunk: std::slice::Iter<'a, Assignment>,
}

impl<'a> Iterator for Iter<'a> {
    type Item = &'a Assignment;

    fn next(&mut self) -> Option<&'a Assignment> {
        loop {
            if let Some(a) = self.chunk.next() {
                return Some(a);
            }
            self.chunk = self.chunks.next()?.iter();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one(grid: u32) -> Assignment {
        Assignment::One {
            grid,
            outside_share: None,
            on_edge: false,
        }
    }

    #[test]
    fn chunked_assignments_read_as_the_vector_they_were_made_from() {
        for n in [0, 1, CHUNK - 1, CHUNK, CHUNK + 1, 3 * CHUNK + 17] {
            let plain: Vec<Assignment> = (0..n as u32)
                .map(|i| match i % 5 {
                    0 => Assignment::NoGrid,
                    1 => Assignment::Many(vec![i, i + 1].into()),
                    _ => one(i % 97),
                })
                .collect();
            let a = Assignments::from(plain.clone());
            assert_eq!((a.len(), a.is_empty()), (n, n == 0));
            assert_eq!(a.to_vec(), plain);
            assert_eq!((&a).into_iter().count(), n);
            for (i, p) in plain.iter().enumerate() {
                assert_eq!(&a[i], p);
            }
            assert_eq!(a.get(n), None);
            let want: Vec<u32> = (0..n as u32).filter(|i| i % 5 == 0).collect();
            assert_eq!(a.positions(|x| *x == Assignment::NoGrid), want);
            let renumbered = a.map(|x| match x {
                Assignment::One { grid, .. } => one(grid + 1),
                other => other.clone(),
            });
            assert_eq!(renumbered.len(), n);
            assert_eq!(renumbered.shared_chunks_with(&a), 0);
        }
    }

    #[test]
    fn a_chunk_is_96_kib() {
        assert_eq!(CHUNK * size_of::<Assignment>(), 96 * 1024);
    }

    #[test]
    fn a_write_copies_only_its_chunk_and_leaves_the_clone_as_it_was() {
        let n = 4 * CHUNK;
        let first = Assignments::from(vec![Assignment::NoGrid; n]);
        let mut second = first.clone();
        assert_eq!(second.shared_chunks_with(&first), 4);
        second.set(CHUNK + 5, one(7));
        second.set(CHUNK + 6, one(8));
        assert_eq!(second.shared_chunks_with(&first), 3);
        assert_eq!(first[CHUNK + 5], Assignment::NoGrid);
        assert_eq!(second[CHUNK + 5], one(7));
        assert_eq!(second[CHUNK + 6], one(8));
        assert_ne!(first, second);
    }
}
