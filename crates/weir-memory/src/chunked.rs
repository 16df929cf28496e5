//! A double-ended queue kept in fixed-size chunks, so that growing it never
//! moves what it holds.
//!
//! A partition's log only grows at the back and shrinks at the front. In one
//! `VecDeque`, every doubling of its capacity copies all stored entries and,
//! for a moment, holds both copies; a log of ten million messages would copy
//! a gigabyte to append one more. Here a full chunk stays where it is and the
//! next entry starts a new one: appending costs the same at any length, and
//! the memory held is what the entries take plus at most one chunk.
//!
//! Every chunk but the first and the last is full, so an index finds its
//! chunk by one division.

use std::collections::VecDeque;
use std::collections::vec_deque::Iter;

/// Entries per chunk.
pub(crate) const CHUNK: usize = 1024;

#[derive(Debug)]
pub(crate) struct ChunkedDeque<T> {
    /// The first chunk may have lost entries at its front and the last may
    /// not be full yet; the ones between hold [`CHUNK`] entries each.
    chunks: VecDeque<VecDeque<T>>,
    len: usize,
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
        match self.chunks.back_mut() {
            Some(last) if last.len() < CHUNK => last.push_back(value),
            _ => {
                let mut chunk = VecDeque::with_capacity(CHUNK);
                chunk.push_back(value);
                self.chunks.push_back(chunk);
            }
        }
        self.len += 1;
    }

    pub(crate) fn pop_front(&mut self) -> Option<T> {
        let first = self.chunks.front_mut()?;
        let value = first.pop_front();
        if first.is_empty() {
            self.chunks.pop_front();
        }
        if value.is_some() {
            self.len -= 1;
        }
        value
    }

    /// The entries from index `start`, at most `max` of them, as runs that
    /// each know their exact length (one run per chunk touched).
    pub(crate) fn runs(&self, start: usize, max: usize) -> Runs<'_, T> {
        let start = start.min(self.len);
        let remaining = max.min(self.len - start);
        let first_len = self.chunks.front().map_or(0, VecDeque::len);
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

impl<'a, T> Iterator for Runs<'a, T> {
    type Item = Iter<'a, T>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.remaining == 0 {
            return None;
        }
        let chunk = self.deque.chunks.get(self.chunk)?;
        let end = chunk.len().min(self.skip + self.remaining);
        let run = chunk.range(self.skip..end);
        self.remaining -= end - self.skip;
        self.chunk += 1;
        self.skip = 0;
        Some(run)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(d: &ChunkedDeque<usize>, start: usize, max: usize) -> Vec<usize> {
        d.runs(start, max).flatten().copied().collect()
    }

    #[test]
    fn reads_across_chunks_after_pops() {
        let mut d = ChunkedDeque::default();
        for i in 0..3 * CHUNK + 5 {
            d.push_back(i);
        }
        for i in 0..10 {
            assert_eq!(d.pop_front(), Some(i));
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
        let capacity = d.chunks[0].capacity();
        for i in 1..CHUNK + 1 {
            d.push_back(i);
        }
        assert_eq!(d.chunks.len(), 2);
        assert_eq!(d.chunks[0].capacity(), capacity);
        // Popping from the front chunk does not let the back one overfill.
        assert_eq!(d.pop_front(), Some(0));
        d.push_back(CHUNK + 1);
        assert_eq!(d.chunks[1].len(), 2);
    }

    #[test]
    fn popping_everything_leaves_it_empty_and_reusable() {
        let mut d = ChunkedDeque::default();
        for i in 0..CHUNK + 3 {
            d.push_back(i);
        }
        while d.pop_front().is_some() {}
        assert_eq!((d.len(), d.chunks.len()), (0, 0));
        d.push_back(7);
        assert_eq!(read(&d, 0, 5), vec![7]);
    }
}
