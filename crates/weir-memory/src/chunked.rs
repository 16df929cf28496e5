//! A double-ended queue kept in fixed-size chunks, so that growing it never
//! moves what it holds, and a full chunk can be lent to readers.
//!
//! A partition's log only grows at the back and shrinks at the front. In one
//! `VecDeque`, every doubling of its capacity copies all stored entries and,
//! for a moment, holds both copies; a log of ten million messages would copy
//! a gigabyte to append one more. Here a full chunk stays where it is and the
//! next entry starts a new one: appending costs the same at any length, and
//! the memory held is what the entries take plus at most one chunk.
//!
//! Every chunk but the first and the last is full, so an index finds its
//! chunk by one division. Chunks are reference counted: a reader may keep a
//! full one (a consumer's record batch) while the deque goes on. Nothing is
//! ever appended to a full chunk, so a shared chunk never changes. An entry
//! removed from the front is released at once unless a reader shares its
//! chunk; then it stays until the whole chunk goes (at most one chunk's
//! entries are held this way).

use std::collections::VecDeque;
use std::ops::Range;
use std::sync::Arc;

/// Entries per chunk.
pub(crate) const CHUNK: usize = 1024;

#[derive(Debug)]
pub(crate) struct ChunkedDeque<T> {
    /// The first chunk may have lost entries at its front and the last may
    /// not be full yet; the ones between hold [`CHUNK`] entries each.
    chunks: VecDeque<Chunk<T>>,
    len: usize,
}

/// One chunk: the entries from `start` on are in the deque.
#[derive(Debug)]
struct Chunk<T> {
    entries: Entries<T>,
    start: usize,
}

/// A chunk's entries: owned while it fills, shared once full (and never
/// changed again).
#[derive(Debug)]
enum Entries<T> {
    Open(Vec<T>),
    Full(Arc<Vec<T>>),
}

impl<T> Entries<T> {
    fn as_slice(&self) -> &[T] {
        match self {
            Entries::Open(v) => v,
            Entries::Full(v) => v,
        }
    }
}

impl<T> Chunk<T> {
    fn len(&self) -> usize {
        self.entries.as_slice().len() - self.start
    }

    /// Appends to a chunk being filled, sharing it once full.
    fn push(&mut self, value: T) {
        if let Entries::Open(open) = &mut self.entries {
            open.push(value);
            if open.len() == CHUNK {
                self.entries = Entries::Full(Arc::new(std::mem::take(open)));
            }
        }
    }
}

impl<T> Default for ChunkedDeque<T> {
    fn default() -> Self {
        ChunkedDeque {
            chunks: VecDeque::new(),
            len: 0,
        }
    }
}

impl<T> ChunkedDeque<T> {
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    pub(crate) fn push_back(&mut self, value: T) {
        self.len += 1;
        match self.chunks.back_mut() {
            Some(last) if matches!(last.entries, Entries::Open(_)) => last.push(value),
            _ => {
                let mut chunk = Chunk {
                    entries: Entries::Open(Vec::with_capacity(CHUNK)),
                    start: 0,
                };
                chunk.push(value);
                self.chunks.push_back(chunk);
            }
        }
    }

    /// The first entry.
    pub(crate) fn front(&self) -> Option<&T> {
        let first = self.chunks.front()?;
        first.entries.as_slice().get(first.start)
    }

    /// Removes the first entry. `release` may free what it holds, and is
    /// called unless a reader shares its chunk.
    pub(crate) fn pop_front(&mut self, release: impl FnOnce(&mut T)) -> bool {
        let Some(first) = self.chunks.front_mut() else {
            return false;
        };
        let entries = match &mut first.entries {
            Entries::Open(v) => Some(v),
            Entries::Full(shared) => Arc::get_mut(shared),
        };
        if let Some(entry) = entries.and_then(|v| v.get_mut(first.start)) {
            release(entry);
        }
        first.start += 1;
        if first.len() == 0 {
            self.chunks.pop_front();
        }
        self.len -= 1;
        true
    }

    /// The entries from index `start`, at most `max` of them, as runs that
    /// each know their exact length (one run per chunk touched).
    pub(crate) fn runs(&self, start: usize, max: usize) -> Runs<'_, T> {
        let start = start.min(self.len);
        let remaining = max.min(self.len - start);
        let first_len = self.chunks.front().map_or(0, Chunk::len);
        let (chunk, skip) = if start < first_len {
            (0, start)
        } else {
            let past = start - first_len;
            (1 + past / CHUNK, past % CHUNK)
        };
        Runs {
            deque: self,
            chunk,
            skip,
            remaining,
        }
    }
}

/// The runs of entries [`ChunkedDeque::runs`] returns.
#[derive(Debug)]
pub(crate) struct Runs<'a, T> {
    deque: &'a ChunkedDeque<T>,
    chunk: usize,
    skip: usize,
    remaining: usize,
}

/// Consecutive entries of one chunk.
#[derive(Debug)]
pub(crate) struct ChunkRun<'a, T> {
    chunk: &'a Entries<T>,
    range: Range<usize>,
}

impl<'a, T> ChunkRun<'a, T> {
    /// The entries.
    pub(crate) fn entries(&self) -> &'a [T] {
        &self.chunk.as_slice()[self.range.clone()]
    }

    /// The chunk and the run's place in it, if the chunk is full (and so
    /// will never change); `None` for the chunk still being filled.
    pub(crate) fn shared(&self) -> Option<(Arc<Vec<T>>, Range<usize>)> {
        match self.chunk {
            Entries::Full(shared) => Some((Arc::clone(shared), self.range.clone())),
            Entries::Open(_) => None,
        }
    }
}

impl<'a, T> Iterator for Runs<'a, T> {
    type Item = ChunkRun<'a, T>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.remaining == 0 {
            return None;
        }
        let chunk = self.deque.chunks.get(self.chunk)?;
        let from = chunk.start + self.skip;
        let end = chunk.entries.as_slice().len().min(from + self.remaining);
        self.remaining -= end - from;
        self.chunk += 1;
        self.skip = 0;
        Some(ChunkRun {
            chunk: &chunk.entries,
            range: from..end,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(d: &ChunkedDeque<usize>, start: usize, max: usize) -> Vec<usize> {
        d.runs(start, max)
            .flat_map(|run| run.entries())
            .copied()
            .collect()
    }

    #[test]
    fn reads_across_chunks_after_pops() {
        let mut d = ChunkedDeque::default();
        for i in 0..3 * CHUNK + 5 {
            d.push_back(i);
        }
        for i in 0..10 {
            assert_eq!(d.front(), Some(&i));
            assert!(d.pop_front(|_| {}));
        }
        assert_eq!(d.len(), 3 * CHUNK - 5);
        // Index 0 is now the value 10.
        assert_eq!(read(&d, 0, 3), vec![10, 11, 12]);
        let start = CHUNK - 12;
        let expect: Vec<usize> = (start + 10..start + 10 + CHUNK + 4).collect();
        assert_eq!(read(&d, start, CHUNK + 4), expect, "across two boundaries");
        assert_eq!(d.runs(start, CHUNK + 4).count(), 3);
        assert_eq!(
            read(&d, d.len() - 2, 100),
            vec![3 * CHUNK + 3, 3 * CHUNK + 4]
        );
        assert!(read(&d, d.len(), 10).is_empty());
        assert!(read(&d, d.len() + 7, 10).is_empty());
        assert!(read(&d, 0, 0).is_empty());
    }

    #[test]
    fn a_full_chunk_never_grows() {
        let mut d = ChunkedDeque::default();
        d.push_back(0);
        let Entries::Open(first) = &d.chunks[0].entries else {
            panic!("the chunk being filled is owned")
        };
        let capacity = first.capacity();
        for i in 1..CHUNK + 1 {
            d.push_back(i);
        }
        assert_eq!(d.chunks.len(), 2);
        let Entries::Full(first) = &d.chunks[0].entries else {
            panic!("a full chunk is shared")
        };
        assert_eq!(first.capacity(), capacity);
        // Popping from the front chunk does not let the back one overfill.
        assert!(d.pop_front(|_| {}));
        d.push_back(CHUNK + 1);
        assert_eq!(d.chunks[1].entries.as_slice().len(), 2);
    }

    #[test]
    fn popping_everything_leaves_it_empty_and_reusable() {
        let mut d = ChunkedDeque::default();
        for i in 0..CHUNK + 3 {
            d.push_back(i);
        }
        while d.pop_front(|_| {}) {}
        assert_eq!((d.len(), d.chunks.len()), (0, 0));
        d.push_back(7);
        assert_eq!(read(&d, 0, 5), vec![7]);
    }

    #[test]
    fn only_full_chunks_are_shared_and_a_shared_one_keeps_what_was_popped() {
        let mut d = ChunkedDeque::default();
        for i in 0..CHUNK + 3 {
            d.push_back(vec![i]);
        }
        let runs: Vec<_> = d.runs(CHUNK - 2, 5).map(|r| r.shared()).collect();
        let [Some((full, range)), None] = &runs[..] else {
            panic!("expected the full chunk shared and the last one not")
        };
        assert_eq!(range, &(CHUNK - 2..CHUNK));
        // Popping releases entries of unshared chunks only.
        let mut released = 0;
        for _ in 0..CHUNK {
            d.pop_front(|v| {
                v.clear();
                released += 1;
            });
        }
        assert_eq!(released, 0, "the full chunk is shared");
        assert_eq!(
            full[CHUNK - 1],
            vec![CHUNK - 1],
            "what the reader holds is intact"
        );
        assert_eq!(d.front(), Some(&vec![CHUNK]));
        d.pop_front(|v| {
            v.clear();
            released += 1;
        });
        assert_eq!(released, 1, "the last chunk is not shared");
        // Appending after a share goes on in the unshared last chunk.
        d.push_back(vec![7]);
        assert_eq!(
            d.runs(0, 10)
                .flat_map(|r| r.entries().to_vec())
                .collect::<Vec<_>>(),
            [vec![CHUNK + 1], vec![CHUNK + 2], vec![7]]
        );
    }
}
