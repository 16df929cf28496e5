//! Where partitions end: what a reader must reach to have read everything
//! written before it asked.
//!
//! The end is the larger of three: the high watermark the cluster lists
//! (asked through the producer's connections, see
//! `KafkaProducer::watermarks`), the one the reader last saw in a fetch,
//! and the end of this handle's own writes (see `written`). A partition
//! whose log start has reached its end (retention removed everything) has
//! nothing to read: its end counts as 0.

use weir_core::{Broker, BrokerError, Partition};

use crate::KafkaBroker;

/// The end of each of `parts`, in their order; `seen` is what the reader
/// last saw of a partition's end.
pub(crate) async fn ends(
    broker: &KafkaBroker,
    parts: &[Partition],
    seen: impl Fn(&Partition) -> Option<u64>,
) -> Result<Vec<u64>, BrokerError> {
    let listed = broker.producer().await?.watermarks(parts).await?;
    let written = &broker.capabilities().written;
    Ok(parts
        .iter()
        .zip(listed)
        .map(|(p, (low, high))| {
            let end = high.max(seen(p).unwrap_or(0)).max(written.end(p));
            if low >= end { 0 } else { end }
        })
        .collect())
}
