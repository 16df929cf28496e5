//! How messages are stored as stream entries, and read back.
//!
//! A stream entry holds a run of consecutive messages of its partition (what
//! one produce call sent to that partition, up to [`RUN_BYTES`] or
//! [`RUN_MESSAGES`]), as a Kafka record batch does: the server keeps one id,
//! one pending-list record and one acknowledgement per run, not per message.
//! An entry's id is `0-e`, where `e` is the offset after its last message
//! (see `offsets.rs`), and it has two fields:
//!
//! - `n`: how many messages it holds (decimal), so its first offset is `e - n`;
//! - `m`: the messages, each as `u32 length | message`.
//!
//! A message:
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

use std::io::{self, Write};

use bytes::{Buf, Bytes};
use redis::{RedisWrite, ToRedisArgs, Value};
use weir_core::{Headers, Payload};

/// The header carrying how many times a message has been delivered to its
/// group, present from the second delivery on (after a crash or a seek back).
pub const DELIVERY_COUNT_HEADER: &str = "weir-delivery-count";

/// A run is closed once its messages take this many bytes (a larger message
/// makes a run of its own).
pub(crate) const RUN_BYTES: usize = 256 * 1024;

/// Most messages in one run.
pub(crate) const RUN_MESSAGES: usize = 1024;

const FORMAT: u8 = 1;

/// The fixed part of a message: format, timestamp, key length, header count.
const FIXED: usize = 1 + 8 + 4 + 4;

/// How many bytes `payload` takes in a run, its length prefix included.
pub(crate) fn stored_len(payload: &Payload) -> usize {
    let key_len = payload.key.as_ref().map_or(0, Bytes::len);
    let headers = payload.headers.byte_size() + 8 * payload.headers.len();
    4 + FIXED + key_len + headers + payload.value.len()
}

fn millis(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// Writes `payload`, stamped `ms`, with its length prefix.
fn write_message(out: &mut impl Write, payload: &Payload, ms: u64) -> io::Result<()> {
    out.write_all(&((stored_len(payload) - 4) as u32).to_be_bytes())?;
    out.write_all(&[FORMAT])?;
    out.write_all(&ms.to_be_bytes())?;
    match &payload.key {
        Some(k) => {
            out.write_all(&(k.len() as u32 + 1).to_be_bytes())?;
            out.write_all(k)?;
        }
        None => out.write_all(&0u32.to_be_bytes())?,
    }
    out.write_all(&(payload.headers.len() as u32).to_be_bytes())?;
    for (name, value) in payload.headers.iter() {
        out.write_all(&(name.len() as u32).to_be_bytes())?;
        out.write_all(name.as_bytes())?;
        out.write_all(&(value.len() as u32).to_be_bytes())?;
        out.write_all(value)?;
    }
    out.write_all(&payload.value)
}

/// Writes one message as a run holds it, for the fuzz targets' round trips.
#[cfg(feature = "fuzzing")]
pub(crate) fn encode_one(out: &mut Vec<u8>, payload: &Payload, timestamp: SystemTime) {
    // Writing into a `Vec` cannot fail.
    let _ = write_message(out, payload, millis(timestamp));
}

/// A run of payloads, all stamped with one timestamp, as the `m` argument of
/// a command: encoded straight into the command's buffer.
pub(crate) struct RunArg<I> {
    payloads: I,
    ms: u64,
}

impl<'a, I: Iterator<Item = &'a Payload> + Clone> RunArg<I> {
    pub(crate) fn new(payloads: I, timestamp: SystemTime) -> Self {
        RunArg {
            payloads,
            ms: millis(timestamp),
        }
    }
}

impl<'a, I: Iterator<Item = &'a Payload> + Clone> ToRedisArgs for RunArg<I> {
    fn write_redis_args<W: ?Sized + RedisWrite>(&self, out: &mut W) {
        out.reserve_space_for_args([self.payloads.clone().map(stored_len).sum()]);
        let mut arg = out.writer_for_next_arg();
        for payload in self.payloads.clone() {
            // Writing into the command's memory cannot fail.
            let _ = write_message(&mut arg, payload, self.ms);
        }
    }
}

/// A decoded message: its payload and timestamp.
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

/// Decodes one message (without its length prefix); `None` if it is malformed.
fn decode_message(mut b: Bytes) -> Option<Entry> {
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

/// A stream entry's run of messages, not yet decoded.
#[derive(Debug)]
pub(crate) struct Run {
    /// How many messages the entry says it holds.
    pub(crate) count: u64,
    data: Bytes,
}

impl Run {
    /// Reads the field list of a stream entry; `None` if it is not one of ours.
    pub(crate) fn from_fields(fields: Value) -> Option<Run> {
        let items = match fields {
            Value::Array(items) => items,
            Value::Map(pairs) => pairs.into_iter().flat_map(|(k, v)| [k, v]).collect(),
            _ => return None,
        };
        let (mut count, mut data) = (None, None);
        let mut it = items.into_iter();
        while let (Some(Value::BulkString(name)), Some(value)) = (it.next(), it.next()) {
            match (&name[..], value) {
                (b"n", Value::BulkString(n)) => {
                    count = std::str::from_utf8(&n).ok().and_then(|n| n.parse().ok());
                }
                (b"m", Value::BulkString(m)) => data = Some(Bytes::from(m)),
                _ => {}
            }
        }
        Some(Run {
            count: count?,
            data: data?,
        })
    }

    /// Its messages, in order; `None` if any is malformed or their number
    /// is not the one the entry states.
    pub(crate) fn messages(mut self) -> Option<Vec<Entry>> {
        let mut out = Vec::with_capacity(usize::try_from(self.count).ok()?.min(RUN_MESSAGES));
        while !self.data.is_empty() {
            let n = take_u32(&mut self.data)?;
            out.push(decode_message(take(&mut self.data, n)?)?);
        }
        (out.len() as u64 == self.count).then_some(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn encode_run(payloads: &[Payload], at: SystemTime) -> Vec<u8> {
        let mut args = RunArg::new(payloads.iter(), at).to_redis_args();
        assert_eq!(args.len(), 1, "one argument");
        args.remove(0)
    }

    fn fields(count: &str, data: Vec<u8>) -> Value {
        Value::Array(vec![
            Value::BulkString(b"n".to_vec()),
            Value::BulkString(count.as_bytes().to_vec()),
            Value::BulkString(b"m".to_vec()),
            Value::BulkString(data),
        ])
    }

    fn sample() -> Vec<Payload> {
        vec![
            Payload::new(Bytes::new()),
            Payload::new(vec![0u8, 255, 1])
                .with_key(Bytes::from_static(&[0xff, 0]))
                .with_header("a", Bytes::from_static(&[0, 255]))
                .with_header("a", "again")
                .with_header("", ""),
            Payload::new("v").with_key(""),
        ]
    }

    #[test]
    fn runs_round_trip_with_binary_keys_headers_and_values() {
        let at = UNIX_EPOCH + Duration::from_millis(1_700_000_000_123);
        let payloads = sample();
        let data = encode_run(&payloads, at);
        assert_eq!(data.len(), payloads.iter().map(stored_len).sum::<usize>());
        let run = Run::from_fields(fields("3", data)).expect("one of ours");
        assert_eq!(run.count, 3);
        let back = run.messages().expect("decodes");
        let expected: Vec<Entry> = payloads
            .into_iter()
            .map(|payload| Entry {
                payload,
                timestamp: at,
            })
            .collect();
        assert_eq!(back, expected);
    }

    #[test]
    fn malformed_runs_are_rejected() {
        let payloads = sample();
        let good = encode_run(&payloads, SystemTime::now());
        let decodes = |count: &str, data: Vec<u8>| {
            Run::from_fields(fields(count, data)).and_then(Run::messages)
        };
        assert!(decodes("3", good.clone()).is_some());
        // Cut inside the last message.
        assert_eq!(decodes("3", good[..good.len() - 1].to_vec()), None);
        // A count the data does not hold.
        assert_eq!(decodes("4", good.clone()), None);
        assert_eq!(decodes("x", good.clone()), None);
        // An unknown message format.
        let mut other = good.clone();
        other[4] = 9;
        assert_eq!(decodes("3", other), None);
        // Fields another writer chose.
        let foreign = Value::Array(vec![
            Value::BulkString(b"m".to_vec()),
            Value::BulkString(good),
        ]);
        assert!(Run::from_fields(foreign).is_none());
    }
}
