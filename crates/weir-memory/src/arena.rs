//! Where a partition keeps its payload bytes: copied into shared blocks, so
//! that reading a message never allocates.
//!
//! A consumer gets each message as a clone of the stored `Bytes`. A `Bytes`
//! made from a `Vec` (what most producers hand over) allocates a shared
//! header the first time it is cloned, so a log that kept producers' buffers
//! as given would allocate once per message on its first read, and keep that
//! header for as long as it keeps the message. Instead, as Kafka's record
//! batches do, small values are copied into a block (of up to [`BLOCK`]
//! bytes, see [`FIRST_BLOCK`]) and stored as slices of it: the block's one shared header is made when the
//! first slice is cut, so cloning a stored value is a reference count
//! increment, and storing one costs a copy instead of an allocation. A block
//! is freed when its last message is dropped (by retention, or with the log).
//!
//! Values over [`COPY_MAX`] bytes are kept as given, their shared header made
//! once when stored (copying them would cost more than that allocation).

use bytes::{Bytes, BytesMut};

/// The size of a partition's first block: each next one is twice the size
/// of the last, up to [`BLOCK`], so a partition with few messages holds
/// little.
pub(crate) const FIRST_BLOCK: usize = 1024;

/// The largest size of one block of small values.
pub(crate) const BLOCK: usize = 64 * 1024;

/// The largest value copied into a block.
pub(crate) const COPY_MAX: usize = 4 * 1024;

/// The block being filled; the full ones live on in the values cut from them.
#[derive(Debug, Default)]
pub(crate) struct Arena {
    block: BytesMut,
    /// The size of the next block (0 before the first).
    next: usize,
}

impl Arena {
    /// `value` as stored: bytes whose clones never allocate.
    pub(crate) fn store(&mut self, value: Bytes) -> Bytes {
        if value.is_empty() {
            // A static empty slice: nothing to share.
            return Bytes::new();
        }
        if value.len() > COPY_MAX {
            return shared(value);
        }
        if self.block.capacity() - self.block.len() < value.len() {
            let size = self.next.clamp(FIRST_BLOCK, BLOCK);
            self.next = size * 2;
            self.block = BytesMut::with_capacity(size.max(value.len()));
        }
        self.block.extend_from_slice(&value);
        self.block.split().freeze()
    }
}

/// `value` with its shared header made: a `Bytes` made from a `Vec` makes it
/// on its first clone (and keeps it), so one clone now spares every later
/// clone the allocation. On any other `Bytes` it is a reference count
/// increment and decrement.
fn shared(value: Bytes) -> Bytes {
    drop(value.clone());
    value
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::alloc_count::allocations;

    #[test]
    fn small_values_share_one_block() {
        let mut arena = Arena::default();
        let a = arena.store(Bytes::from(vec![1u8; 100]));
        let b = arena.store(Bytes::from(vec![2u8; 100]));
        assert_eq!((&a[..], &b[..]), (&[1u8; 100][..], &[2u8; 100][..]));
        // b was cut right after a, from the same block.
        assert_eq!(a.as_ptr().wrapping_add(100), b.as_ptr());
    }

    #[test]
    fn full_blocks_are_replaced_by_larger_ones_and_their_values_stay() {
        let mut arena = Arena::default();
        let stored: Vec<Bytes> = (0..64)
            .map(|i| arena.store(Bytes::from(vec![i as u8; 1000])))
            .collect();
        for (i, v) in stored.iter().enumerate() {
            assert!(v.iter().all(|b| *b == i as u8), "value {i} intact");
        }
        // Where a value is not right after the one before, a block began.
        let starts: Vec<usize> = (1..stored.len())
            .filter(|i| stored[i - 1].as_ptr().wrapping_add(1000) != stored[*i].as_ptr())
            .collect();
        // Blocks of 1, 2, 4, 8, 16, 32 and 64 KiB hold 1, 2, 4, 8, 16, 32, ... values.
        assert_eq!(starts, vec![1, 3, 7, 15, 31, 63]);
    }

    #[test]
    fn a_partition_with_one_message_holds_a_small_block() {
        let mut arena = Arena::default();
        arena.store(Bytes::from(vec![1u8; 10]));
        assert_eq!(arena.block.capacity(), FIRST_BLOCK - 10);
    }

    #[test]
    fn large_values_are_kept_as_given() {
        let mut arena = Arena::default();
        let big = Bytes::from(vec![7u8; COPY_MAX + 1]);
        let ptr = big.as_ptr();
        let stored = arena.store(big);
        assert_eq!(stored.as_ptr(), ptr, "not copied");
        assert_eq!(stored.len(), COPY_MAX + 1);
    }

    #[test]
    fn clones_of_stored_values_never_allocate() {
        let mut arena = Arena::default();
        let small = arena.store(Bytes::from(vec![1u8; 100]));
        let large = arena.store(Bytes::from(vec![2u8; COPY_MAX + 1]));
        let mut clones: Vec<(Bytes, Bytes)> = Vec::with_capacity(100);
        let before = allocations();
        for _ in 0..100 {
            clones.push((small.clone(), large.clone()));
        }
        assert_eq!(allocations() - before, 0);
        assert_eq!(clones.len(), 100);
    }

    #[test]
    fn storing_small_values_allocates_once_a_block() {
        let mut arena = Arena::default();
        let values: Vec<Bytes> = (0..1000).map(|_| Bytes::from(vec![0u8; 100])).collect();
        let before = allocations();
        let stored: Vec<Bytes> = values.into_iter().map(|v| arena.store(v)).collect();
        // The result vector, and per block (1 KiB, then doubling up to 64
        // KiB: seven for these 100 KB) its buffer and its shared header.
        assert!(
            allocations() - before <= 1 + 2 * 7,
            "{}",
            allocations() - before
        );
        assert_eq!(stored.len(), 1000);
    }

    #[test]
    fn empty_values_take_no_space() {
        let mut arena = Arena::default();
        assert!(arena.store(Bytes::new()).is_empty());
        assert_eq!(arena.block.capacity(), 0);
    }

    #[test]
    fn stored_values_outlive_the_arena() {
        let mut arena = Arena::default();
        let v = arena.store(Bytes::from_static(b"kept"));
        drop(arena);
        assert_eq!(&v[..], b"kept");
    }
}
