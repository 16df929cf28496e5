//! Group changes reported: what the rebalance callback recorded (see the
//! `rebalance` module), turned into `Revoked` and `Assigned` events.
//!
//! An assignment is reported with each partition's start offset (the
//! committed one, else the reset policy's end of the log), looked up on a
//! blocking thread. The lookup may be cancelled with the poll: the
//! assignment stays pending until its offsets are known, so it is reported
//! once, whole.

use std::collections::BTreeMap;
use std::sync::Arc;

use rdkafka::Offset;
use rdkafka::consumer::Consumer as _;
use rdkafka::error::KafkaError;
use weir_core::{BrokerError, ConsumerEvent, OffsetReset, Partition};

use super::{KafkaConsumer, Owned};
use crate::convert::{index_of, tpl_of};
use crate::error::{self, BACKEND};
use crate::rebalance::GroupChange;

impl KafkaConsumer {
    /// Reports the next group change, looking up where an assignment starts.
    pub(super) async fn group_event(&mut self) -> Result<Option<ConsumerEvent>, BrokerError> {
        if self.announcing.is_none() {
            match self.context.next_change() {
                None => return Ok(None),
                Some(GroupChange::Revoked(set)) => {
                    for p in &set {
                        self.owned.remove(p);
                        self.assignment.revoke(p);
                    }
                    return Ok(Some(ConsumerEvent::Revoked(set)));
                }
                Some(GroupChange::Assigned(parts)) => self.announcing = Some(parts),
            }
        }
        let Some(parts) = self.announcing.clone() else {
            return Ok(None);
        };
        // Cancel-safe: `announcing` stays set until the offsets are known.
        let starts = self.start_offsets(parts).await?;
        self.announcing = None;
        for (p, start) in &starts {
            self.assignment.assign(p.clone());
            self.owned.insert(
                p.clone(),
                Owned {
                    position: Some(*start),
                    ..Owned::default()
                },
            );
        }
        Ok(Some(ConsumerEvent::Assigned(starts)))
    }

    /// Where reading starts on newly assigned partitions: the committed
    /// offset, else the reset policy's end of the log.
    async fn start_offsets(
        &self,
        parts: Vec<Partition>,
    ) -> Result<BTreeMap<Partition, u64>, BrokerError> {
        let client = Arc::clone(self.client()?);
        let timeout = self.config.request_timeout();
        let reset = self.group.offset_reset();
        let result = tokio::task::spawn_blocking(move || {
            let committed = client.committed_offsets(tpl_of(&parts, None), timeout)?;
            let mut starts = BTreeMap::new();
            for p in parts {
                let index = index_of(&p);
                let at = committed
                    .find_partition(p.topic.as_str(), index)
                    .map(|e| e.offset());
                let start = match at {
                    Some(Offset::Offset(n)) if n >= 0 => n,
                    _ => {
                        let (low, high) =
                            client.fetch_watermarks(p.topic.as_str(), index, timeout)?;
                        match reset {
                            OffsetReset::Earliest => low,
                            OffsetReset::Latest => high,
                        }
                    }
                };
                starts.insert(p, u64::try_from(start).unwrap_or(0));
            }
            Ok::<_, KafkaError>(starts)
        })
        .await
        .map_err(|e| BrokerError::backend(BACKEND, e))?;
        result.map_err(|e| error::from_kafka(e, self.cx()))
    }
}
