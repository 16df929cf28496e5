//! What a consumer holds of its group's partitions, and the rule for
//! touching them.
//!
//! A partition changes owner in two steps (see [`Consumer`](crate::Consumer)):
//! the group revokes it, the consumer reports `Revoked` and may still commit
//! finished work on it, and only its next `poll` hands it over. So a
//! consumer's partitions are in one of two states, *owned* or *revoking*,
//! and an owned one may also be *paused*. The rule every backend applies:
//!
//! - pause, resume and seek need an owned partition;
//! - commit needs an owned or a revoking one (the hand-over waits for it);
//! - anything else is [`BrokerError::NotAssigned`], so a member can never
//!   act on a partition the group gave to another.
//!
//! [`Assignment`] keeps these sets and applies the rule; a backend keeps its
//! own per-partition state (read positions, buffers, leases) beside it.

use std::collections::BTreeSet;

use crate::{BrokerError, Partition};

/// The partitions a consumer owns, is handing over, and has paused.
///
/// ```
/// use weir_core::{Assignment, BrokerError, Partition};
/// let (a, b) = (Partition::new("t", 0), Partition::new("t", 1));
/// let mut held = Assignment::new();
/// held.assign(a.clone());
/// held.assign(b.clone());
/// held.pause(&[a.clone()])?;
/// held.revoke(&b);
/// assert!(held.check_committable(&b).is_ok()); // until the hand-over
/// assert!(matches!(held.pause(&[b.clone()]), Err(BrokerError::NotAssigned { .. })));
/// assert_eq!(held.hand_over(), [b.clone()].into());
/// assert!(held.check_committable(&b).is_err());
/// assert_eq!(held.paused(), &[a].into());
/// # Ok::<(), BrokerError>(())
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Assignment {
    owned: BTreeSet<Partition>,
    revoking: BTreeSet<Partition>,
    /// Always a subset of `owned`.
    paused: BTreeSet<Partition>,
}

impl Assignment {
    /// Holds nothing.
    pub fn new() -> Self {
        Assignment::default()
    }

    /// Takes `partition` (unpaused), also if it was being handed over.
    pub fn assign(&mut self, partition: Partition) {
        self.revoking.remove(&partition);
        self.owned.insert(partition);
    }

    /// Starts handing `partition` over (the group takes it back): it is no
    /// longer owned (nor paused) but stays committable until
    /// [`hand_over`](Assignment::hand_over). Returns whether it was owned.
    pub fn revoke(&mut self, partition: &Partition) -> bool {
        self.paused.remove(partition);
        self.revoking.insert(partition.clone());
        self.owned.remove(partition)
    }

    /// Completes the hand-over: the revoking partitions, now let go.
    pub fn hand_over(&mut self) -> BTreeSet<Partition> {
        std::mem::take(&mut self.revoking)
    }

    /// Drops `partition` at once, whatever its state (it was lost, not handed
    /// over). Returns whether it was held at all.
    pub fn remove(&mut self, partition: &Partition) -> bool {
        self.paused.remove(partition);
        let owned = self.owned.remove(partition);
        self.revoking.remove(partition) || owned
    }

    /// Drops everything (the consumer left its group).
    pub fn clear(&mut self) {
        *self = Assignment::default();
    }

    /// The owned partitions (revoking ones excluded).
    pub fn owned(&self) -> &BTreeSet<Partition> {
        &self.owned
    }

    /// The partitions being handed over.
    pub fn revoking(&self) -> &BTreeSet<Partition> {
        &self.revoking
    }

    /// The paused partitions (all owned).
    pub fn paused(&self) -> &BTreeSet<Partition> {
        &self.paused
    }

    /// Whether `partition` is owned.
    #[inline]
    pub fn owns(&self, partition: &Partition) -> bool {
        self.owned.contains(partition)
    }

    /// Whether `partition` is being handed over.
    pub fn is_revoking(&self, partition: &Partition) -> bool {
        self.revoking.contains(partition)
    }

    /// Whether `partition` is paused.
    #[inline]
    pub fn is_paused(&self, partition: &Partition) -> bool {
        self.paused.contains(partition)
    }

    /// Whether messages of `partition` may be read: owned and not paused.
    #[inline]
    pub fn is_readable(&self, partition: &Partition) -> bool {
        self.owns(partition) && !self.is_paused(partition)
    }

    /// Whether nothing is held, owned or revoking.
    pub fn is_empty(&self) -> bool {
        self.owned.is_empty() && self.revoking.is_empty()
    }

    /// [`BrokerError::NotAssigned`] unless `partition` is owned: the rule
    /// for pause, resume and seek.
    #[inline]
    pub fn check_owned(&self, partition: &Partition) -> Result<(), BrokerError> {
        if self.owns(partition) {
            Ok(())
        } else {
            Err(not_assigned(partition))
        }
    }

    /// [`BrokerError::NotAssigned`] unless `partition` is owned or being
    /// handed over: the rule for commits.
    #[inline]
    pub fn check_committable(&self, partition: &Partition) -> Result<(), BrokerError> {
        if self.owns(partition) || self.is_revoking(partition) {
            Ok(())
        } else {
            Err(not_assigned(partition))
        }
    }

    /// Pauses `partitions`, all or none: [`BrokerError::NotAssigned`] for
    /// the first one not owned, and nothing changes.
    pub fn pause(&mut self, partitions: &[Partition]) -> Result<(), BrokerError> {
        self.check_all_owned(partitions)?;
        self.paused.extend(partitions.iter().cloned());
        Ok(())
    }

    /// Resumes `partitions`, all or none, as [`pause`](Assignment::pause).
    pub fn resume(&mut self, partitions: &[Partition]) -> Result<(), BrokerError> {
        self.check_all_owned(partitions)?;
        for p in partitions {
            self.paused.remove(p);
        }
        Ok(())
    }

    /// [`check_owned`](Assignment::check_owned) for each, stopping at the first failure.
    pub fn check_all_owned(&self, partitions: &[Partition]) -> Result<(), BrokerError> {
        partitions.iter().try_for_each(|p| self.check_owned(p))
    }
}

fn not_assigned(partition: &Partition) -> BrokerError {
    BrokerError::NotAssigned {
        partition: partition.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(i: u32) -> Partition {
        Partition::new("t", i)
    }

    fn refused(r: Result<(), BrokerError>, expected: &Partition) -> bool {
        matches!(r, Err(BrokerError::NotAssigned { partition }) if partition == *expected)
    }

    #[test]
    fn nothing_held_refuses_everything() {
        let mut a = Assignment::new();
        assert!(a.is_empty());
        assert!(refused(a.check_owned(&p(0)), &p(0)));
        assert!(refused(a.check_committable(&p(0)), &p(0)));
        assert!(refused(a.pause(&[p(0)]), &p(0)));
        assert!(refused(a.resume(&[p(0)]), &p(0)));
    }

    #[test]
    fn pause_is_all_or_none() {
        let mut a = Assignment::new();
        a.assign(p(0));
        a.assign(p(1));
        assert!(refused(a.pause(&[p(0), p(2), p(1)]), &p(2)));
        assert!(a.paused().is_empty());
        a.pause(&[p(0), p(1)]).expect("owned");
        assert!(!a.is_readable(&p(0)) && a.is_paused(&p(1)));
        assert!(refused(a.resume(&[p(1), p(3)]), &p(3)));
        assert_eq!(a.paused(), &[p(0), p(1)].into());
        a.resume(&[p(1)]).expect("owned");
        assert!(a.is_readable(&p(1)));
        assert_eq!(a.paused(), &[p(0)].into());
    }

    #[test]
    fn a_revoked_partition_is_committable_until_the_hand_over() {
        let mut a = Assignment::new();
        a.assign(p(0));
        a.pause(&[p(0)]).expect("owned");
        assert!(a.revoke(&p(0)));
        assert!(!a.owns(&p(0)) && a.is_revoking(&p(0)) && !a.is_paused(&p(0)));
        assert!(a.check_committable(&p(0)).is_ok());
        assert!(refused(a.check_owned(&p(0)), &p(0)));
        assert!(refused(a.pause(&[p(0)]), &p(0)));
        assert!(!a.is_empty());
        assert_eq!(a.hand_over(), [p(0)].into());
        assert!(refused(a.check_committable(&p(0)), &p(0)));
        assert!(a.is_empty());
        // The group may take back what the consumer had not taken up yet:
        // committable all the same until the hand-over.
        assert!(!a.revoke(&p(5)));
        assert!(a.check_committable(&p(5)).is_ok());
    }

    #[test]
    fn assigning_again_ends_a_hand_over() {
        let mut a = Assignment::new();
        a.assign(p(0));
        a.revoke(&p(0));
        a.assign(p(0));
        assert!(a.owns(&p(0)) && !a.is_revoking(&p(0)));
        assert!(a.hand_over().is_empty());
    }

    #[test]
    fn a_lost_partition_goes_at_once() {
        let mut a = Assignment::new();
        a.assign(p(0));
        a.assign(p(1));
        a.pause(&[p(0)]).expect("owned");
        a.revoke(&p(1));
        assert!(a.remove(&p(0)) && a.remove(&p(1)));
        assert!(!a.remove(&p(2)));
        assert!(a.is_empty() && a.paused().is_empty());
        a.assign(p(3));
        a.clear();
        assert_eq!(a, Assignment::new());
    }
}
