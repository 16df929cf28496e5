//! What this broker handle wrote: the offset after its last acknowledged
//! message per partition.
//!
//! A reader that must see what was written before (a result read after it
//! was stored, a subscription that starts after the events before it) waits
//! until it has read up to the partition's end. The end is listed by the
//! cluster, but some Kafka-protocol brokers list one too low (tansu 0.6
//! answered 1 for ten messages produced in one batch); the end of what this
//! handle wrote itself is known exactly, so the wait goes to the larger of
//! the two, and a handle always reads its own writes.

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};

use weir_core::{Partition, Produced};

/// The end of this handle's acknowledged writes, per partition.
#[derive(Debug, Default)]
pub(crate) struct Written(Mutex<HashMap<Partition, u64>>);

impl Written {
    /// Notes an acknowledged write.
    pub(crate) fn note(&self, produced: &Produced) {
        let mut ends = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        let end = ends.entry(produced.partition.clone()).or_default();
        *end = (*end).max(produced.offset.saturating_add(1));
    }

    /// The offset after this handle's last acknowledged write to `partition` (0: none).
    pub(crate) fn end(&self, partition: &Partition) -> u64 {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(partition)
            .copied()
            .unwrap_or(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_end_only_grows() {
        let written = Written::default();
        let p = Partition::new("t", 0);
        assert_eq!(written.end(&p), 0);
        for offset in [4, 2, 9] {
            written.note(&Produced {
                partition: p.clone(),
                offset,
            });
        }
        assert_eq!(written.end(&p), 10);
        assert_eq!(written.end(&Partition::new("t", 1)), 0);
    }
}
