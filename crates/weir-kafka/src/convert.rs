//! rdkafka's types as Weir's, and back: partition indexes, offsets,
//! timestamps, topic partition lists, and messages as payloads.
//!
//! librdkafka counts partitions and offsets in signed integers and marks
//! "none" with negative ones; Weir's are unsigned. Every crossing goes
//! through here, so none can wrap or panic: an index or offset too large
//! for librdkafka saturates (the broker then refuses it), a negative one
//! from librdkafka is "none", and a message without a usable timestamp is
//! stamped with the time it was read.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use rdkafka::message::{Headers as _, Message};
use rdkafka::{Offset, TopicPartitionList};
use weir_core::{CommitRequest, Headers, Partition, Payload};

use crate::arena::Arena;
use crate::inbox;

/// The partition's index as librdkafka counts it.
pub(crate) fn index_of(partition: &Partition) -> i32 {
    i32::try_from(partition.index).unwrap_or(i32::MAX)
}

/// Offset `offset` as librdkafka names it.
pub(crate) fn kafka_offset(offset: u64) -> Offset {
    Offset::Offset(i64::try_from(offset).unwrap_or(i64::MAX))
}

/// A librdkafka offset as Weir's (`None`: a logical offset, such as "none
/// committed", or a negative one).
pub(crate) fn weir_offset(offset: Offset) -> Option<u64> {
    match offset {
        Offset::Offset(n) => u64::try_from(n).ok(),
        _ => None,
    }
}

/// A timestamp in milliseconds since the epoch, if librdkafka has one (and
/// it is not before the epoch); else now.
pub(crate) fn time_of_ms(ms: Option<i64>) -> SystemTime {
    ms.and_then(|ms| u64::try_from(ms).ok())
        .map_or_else(SystemTime::now, |ms| UNIX_EPOCH + Duration::from_millis(ms))
}

/// A topic partition list of `parts`, at `offset` when given.
pub(crate) fn tpl_of(parts: &[Partition], offset: Option<&CommitRequest>) -> TopicPartitionList {
    let mut tpl = TopicPartitionList::with_capacity(parts.len());
    for p in parts {
        let mut e = tpl.add_partition(p.topic.as_str(), index_of(p));
        if let Some(o) = offset.and_then(|req| req.get(p)) {
            let _ = e.set_offset(kafka_offset(o));
        }
    }
    tpl
}

/// The payload of a message from rdkafka's API, copied.
pub(crate) fn payload_of<M: Message>(msg: &M) -> Payload {
    let mut headers = Headers::new();
    if let Some(hs) = msg.headers() {
        for h in hs.iter() {
            let value = h.value.map(Bytes::copy_from_slice).unwrap_or_default();
            headers.insert(h.key, value);
        }
    }
    Payload {
        key: msg.key().map(Bytes::copy_from_slice),
        value: msg
            .payload()
            .map(Bytes::copy_from_slice)
            .unwrap_or_default(),
        headers,
    }
}

/// A message read from the inbox as a [`Payload`]: key and value copied
/// into the batch's arena, headers only when it has some.
pub(crate) fn payload_of_raw(msg: inbox::Message<'_>, arena: &mut Arena) -> Payload {
    let mut headers = Headers::new();
    msg.for_each_header(|name, value| {
        headers.insert(name, value.map(Bytes::copy_from_slice).unwrap_or_default());
    });
    Payload {
        key: msg.key().map(|key| arena.copy(key)),
        value: msg.payload().map(|v| arena.copy(v)).unwrap_or_default(),
        headers,
    }
}

/// The time a message from rdkafka's API was stamped with.
pub(crate) fn timestamp_of<M: Message>(msg: &M) -> SystemTime {
    time_of_ms(msg.timestamp().to_millis())
}

#[cfg(test)]
mod tests {
    use rdkafka::Timestamp;
    use rdkafka::message::{Header, OwnedHeaders, OwnedMessage};

    use super::*;

    #[test]
    fn indexes_and_offsets_saturate_instead_of_wrapping() {
        assert_eq!(index_of(&Partition::new("t", 3)), 3);
        assert_eq!(index_of(&Partition::new("t", u32::MAX)), i32::MAX);
        assert_eq!(kafka_offset(7), Offset::Offset(7));
        assert_eq!(kafka_offset(u64::MAX), Offset::Offset(i64::MAX));
    }

    #[test]
    fn only_real_offsets_come_back() {
        assert_eq!(weir_offset(Offset::Offset(12)), Some(12));
        assert_eq!(weir_offset(Offset::Offset(-1)), None);
        assert_eq!(weir_offset(Offset::Invalid), None);
        assert_eq!(weir_offset(Offset::End), None);
    }

    #[test]
    fn timestamps_before_the_epoch_or_missing_are_now() {
        let at = time_of_ms(Some(1_700_000_000_123));
        assert_eq!(at, UNIX_EPOCH + Duration::from_millis(1_700_000_000_123));
        let before = SystemTime::now();
        assert!(time_of_ms(None) >= before);
        assert!(time_of_ms(Some(-1)) >= before);
    }

    #[test]
    fn partition_lists_carry_the_requested_offsets() {
        let (a, b) = (Partition::new("t", 0), Partition::new("u", 2));
        let request: CommitRequest = [(a.clone(), 5)].into_iter().collect();
        let tpl = tpl_of(&[a, b], Some(&request));
        assert_eq!(tpl.count(), 2);
        let offset = |topic: &str, index| tpl.find_partition(topic, index).map(|e| e.offset());
        assert_eq!(offset("t", 0), Some(Offset::Offset(5)));
        assert_eq!(offset("u", 2), Some(Offset::Invalid));
    }

    #[test]
    fn messages_become_payloads_with_their_time() {
        let headers = OwnedHeaders::new()
            .insert(Header {
                key: "kind",
                value: Some("a"),
            })
            .insert(Header::<&[u8]> {
                key: "empty",
                value: None,
            });
        let msg = OwnedMessage::new(
            Some(b"value".to_vec()),
            Some(b"key".to_vec()),
            "t".to_owned(),
            Timestamp::CreateTime(1_000),
            0,
            4,
            Some(headers),
        );
        let payload = payload_of(&msg);
        assert_eq!(&payload.value[..], b"value");
        assert_eq!(payload.key.as_deref(), Some(&b"key"[..]));
        assert_eq!(payload.headers.get("kind").map(|v| &v[..]), Some(&b"a"[..]));
        assert_eq!(payload.headers.get("empty").map(|v| &v[..]), Some(&b""[..]));
        assert_eq!(timestamp_of(&msg), UNIX_EPOCH + Duration::from_secs(1));

        let bare = OwnedMessage::new(
            None,
            None,
            "t".to_owned(),
            Timestamp::NotAvailable,
            0,
            0,
            None,
        );
        assert_eq!(payload_of(&bare), Payload::default());
    }
}
