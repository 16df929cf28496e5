//! Reading the server's replies: what an append returned, and what a read
//! (the group's epoch, `XREADGROUP`, the partitions' ends) brought.
//!
//! Replies come from the network, so nothing here trusts their shape: an
//! item of an unexpected type is passed over (a stream or entry this
//! backend cannot use is the reader's concern, which logs it), and a reply
//! the read cannot do without is an error, never a panic. Both the RESP2
//! (arrays of pairs) and the RESP3 (maps) forms of `XREADGROUP` are read.

use redis::Value;
use weir_core::BrokerError;

/// One stream's entries in a read reply: its key and `(id, fields)` pairs.
pub(crate) type StreamEntries = (String, Vec<(Vec<u8>, Value)>);

/// What one read brought.
#[derive(Debug, PartialEq)]
pub(crate) struct ReadReply {
    /// The group's epoch (`None`: not set yet).
    pub(crate) epoch: Option<u64>,
    /// The `XREADGROUP` reply (`Nil` when nothing came).
    pub(crate) entries: Value,
    /// Each partition's end after the read, in the order of the read's keys
    /// (`None`: nothing was ever appended).
    pub(crate) ends: Vec<Option<u64>>,
}

impl ReadReply {
    /// The replies of a read pipeline: `GET` of the epoch, `XREADGROUP`,
    /// then a `GET` of each partition's counter. Fails if the epoch or an
    /// end is not a number.
    pub(crate) fn from_pipeline(mut replies: Vec<Value>) -> Result<ReadReply, BrokerError> {
        let ends = replies.split_off(2.min(replies.len()));
        let mut head = replies.into_iter();
        let epoch = match head.next() {
            Some(v) => number(v)?,
            None => None,
        };
        let ends = ends.into_iter().map(number).collect::<Result<_, _>>()?;
        Ok(ReadReply {
            epoch,
            entries: head.next().unwrap_or(Value::Nil),
            ends,
        })
    }

    /// A read of no partition: only the epoch was fetched.
    pub(crate) fn epoch_only(epoch: Option<u64>) -> ReadReply {
        ReadReply {
            epoch,
            entries: Value::Nil,
            ends: Vec::new(),
        }
    }
}

/// A `GET` of a counter: `None` for nil, an error for anything but a number.
fn number(v: Value) -> Result<Option<u64>, BrokerError> {
    redis::from_redis_value(v).map_err(|e| BrokerError::backend("redis", e))
}

/// The end (offset after its last message) of the entry an append added
/// (`None` for a nil reply, the stream is gone, or anything but a
/// non-negative integer).
pub(crate) fn append_end(reply: &Value) -> Option<u64> {
    match reply {
        Value::Int(end) => u64::try_from(*end).ok(),
        _ => None,
    }
}

/// `[[key, [[id, fields], ...]], ...]` (RESP2) or a map (RESP3) as pairs.
pub(crate) fn stream_entries(reply: Value) -> Vec<StreamEntries> {
    let streams: Vec<(Value, Value)> = match reply {
        Value::Array(items) => items
            .into_iter()
            .filter_map(|s| match s {
                Value::Array(mut kv) if kv.len() == 2 => {
                    let entries = kv.pop()?;
                    let key = kv.pop()?;
                    Some((key, entries))
                }
                _ => None,
            })
            .collect(),
        Value::Map(pairs) => pairs,
        _ => Vec::new(),
    };
    streams
        .into_iter()
        .filter_map(|(key, entries)| {
            let key = match key {
                Value::BulkString(b) => String::from_utf8(b).ok()?,
                Value::SimpleString(s) => s,
                _ => return None,
            };
            let Value::Array(_) = entries else {
                return None;
            };
            let entries = entry_list(entries);
            Some((key, entries))
        })
        .collect()
}

/// `[[id, fields], ...]` (an XRANGE-style entry list) as `(id, fields)` pairs.
fn entry_list(entries: Value) -> Vec<(Vec<u8>, Value)> {
    let Value::Array(entries) = entries else {
        return Vec::new();
    };
    entries
        .into_iter()
        .filter_map(|e| match e {
            Value::Array(mut pair) if pair.len() == 2 => {
                let fields = pair.pop()?;
                match pair.pop()? {
                    Value::BulkString(id) => Some((id, fields)),
                    Value::SimpleString(id) => Some((id.into_bytes(), fields)),
                    _ => None,
                }
            }
            _ => None,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bulk(s: &str) -> Value {
        Value::BulkString(s.as_bytes().to_vec())
    }

    fn fields() -> Value {
        Value::Array(vec![bulk("n"), bulk("1"), bulk("m"), bulk("data")])
    }

    fn entry(id: &str) -> Value {
        Value::Array(vec![bulk(id), fields()])
    }

    #[test]
    fn resp2_read_replies_give_each_stream_its_entries() {
        let reply = Value::Array(vec![
            Value::Array(vec![
                bulk("p:0"),
                Value::Array(vec![entry("0-3"), entry("0-5")]),
            ]),
            Value::Array(vec![
                Value::SimpleString("p:1".into()),
                Value::Array(vec![Value::Array(vec![
                    Value::SimpleString("0-1".into()),
                    fields(),
                ])]),
            ]),
        ]);
        assert_eq!(
            stream_entries(reply),
            vec![
                (
                    "p:0".to_owned(),
                    vec![(b"0-3".to_vec(), fields()), (b"0-5".to_vec(), fields())]
                ),
                ("p:1".to_owned(), vec![(b"0-1".to_vec(), fields())]),
            ]
        );
    }

    #[test]
    fn resp3_read_replies_are_maps() {
        let reply = Value::Map(vec![(bulk("p:0"), Value::Array(vec![entry("0-2")]))]);
        assert_eq!(
            stream_entries(reply),
            vec![("p:0".to_owned(), vec![(b"0-2".to_vec(), fields())])]
        );
    }

    #[test]
    fn malformed_read_replies_yield_what_is_well_formed() {
        // Not a list of streams at all.
        assert!(stream_entries(Value::Nil).is_empty());
        assert!(stream_entries(Value::Int(3)).is_empty());
        assert!(stream_entries(bulk("p:0")).is_empty());
        let reply = Value::Array(vec![
            // A stream pair of the wrong length.
            Value::Array(vec![bulk("p:9")]),
            // A key that is not a string, or not UTF-8.
            Value::Array(vec![Value::Int(1), Value::Array(vec![entry("0-1")])]),
            Value::Array(vec![
                Value::BulkString(vec![0xff, 0xfe]),
                Value::Array(vec![entry("0-1")]),
            ]),
            // Entries that are not a list.
            Value::Array(vec![bulk("p:8"), bulk("0-1")]),
            // Not a pair.
            bulk("p:7"),
            // A good stream whose list mixes good and bad entries.
            Value::Array(vec![
                bulk("p:0"),
                Value::Array(vec![
                    entry("0-4"),
                    Value::Array(vec![Value::Int(4), fields()]),
                    Value::Array(vec![bulk("0-5")]),
                    Value::Nil,
                    entry("0-6"),
                ]),
            ]),
        ]);
        assert_eq!(
            stream_entries(reply),
            vec![(
                "p:0".to_owned(),
                vec![(b"0-4".to_vec(), fields()), (b"0-6".to_vec(), fields())]
            )]
        );
    }

    #[test]
    fn an_empty_stream_keeps_its_key() {
        let reply = Value::Array(vec![Value::Array(vec![bulk("p:0"), Value::Array(vec![])])]);
        assert_eq!(stream_entries(reply), vec![("p:0".to_owned(), vec![])]);
    }

    #[test]
    fn append_replies_give_the_end_or_nothing() {
        assert_eq!(append_end(&Value::Int(42)), Some(42));
        assert_eq!(append_end(&Value::Int(0)), Some(0));
        assert_eq!(append_end(&Value::Int(-1)), None);
        assert_eq!(append_end(&Value::Nil), None);
        assert_eq!(append_end(&bulk("42")), None);
    }

    #[test]
    fn read_pipelines_give_epoch_entries_and_ends() {
        let entries = Value::Array(vec![]);
        let replies = vec![
            bulk("7"),
            entries.clone(),
            bulk("12"),
            Value::Nil,
            Value::Int(3),
        ];
        assert_eq!(
            ReadReply::from_pipeline(replies).ok(),
            Some(ReadReply {
                epoch: Some(7),
                entries,
                ends: vec![Some(12), None, Some(3)],
            })
        );
        // No epoch yet, nothing read.
        assert_eq!(
            ReadReply::from_pipeline(vec![Value::Nil, Value::Nil]).ok(),
            Some(ReadReply::epoch_only(None))
        );
        // A short reply lacks only what it lacks.
        assert_eq!(
            ReadReply::from_pipeline(vec![Value::Int(2)]).ok(),
            Some(ReadReply::epoch_only(Some(2)))
        );
        assert_eq!(
            ReadReply::from_pipeline(Vec::new()).ok(),
            Some(ReadReply::epoch_only(None))
        );
    }

    #[test]
    fn read_pipelines_with_a_bad_number_are_errors() {
        let bad_epoch = vec![bulk("seven"), Value::Nil];
        assert!(matches!(
            ReadReply::from_pipeline(bad_epoch),
            Err(BrokerError::Backend {
                backend: "redis",
                ..
            })
        ));
        let bad_end = vec![Value::Nil, Value::Nil, bulk("1"), bulk("-")];
        assert!(ReadReply::from_pipeline(bad_end).is_err());
    }
}
