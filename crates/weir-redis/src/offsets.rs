//! Dense offsets on Redis Streams.
//!
//! Producers add entries with the id `0-*` (plain pipelined XADDs): the
//! server gives them the sequence numbers 1, 2, 3, ... of stream-id time 0,
//! atomically. So the message at offset `n`
//! has the id `0-(n+1)`, and offset and id convert by a pure function: seeking
//! is setting the group's last-delivered id, and no lookup table is needed.

/// The stream id of the message at `offset`.
pub(crate) fn id_of(offset: u64) -> String {
    format!("0-{}", offset + 1)
}

/// Appends the stream id of the message at `offset` to `out` (as [`id_of`],
/// without allocating: commits name many ids).
pub(crate) fn write_id(out: &mut Vec<u8>, offset: u64) {
    use std::io::Write as _;
    let _ = write!(out, "0-{}", offset + 1);
}

/// The offset of the message with stream id `id` (`None` for ids this backend did not make).
pub(crate) fn offset_of(id: &[u8]) -> Option<u64> {
    let s = std::str::from_utf8(id).ok()?;
    let seq: u64 = s.strip_prefix("0-")?.parse().ok()?;
    seq.checked_sub(1)
}

/// FNV-1a: a small, stable hash so a key maps to the same partition in every process.
pub(crate) fn key_hash(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in bytes {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offsets_and_ids_convert_both_ways() {
        for o in [0u64, 1, 41, u64::from(u32::MAX) + 7] {
            assert_eq!(offset_of(id_of(o).as_bytes()), Some(o));
        }
        let mut buf = Vec::new();
        for o in [0u64, 9, 99_999, u64::MAX - 1] {
            buf.clear();
            write_id(&mut buf, o);
            assert_eq!(buf, id_of(o).into_bytes());
        }
        assert_eq!(offset_of(b"0-0"), None);
        assert_eq!(offset_of(b"1700000000000-0"), None);
    }
}
