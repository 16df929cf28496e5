//! Dense offsets on Redis Streams.
//!
//! A stream entry holds a run of consecutive messages (see `entry.rs`). Its id
//! is `0-e`, where `e` is the offset after its last message: the append script
//! takes `e` from a counter beside the stream (field `end:{index}` of the
//! topic's metadata hash), which it raises by the run's length atomically. So
//! ids grow with offsets, and an offset `o` is in the first entry whose id is
//! above `0-o`:
//!
//! - seeking to `o` is setting the group's last-delivered id to `0-o` (the
//!   reader skips the messages of the entry before `o`);
//! - committing `o` acknowledges the entries with ids up to `0-o`, the ones
//!   whose messages are all before `o`.

/// The id of the entry whose messages end before offset `end`.
pub(crate) fn entry_id(end: u64) -> String {
    format!("0-{end}")
}

/// Appends [`entry_id`]`(end)` to `out`, without allocating: commits name many ids.
pub(crate) fn write_entry_id(out: &mut Vec<u8>, end: u64) {
    use std::io::Write as _;
    let _ = write!(out, "0-{end}");
}

/// The offset after the last message of the entry with id `id` (`None` for
/// ids this backend did not make).
pub(crate) fn entry_end(id: &[u8]) -> Option<u64> {
    let s = std::str::from_utf8(id).ok()?;
    let end: u64 = s.strip_prefix("0-")?.parse().ok()?;
    (end > 0).then_some(end)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entry_ids_and_ends_convert_both_ways() {
        for end in [1u64, 2, 42, u64::from(u32::MAX) + 7] {
            assert_eq!(entry_end(entry_id(end).as_bytes()), Some(end));
        }
        let mut buf = Vec::new();
        for end in [1u64, 10, 100_000, u64::MAX] {
            buf.clear();
            write_entry_id(&mut buf, end);
            assert_eq!(buf, entry_id(end).into_bytes());
        }
        assert_eq!(entry_end(b"0-0"), None);
        assert_eq!(entry_end(b"1700000000000-0"), None);
        assert_eq!(entry_end(b"0-x"), None);
    }
}
