//! Group membership: heartbeats, leases, and partitions changing hands.
//!
//! A member's heartbeat renews its leases and tells it the group's members
//! and topics; every member computes the same range assignment from them
//! (`group.rs`). A partition it should give up is reported `Revoked` first
//! and released on the next poll, after the caller could commit; a lease it
//! lost (the session ran out, the topic was deleted) is dropped at once. A
//! partition it should take is acquired only once its lease is free, so no
//! partition ever has two owners, and positioned (`reclaim.rs`) before it is
//! reported `Assigned`. Every await comes before the state changes, so a
//! cancelled poll leaves the member as it was.

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use tokio::time::Instant;
use weir_core::{BrokerError, ConsumerEvent, Partition};

use super::{Owned, RedisConsumer};
use crate::group::{acquire, heartbeat, range_assignment, release};
use crate::reclaim::{Start, reposition};

impl RedisConsumer {
    /// Heartbeats, then reports lost or revoked partitions, or takes new ones.
    pub(super) async fn maintain(&mut self) -> Result<Option<ConsumerEvent>, BrokerError> {
        let held: Vec<Partition> = self.owned.keys().cloned().collect();
        let sent = Instant::now();
        let hb = heartbeat(
            &self.shared,
            self.group(),
            &self.member,
            &self.topics,
            &held,
        )
        .await?;
        self.epoch_seen = Some(hb.epoch);
        self.next_heartbeat = sent + self.shared.config.heartbeat_interval;
        let mut lost = BTreeSet::new();
        let session = self.session();
        for (p, renewed) in held.iter().zip(&hb.renewed) {
            // Deleted topics (and vanished partitions) are lost; topics no
            // longer subscribed go through the ordinary hand-over below.
            let gone = match hb.counts.get(&p.topic) {
                Some(Some(n)) => p.index >= *n,
                Some(None) => true,
                None => false,
            };
            match self.owned.get_mut(p) {
                Some(o) if *renewed && !gone => o.valid_until = sent + session,
                _ => {
                    lost.insert(p.clone());
                }
            }
        }
        for t in hb
            .counts
            .iter()
            .filter(|(_, c)| c.is_none())
            .map(|(t, _)| t)
        {
            self.shared.forget_topic(t);
        }
        if !lost.is_empty() {
            // Announced ones were already reported; the rest are news.
            let news: BTreeSet<Partition> = lost
                .iter()
                .filter(|p| !self.assignment.is_revoking(p))
                .cloned()
                .collect();
            for p in &lost {
                self.owned.remove(p);
                self.assignment.remove(p);
            }
            self.maintain_now = true;
            if !news.is_empty() {
                return Ok(Some(ConsumerEvent::Revoked(news)));
            }
        }
        let target = range_assignment(&self.member, &hb.members, &hb.counts);
        let to_revoke: BTreeSet<Partition> = self
            .assignment
            .owned()
            .iter()
            .filter(|p| !target.contains(*p))
            .cloned()
            .collect();
        if !to_revoke.is_empty() {
            for p in &to_revoke {
                if let Some(o) = self.owned.get_mut(p) {
                    o.buffer.clear();
                }
                self.assignment.revoke(p);
            }
            return Ok(Some(ConsumerEvent::Revoked(to_revoke)));
        }
        let want: Vec<Partition> = target
            .iter()
            .filter(|p| !self.owned.contains_key(*p))
            .cloned()
            .collect();
        if want.is_empty() {
            self.wanting = false;
            return Ok(None);
        }
        let sent = Instant::now();
        let got = acquire(&self.shared, self.group(), &self.member, &want).await?;
        let mut positioned = Vec::with_capacity(got.len());
        for p in &got {
            let start = Start::Committed(self.config.offset_reset());
            let pos = reposition(&self.shared, self.group(), &self.member, p, start).await?;
            positioned.push((p.clone(), pos));
        }
        // Only now, with every await done, does the state change (cancel-safe).
        self.wanting = got.len() < want.len();
        self.next_try = Instant::now() + self.shared.config.block_time * 2;
        if positioned.is_empty() {
            return Ok(None);
        }
        let mut starts = BTreeMap::new();
        for (p, pos) in positioned {
            starts.insert(p.clone(), pos.position);
            self.assignment.assign(p.clone());
            self.owned.insert(
                p.clone(),
                Owned {
                    stream: self.shared.keys.stream(&p),
                    end_key: self.shared.keys.end(&p),
                    position: pos.position,
                    unacked: VecDeque::new(),
                    seek: None,
                    just_positioned: true,
                    delivered_before: pos.delivered_before,
                    valid_until: sent + self.session(),
                    buffer: VecDeque::new(),
                    end: None,
                },
            );
        }
        Ok(Some(ConsumerEvent::Assigned(starts)))
    }

    /// Applies seeks on the server (claiming and recounting what is read again).
    pub(super) async fn apply_seeks(&mut self) -> Result<(), BrokerError> {
        let sought: Vec<(Partition, u64)> = self
            .owned
            .iter()
            .filter(|(p, _)| !self.assignment.is_revoking(p))
            .filter_map(|(p, o)| o.seek.map(|s| (p.clone(), s)))
            .collect();
        for (p, offset) in sought {
            let pos = reposition(
                &self.shared,
                self.group(),
                &self.member,
                &p,
                Start::Offset(offset, self.config.offset_reset()),
            )
            .await;
            let pos = match pos {
                Ok(pos) => pos,
                Err(BrokerError::NotAssigned { .. }) => {
                    // The lease is gone; the next heartbeat reports it.
                    self.maintain_now = true;
                    continue;
                }
                Err(e) => return Err(e),
            };
            if let Some(o) = self.owned.get_mut(&p)
                && o.seek == Some(offset)
            {
                o.seek = None;
                o.just_positioned = true;
                o.position = pos.position;
                o.unacked.clear();
                o.delivered_before = pos.delivered_before;
                // A seek emptied the buffer already; repositioning after a
                // broken read keeps what came before the break.
            }
        }
        Ok(())
    }

    /// Hands over the partitions reported as revoked: their leases go, so
    /// the members the group gave them to can take them.
    pub(super) async fn release_revoked(&mut self) -> Result<(), BrokerError> {
        if self.assignment.revoking().is_empty() {
            return Ok(());
        }
        let parts: Vec<Partition> = self.assignment.revoking().iter().cloned().collect();
        release(&self.shared, self.group(), &self.member, &parts, false).await?;
        // Only now, with the await done, does the state change (cancel-safe).
        for p in &parts {
            self.owned.remove(p);
        }
        self.assignment.hand_over();
        Ok(())
    }
}
