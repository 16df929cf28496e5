//! How a group divides partitions among its members.

use std::collections::{BTreeMap, BTreeSet};

use weir_core::{Partition, Topic};

/// The rule a consumer group uses to divide partitions among its members.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Assignor {
    /// Per topic, each member takes a contiguous range of partitions (Kafka's default).
    #[default]
    Range,
    /// All partitions of all topics dealt to the members in turn.
    RoundRobin,
}

/// A member id: members are ordered by when they joined.
pub(crate) type MemberId = u64;

impl Assignor {
    /// Divides the partitions of `topics` (name -> partition count) among
    /// `members` (id -> subscribed topics). A partition goes only to a member
    /// subscribed to its topic; every partition of a subscribed topic goes to
    /// exactly one member.
    pub(crate) fn assign(
        self,
        members: &BTreeMap<MemberId, BTreeSet<Topic>>,
        topics: &BTreeMap<Topic, u32>,
    ) -> BTreeMap<MemberId, BTreeSet<Partition>> {
        let mut out: BTreeMap<MemberId, BTreeSet<Partition>> =
            members.keys().map(|&m| (m, BTreeSet::new())).collect();
        match self {
            Assignor::Range => {
                for (topic, &count) in topics {
                    let subs: Vec<MemberId> = members
                        .iter()
                        .filter(|(_, t)| t.contains(topic))
                        .map(|(&m, _)| m)
                        .collect();
                    if subs.is_empty() {
                        continue;
                    }
                    let n = subs.len() as u32;
                    let (each, extra) = (count / n, count % n);
                    let mut next = 0u32;
                    for (i, m) in subs.iter().enumerate() {
                        let take = each + u32::from((i as u32) < extra);
                        let set = out.entry(*m).or_default();
                        for index in next..next + take {
                            set.insert(topic.partition(index));
                        }
                        next += take;
                    }
                }
            }
            Assignor::RoundRobin => {
                let ids: Vec<MemberId> = members.keys().copied().collect();
                let mut turn = 0usize;
                for (topic, &count) in topics {
                    for index in 0..count {
                        // Next member in turn that subscribes to this topic.
                        for step in 0..ids.len() {
                            let m = ids[(turn + step) % ids.len()];
                            if members[&m].contains(topic) {
                                out.entry(m).or_default().insert(topic.partition(index));
                                turn = (turn + step + 1) % ids.len();
                                break;
                            }
                        }
                    }
                }
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn setup(
        members: &[&[&str]],
        topics: &[(&str, u32)],
    ) -> (BTreeMap<MemberId, BTreeSet<Topic>>, BTreeMap<Topic, u32>) {
        let m = members
            .iter()
            .enumerate()
            .map(|(i, ts)| (i as u64, ts.iter().map(|t| Topic::new(*t)).collect()))
            .collect();
        let t = topics.iter().map(|(n, c)| (Topic::new(*n), *c)).collect();
        (m, t)
    }

    #[test]
    fn range_gives_contiguous_ranges() {
        let (m, t) = setup(&[&["a"], &["a"]], &[("a", 5)]);
        let out = Assignor::Range.assign(&m, &t);
        let a = Topic::new("a");
        assert_eq!(out[&0], (0..3).map(|i| a.partition(i)).collect());
        assert_eq!(out[&1], (3..5).map(|i| a.partition(i)).collect());
    }

    #[test]
    fn round_robin_deals_in_turn() {
        let (m, t) = setup(&[&["a", "b"], &["a", "b"]], &[("a", 2), ("b", 2)]);
        let out = Assignor::RoundRobin.assign(&m, &t);
        let (a, b) = (Topic::new("a"), Topic::new("b"));
        assert_eq!(
            out[&0],
            [a.partition(0), b.partition(0)].into_iter().collect()
        );
        assert_eq!(
            out[&1],
            [a.partition(1), b.partition(1)].into_iter().collect()
        );
    }

    proptest! {
        #[test]
        fn every_partition_goes_to_exactly_one_subscriber(
            subs in proptest::collection::vec(proptest::collection::btree_set(0usize..3, 0..3), 1..5),
            counts in proptest::collection::vec(1u32..9, 3),
            round_robin in any::<bool>(),
        ) {
            let names = ["x", "y", "z"];
            let members: BTreeMap<MemberId, BTreeSet<Topic>> = subs.iter().enumerate()
                .map(|(i, s)| (i as u64, s.iter().map(|&t| Topic::new(names[t])).collect())).collect();
            let topics: BTreeMap<Topic, u32> = names.iter().zip(&counts).map(|(n, c)| (Topic::new(*n), *c)).collect();
            let assignor = if round_robin { Assignor::RoundRobin } else { Assignor::Range };
            let out = assignor.assign(&members, &topics);
            for (topic, &count) in &topics {
                let subscribed = members.values().any(|t| t.contains(topic));
                for i in 0..count {
                    let p = topic.partition(i);
                    let owners: Vec<_> = out.iter().filter(|(_, s)| s.contains(&p)).map(|(m, _)| *m).collect();
                    if subscribed {
                        prop_assert_eq!(owners.len(), 1);
                        prop_assert!(members[&owners[0]].contains(topic));
                    } else {
                        prop_assert!(owners.is_empty());
                    }
                }
            }
        }
    }
}
