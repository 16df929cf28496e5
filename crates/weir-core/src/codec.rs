//! Codecs turn typed values into payload bytes and back.

use bytes::Bytes;
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::{Message, Partition, Payload};

/// Why a value could not be encoded or decoded.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CodecError {
    /// Serialising failed.
    #[error("{codec} could not encode the value: {reason}")]
    Encode {
        /// The codec's name.
        codec: &'static str,
        /// What went wrong.
        reason: String,
    },
    /// The bytes are not a valid encoding of the expected type.
    #[error("{codec} could not decode {len} bytes: {reason}")]
    Decode {
        /// The codec's name.
        codec: &'static str,
        /// How many bytes there were.
        len: usize,
        /// What went wrong.
        reason: String,
    },
}

/// A payload that failed to decode, with where it came from.
///
/// Routed to the dead-letter policy by the stream processor; the original bytes
/// stay with the message so nothing is lost.
#[derive(Debug, thiserror::Error)]
#[error("cannot decode the message at {}", describe(.partition, .offset))]
pub struct DecodeError {
    /// The partition the message came from, if it came from a broker.
    pub partition: Option<Partition>,
    /// Its offset, if it came from a broker.
    pub offset: Option<u64>,
    /// Why decoding failed.
    #[source]
    pub source: CodecError,
}

/// A message that did not decode: the message, handed back as it came (so
/// its bytes can go to a dead-letter topic), and why.
///
/// It reads as its [`DecodeError`] does (where, then the codec's reason as
/// the source), so a report prints each part once.
#[derive(Debug)]
pub struct Undecodable {
    /// The message, unchanged.
    pub message: Message<Payload>,
    /// What failed, and where.
    pub error: DecodeError,
}

impl std::fmt::Display for Undecodable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.error.fmt(f)
    }
}

impl std::error::Error for Undecodable {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.error.source)
    }
}

fn describe(partition: &Option<Partition>, offset: &Option<u64>) -> String {
    match (partition, offset) {
        (Some(p), Some(o)) => format!("{p} offset {o}"),
        (Some(p), None) => p.to_string(),
        _ => "an unknown position".to_owned(),
    }
}

/// Encodes values to bytes and decodes them back.
///
/// [`MsgPack`] is the default; [`Json`] comes with the `json` feature.
///
/// ```
/// use weir_core::{Codec, MsgPack};
/// #[derive(serde::Serialize, serde::Deserialize, PartialEq, Debug)]
/// struct Order { id: u64 }
/// let bytes = MsgPack.encode(&Order { id: 7 }).unwrap();
/// assert_eq!(MsgPack.decode::<Order>(&bytes).unwrap(), Order { id: 7 });
/// assert!(MsgPack.decode::<Order>(b"\xc1").is_err());
/// ```
pub trait Codec: Send + Sync + 'static {
    /// A short name for errors and headers (`"msgpack"`, `"json"`).
    fn name(&self) -> &'static str;

    /// Encodes `value`.
    fn encode<T: Serialize + ?Sized>(&self, value: &T) -> Result<Bytes, CodecError>;

    /// Decodes a `T` from `bytes`.
    fn decode<T: DeserializeOwned>(&self, bytes: &[u8]) -> Result<T, CodecError>;

    /// Decodes the value of a broker message, naming its partition and
    /// offset on failure and handing the message back whole.
    fn decode_message<T: DeserializeOwned>(
        &self,
        message: Message<Payload>,
    ) -> Result<Message<T>, Box<Undecodable>> {
        let decoded = self.decode::<T>(&message.payload().value);
        match decoded {
            Ok(value) => Ok(message.replace(value)),
            Err(source) => {
                let (partition, offset) = match message.position() {
                    Some((p, o)) => (Some(p.clone()), Some(o)),
                    None => (None, None),
                };
                Err(Box::new(Undecodable {
                    message,
                    error: DecodeError {
                        partition,
                        offset,
                        source,
                    },
                }))
            }
        }
    }
}

/// MessagePack through `rmp-serde`, with struct fields by name so that adding
/// an optional field stays compatible.
#[derive(Clone, Copy, Debug, Default)]
pub struct MsgPack;

impl Codec for MsgPack {
    fn name(&self) -> &'static str {
        "msgpack"
    }

    fn encode<T: Serialize + ?Sized>(&self, value: &T) -> Result<Bytes, CodecError> {
        // Room for a typical record up front: growing from empty costs
        // several reallocations per value.
        let mut buf = Vec::with_capacity(256);
        rmp_serde::encode::write_named(&mut buf, value)
            .map(|()| Bytes::from(buf))
            .map_err(|e| CodecError::Encode {
                codec: "msgpack",
                reason: e.to_string(),
            })
    }

    fn decode<T: DeserializeOwned>(&self, bytes: &[u8]) -> Result<T, CodecError> {
        rmp_serde::from_slice(bytes).map_err(|e| CodecError::Decode {
            codec: "msgpack",
            len: bytes.len(),
            reason: e.to_string(),
        })
    }
}

/// JSON through `serde_json`.
#[cfg(feature = "json")]
#[derive(Clone, Copy, Debug, Default)]
pub struct Json;

#[cfg(feature = "json")]
impl Codec for Json {
    fn name(&self) -> &'static str {
        "json"
    }

    fn encode<T: Serialize + ?Sized>(&self, value: &T) -> Result<Bytes, CodecError> {
        serde_json::to_vec(value)
            .map(Bytes::from)
            .map_err(|e| CodecError::Encode {
                codec: "json",
                reason: e.to_string(),
            })
    }

    fn decode<T: DeserializeOwned>(&self, bytes: &[u8]) -> Result<T, CodecError> {
        serde_json::from_slice(bytes).map_err(|e| CodecError::Decode {
            codec: "json",
            len: bytes.len(),
            reason: e.to_string(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::SystemTime;

    #[derive(serde::Serialize, serde::Deserialize, Debug, PartialEq)]
    struct Job {
        name: String,
        n: u32,
    }

    #[test]
    fn msgpack_round_trips() {
        let job = Job {
            name: "a".into(),
            n: 3,
        };
        let bytes = MsgPack.encode(&job).expect("encodes");
        assert_eq!(MsgPack.decode::<Job>(&bytes).expect("decodes"), job);
    }

    #[test]
    fn corrupt_payload_names_partition_and_offset() {
        let p = Partition::new("orders", 3);
        let m = Message::broker(
            Payload::new(&b"\xff\x00garbage"[..]),
            p.clone(),
            17,
            SystemTime::UNIX_EPOCH,
        );
        let failed = MsgPack.decode_message::<Job>(m).expect_err("must fail");
        let mut chain = vec![failed.to_string()];
        let mut next = std::error::Error::source(&*failed);
        while let Some(e) = next {
            chain.push(e.to_string());
            next = e.source();
        }
        assert_eq!(chain.len(), 2, "{chain:?}");
        assert_eq!(chain[0], "cannot decode the message at orders/3 offset 17");
        assert!(
            chain[1].starts_with("msgpack could not decode 9 bytes"),
            "{chain:?}"
        );
        let Undecodable {
            message: back,
            error: err,
        } = *failed;
        let text = err.to_string();
        assert!(
            text.contains("orders/3") && text.contains("offset 17"),
            "{text}"
        );
        assert_eq!(
            &back.payload().value[..],
            b"\xff\x00garbage",
            "original bytes kept"
        );
    }

    #[test]
    fn wrong_type_is_a_decode_error() {
        let bytes = MsgPack.encode(&"just a string").expect("encodes");
        assert!(matches!(
            MsgPack.decode::<Job>(&bytes),
            Err(CodecError::Decode { .. })
        ));
    }

    #[cfg(feature = "json")]
    #[test]
    fn json_round_trips() {
        let job = Job {
            name: "b".into(),
            n: 1,
        };
        let bytes = Json.encode(&job).expect("encodes");
        assert_eq!(&bytes[..], br#"{"name":"b","n":1}"#);
        assert_eq!(Json.decode::<Job>(&bytes).expect("decodes"), job);
    }
}
