//! Offsets past a partition's end: refused in commits, reset in seeks.
//!
//! A commit past the end (the high watermark) would skip messages not
//! written yet, and Kafka stores it all the same; so weir-kafka refuses it
//! with [`BrokerError::OffsetOutOfRange`], as the other backends do. A seek
//! past the end is out of range: Kafka answers the next fetch with
//! `OFFSET_OUT_OF_RANGE` and librdkafka resets per `auto.offset.reset`, but
//! not every Kafka-protocol broker does (with tansu 0.6 the consumer was
//! seen to wait at the far offset, delivering nothing). So weir-kafka applies the
//! reset policy itself, at the next `poll`, whatever the broker.
//!
//! The high watermark librdkafka last saw (from its fetches, no request)
//! bounds most offsets; only one beyond it costs a look at the cluster. The
//! end only grows, so what passes that look stays in range.

use std::sync::Arc;

use rdkafka::consumer::Consumer as _;
use weir_core::{BrokerError, CommitRequest, OffsetReset, Partition};

use super::KafkaConsumer;
use crate::convert::index_of;
use crate::error::{self, BACKEND};
use crate::inbox::cached_watermarks;

impl KafkaConsumer {
    /// Whether `offset` is surely not past the end of `partition`, by the
    /// high watermark librdkafka last saw.
    pub(super) fn surely_in_range(&self, partition: &Partition, offset: u64) -> bool {
        self.cached_high(partition)
            .is_some_and(|high| offset <= high)
    }

    /// The high watermark librdkafka last saw (no request).
    fn cached_high(&self, partition: &Partition) -> Option<u64> {
        let client = self.client.as_ref()?;
        cached_watermarks(client, partition.topic.as_str(), index_of(partition))
            .and_then(|(_, high)| u64::try_from(high).ok())
    }

    /// The (low, high) watermarks of `parts`, asked of the cluster.
    async fn watermarks(&self, parts: Vec<Partition>) -> Result<Vec<(u64, u64)>, BrokerError> {
        let client = Arc::clone(self.client()?);
        let timeout = self.config.request_timeout();
        let result = tokio::task::spawn_blocking(move || {
            parts
                .iter()
                .map(|p| {
                    let (low, high) =
                        client.fetch_watermarks(p.topic.as_str(), index_of(p), timeout)?;
                    Ok((
                        u64::try_from(low).unwrap_or(0),
                        u64::try_from(high).unwrap_or(0),
                    ))
                })
                .collect::<Result<Vec<_>, rdkafka::error::KafkaError>>()
        })
        .await
        .map_err(|e| BrokerError::backend(BACKEND, e))?;
        result.map_err(|e| error::from_kafka(e, self.cx()))
    }

    /// The end of `partition` librdkafka last saw in a fetch response (no request).
    pub(crate) fn seen_end(&self, partition: &Partition) -> Option<u64> {
        self.cached_high(partition)
    }

    /// [`BrokerError::OffsetOutOfRange`] for an offset past its partition's end.
    pub(super) async fn check_in_range(&self, offsets: &CommitRequest) -> Result<(), BrokerError> {
        let unsure: Vec<(Partition, u64)> = offsets
            .iter()
            .filter(|(p, o)| !self.surely_in_range(p, *o))
            .map(|(p, o)| (p.clone(), o))
            .collect();
        if unsure.is_empty() {
            return Ok(());
        }
        let parts = unsure.iter().map(|(p, _)| p.clone()).collect();
        let marks = self.watermarks(parts).await?;
        for ((partition, offset), (_, high)) in unsure.into_iter().zip(marks) {
            // The larger of the two: tansu 0.6 was seen to answer a
            // list-offsets request with a lower high watermark (1 for ten
            // messages produced in one batch) than its fetches report.
            let end = self.cached_high(&partition).map_or(high, |c| c.max(high));
            if offset > end {
                return Err(BrokerError::OffsetOutOfRange {
                    partition,
                    offset,
                    end,
                });
            }
        }
        Ok(())
    }

    /// Applies the reset policy to the seeks past the end made since the
    /// last poll. Cancel-safe: the state changes only after the look-up.
    pub(super) async fn reset_seeks_out_of_range(&mut self) -> Result<(), BrokerError> {
        let sought: Vec<(Partition, u64)> = self
            .owned
            .iter()
            .filter_map(|(p, o)| o.unsure_seek.map(|at| (p.clone(), at)))
            .collect();
        if sought.is_empty() {
            return Ok(());
        }
        let marks = self
            .watermarks(sought.iter().map(|(p, _)| p.clone()).collect())
            .await?;
        for ((p, at), (low, high)) in sought.into_iter().zip(marks) {
            let high = self.cached_high(&p).map_or(high, |c| c.max(high));
            let Some(o) = self.owned.get_mut(&p) else {
                continue;
            };
            if o.unsure_seek != Some(at) {
                continue; // sought again meanwhile
            }
            o.unsure_seek = None;
            if at <= high {
                continue;
            }
            let start = match self.group.offset_reset() {
                OffsetReset::Earliest => low,
                OffsetReset::Latest => high,
            };
            tracing::debug!(partition = %p, offset = at, end = high, start, "kafka: seek past the end; reset");
            o.position = Some(start);
            self.seek_to(&p, start)?;
        }
        Ok(())
    }
}
