//! The memory broker handle and its settings.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError, RwLock};
use std::time::Duration;

use weir_core::{Broker, BrokerError, ConsumerConfig, Topic, check_partition_count};

use crate::assign::Assignor;
use crate::group::Group;
use crate::log::Retention;
use crate::name_hash::NameMap;
use crate::topic::{TopicState, lock};
use crate::{MemoryAdmin, MemoryConsumer, MemoryProducer};

/// The embedded broker: topics, partitions, consumer groups and committed
/// offsets, all in this process. Clones share one broker.
///
/// ```
/// use weir_memory::{Assignor, MemoryBroker, Retention};
/// use std::time::Duration;
/// let broker = MemoryBroker::builder()
///     .assignor(Assignor::RoundRobin)
///     .rebalance_timeout(Duration::from_secs(10))
///     .default_retention(Retention::messages(100_000))
///     .build();
/// # let _ = broker;
/// ```
#[derive(Clone, Debug)]
pub struct MemoryBroker {
    pub(crate) inner: Arc<Inner>,
}

#[derive(Debug)]
pub(crate) struct Inner {
    topics: RwLock<NameMap<Topic, Arc<TopicState>>>,
    pub(crate) groups: Mutex<HashMap<String, Group>>,
    next_member: AtomicU64,
    settings: Settings,
    /// State of the job capabilities (delays, dedup, results, events).
    pub(crate) capabilities: crate::capability::State,
}

#[derive(Clone, Copy, Debug)]
struct Settings {
    assignor: Assignor,
    rebalance_timeout: Duration,
    retention: Retention,
    max_payload_bytes: usize,
}

/// Builds a [`MemoryBroker`].
#[derive(Clone, Debug)]
pub struct MemoryBrokerBuilder {
    settings: Settings,
}

impl MemoryBrokerBuilder {
    /// How groups divide partitions (default: [`Assignor::Range`]).
    pub fn assignor(mut self, assignor: Assignor) -> Self {
        self.settings.assignor = assignor;
        self
    }

    /// How long a member may take to hand over a revoked partition before it
    /// is taken away (default 30 s).
    pub fn rebalance_timeout(mut self, timeout: Duration) -> Self {
        self.settings.rebalance_timeout = timeout;
        self
    }

    /// The retention of topics created without their own (default: unbounded).
    pub fn default_retention(mut self, retention: Retention) -> Self {
        self.settings.retention = retention;
        self
    }

    /// The largest payload accepted, in bytes (default 64 MiB).
    pub fn max_payload_bytes(mut self, limit: usize) -> Self {
        self.settings.max_payload_bytes = limit;
        self
    }

    /// The broker.
    pub fn build(self) -> MemoryBroker {
        crate::stamp::calibrate();
        MemoryBroker {
            inner: Arc::new(Inner {
                topics: RwLock::new(NameMap::default()),
                groups: Mutex::new(HashMap::new()),
                next_member: AtomicU64::new(1),
                settings: self.settings,
                capabilities: crate::capability::State::default(),
            }),
        }
    }
}

impl Default for MemoryBroker {
    fn default() -> Self {
        MemoryBroker::new()
    }
}

impl MemoryBroker {
    /// A broker with default settings.
    ///
    /// # Examples
    ///
    /// ```
    /// use weir_memory::{MemoryBroker, Retention};
    ///
    /// let default = MemoryBroker::new();
    /// let small = MemoryBroker::builder().default_retention(Retention::bytes(1 << 20)).build();
    /// # let _ = (default, small);
    /// ```
    pub fn new() -> Self {
        MemoryBroker::builder().build()
    }

    /// A builder for a broker with other settings.
    pub fn builder() -> MemoryBrokerBuilder {
        MemoryBrokerBuilder {
            settings: Settings {
                assignor: Assignor::Range,
                rebalance_timeout: Duration::from_secs(30),
                retention: Retention::unbounded(),
                max_payload_bytes: 64 << 20,
            },
        }
    }

    /// Creates a topic with its own retention.
    pub fn create_topic_with_retention(
        &self,
        topic: &Topic,
        partitions: u32,
        retention: Retention,
    ) -> Result<(), BrokerError> {
        check_partition_count(topic, partitions)?;
        let mut topics = self
            .inner
            .topics
            .write()
            .unwrap_or_else(PoisonError::into_inner);
        if topics.contains_key(topic) {
            return Err(BrokerError::TopicExists {
                topic: topic.clone(),
            });
        }
        topics.insert(
            topic.clone(),
            Arc::new(TopicState::new(topic.clone(), partitions, retention)),
        );
        drop(topics);
        self.rebalance_all();
        Ok(())
    }

    /// Creates a topic with the broker's default retention.
    ///
    /// Synchronous: it is this method, not the asynchronous
    /// [`BrokerExt::create_topic`](weir_core::BrokerExt::create_topic), that
    /// a call on a `MemoryBroker` reaches (an inherent method wins).
    ///
    /// # Examples
    ///
    /// ```
    /// use weir_core::BrokerExt;
    /// use weir_memory::MemoryBroker;
    ///
    /// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
    /// let broker = MemoryBroker::new();
    /// broker.create_topic(&"orders".into(), 4)?;
    /// BrokerExt::create_topic(&broker, "invoices", 1).await?; // what generic code calls
    /// assert!(broker.create_topic(&"orders".into(), 4).is_err());
    /// # Ok::<(), weir_core::BrokerError>(()) }).unwrap();
    /// ```
    ///
    /// # Errors
    ///
    /// [`BrokerError::TopicExists`] if it exists, [`BrokerError::NoPartitions`]
    /// if `partitions` is 0.
    pub fn create_topic(&self, topic: &Topic, partitions: u32) -> Result<(), BrokerError> {
        self.create_topic_with_retention(topic, partitions, self.inner.settings.retention)
    }

    /// Deletes a topic; groups reading it lose its partitions.
    pub fn delete_topic(&self, topic: &Topic) -> Result<(), BrokerError> {
        let removed = self
            .inner
            .topics
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(topic);
        let Some(removed) = removed else {
            return Err(BrokerError::UnknownTopic {
                topic: topic.clone(),
            });
        };
        removed.mark_deleted();
        {
            let mut groups = lock(&self.inner.groups);
            for g in groups.values_mut() {
                g.forget_topic(topic);
            }
        }
        self.rebalance_all();
        Ok(())
    }

    fn rebalance_all(&self) {
        let counts = self.inner.partition_counts();
        let mut groups = lock(&self.inner.groups);
        for g in groups.values_mut() {
            g.rebalance(&counts);
        }
    }
}

impl Inner {
    pub(crate) fn topic(&self, topic: &Topic) -> Result<Arc<TopicState>, BrokerError> {
        self.with_topic(topic, Arc::clone)
    }

    /// `f` of the topic's state, called while the topic map is read, which
    /// spares the caller a reference count of its own. Nothing under it may
    /// take the map's lock again (a partition's lock is fine).
    #[inline]
    pub(crate) fn with_topic<R>(
        &self,
        topic: &Topic,
        f: impl FnOnce(&Arc<TopicState>) -> R,
    ) -> Result<R, BrokerError> {
        let topics = self.topics.read().unwrap_or_else(PoisonError::into_inner);
        match topics.get(topic) {
            Some(state) => Ok(f(state)),
            None => Err(BrokerError::UnknownTopic {
                topic: topic.clone(),
            }),
        }
    }

    pub(crate) fn partition_counts(&self) -> BTreeMap<Topic, u32> {
        self.topics
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .iter()
            .map(|(t, s)| (t.clone(), s.partition_count()))
            .collect()
    }

    pub(crate) fn topic_infos(&self) -> Vec<weir_core::TopicInfo> {
        let mut out: Vec<_> = self
            .partition_counts()
            .into_iter()
            .map(|(topic, partitions)| weir_core::TopicInfo { topic, partitions })
            .collect();
        out.sort();
        out
    }

    pub(crate) fn new_member_id(&self) -> u64 {
        self.next_member.fetch_add(1, Ordering::Relaxed)
    }

    pub(crate) fn max_payload_bytes(&self) -> usize {
        self.settings.max_payload_bytes
    }

    pub(crate) fn new_group(&self) -> Group {
        Group::new(self.settings.assignor, self.settings.rebalance_timeout)
    }
}

impl Broker for MemoryBroker {
    type Producer = MemoryProducer;
    type Consumer = MemoryConsumer;
    type Admin = MemoryAdmin;

    fn name(&self) -> &'static str {
        "memory"
    }

    async fn producer(&self) -> Result<MemoryProducer, BrokerError> {
        Ok(MemoryProducer::new(self.clone()))
    }

    async fn consumer(&self, config: ConsumerConfig) -> Result<MemoryConsumer, BrokerError> {
        Ok(MemoryConsumer::new(self.clone(), config))
    }

    async fn admin(&self) -> Result<MemoryAdmin, BrokerError> {
        Ok(MemoryAdmin::new(self.clone()))
    }
}
