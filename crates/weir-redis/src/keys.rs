//! The Redis keys of one namespace (key prefix).
//!
//! Names that may contain `:` are length-prefixed where two of them meet, so
//! no two (topic, partition, group) triples share a key.

use weir_core::{Partition, Topic};

#[derive(Clone, Debug)]
pub(crate) struct Keys {
    prefix: String,
}

impl Keys {
    pub(crate) fn new(prefix: &str) -> Self {
        Keys {
            prefix: prefix.to_owned(),
        }
    }

    /// The set of topic names.
    pub(crate) fn topics(&self) -> String {
        format!("{}:topics", self.prefix)
    }

    /// A topic's metadata hash (`partitions`).
    pub(crate) fn meta(&self, topic: &Topic) -> String {
        format!("{}:meta:{topic}", self.prefix)
    }

    /// A partition's stream.
    pub(crate) fn stream(&self, p: &Partition) -> String {
        format!("{}:stream:{}:{}", self.prefix, p.topic, p.index)
    }

    /// A partition's message counter: the offset after its last message.
    pub(crate) fn end(&self, p: &Partition) -> String {
        format!("{}:end:{}:{}", self.prefix, p.topic, p.index)
    }

    /// Committed offsets of every group on a topic (field: [`Keys::offset_field`]).
    pub(crate) fn offsets(&self, topic: &Topic) -> String {
        format!("{}:offsets:{topic}", self.prefix)
    }

    pub(crate) fn offset_field(group: &str, index: u32) -> String {
        format!("{index}:{group}")
    }

    /// A group's live members (sorted set scored by expiry, ms).
    pub(crate) fn members(&self, group: &str) -> String {
        format!("{}:group:{group}:members", self.prefix)
    }

    /// A group's member subscriptions (hash member -> topics).
    pub(crate) fn subscriptions(&self, group: &str) -> String {
        format!("{}:group:{group}:subs", self.prefix)
    }

    /// A counter bumped whenever the group's membership or leases change.
    pub(crate) fn epoch(&self, group: &str) -> String {
        format!("{}:group:{group}:epoch", self.prefix)
    }

    /// The lease naming a partition's owner within a group.
    pub(crate) fn lease(&self, group: &str, p: &Partition) -> String {
        format!(
            "{}:lease:{}:{}:{}:{group}",
            self.prefix,
            p.topic.as_str().len(),
            p.topic,
            p.index
        )
    }

    /// Delayed entries of a topic: due times (sorted set) and payloads (hash).
    pub(crate) fn delayed(&self, topic: &Topic) -> (String, String) {
        (
            format!("{}:delay:{topic}:due", self.prefix),
            format!("{}:delay:{topic}:data", self.prefix),
        )
    }

    /// A counter naming delayed entries.
    pub(crate) fn delayed_ids(&self) -> String {
        format!("{}:delay-ids", self.prefix)
    }

    pub(crate) fn dedup(&self, scope: &str, id: &str) -> String {
        format!("{}:dedup:{}:{scope}:{id}", self.prefix, scope.len())
    }

    pub(crate) fn result(&self, id: &str) -> String {
        format!("{}:result:{id}", self.prefix)
    }

    /// The pub/sub channel announcing a stored result.
    pub(crate) fn result_channel(&self, id: &str) -> String {
        format!("{}:result-ready:{id}", self.prefix)
    }

    pub(crate) fn channel(&self, name: &str) -> String {
        format!("{}:events:{name}", self.prefix)
    }
}
