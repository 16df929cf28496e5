//! The Redis keys of one namespace (key prefix), laid out for Redis Cluster.
//!
//! Every key that one script or one command touches shares a hash tag (the
//! part in braces, which alone decides a key's slot on a cluster):
//!
//! - a partition's keys (its stream, message counter, committed offsets,
//!   leases and delayed messages) share `{prefix:len:topic:index}`, so every
//!   script on a partition touches one slot and partitions spread over the
//!   shards;
//! - a topic's metadata has `{prefix:len:topic}`, a group's membership
//!   `{prefix:g:group}`, and the set of topic names `{prefix}`.
//!
//! Topic-wide operations (creating and deleting a topic, a group's
//! heartbeat over many partitions) therefore go partition by partition, and
//! nothing assumes two of these tags share a slot. On one server the tags
//! are just part of the names.
//!
//! Names that may contain `:` are length-prefixed where two of them meet, so
//! no two (topic, partition, group) triples share a key. The key prefix has
//! no braces (the config refuses them), so every tag is non-empty and the
//! keys of one partition share their slot whatever the names hold: a `}` in a
//! topic name only cuts the tag short, the same way for each of them.

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

    /// The hash tag of a partition's keys.
    fn partition(&self, p: &Partition) -> String {
        format!(
            "{{{}:{}:{}:{}}}",
            self.prefix,
            p.topic.as_str().len(),
            p.topic,
            p.index
        )
    }

    /// The hash tag of a topic's metadata.
    fn topic(&self, topic: &Topic) -> String {
        format!("{{{}:{}:{topic}}}", self.prefix, topic.as_str().len())
    }

    /// The hash tag of a group's membership keys.
    fn group(&self, group: &str) -> String {
        format!("{{{}:g:{group}}}", self.prefix)
    }

    /// The set of topic names.
    pub(crate) fn topics(&self) -> String {
        format!("{{{}}}:topics", self.prefix)
    }

    /// A topic's metadata hash (`partitions`).
    pub(crate) fn meta(&self, topic: &Topic) -> String {
        format!("{}:meta", self.topic(topic))
    }

    /// A partition's stream.
    pub(crate) fn stream(&self, p: &Partition) -> String {
        format!("{}:stream", self.partition(p))
    }

    /// A partition's message counter: the offset after its last message.
    pub(crate) fn end(&self, p: &Partition) -> String {
        format!("{}:end", self.partition(p))
    }

    /// Committed offsets of every group on a partition (field: the group).
    pub(crate) fn offsets(&self, p: &Partition) -> String {
        format!("{}:offsets", self.partition(p))
    }

    /// A group's live members (sorted set scored by expiry, ms).
    pub(crate) fn members(&self, group: &str) -> String {
        format!("{}:members", self.group(group))
    }

    /// A group's member subscriptions (hash member -> topics).
    pub(crate) fn subscriptions(&self, group: &str) -> String {
        format!("{}:subs", self.group(group))
    }

    /// A counter bumped whenever the group's membership or leases change.
    pub(crate) fn epoch(&self, group: &str) -> String {
        format!("{}:epoch", self.group(group))
    }

    /// The lease naming a partition's owner within a group.
    pub(crate) fn lease(&self, group: &str, p: &Partition) -> String {
        format!("{}:lease:{group}", self.partition(p))
    }

    /// Delayed entries of a partition: due times (sorted set), payloads
    /// (hash) and the counter naming them.
    pub(crate) fn delayed(&self, p: &Partition) -> [String; 3] {
        let tag = self.partition(p);
        [
            format!("{tag}:delay:due"),
            format!("{tag}:delay:data"),
            format!("{tag}:delay:ids"),
        ]
    }

    pub(crate) fn dedup(&self, scope: &str, id: &str) -> String {
        format!("{}:dedup:{}:{scope}:{id}", self.prefix, scope.len())
    }

    /// The holders of a name's permits (sorted set).
    pub(crate) fn permits(&self, name: &str) -> String {
        format!("{}:permits:{name}", self.prefix)
    }

    /// Joined in one allocation of the right size, not with `format!`: a
    /// worker makes a few per job.
    pub(crate) fn result(&self, id: &str) -> String {
        [self.prefix.as_str(), ":result:", id].concat()
    }

    /// The pub/sub channel announcing stored results: each message names
    /// the ids one pipeline stored (see `capability/frame.rs`).
    pub(crate) fn results_ready(&self) -> String {
        format!("{}:results-ready", self.prefix)
    }

    pub(crate) fn channel(&self, name: &str) -> String {
        format!("{}:events:{name}", self.prefix)
    }
}

#[cfg(test)]
mod tests {
    use redis::cluster_routing::Slot;

    use super::*;

    #[test]
    fn a_partitions_keys_share_one_slot_and_partitions_spread() {
        let keys = Keys::new("weir");
        for topic in ["orders", "a:b", "odd}name", "{x}"] {
            let topic = Topic::new(topic);
            let p = topic.partition(3);
            let [due, data, ids] = keys.delayed(&p);
            let all = [
                keys.stream(&p),
                keys.end(&p),
                keys.offsets(&p),
                keys.lease("g", &p),
                due,
                data,
                ids,
            ];
            let slot = Slot::for_key(&all[0]);
            assert!(all.iter().all(|k| Slot::for_key(k) == slot), "{all:?}");
        }
        let topic = Topic::new("orders");
        let slots: std::collections::HashSet<Slot> = (0..8)
            .map(|i| Slot::for_key(keys.stream(&topic.partition(i))))
            .collect();
        assert!(slots.len() > 4, "partitions spread over slots: {slots:?}");
        let group = [keys.members("g"), keys.subscriptions("g"), keys.epoch("g")];
        assert!(
            group
                .iter()
                .all(|k| Slot::for_key(k) == Slot::for_key(&group[0]))
        );
    }
}
