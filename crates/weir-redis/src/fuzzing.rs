//! Entry points for the fuzz targets in `fuzz/` (feature `fuzzing`, hidden
//! from the docs, not part of the public API): this crate's hand-written
//! parsers, fed bytes from the fuzzer. Each must return, never panic, for
//! any input; where a parse succeeds it checks what must then hold.

use redis::Value;

use crate::entry::Run;
use crate::offsets::{entry_end, entry_id};
use crate::reply::{ReadReply, append_end, stream_entries};

/// A raw RESP reply, parsed by the `redis` crate, read as a consumer reads
/// an `XREADGROUP` reply: streams, entry ids, runs, messages. Returns how
/// many messages decoded.
pub fn read_reply(resp: &[u8]) -> usize {
    let Ok(reply) = redis::parse_redis_value(resp) else {
        return 0;
    };
    let _ = append_end(&reply);
    if let Value::Array(items) = &reply {
        let _ = ReadReply::from_pipeline(items.clone());
    }
    let mut decoded = 0;
    for (_key, entries) in stream_entries(reply) {
        for (id, fields) in entries {
            let Some(end) = entry_end(&id) else {
                continue;
            };
            let run = Run::from_fields(fields).filter(|r| (1..=end).contains(&r.count));
            if let Some(messages) = run.and_then(Run::messages) {
                decoded += messages.len();
            }
        }
    }
    decoded
}

/// A stream entry's fields `n` (`count`) and `m` (`data`) decoded as a run.
/// A run that decodes must encode back to the same bytes. Returns how many
/// messages it held.
pub fn run(count: &[u8], data: &[u8]) -> Option<usize> {
    let fields = Value::Array(vec![
        Value::BulkString(b"n".to_vec()),
        Value::BulkString(count.to_vec()),
        Value::BulkString(b"m".to_vec()),
        Value::BulkString(data.to_vec()),
    ]);
    let messages = Run::from_fields(fields)?.messages()?;
    let mut again = Vec::with_capacity(data.len());
    for m in &messages {
        crate::entry::encode_one(&mut again, &m.payload, m.timestamp);
    }
    assert!(again == data, "a decoded run encodes back to its bytes");
    Some(messages.len())
}

/// A stream entry id read as an offset; one that reads must be the id of
/// that offset's entry.
pub fn entry_id_end(id: &[u8]) -> Option<u64> {
    let end = entry_end(id)?;
    assert_eq!(entry_end(entry_id(end).as_bytes()), Some(end));
    Some(end)
}
