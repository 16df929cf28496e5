//! Group membership on Redis: heartbeats, the shared assignment rule, and
//! partition leases.
//!
//! Members heartbeat into a sorted set scored by when their session ends; a
//! heartbeat also drops members whose session ran out. Every member computes
//! the same range assignment from the live members (ordered by id, which
//! starts with the join time) and the partition counts. A partition is read
//! only under its lease (a key holding the owner's id, with the session
//! timeout as its time to live): a member takes a lease only when it is free,
//! so a partition never has two owners. The member losing a partition gives
//! its lease up after the caller had its chance to commit (the poll after
//! `Revoked`), a crashed member's lease runs out. Each change bumps the
//! group's epoch, which readers check with every read, so rebalances are
//! noticed within one block time.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{SystemTime, UNIX_EPOCH};

use redis::{FromRedisValue, Value};
use weir_core::{BrokerError, Partition, Topic};

use crate::broker::Shared;
use crate::scripts::{ACQUIRE, HEARTBEAT, LEAVE, RELEASE, RENEW};

/// A fresh member id: join time first, so ids sort by age.
pub(crate) fn member_id(client_id: Option<&str>) -> String {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    let nonce = now.subsec_nanos() ^ std::process::id().rotate_left(16);
    let salt = crate::broker::next_salt();
    format!(
        "{:013}-{nonce:08x}{salt:04x}-{}",
        now.as_millis(),
        client_id.unwrap_or("weir")
    )
}

/// What one heartbeat learned.
#[derive(Debug)]
pub(crate) struct Heartbeat {
    /// The group's epoch after the heartbeat.
    pub(crate) epoch: u64,
    /// Live members and their subscriptions.
    pub(crate) members: BTreeMap<String, BTreeSet<Topic>>,
    /// For each lease passed in, whether the member still holds it.
    pub(crate) renewed: Vec<bool>,
    /// The partition count of each subscribed topic (`None`: deleted).
    pub(crate) counts: BTreeMap<Topic, Option<u32>>,
}

fn parse<T: FromRedisValue>(v: Value) -> Result<T, BrokerError> {
    T::from_redis_value(v).map_err(|e| BrokerError::backend("redis", e.to_string()))
}

fn encode_topics(topics: &[Topic]) -> String {
    topics
        .iter()
        .map(Topic::as_str)
        .collect::<Vec<_>>()
        .join("\n")
}

/// Renews `member`, its leases on `held`, and reads the group and partition
/// counts: one pipeline (on a cluster, one per slot: the group's, each
/// lease's partition's, each topic's metadata's).
pub(crate) async fn heartbeat(
    shared: &Shared,
    group: &str,
    member: &str,
    topics: &[Topic],
    held: &[Partition],
) -> Result<Heartbeat, BrokerError> {
    let keys = &shared.keys;
    let k = [
        keys.members(group),
        keys.subscriptions(group),
        keys.epoch(group),
    ];
    let ttl = shared.config.session_timeout.as_millis() as u64;
    let mut pipe = redis::pipe();
    pipe.add_command(HEARTBEAT.cmd(&k, |c| {
        c.arg(member).arg(ttl).arg(encode_topics(topics));
    }));
    for p in held {
        pipe.add_command(RENEW.cmd(&[keys.lease(group, p)], |c| {
            c.arg(member).arg(ttl);
        }));
    }
    for t in topics {
        pipe.cmd("HGET").arg(keys.meta(t)).arg("partitions");
    }
    let replies: Vec<Value> = shared.conn.pipe(&pipe).await?;
    let mut replies = replies.into_iter();
    let reply = replies
        .next()
        .ok_or_else(|| BrokerError::backend("redis", "empty heartbeat reply"))?;
    let (epoch, flat): (u64, Vec<String>) = parse(reply)?;
    let mut renewed = Vec::with_capacity(held.len());
    for v in replies.by_ref().take(held.len()) {
        let flags: Vec<i64> = parse(v)?;
        renewed.push(flags.first() == Some(&1));
    }
    let mut members = BTreeMap::new();
    for pair in flat.chunks(2) {
        if let [m, subs] = pair {
            let set = subs
                .split('\n')
                .filter(|s| !s.is_empty())
                .map(Topic::new)
                .collect();
            members.insert(m.clone(), set);
        }
    }
    let mut counts = BTreeMap::new();
    for (t, v) in topics.iter().zip(replies) {
        counts.insert(t.clone(), parse::<Option<u32>>(v)?);
    }
    Ok(Heartbeat {
        epoch,
        members,
        renewed,
        counts,
    })
}

/// The partitions `member` should own: per topic, the live subscribers in id
/// order each take a contiguous range (the first ones one extra).
pub(crate) fn range_assignment(
    member: &str,
    members: &BTreeMap<String, BTreeSet<Topic>>,
    counts: &BTreeMap<Topic, Option<u32>>,
) -> BTreeSet<Partition> {
    let mut out = BTreeSet::new();
    for (topic, count) in counts {
        let Some(count) = *count else { continue };
        let subs: Vec<&String> = members
            .iter()
            .filter(|(_, t)| t.contains(topic))
            .map(|(m, _)| m)
            .collect();
        let Some(me) = subs.iter().position(|m| m.as_str() == member) else {
            continue;
        };
        let n = subs.len() as u32;
        let (each, extra) = (count / n, count % n);
        let me = me as u32;
        let start = me * each + me.min(extra);
        let take = each + u32::from(me < extra);
        out.extend((start..start + take).map(|i| topic.partition(i)));
    }
    out
}

/// Takes the leases of `partitions` that are free; returns the ones now
/// held. One script call per lease (each in its partition's slot), pipelined.
pub(crate) async fn acquire(
    shared: &Shared,
    group: &str,
    member: &str,
    partitions: &[Partition],
) -> Result<Vec<Partition>, BrokerError> {
    if partitions.is_empty() {
        return Ok(Vec::new());
    }
    let ttl = shared.config.session_timeout.as_millis() as u64;
    let mut pipe = redis::pipe();
    for p in partitions {
        pipe.add_command(ACQUIRE.cmd(&[shared.keys.lease(group, p)], |c| {
            c.arg(member).arg(ttl);
        }));
    }
    let flags: Vec<Vec<i64>> = shared.conn.pipe(&pipe).await?;
    Ok(partitions
        .iter()
        .zip(flags)
        .filter(|(_, f)| f.first() == Some(&1))
        .map(|(p, _)| p.clone())
        .collect())
}

/// Gives up the leases of `partitions` (and, with `leave`, the membership):
/// the leases first, each in its partition's slot, then the group learns of
/// it (its epoch bumped), so no member looks for a lease still held.
pub(crate) async fn release(
    shared: &Shared,
    group: &str,
    member: &str,
    partitions: &[Partition],
    leave: bool,
) -> Result<(), BrokerError> {
    let keys = &shared.keys;
    let mut released = 0;
    if !partitions.is_empty() {
        let mut pipe = redis::pipe();
        for p in partitions {
            pipe.add_command(RELEASE.cmd(&[keys.lease(group, p)], |c| {
                c.arg(member);
            }));
        }
        let counts: Vec<i64> = shared.conn.pipe(&pipe).await?;
        released = counts.iter().sum::<i64>();
    }
    if !leave && released == 0 {
        return Ok(());
    }
    let k = [
        keys.members(group),
        keys.subscriptions(group),
        keys.epoch(group),
    ];
    let _: i64 = shared
        .conn
        .query(&LEAVE.cmd(&k, |c| {
            c.arg(member)
                .arg(if leave { "1" } else { "0" })
                .arg(if released > 0 { "1" } else { "0" });
        }))
        .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn members(list: &[(&str, &[&str])]) -> BTreeMap<String, BTreeSet<Topic>> {
        list.iter()
            .map(|(m, ts)| (m.to_string(), ts.iter().map(Topic::new).collect()))
            .collect()
    }

    #[test]
    fn every_partition_goes_to_exactly_one_subscriber() {
        let m = members(&[("a", &["x", "y"]), ("b", &["x"]), ("c", &["x", "y"])]);
        let counts: BTreeMap<Topic, Option<u32>> =
            [(Topic::new("x"), Some(7)), (Topic::new("y"), Some(3))]
                .into_iter()
                .collect();
        let all: Vec<BTreeSet<Partition>> = ["a", "b", "c"]
            .iter()
            .map(|me| range_assignment(me, &m, &counts))
            .collect();
        let mut seen = BTreeSet::new();
        for set in &all {
            for p in set {
                assert!(seen.insert(p.clone()), "{p} assigned twice");
            }
        }
        assert_eq!(seen.len(), 10);
        assert!(all[1].iter().all(|p| p.topic.as_str() == "x"));
        assert_eq!(all[0].iter().filter(|p| p.topic.as_str() == "x").count(), 3);
    }

    #[test]
    fn member_ids_sort_by_join_time() {
        let a = member_id(None);
        std::thread::sleep(std::time::Duration::from_millis(2));
        let b = member_id(Some("worker"));
        assert!(a < b, "{a} < {b}");
        assert!(b.ends_with("-worker"));
    }
}
