//! One allocation for the keys and values of a batch of messages.
//!
//! Each message's key and value must outlive librdkafka's copy, so they are
//! copied into [`Bytes`]. Copying them one by one costs an allocation and a
//! free per message; copying a batch's into one buffer and handing out
//! shared slices of it costs a reference count instead. The buffer lives
//! until the last slice of it is dropped (at most one batch's bytes).

use bytes::{Bytes, BytesMut};

/// A buffer the size of a batch's keys and values.
#[derive(Debug)]
pub(crate) struct Arena(BytesMut);

impl Arena {
    /// Room for `bytes` bytes.
    pub(crate) fn with_capacity(bytes: usize) -> Self {
        Arena(BytesMut::with_capacity(bytes))
    }

    /// A copy of `bytes`, sharing the arena's buffer (an empty one shares
    /// nothing). Past the capacity, the arena grows into a new buffer.
    pub(crate) fn copy(&mut self, bytes: &[u8]) -> Bytes {
        if bytes.is_empty() {
            return Bytes::new();
        }
        self.0.extend_from_slice(bytes);
        self.0.split().freeze()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn copies_are_independent_slices_of_one_buffer() {
        let mut arena = Arena::with_capacity(8);
        let a = arena.copy(b"abc");
        let b = arena.copy(b"defgh");
        assert_eq!((&a[..], &b[..]), (&b"abc"[..], &b"defgh"[..]));
        assert_eq!(a.as_ptr().wrapping_add(3), b.as_ptr(), "one buffer");
        drop(a);
        assert_eq!(&b[..], b"defgh", "outlives its neighbours");
    }

    #[test]
    fn copies_past_the_capacity_still_hold_their_bytes() {
        let mut arena = Arena::with_capacity(2);
        let a = arena.copy(b"ab");
        let b = arena.copy(b"cdef");
        assert_eq!((&a[..], &b[..]), (&b"ab"[..], &b"cdef"[..]));
        assert!(arena.copy(b"").is_empty());
    }
}
