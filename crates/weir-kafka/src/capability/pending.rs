//! The entries a delay mover holds: read from the delay topic, not moved yet.
//!
//! Entries are kept by delay partition and offset (to know where a
//! partition may be committed: up to its first entry still held) and by due
//! time (to move the due ones in due order, and to tell the next due time).

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::time::SystemTime;

use super::delay_entry::Waiting;

/// An entry's place: its delay partition's index and its offset there.
pub(crate) type Key = (u32, u64);

/// The entries held, not moved yet.
#[derive(Debug, Default)]
pub(crate) struct Pending {
    by_place: HashMap<u32, BTreeMap<u64, Waiting>>,
    by_due: BTreeSet<(SystemTime, Key)>,
}

impl Pending {
    /// Holds the entry read at `key` (again: it replaces itself).
    pub(crate) fn hold(&mut self, key: Key, entry: Waiting) {
        let due = entry.due;
        if let Some(old) = self.by_place.entry(key.0).or_default().insert(key.1, entry) {
            self.by_due.remove(&(old.due, key));
        }
        self.by_due.insert((due, key));
    }

    /// How many entries of delay partition `partition` are held.
    pub(crate) fn held(&self, partition: u32) -> usize {
        self.by_place.get(&partition).map_or(0, BTreeMap::len)
    }

    /// The offset of the first entry of `partition` still held.
    pub(crate) fn first_held(&self, partition: u32) -> Option<u64> {
        self.by_place
            .get(&partition)
            .and_then(|entries| entries.keys().next().copied())
    }

    /// Up to `max` entries due by `now`, earliest first.
    pub(crate) fn due(&self, now: SystemTime, max: usize) -> Vec<Key> {
        self.by_due
            .iter()
            .take_while(|(due, _)| *due <= now)
            .take(max)
            .map(|(_, key)| *key)
            .collect()
    }

    /// The entry held at `key`.
    pub(crate) fn get(&self, key: Key) -> Option<&Waiting> {
        self.by_place.get(&key.0)?.get(&key.1)
    }

    /// Lets go of the entry at `key` (it was moved).
    pub(crate) fn release(&mut self, key: Key) -> Option<Waiting> {
        let entries = self.by_place.get_mut(&key.0)?;
        let entry = entries.remove(&key.1)?;
        if entries.is_empty() {
            self.by_place.remove(&key.0);
        }
        self.by_due.remove(&(entry.due, key));
        Some(entry)
    }

    /// Lets go of every entry of `partition` (another member reads it now).
    pub(crate) fn drop_partition(&mut self, partition: u32) {
        if let Some(entries) = self.by_place.remove(&partition) {
            for (offset, entry) in entries {
                self.by_due.remove(&(entry.due, (partition, offset)));
            }
        }
    }

    /// When the earliest entry held falls due.
    pub(crate) fn next_due(&self) -> Option<SystemTime> {
        self.by_due.first().map(|(due, _)| *due)
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use weir_core::{Destination, Payload, Topic};

    use super::*;

    fn entry(due: SystemTime) -> Waiting {
        Waiting {
            due,
            destination: Destination::Topic(Topic::new("t")),
            payload: Payload::new("p"),
        }
    }

    #[test]
    fn due_entries_come_in_due_order_and_commits_stop_at_the_first_held() {
        let now = SystemTime::now();
        let later = now + Duration::from_secs(60);
        let mut pending = Pending::default();
        pending.hold((0, 0), entry(later));
        pending.hold((0, 1), entry(now - Duration::from_secs(1)));
        pending.hold((1, 5), entry(now - Duration::from_secs(2)));
        pending.hold((0, 2), entry(now));
        assert_eq!(pending.due(now, 10), vec![(1, 5), (0, 1), (0, 2)]);
        assert_eq!(pending.due(now, 1), vec![(1, 5)]);
        for key in pending.due(now, 10) {
            assert!(pending.release(key).is_some());
        }
        assert_eq!(
            pending.first_held(0),
            Some(0),
            "the later entry holds the commit"
        );
        assert_eq!(pending.first_held(1), None);
        assert_eq!(pending.held(0), 1);
        assert_eq!(pending.next_due(), Some(later));
        pending.drop_partition(0);
        assert_eq!(pending.next_due(), None);
        assert!(pending.due(later, 10).is_empty());
    }

    #[test]
    fn an_entry_read_again_replaces_itself() {
        let now = SystemTime::now();
        let mut pending = Pending::default();
        pending.hold((0, 3), entry(now));
        pending.hold((0, 3), entry(now));
        assert_eq!(pending.held(0), 1);
        assert_eq!(pending.due(now, 10), vec![(0, 3)]);
    }
}
