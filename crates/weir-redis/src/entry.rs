//! How a payload is stored as a stream entry, and read back.
//!
//! Fields: `v` the value, `k` the key (when there is one), `h` the headers
//! (when there are any), `t` the time the server stored it (ms since the
//! epoch, set by the append script). Headers are encoded as a sequence of
//! `u32` big-endian length + name bytes + `u32` length + value bytes.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::{BufMut, Bytes, BytesMut};
use redis::Value;
use weir_core::{Headers, Payload};

/// The header carrying how many times a message has been delivered to its
/// group, present from the second delivery on (after a crash or a seek back).
pub const DELIVERY_COUNT_HEADER: &str = "weir-delivery-count";

/// The entry's fields, flattened: `[n, f1, v1, ...]` as the append script reads them.
pub(crate) fn push_fields(args: &mut redis::Cmd, payload: &Payload) {
    let mut n = 1;
    if payload.key.is_some() {
        n += 1;
    }
    if !payload.headers.is_empty() {
        n += 1;
    }
    args.arg(n).arg("v").arg(&payload.value[..]);
    if let Some(k) = &payload.key {
        args.arg("k").arg(&k[..]);
    }
    if !payload.headers.is_empty() {
        args.arg("h").arg(encode_headers(&payload.headers));
    }
}

pub(crate) fn encode_headers(headers: &Headers) -> Vec<u8> {
    let mut out = BytesMut::with_capacity(headers.byte_size() + 8 * headers.len());
    for (name, value) in headers.iter() {
        out.put_u32(name.len() as u32);
        out.put_slice(name.as_bytes());
        out.put_u32(value.len() as u32);
        out.put_slice(value);
    }
    out.to_vec()
}

fn decode_headers(mut bytes: &[u8]) -> Option<Headers> {
    let mut headers = Headers::new();
    let take = |b: &mut &[u8]| -> Option<Vec<u8>> {
        let len = u32::from_be_bytes(b.get(..4)?.try_into().ok()?) as usize;
        let v = b.get(4..4 + len)?.to_vec();
        *b = &b[4 + len..];
        Some(v)
    };
    while !bytes.is_empty() {
        let name = String::from_utf8(take(&mut bytes)?).ok()?;
        let value = take(&mut bytes)?;
        headers.insert(name, value);
    }
    Some(headers)
}

/// A decoded entry: its payload and server timestamp.
#[derive(Debug)]
pub(crate) struct Entry {
    pub(crate) payload: Payload,
    pub(crate) timestamp: SystemTime,
}

fn bytes_of(v: Value) -> Option<Bytes> {
    match v {
        Value::BulkString(b) => Some(Bytes::from(b)),
        Value::SimpleString(s) => Some(Bytes::from(s)),
        _ => None,
    }
}

/// Decodes the flat field list of an entry; `None` if it is not one of ours.
pub(crate) fn decode(fields: Value) -> Option<Entry> {
    let items = match fields {
        Value::Array(items) => items,
        Value::Map(pairs) => pairs.into_iter().flat_map(|(k, v)| [k, v]).collect(),
        _ => return None,
    };
    let mut payload = Payload::default();
    let mut timestamp = UNIX_EPOCH;
    let mut it = items.into_iter();
    while let (Some(name), Some(value)) = (it.next(), it.next()) {
        let name = bytes_of(name)?;
        let value = bytes_of(value)?;
        match &name[..] {
            b"v" => payload.value = value,
            b"k" => payload.key = Some(value),
            b"h" => payload.headers = decode_headers(&value)?,
            b"t" => {
                let ms: u64 = std::str::from_utf8(&value).ok()?.parse().ok()?;
                timestamp = UNIX_EPOCH + Duration::from_millis(ms);
            }
            _ => {}
        }
    }
    Some(Entry { payload, timestamp })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headers_round_trip_with_binary_values_and_repeats() {
        let h = Headers::new()
            .with("a", Bytes::from_static(&[0, 255]))
            .with("a", "again")
            .with("", "");
        assert_eq!(decode_headers(&encode_headers(&h)), Some(h));
    }

    #[test]
    fn truncated_headers_are_rejected() {
        let mut bytes = encode_headers(&Headers::new().with("name", "value"));
        bytes.pop();
        assert_eq!(decode_headers(&bytes), None);
    }
}
