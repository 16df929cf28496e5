//! The consumer trait: read partitions as a member of a consumer group.

use std::collections::{BTreeMap, BTreeSet};
use std::future::Future;

use crate::{BrokerError, BrokerValue, CommitRequest, Partition, Payload, RecordBatch, Topic};

/// What a consumer's [`poll`](Consumer::poll) returns.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ConsumerEvent {
    /// The group gave this consumer these partitions, each with the offset
    /// reading starts from (the committed one, or the reset policy's).
    Assigned(BTreeMap<Partition, u64>),
    /// The group takes these partitions away. Until the next call to `poll` the
    /// consumer still owns them and may commit finished work; the next `poll`
    /// hands them over.
    Revoked(BTreeSet<Partition>),
    /// Messages, in offset order per partition (never empty).
    Messages(Vec<BrokerValue<Payload>>),
}

/// What a consumer's [`poll_batches`](Consumer::poll_batches) returns.
#[derive(Clone, Debug)]
pub enum Polled {
    /// What [`poll`](Consumer::poll) returns.
    Event(ConsumerEvent),
    /// Messages lent as record batches, in offset order per partition
    /// (never empty, and no batch is empty).
    Batches(Vec<RecordBatch>),
}

/// Where a consumer starts on a partition that has no committed offset.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum OffsetReset {
    /// At the oldest message still stored.
    #[default]
    Earliest,
    /// After the newest message: only what is produced from now on.
    Latest,
}

/// How a consumer joins its group (backends add their own settings beside these).
///
/// Made like every Weir config: [`ConsumerConfig::builder`] takes the
/// required setting, the builder's setters are named after the settings, and
/// [`build`](ConsumerConfigBuilder::build) checks them all; the config has a
/// getter of the same name per setting. As its defaults need no check,
/// [`ConsumerConfig::new`] is the short way to a config with them.
///
/// ```
/// use weir_core::{ConsumerConfig, OffsetReset};
/// let config = ConsumerConfig::builder("billing")
///     .client_id("billing-1")
///     .offset_reset(OffsetReset::Latest)
///     .max_poll_records(100)
///     .build()
///     .unwrap();
/// assert_eq!(config.max_poll_records(), 100);
/// assert_eq!(ConsumerConfig::new("billing").max_poll_records(), 500);
/// assert!(ConsumerConfig::builder("billing").max_poll_records(0).build().is_err());
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConsumerConfig {
    group_id: String,
    client_id: Option<String>,
    offset_reset: OffsetReset,
    max_poll_records: usize,
}

impl ConsumerConfig {
    /// A member of group `group_id` with the default settings: no client id,
    /// starting from the earliest offset, 500 messages a poll at most.
    pub fn new(group_id: impl Into<String>) -> Self {
        ConsumerConfig {
            group_id: group_id.into(),
            client_id: None,
            offset_reset: OffsetReset::Earliest,
            max_poll_records: 500,
        }
    }

    /// A builder for a member of group `group_id`, starting from the defaults of [`ConsumerConfig::new`].
    pub fn builder(group_id: impl Into<String>) -> ConsumerConfigBuilder {
        ConsumerConfigBuilder {
            config: ConsumerConfig::new(group_id),
        }
    }

    /// The consumer group: members of one group share its partitions and offsets.
    #[inline]
    pub fn group_id(&self) -> &str {
        &self.group_id
    }

    /// A name for this member, shown in logs and broker tools.
    #[inline]
    pub fn client_id(&self) -> Option<&str> {
        self.client_id.as_deref()
    }

    /// Where to start without a committed offset.
    #[inline]
    pub fn offset_reset(&self) -> OffsetReset {
        self.offset_reset
    }

    /// The most messages one `poll` returns (at least 1).
    #[inline]
    pub fn max_poll_records(&self) -> usize {
        self.max_poll_records
    }
}

/// Builds a [`ConsumerConfig`]; see there for the pattern.
#[derive(Clone, Debug)]
pub struct ConsumerConfigBuilder {
    config: ConsumerConfig,
}

impl ConsumerConfigBuilder {
    /// A name for this member, shown in logs and broker tools (default: none).
    pub fn client_id(mut self, id: impl Into<String>) -> Self {
        self.config.client_id = Some(id.into());
        self
    }

    /// Where to start without a committed offset (default: the earliest).
    pub fn offset_reset(mut self, reset: OffsetReset) -> Self {
        self.config.offset_reset = reset;
        self
    }

    /// The most messages one `poll` returns (default 500; at least 1).
    pub fn max_poll_records(mut self, n: usize) -> Self {
        self.config.max_poll_records = n;
        self
    }

    /// The config; fails with [`BrokerError::InvalidConfig`] on a
    /// `max_poll_records` of 0.
    pub fn build(self) -> Result<ConsumerConfig, BrokerError> {
        let c = self.config;
        if c.max_poll_records == 0 {
            return Err(BrokerError::InvalidConfig(format!(
                "max_poll_records of group `{}` must be at least 1",
                c.group_id
            )));
        }
        Ok(c)
    }
}

/// A member of a consumer group, reading the partitions the group assigns it.
///
/// The life of a consumer: [`subscribe`](Consumer::subscribe), then call
/// [`poll`](Consumer::poll) in a loop. Poll waits (without spinning) until there
/// is something to report: an assignment, a revocation, or messages. A commit
/// stores, per partition, the offset of the next message to read; after a
/// restart or a rebalance, reading resumes there.
///
/// `poll` must be cancel-safe: dropping its future loses no message, so callers
/// may `select!` on it.
pub trait Consumer: Send + 'static {
    /// Joins the group for these topics (replacing any earlier subscription).
    fn subscribe(
        &mut self,
        topics: &[Topic],
    ) -> impl Future<Output = Result<(), BrokerError>> + Send;

    /// Waits for the next event.
    fn poll(&mut self) -> impl Future<Output = Result<ConsumerEvent, BrokerError>> + Send;

    /// Waits for the next event as [`poll`](Consumer::poll) does, but may
    /// hand messages over as [`RecordBatch`]es that share the broker's
    /// storage rather than as copies, for a reader that only borrows their
    /// payloads. Cancel-safe like `poll`.
    ///
    /// By default it is `poll`; a backend that keeps messages in memory it
    /// can share (the memory broker) overrides it.
    fn poll_batches(&mut self) -> impl Future<Output = Result<Polled, BrokerError>> + Send {
        async move { self.poll().await.map(Polled::Event) }
    }

    /// Stops returning messages from these partitions (membership is kept).
    fn pause(&mut self, partitions: &[Partition]) -> Result<(), BrokerError>;

    /// Returns messages from these partitions again.
    fn resume(&mut self, partitions: &[Partition]) -> Result<(), BrokerError>;

    /// The paused partitions.
    fn paused(&self) -> BTreeSet<Partition>;

    /// Moves the read position of an assigned partition to `offset`.
    fn seek(&mut self, partition: &Partition, offset: u64) -> Result<(), BrokerError>;

    /// The partitions this consumer owns now.
    fn assignment(&self) -> BTreeSet<Partition>;

    /// The next offset this consumer would read from `partition`.
    fn position(&self, partition: &Partition) -> Option<u64>;

    /// Stores the offsets for the group. Fails with
    /// [`BrokerError::NotAssigned`] for a partition this consumer does not own.
    fn commit(
        &mut self,
        offsets: &CommitRequest,
    ) -> impl Future<Output = Result<(), BrokerError>> + Send;

    /// The group's committed offsets for these partitions (`None`: nothing committed).
    fn committed(
        &mut self,
        partitions: &[Partition],
    ) -> impl Future<Output = Result<BTreeMap<Partition, Option<u64>>, BrokerError>> + Send;

    /// How many messages of `partition` lie past this consumer's position, if the backend knows.
    fn lag(&self, partition: &Partition) -> Option<u64> {
        let _ = partition;
        None
    }

    /// Leaves the group, handing its partitions to the other members.
    fn close(&mut self) -> impl Future<Output = Result<(), BrokerError>> + Send;
}
