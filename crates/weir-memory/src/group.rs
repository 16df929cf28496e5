//! A consumer group: members, their partitions, committed offsets, and the
//! hand-over of partitions when members join or leave.
//!
//! A partition moves in two steps. The member losing it is told (a `Revoked`
//! event) and keeps owning it, so it can commit finished work, until it acks
//! by polling again, leaves, or misses the rebalance deadline. Only then is
//! the partition granted to its new owner. No two members ever own a partition
//! at once, so a stale owner can never commit over the new one.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use tokio::sync::Notify;
use tokio::time::Instant;
use weir_core::{Partition, Topic};

use crate::assign::{Assignor, MemberId};

/// How a member is woken: data arrived, or its group state changed.
#[derive(Debug, Default)]
pub(crate) struct Signal {
    pub(crate) notify: Notify,
    /// Set when the member has a group event to collect.
    pub(crate) event: AtomicBool,
}

impl Signal {
    pub(crate) fn wake_for_event(&self) {
        self.event.store(true, Ordering::Release);
        self.notify.notify_one();
    }
}

#[derive(Debug)]
struct Member {
    topics: BTreeSet<Topic>,
    /// Partitions the member was told it owns and has not released.
    held: BTreeSet<Partition>,
    /// Held partitions to announce as revoked.
    to_revoke: BTreeSet<Partition>,
    /// Held partitions announced as revoked, awaiting the member's ack.
    revoked: BTreeSet<Partition>,
    /// Partitions granted but not yet announced.
    to_assign: BTreeSet<Partition>,
    /// Partitions taken away without an ack (deadline missed), to announce.
    lost: BTreeSet<Partition>,
    /// When an unacknowledged revocation is forced.
    deadline: Option<Instant>,
    signal: Arc<Signal>,
}

/// What a member learns when it collects its group events.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum GroupEvent {
    Revoked(BTreeSet<Partition>),
    Assigned(BTreeSet<Partition>),
}

/// One consumer group's state.
#[derive(Debug)]
pub(crate) struct Group {
    members: BTreeMap<MemberId, Member>,
    target: BTreeMap<MemberId, BTreeSet<Partition>>,
    committed: HashMap<Partition, u64>,
    assignor: Assignor,
    rebalance_timeout: Duration,
}

impl Group {
    pub(crate) fn new(assignor: Assignor, rebalance_timeout: Duration) -> Self {
        Group {
            members: BTreeMap::new(),
            target: BTreeMap::new(),
            committed: HashMap::new(),
            assignor,
            rebalance_timeout,
        }
    }

    pub(crate) fn join(&mut self, id: MemberId, signal: Arc<Signal>) {
        self.members.insert(
            id,
            Member {
                topics: BTreeSet::new(),
                held: BTreeSet::new(),
                to_revoke: BTreeSet::new(),
                revoked: BTreeSet::new(),
                to_assign: BTreeSet::new(),
                lost: BTreeSet::new(),
                deadline: None,
                signal,
            },
        );
    }

    /// Sets a member's subscription and rebalances.
    pub(crate) fn subscribe(
        &mut self,
        id: MemberId,
        topics: BTreeSet<Topic>,
        counts: &BTreeMap<Topic, u32>,
    ) {
        if let Some(m) = self.members.get_mut(&id) {
            m.topics = topics;
        }
        self.rebalance(counts);
    }

    /// Removes a member; what it held goes to the others.
    pub(crate) fn leave(&mut self, id: MemberId, counts: &BTreeMap<Topic, u32>) {
        self.members.remove(&id);
        self.rebalance(counts);
    }

    /// Recomputes the target assignment and starts moving partitions towards it.
    pub(crate) fn rebalance(&mut self, counts: &BTreeMap<Topic, u32>) {
        let subs: BTreeMap<MemberId, BTreeSet<Topic>> = self
            .members
            .iter()
            .map(|(&id, m)| (id, m.topics.clone()))
            .collect();
        let relevant: BTreeMap<Topic, u32> = counts
            .iter()
            .filter(|(t, _)| subs.values().any(|s| s.contains(*t)))
            .map(|(t, c)| (t.clone(), *c))
            .collect();
        self.target = self.assignor.assign(&subs, &relevant);
        let now = Instant::now();
        for (id, m) in &mut self.members {
            let target = self.target.get(id).cloned().unwrap_or_default();
            let mut changed = false;
            // Granted but never announced: simply withdraw.
            let before = m.to_assign.len();
            m.to_assign.retain(|p| target.contains(p));
            changed |= before != m.to_assign.len();
            // Announced but kept after all: no need to revoke.
            let before = m.to_revoke.len();
            m.to_revoke.retain(|p| !target.contains(p));
            changed |= before != m.to_revoke.len();
            for p in &m.held {
                if !target.contains(p) && !m.revoked.contains(p) && m.to_revoke.insert(p.clone()) {
                    changed = true;
                }
            }
            if !m.to_revoke.is_empty() && m.deadline.is_none() {
                m.deadline = Some(now + self.rebalance_timeout);
            }
            if changed {
                m.signal.wake_for_event();
            }
        }
        self.grant_free();
    }

    /// Grants every partition whose target owner lacks it and that nobody holds.
    fn grant_free(&mut self) {
        let taken: BTreeSet<Partition> = self
            .members
            .values()
            .flat_map(|m| m.held.iter().chain(m.to_assign.iter()))
            .cloned()
            .collect();
        for (id, target) in &self.target {
            let Some(m) = self.members.get_mut(id) else {
                continue;
            };
            let mut granted = false;
            for p in target {
                if !taken.contains(p) && m.to_assign.insert(p.clone()) {
                    granted = true;
                }
            }
            if granted {
                m.signal.wake_for_event();
            }
        }
    }

    /// The member has handled its `Revoked` event: those partitions are free.
    pub(crate) fn ack_revoked(&mut self, id: MemberId) {
        if let Some(m) = self.members.get_mut(&id) {
            for p in std::mem::take(&mut m.revoked) {
                m.held.remove(&p);
            }
            if m.to_revoke.is_empty() {
                m.deadline = None;
            }
        }
        self.grant_free();
    }

    /// The member's next event, if any (revocations before assignments).
    pub(crate) fn next_event(&mut self, id: MemberId) -> Option<GroupEvent> {
        let m = self.members.get_mut(&id)?;
        let event = if !m.lost.is_empty() {
            Some(GroupEvent::Revoked(std::mem::take(&mut m.lost)))
        } else if !m.to_revoke.is_empty() {
            let set = std::mem::take(&mut m.to_revoke);
            m.revoked.extend(set.iter().cloned());
            Some(GroupEvent::Revoked(set))
        } else if !m.to_assign.is_empty() {
            let set = std::mem::take(&mut m.to_assign);
            m.held.extend(set.iter().cloned());
            Some(GroupEvent::Assigned(set))
        } else {
            None
        };
        if !(m.lost.is_empty() && m.to_revoke.is_empty() && m.to_assign.is_empty()) {
            m.signal.event.store(true, Ordering::Release);
        }
        event
    }

    /// The earliest deadline of an unacknowledged revocation.
    pub(crate) fn next_deadline(&self) -> Option<Instant> {
        self.members.values().filter_map(|m| m.deadline).min()
    }

    /// Forces the revocations whose deadline has passed.
    pub(crate) fn expire(&mut self, now: Instant) {
        let mut any = false;
        for m in self.members.values_mut() {
            if m.deadline.is_some_and(|d| d <= now) {
                let forced: BTreeSet<Partition> = m
                    .to_revoke
                    .iter()
                    .chain(m.revoked.iter())
                    .cloned()
                    .collect();
                for p in &forced {
                    m.held.remove(p);
                }
                // Announced ones were already reported; the rest are reported as lost.
                m.lost.extend(std::mem::take(&mut m.to_revoke));
                m.revoked.clear();
                m.deadline = None;
                m.signal.wake_for_event();
                any = true;
            }
        }
        if any {
            self.grant_free();
        }
    }

    /// Whether the member may commit `p` (it holds it, even if revocation is pending).
    pub(crate) fn holds(&self, id: MemberId, p: &Partition) -> bool {
        self.members.get(&id).is_some_and(|m| m.held.contains(p))
    }

    pub(crate) fn commit(&mut self, p: Partition, offset: u64) {
        self.committed.insert(p, offset);
    }

    pub(crate) fn committed(&self, p: &Partition) -> Option<u64> {
        self.committed.get(p).copied()
    }

    /// Forgets a deleted topic's offsets.
    pub(crate) fn forget_topic(&mut self, topic: &Topic) {
        self.committed.retain(|p, _| &p.topic != topic);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn counts(n: u32) -> BTreeMap<Topic, u32> {
        BTreeMap::from([(Topic::new("t"), n)])
    }

    fn sub(g: &mut Group, id: MemberId, n: u32) {
        g.join(id, Arc::new(Signal::default()));
        g.subscribe(id, BTreeSet::from([Topic::new("t")]), &counts(n));
    }

    fn assigned(e: Option<GroupEvent>) -> BTreeSet<u32> {
        match e {
            Some(GroupEvent::Assigned(s)) => s.into_iter().map(|p| p.index).collect(),
            other => panic!("expected an assignment, got {other:?}"),
        }
    }

    #[tokio::test]
    async fn partitions_move_only_after_the_old_owner_acks() {
        let mut g = Group::new(Assignor::Range, Duration::from_secs(30));
        sub(&mut g, 1, 4);
        assert_eq!(assigned(g.next_event(1)), BTreeSet::from([0, 1, 2, 3]));
        sub(&mut g, 2, 4);
        // Member 2 gets nothing until member 1 hands over.
        assert_eq!(g.next_event(2), None);
        let revoked = g.next_event(1);
        assert!(matches!(&revoked, Some(GroupEvent::Revoked(s)) if s.len() == 2));
        // Still held: may commit.
        assert!(g.holds(1, &Partition::new("t", 3)));
        g.ack_revoked(1);
        assert!(!g.holds(1, &Partition::new("t", 3)));
        assert_eq!(assigned(g.next_event(2)), BTreeSet::from([2, 3]));
    }

    #[tokio::test(start_paused = true)]
    async fn a_member_that_never_acks_loses_partitions_at_the_deadline() {
        let mut g = Group::new(Assignor::Range, Duration::from_secs(5));
        sub(&mut g, 1, 2);
        g.next_event(1);
        sub(&mut g, 2, 2);
        let deadline = g.next_deadline().expect("a revocation is pending");
        tokio::time::advance(Duration::from_secs(5)).await;
        g.expire(Instant::now());
        assert!(deadline <= Instant::now());
        assert_eq!(assigned(g.next_event(2)), BTreeSet::from([1]));
        assert!(matches!(g.next_event(1), Some(GroupEvent::Revoked(_))));
        assert!(!g.holds(1, &Partition::new("t", 1)));
    }

    #[tokio::test]
    async fn leaving_frees_partitions_at_once() {
        let mut g = Group::new(Assignor::RoundRobin, Duration::from_secs(30));
        sub(&mut g, 1, 2);
        sub(&mut g, 2, 2);
        g.next_event(1);
        g.ack_revoked(1);
        g.leave(1, &counts(2));
        let mut all = BTreeSet::new();
        while let Some(GroupEvent::Assigned(s)) = g.next_event(2) {
            all.extend(s.into_iter().map(|p| p.index));
        }
        assert_eq!(all, BTreeSet::from([0, 1]));
    }
}
