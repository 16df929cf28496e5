//! How a service turns its typed messages into bytes.

use bytes::Bytes;
use serde::Serialize;
use serde::de::DeserializeOwned;
use weir_core::{Codec, CodecError, Json, MsgPack};

/// The codec a service's consumers and producers use: one per service, so
/// that its topics read alike. MessagePack by default.
///
/// An enum rather than a type parameter, so that a service definition is one
/// type whatever it encodes with.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum Encoding {
    /// MessagePack ([`MsgPack`]): compact, the default.
    #[default]
    MsgPack,
    /// JSON ([`Json`]): readable in broker tools.
    Json,
}

impl Encoding {
    /// The codec's name.
    pub fn name(self) -> &'static str {
        match self {
            Encoding::MsgPack => MsgPack.name(),
            Encoding::Json => Json.name(),
        }
    }

    /// `value` as bytes.
    ///
    /// # Errors
    ///
    /// [`CodecError::Encode`] when the value cannot be serialised.
    pub fn encode<T: Serialize + ?Sized>(self, value: &T) -> Result<Bytes, CodecError> {
        match self {
            Encoding::MsgPack => MsgPack.encode(value),
            Encoding::Json => Json.encode(value),
        }
    }

    /// The value these bytes encode.
    ///
    /// # Errors
    ///
    /// [`CodecError::Decode`] when they are no valid encoding of `T`.
    pub fn decode<T: DeserializeOwned>(self, bytes: &[u8]) -> Result<T, CodecError> {
        match self {
            Encoding::MsgPack => MsgPack.decode(bytes),
            Encoding::Json => Json.decode(bytes),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_round_trip_and_refuse_the_wrong_type() {
        for e in [Encoding::MsgPack, Encoding::Json] {
            let bytes = e.encode(&("word", 3u32)).unwrap();
            assert_eq!(
                e.decode::<(String, u32)>(&bytes).unwrap(),
                ("word".into(), 3)
            );
            assert!(e.decode::<Vec<bool>>(&bytes).is_err(), "{}", e.name());
        }
    }
}
