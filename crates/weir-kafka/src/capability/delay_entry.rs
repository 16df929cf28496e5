//! A delay entry: a payload waiting on a delay topic, with its due time and
//! destination in headers.
//!
//! The headers are `weir-delay-due` (milliseconds since the Unix epoch),
//! `weir-delay-topic` (the topic it goes to) and `weir-delay-partition`
//! (its partition, absent when the producer's partitioner chooses). They are
//! added on the way in and removed on the way out, so the payload reaches
//! its topic as it was given; headers of a payload that carry these names
//! are taken for the entry's own.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use weir_core::{Destination, Payload, Topic};

/// The header holding an entry's due time.
pub(crate) const DUE: &str = "weir-delay-due";
/// The header naming the topic an entry goes to.
pub(crate) const TARGET_TOPIC: &str = "weir-delay-topic";
/// The header holding the partition an entry goes to, if it names one.
pub(crate) const TARGET_PARTITION: &str = "weir-delay-partition";

/// `payload` as the delay entry of `destination`, due at `due`.
pub(crate) fn wrap(destination: &Destination, mut payload: Payload, due: SystemTime) -> Payload {
    let ms = due
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX));
    payload.headers.insert(DUE, ms.to_string());
    payload
        .headers
        .insert(TARGET_TOPIC, destination.topic().as_str().to_owned());
    if let Destination::Partition(p) = destination {
        payload
            .headers
            .insert(TARGET_PARTITION, p.index.to_string());
    }
    payload
}

/// A delay entry read back: what goes where, and when.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Waiting {
    /// When it falls due.
    pub(crate) due: SystemTime,
    /// Where it goes.
    pub(crate) destination: Destination,
    /// What it carries, without the entry's headers.
    pub(crate) payload: Payload,
}

fn number<T: std::str::FromStr>(payload: &Payload, name: &str) -> Option<T> {
    let bytes = payload.headers.get(name)?;
    std::str::from_utf8(bytes).ok()?.trim().parse().ok()
}

/// The entry `payload` read from the delay topic of `target`. It always goes
/// to `target` (the delay topic belongs to it); an entry whose due time is
/// missing or unreadable is due at once, one whose partition is missing or
/// unreadable goes where the partitioner puts it: never dropped.
pub(crate) fn unwrap(target: &Topic, mut payload: Payload) -> Waiting {
    let due = number::<u64>(&payload, DUE).map(|ms| UNIX_EPOCH + Duration::from_millis(ms));
    if due.is_none() {
        tracing::warn!(topic = %target, "kafka: a delay entry without a readable due time is due at once");
    }
    let named = payload.headers.get(TARGET_TOPIC).cloned();
    if named
        .as_deref()
        .is_some_and(|t| t != target.as_str().as_bytes())
    {
        tracing::warn!(topic = %target, "kafka: a delay entry names another topic; it goes to its delay topic's");
    }
    let partition = number::<u32>(&payload, TARGET_PARTITION);
    for name in [DUE, TARGET_TOPIC, TARGET_PARTITION] {
        payload.headers.remove(name);
    }
    Waiting {
        due: due.unwrap_or(UNIX_EPOCH),
        destination: partition.map_or_else(
            || Destination::Topic(target.clone()),
            |index| Destination::Partition(target.partition(index)),
        ),
        payload,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_entry_comes_back_as_it_went_in() {
        let target = Topic::new("jobs");
        let due = UNIX_EPOCH + Duration::from_millis(1_700_000_000_123);
        let payload = Payload::new("job")
            .with_key("k")
            .with_header("trace", "t-1");
        for destination in [
            Destination::Topic(target.clone()),
            Destination::Partition(target.partition(3)),
        ] {
            let entry = wrap(&destination, payload.clone(), due);
            assert_eq!(
                entry.headers.get(DUE).map(|v| &v[..]),
                Some(&b"1700000000123"[..])
            );
            let back = unwrap(&target, entry);
            assert_eq!(
                back,
                Waiting {
                    due,
                    destination,
                    payload: payload.clone()
                }
            );
        }
    }

    #[test]
    fn an_unreadable_entry_is_due_at_once_and_still_delivered() {
        let target = Topic::new("jobs");
        let entry = Payload::new("job")
            .with_header(DUE, "soon")
            .with_header(TARGET_PARTITION, "-1");
        let back = unwrap(&target, entry);
        assert_eq!(back.due, UNIX_EPOCH);
        assert_eq!(back.destination, Destination::Topic(target));
        assert!(back.payload.headers.is_empty());
        assert_eq!(&back.payload.value[..], b"job");
    }
}
