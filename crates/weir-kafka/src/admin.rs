//! Topic administration through rdkafka's admin client.

use std::sync::Arc;
use std::time::{Duration, Instant};

use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication, TopicResult};
use rdkafka::client::DefaultClientContext;
use rdkafka::consumer::{BaseConsumer, Consumer as _};
use rdkafka::{Offset, TopicPartitionList};
use weir_core::{
    Admin, BrokerError, ConsumerConfig, PartitionOffsets, Topic, TopicInfo, check_partition_count,
};

use crate::error::{self, Context};
use crate::metadata;
use crate::{KafkaConfig, capability};

/// How often `create_topic` looks whether the new topic is visible yet.
const VISIBLE_RECHECK: Duration = Duration::from_millis(50);

/// Creates, lists and deletes Kafka topics.
///
/// New topics get the cluster's default replication factor. `create_topic`
/// returns once the topic shows in the cluster's metadata, so a producer or
/// consumer may use it right away.
#[derive(Clone)]
pub struct KafkaAdmin {
    client: Arc<AdminClient<DefaultClientContext>>,
    config: KafkaConfig,
    /// What the broker handle's capabilities know of topics.
    capabilities: Arc<capability::State>,
}

impl std::fmt::Debug for KafkaAdmin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KafkaAdmin")
            .field("bootstrap", &self.config.bootstrap())
            .finish_non_exhaustive()
    }
}

impl KafkaAdmin {
    pub(crate) fn new(
        config: KafkaConfig,
        capabilities: Arc<capability::State>,
    ) -> Result<Self, BrokerError> {
        let client = config
            .admin_settings()
            .create()
            .map_err(|e| error::from_kafka(e, Context::cluster(config.bootstrap())))?;
        Ok(KafkaAdmin {
            client: Arc::new(client),
            config,
            capabilities,
        })
    }

    fn options(&self) -> AdminOptions {
        AdminOptions::new()
            .request_timeout(Some(self.config.request_timeout()))
            .operation_timeout(Some(self.config.request_timeout()))
    }

    /// The first failure among an admin call's per-topic results, as an
    /// error naming `topic`.
    fn first_failure(&self, results: Vec<TopicResult>, topic: &Topic) -> Result<(), BrokerError> {
        match results.into_iter().find_map(Result::err) {
            Some((_, code)) => {
                let cx = Context::cluster(self.config.bootstrap()).topic(topic);
                Err(error::from_code(code, cx))
            }
            None => Ok(()),
        }
    }

    /// Waits until `topic` shows in the metadata with `partitions` partitions.
    async fn until_visible(&self, topic: &Topic, partitions: u32) -> Result<(), BrokerError> {
        let deadline = Instant::now() + self.config.request_timeout();
        loop {
            let client = Arc::clone(&self.client);
            let t = topic.clone();
            let timeout = self.config.request_timeout();
            let bootstrap = self.config.bootstrap().to_owned();
            let seen = metadata::blocking(move || {
                metadata::partitions_now(client.inner(), &t, timeout, &bootstrap)
            })
            .await;
            match seen {
                Ok(n) if n >= partitions => return Ok(()),
                Ok(_) | Err(BrokerError::UnknownTopic { .. }) if Instant::now() < deadline => {
                    tokio::time::sleep(VISIBLE_RECHECK).await;
                }
                Ok(_) => return Ok(()),
                Err(e) => return Err(e),
            }
        }
    }
}

impl KafkaAdmin {
    /// Creates `topic` with `partitions` partitions and these topic
    /// settings (`cleanup.policy`, `retention.ms`, ...), as
    /// [`Admin::create_topic`] does.
    pub(crate) async fn create_topic_with(
        &self,
        topic: &Topic,
        partitions: u32,
        settings: &[(&str, &str)],
    ) -> Result<(), BrokerError> {
        check_partition_count(topic, partitions)?;
        let count = i32::try_from(partitions)
            .map_err(|_| BrokerError::InvalidConfig(format!("{partitions} partitions")))?;
        let mut new = NewTopic::new(topic.as_str(), count, TopicReplication::Fixed(-1));
        for (key, value) in settings {
            new = new.set(key, value);
        }
        let results = self
            .client
            .create_topics(&[new], &self.options())
            .await
            .map_err(|e| error::from_kafka(e, Context::cluster(self.config.bootstrap())))?;
        self.first_failure(results, topic)?;
        self.until_visible(topic, partitions).await
    }
}

impl Admin for KafkaAdmin {
    async fn create_topic(&self, topic: &Topic, partitions: u32) -> Result<(), BrokerError> {
        self.create_topic_with(topic, partitions, &[]).await
    }

    async fn list_topics(&self) -> Result<Vec<TopicInfo>, BrokerError> {
        let client = Arc::clone(&self.client);
        let timeout = self.config.request_timeout();
        let bootstrap = self.config.bootstrap().to_owned();
        metadata::blocking(move || {
            let metadata = client
                .inner()
                .fetch_metadata(None, timeout)
                .map_err(|e| error::from_kafka(e, Context::cluster(&bootstrap)))?;
            let mut topics: Vec<TopicInfo> = metadata
                .topics()
                .iter()
                .filter(|t| t.error().is_none() && !t.name().starts_with("__"))
                .map(|t| TopicInfo {
                    topic: Topic::new(t.name()),
                    partitions: u32::try_from(t.partitions().len()).unwrap_or(u32::MAX),
                })
                .collect();
            topics.sort();
            Ok(topics)
        })
        .await
    }

    /// Each partition's watermarks, and the group's committed offsets read
    /// by a consumer of the group that does not join it.
    async fn offsets(
        &self,
        topic: &Topic,
        group: Option<&str>,
    ) -> Result<Vec<PartitionOffsets>, BrokerError> {
        let settings = match group {
            Some(g) => self.config.consumer_settings(&ConsumerConfig::new(g)),
            None => self.config.admin_settings(),
        };
        let timeout = self.config.request_timeout();
        let bootstrap = self.config.bootstrap().to_owned();
        let topic = topic.clone();
        let reads_group = group.is_some();
        metadata::blocking(move || {
            let cx = || Context::cluster(&bootstrap).topic(&topic);
            let consumer: BaseConsumer =
                settings.create().map_err(|e| error::from_kafka(e, cx()))?;
            let count = metadata::partitions_now(consumer.client(), &topic, timeout, &bootstrap)?;
            let mut committed = vec![None; count as usize];
            if reads_group {
                let mut tpl = TopicPartitionList::new();
                for i in 0..count {
                    tpl.add_partition(topic.as_str(), i as i32);
                }
                let found = consumer
                    .committed_offsets(tpl, timeout)
                    .map_err(|e| error::from_kafka(e, cx()))?;
                for e in found.elements() {
                    if let (Ok(i), Offset::Offset(o)) = (usize::try_from(e.partition()), e.offset())
                        && let Some(slot) = committed.get_mut(i)
                    {
                        *slot = u64::try_from(o).ok();
                    }
                }
            }
            (0..count)
                .zip(committed)
                .map(|(i, committed)| {
                    let (low, high) = consumer
                        .fetch_watermarks(topic.as_str(), i as i32, timeout)
                        .map_err(|e| error::from_kafka(e, cx()))?;
                    Ok(PartitionOffsets::new(
                        topic.partition(i),
                        u64::try_from(low).unwrap_or(0),
                        u64::try_from(high).unwrap_or(0),
                        committed,
                    ))
                })
                .collect()
        })
        .await
    }

    /// Deletes `topic` and, if it has one, its delay topic (see
    /// [`CapabilityConfig::delay_suffix`](crate::CapabilityConfig::delay_suffix)):
    /// what waits for a topic goes with it, as on the other backends.
    async fn delete_topic(&self, topic: &Topic) -> Result<(), BrokerError> {
        let delay = capability::delay_topic_of(topic, self.config.capabilities());
        let results = self
            .client
            .delete_topics(&[topic.as_str(), delay.as_str()], &self.options())
            .await
            .map_err(|e| error::from_kafka(e, Context::cluster(self.config.bootstrap())))?;
        self.capabilities.forget_topic(topic, &delay);
        // The delay topic exists only once something waited for the topic.
        let (mine, delays): (Vec<TopicResult>, Vec<TopicResult>) = results
            .into_iter()
            .partition(|r| matches!(r, Ok(name) | Err((name, _)) if name == topic.as_str()));
        self.first_failure(mine, topic)?;
        let cx = Context::cluster(self.config.bootstrap()).topic(&delay);
        match delays.into_iter().find_map(Result::err) {
            Some((_, code)) => match error::from_code(code, cx) {
                BrokerError::UnknownTopic { .. } => Ok(()),
                e => Err(e),
            },
            None => Ok(()),
        }
    }
}
