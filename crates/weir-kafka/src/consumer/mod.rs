//! Consuming from Kafka as a member of a consumer group.
//!
//! The member's work is split by concern: `group` (rebalance callbacks
//! reported as events), `fetch` (messages taken and routed to the owned
//! partitions) and `close` (leaving the group). This file holds the
//! member's state and the `Consumer` calls that tie them together; the
//! conversions between rdkafka's types and Weir's are in `convert.rs`.

mod close;
mod fetch;
mod group;
mod range;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer as _};
use rdkafka::error::RDKafkaErrorCode;
use weir_core::{
    Assignment, BrokerError, CommitRequest, Consumer, ConsumerConfig, ConsumerEvent, Partition,
    Topic,
};

use crate::KafkaConfig;
use crate::convert::{index_of, kafka_offset, tpl_of, weir_offset};
use crate::error::{self, BACKEND, Context};
use crate::inbox::{Inbox, cached_watermarks};
use crate::metadata;
use crate::rebalance::GroupContext;

/// How long an idle poll waits before looking at the consumer queue again
/// even without a wake-up (a safety net; wake-ups normally come first).
const IDLE_RECHECK: Duration = Duration::from_millis(500);

pub(super) type Client = Arc<BaseConsumer<GroupContext>>;

/// A member of a Kafka consumer group.
///
/// Offsets are committed only by [`Consumer::commit`] (auto-commit is off).
/// Group changes come from rdkafka's rebalance callbacks and are reported by
/// [`Consumer::poll`] before any message of the partitions concerned; a
/// revoked partition may still be committed until the next `poll` (see the
/// `rebalance` module for how). `poll` never blocks the runtime: it takes
/// what librdkafka has already fetched and otherwise waits for a wake-up.
///
/// Dropping it leaves the group (on a blocking thread), handing its
/// partitions to the other members; uncommitted messages are redelivered.
pub struct KafkaConsumer {
    client: Option<Client>,
    /// Where the assigned partitions' messages arrive (see the `inbox` module).
    inbox: Option<Inbox<GroupContext>>,
    context: Arc<GroupContext>,
    config: KafkaConfig,
    group: ConsumerConfig,
    topics: Vec<Topic>,
    /// What this member owns, has paused, and hands over at the next poll
    /// (reported as revoked; still committable until then).
    assignment: Assignment,
    /// The read state of each owned partition.
    owned: BTreeMap<Partition, Owned>,
    /// An assignment whose start offsets are being looked up.
    announcing: Option<Vec<Partition>>,
}

impl std::fmt::Debug for KafkaConsumer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KafkaConsumer")
            .field("group", &self.group.group_id())
            .field("topics", &self.topics)
            .field("assignment", &self.owned.keys().collect::<Vec<_>>())
            .field("closed", &self.client.is_none())
            .finish_non_exhaustive()
    }
}

#[derive(Debug, Default)]
pub(super) struct Owned {
    position: Option<u64>,
    /// A message arrived while paused and was set aside: seek back on resume.
    reseek: bool,
    /// A seek perhaps past the end, checked at the next poll (`range.rs`).
    unsure_seek: Option<u64>,
}

impl KafkaConsumer {
    pub(crate) fn new(config: KafkaConfig, group: ConsumerConfig) -> Result<Self, BrokerError> {
        let cx = Context::cluster(config.bootstrap());
        let mut base: BaseConsumer<GroupContext> = config
            .consumer_settings(&group)
            .create_with_context(GroupContext::default())
            .map_err(|e| error::from_kafka(e, cx))?;
        let wake = Arc::clone(&base.context().wake);
        base.set_nonempty_callback(move || wake.notify_one());
        let context = Arc::clone(base.context());
        let client = Arc::new(base);
        let forwarding = Arc::clone(&context.forwarding);
        let inbox = Inbox::new(&client, forwarding, Arc::clone(&context.wake));
        Ok(KafkaConsumer {
            client: Some(client),
            inbox: Some(inbox),
            context,
            config,
            group,
            topics: Vec::new(),
            assignment: Assignment::new(),
            owned: BTreeMap::new(),
            announcing: None,
        })
    }

    /// How to settle before leaving: only for a subscribed member, when configured.
    fn settle(&self) -> Option<Duration> {
        self.config
            .settle_before_leaving()
            .filter(|_| !self.topics.is_empty())
    }

    /// Whether the member holds a generation of its group: it joined and
    /// got its (possibly empty) share of the partitions.
    pub(crate) fn settled(&self) -> bool {
        self.context.settled()
    }

    /// Whether a group change waits to be reported: the next `poll`
    /// returns it without waiting for messages.
    pub(crate) fn group_change_waiting(&self) -> bool {
        self.announcing.is_some() || self.context.has_changes()
    }

    fn client(&self) -> Result<&Client, BrokerError> {
        self.client.as_ref().ok_or(BrokerError::Closed("consumer"))
    }

    fn cx(&self) -> Context<'_> {
        Context::cluster(self.config.bootstrap())
    }

    fn seek_to(&self, partition: &Partition, offset: u64) -> Result<(), BrokerError> {
        let client = self.client()?;
        client
            .seek(
                partition.topic.as_str(),
                index_of(partition),
                kafka_offset(offset),
                Duration::ZERO,
            )
            .map_err(|e| error::from_kafka(e, self.cx().topic(&partition.topic)))?;
        self.context.wake.notify_one();
        Ok(())
    }
}

/// Whether a commit failed because the group moved on (this member no
/// longer owns what it tried to commit).
fn lost_ownership(code: RDKafkaErrorCode) -> bool {
    matches!(
        code,
        RDKafkaErrorCode::IllegalGeneration
            | RDKafkaErrorCode::UnknownMemberId
            | RDKafkaErrorCode::RebalanceInProgress
            | RDKafkaErrorCode::AssignmentLost
            | RDKafkaErrorCode::FencedInstanceId
            | RDKafkaErrorCode::State
    )
}

impl Consumer for KafkaConsumer {
    async fn subscribe(&mut self, topics: &[Topic]) -> Result<(), BrokerError> {
        let client = Arc::clone(self.client()?);
        for topic in topics {
            let (client, topic) = (Arc::clone(&client), topic.clone());
            let timeout = self.config.request_timeout();
            let bootstrap = self.config.bootstrap().to_owned();
            metadata::blocking(move || {
                metadata::partitions_now(client.client(), &topic, timeout, &bootstrap)
            })
            .await?;
        }
        let names: Vec<&str> = topics.iter().map(Topic::as_str).collect();
        client
            .subscribe(&names)
            .map_err(|e| error::from_kafka(e, self.cx()))?;
        self.topics = topics.to_vec();
        Ok(())
    }

    async fn poll(&mut self) -> Result<ConsumerEvent, BrokerError> {
        let client = Arc::clone(self.client()?);
        if self.topics.is_empty() {
            return Err(BrokerError::NotSubscribed);
        }
        // The caller had its chance to commit what was revoked: hand it over.
        self.assignment.hand_over();
        self.context
            .hand_over(&client)
            .map_err(|e| error::from_kafka(e, self.cx()))?;
        self.reset_seeks_out_of_range().await?;
        loop {
            let wake = Arc::clone(&self.context.wake);
            let woken = wake.notified();
            tokio::pin!(woken);
            woken.as_mut().enable();
            if let Some(event) = self.group_event().await? {
                return Ok(event);
            }
            let batch = self.fetch()?;
            if !batch.is_empty() {
                return Ok(ConsumerEvent::Messages(batch));
            }
            if self.context.has_changes() {
                continue;
            }
            let _ = tokio::time::timeout(IDLE_RECHECK, woken).await;
        }
    }

    fn pause(&mut self, partitions: &[Partition]) -> Result<(), BrokerError> {
        self.client()?;
        self.assignment.check_all_owned(partitions)?;
        self.client()?
            .pause(&tpl_of(partitions, None))
            .map_err(|e| error::from_kafka(e, self.cx()))?;
        self.assignment.pause(partitions)
    }

    fn resume(&mut self, partitions: &[Partition]) -> Result<(), BrokerError> {
        self.client()?;
        self.assignment.check_all_owned(partitions)?;
        self.client()?
            .resume(&tpl_of(partitions, None))
            .map_err(|e| error::from_kafka(e, self.cx()))?;
        self.assignment.resume(partitions)?;
        for p in partitions {
            let reseek = self.owned.get_mut(p).and_then(|o| {
                std::mem::take(&mut o.reseek)
                    .then_some(o.position)
                    .flatten()
            });
            if let Some(at) = reseek {
                self.seek_to(p, at)?;
            }
        }
        self.context.wake.notify_one();
        Ok(())
    }

    fn paused(&self) -> BTreeSet<Partition> {
        self.assignment.paused().clone()
    }

    /// A seek past the end is out of range: at the next poll reading
    /// starts where the reset policy says (the earliest message, or the
    /// end), as on Kafka, whatever the broker (see `range.rs`).
    fn seek(&mut self, partition: &Partition, offset: u64) -> Result<(), BrokerError> {
        self.client()?;
        self.assignment.check_owned(partition)?;
        self.seek_to(partition, offset)?;
        let unsure = (!self.surely_in_range(partition, offset)).then_some(offset);
        if let Some(o) = self.owned.get_mut(partition) {
            o.position = Some(offset);
            o.reseek = false;
            o.unsure_seek = unsure;
        }
        Ok(())
    }

    fn assignment(&self) -> BTreeSet<Partition> {
        self.assignment.owned().clone()
    }

    fn position(&self, partition: &Partition) -> Option<u64> {
        self.owned.get(partition).and_then(|o| o.position)
    }

    /// The high watermark librdkafka last saw for the partition (from its
    /// fetch responses, no request) minus this consumer's position; `None`
    /// before the partition was fetched from, or when it is not owned.
    fn lag(&self, partition: &Partition) -> Option<u64> {
        let position = self.position(partition)?;
        let client = self.client.as_ref()?;
        let index = i32::try_from(partition.index).ok()?;
        let (_, high) = cached_watermarks(client, partition.topic.as_str(), index)?;
        Some(u64::try_from(high).ok()?.saturating_sub(position))
    }

    async fn commit(&mut self, offsets: &CommitRequest) -> Result<(), BrokerError> {
        self.client()?;
        for (p, _) in offsets.iter() {
            self.assignment.check_committable(p)?;
        }
        if offsets.is_empty() {
            return Ok(());
        }
        self.check_in_range(offsets).await?;
        let parts: Vec<Partition> = offsets.iter().map(|(p, _)| p.clone()).collect();
        let tpl = tpl_of(&parts, Some(offsets));
        let client = Arc::clone(self.client()?);
        let result = tokio::task::spawn_blocking(move || client.commit(&tpl, CommitMode::Sync))
            .await
            .map_err(|e| BrokerError::backend(BACKEND, e))?;
        match result {
            Ok(()) => Ok(()),
            Err(e) if e.rdkafka_error_code().is_some_and(lost_ownership) => {
                Err(BrokerError::NotAssigned {
                    partition: parts[0].clone(),
                })
            }
            Err(e) => Err(error::from_kafka(e, self.cx())),
        }
    }

    async fn committed(
        &mut self,
        partitions: &[Partition],
    ) -> Result<BTreeMap<Partition, Option<u64>>, BrokerError> {
        let client = Arc::clone(self.client()?);
        let tpl = tpl_of(partitions, None);
        let timeout = self.config.request_timeout();
        let result = tokio::task::spawn_blocking(move || client.committed_offsets(tpl, timeout))
            .await
            .map_err(|e| BrokerError::backend(BACKEND, e))?;
        let tpl = result.map_err(|e| error::from_kafka(e, self.cx()))?;
        Ok(partitions
            .iter()
            .map(|p| {
                let at = tpl
                    .find_partition(p.topic.as_str(), index_of(p))
                    .and_then(|e| weir_offset(e.offset()));
                (p.clone(), at)
            })
            .collect())
    }

    async fn close(&mut self) -> Result<(), BrokerError> {
        let Some(client) = self.client.take() else {
            return Ok(());
        };
        self.context.start_closing();
        let handed = self.context.hand_over(&client);
        self.owned.clear();
        self.assignment.clear();
        let settle = self.settle();
        let inbox = self.inbox.take();
        tokio::task::spawn_blocking(Self::close_client(client, inbox, settle))
            .await
            .map_err(|e| BrokerError::backend(BACKEND, e))?;
        handed.map_err(|e| error::from_kafka(e, self.cx()))
    }
}

impl Drop for KafkaConsumer {
    fn drop(&mut self) {
        let Some(client) = self.client.take() else {
            return;
        };
        self.context.start_closing();
        let _ = self.context.hand_over(&client);
        let close = Self::close_client(client, self.inbox.take(), self.settle());
        match tokio::runtime::Handle::try_current() {
            Ok(rt) => drop(rt.spawn_blocking(close)),
            Err(_) => close(),
        }
    }
}
