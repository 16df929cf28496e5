//! How a payload is stored as a stream entry, and read back.
//!
//! One field, `m`, holds the whole message, so an entry costs the server and
//! the client little to handle:
//!
//! ```text
//! u8 format (1) | u64 timestamp ms | u32 key length + 1 (0: no key) | key
//! | u32 header count | per header: u32 name length, name, u32 value length, value
//! | value (the rest)
//! ```
//!
//! All integers are big-endian. The timestamp is the producer's clock when it
//! sent the message.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::{Buf, BufMut, Bytes, BytesMut};
use redis::Value;
use weir_core::{Headers, Payload};

/// The header carrying how many times a message has been delivered to its
/// group, present from the second delivery on (after a crash or a seek back).
pub const DELIVERY_COUNT_HEADER: &str = "weir-delivery-count";

const FORMAT: u8 = 1;

/// The encoded message, stamped with `timestamp`.
pub(crate) fn encode(payload: &Payload, timestamp: SystemTime) -> Vec<u8> {
    let ms = timestamp
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64);
    let key_len = payload.key.as_ref().map_or(0, Bytes::len);
    let headers = payload.headers.byte_size() + 8 * payload.headers.len();
    let mut out = BytesMut::with_capacity(1 + 8 + 4 + key_len + 4 + headers + payload.value.len());
    out.put_u8(FORMAT);
    out.put_u64(ms);
    match &payload.key {
        Some(k) => {
            out.put_u32(k.len() as u32 + 1);
            out.put_slice(k);
        }
        None => out.put_u32(0),
    }
    out.put_u32(payload.headers.len() as u32);
    for (name, value) in payload.headers.iter() {
        out.put_u32(name.len() as u32);
        out.put_slice(name.as_bytes());
        out.put_u32(value.len() as u32);
        out.put_slice(value);
    }
    out.put_slice(&payload.value);
    out.to_vec()
}

/// A decoded entry: its payload and timestamp.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Entry {
    pub(crate) payload: Payload,
    pub(crate) timestamp: SystemTime,
}

fn take(b: &mut Bytes, n: usize) -> Option<Bytes> {
    (b.len() >= n).then(|| b.split_to(n))
}

fn take_u32(b: &mut Bytes) -> Option<usize> {
    (b.len() >= 4).then(|| b.get_u32() as usize)
}

/// Decodes an encoded message; `None` if it is malformed.
pub(crate) fn decode_message(mut b: Bytes) -> Option<Entry> {
    if b.len() < 9 || b.get_u8() != FORMAT {
        return None;
    }
    let ms = b.get_u64();
    let key = match take_u32(&mut b)? {
        0 => None,
        n => Some(take(&mut b, n - 1)?),
    };
    let count = take_u32(&mut b)?;
    let mut headers = Headers::new();
    for _ in 0..count {
        let n = take_u32(&mut b)?;
        let name = String::from_utf8(take(&mut b, n)?.to_vec()).ok()?;
        let n = take_u32(&mut b)?;
        headers.insert(name, take(&mut b, n)?);
    }
    Some(Entry {
        payload: Payload {
            key,
            value: b,
            headers,
        },
        timestamp: UNIX_EPOCH + Duration::from_millis(ms),
    })
}

/// Decodes the field list of a stream entry; `None` if it is not one of ours.
pub(crate) fn decode(fields: Value) -> Option<Entry> {
    let items = match fields {
        Value::Array(items) => items,
        Value::Map(pairs) => pairs.into_iter().flat_map(|(k, v)| [k, v]).collect(),
        _ => return None,
    };
    let mut it = items.into_iter();
    while let (Some(name), Some(value)) = (it.next(), it.next()) {
        if let (Value::BulkString(name), Value::BulkString(value)) = (name, value)
            && name == b"m"
        {
            return decode_message(Bytes::from(value));
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_round_trip_with_binary_keys_headers_and_values() {
        let at = UNIX_EPOCH + Duration::from_millis(1_700_000_000_123);
        let payloads = [
            Payload::new(Bytes::new()),
            Payload::new(vec![0u8, 255, 1])
                .with_key(Bytes::from_static(&[0xff, 0]))
                .with_header("a", Bytes::from_static(&[0, 255]))
                .with_header("a", "again")
                .with_header("", ""),
            Payload::new("v").with_key(""),
        ];
        for p in payloads {
            let back = decode_message(Bytes::from(encode(&p, at))).expect("decodes");
            assert_eq!(
                back,
                Entry {
                    payload: p,
                    timestamp: at
                }
            );
        }
    }

    #[test]
    fn malformed_messages_are_rejected() {
        let p = Payload::new("value")
            .with_key("k")
            .with_header("name", "value");
        let good = encode(&p, SystemTime::now());
        // Cut inside the header section.
        assert_eq!(decode_message(Bytes::from(good[..20].to_vec())), None);
        let mut other = good.clone();
        other[0] = 9;
        assert_eq!(decode_message(Bytes::from(other)), None);
    }
}
