//! The broker handle: one cluster, one shared producer and admin, many consumers.

use std::sync::{Arc, OnceLock};

use weir_core::{Broker, BrokerError, ConsumerConfig};

use crate::{KafkaAdmin, KafkaConfig, KafkaConsumer, KafkaProducer, capability};

/// A Kafka cluster, reached through rdkafka. Cheap to clone.
///
/// Making the handle connects to nothing; the producer and the admin client
/// are created on first use and then shared by every clone. Each
/// [`Broker::consumer`] is its own librdkafka consumer (one group member).
#[derive(Clone, Debug)]
pub struct KafkaBroker {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    config: KafkaConfig,
    producer: OnceLock<KafkaProducer>,
    admin: OnceLock<KafkaAdmin>,
    capabilities: Arc<capability::State>,
}

impl KafkaBroker {
    /// A handle on the cluster `config` describes. Infallible: it connects
    /// to nothing, so an unreachable cluster or a bad setting shows in the
    /// first call ([`BrokerError::Unreachable`]); settings are checked when the
    /// config is built ([`BrokerError::InvalidConfig`]).
    ///
    /// # Examples
    ///
    /// ```no_run
    /// use weir_core::BrokerExt;
    /// use weir_kafka::{KafkaBroker, KafkaConfig};
    ///
    /// # async fn demo() -> Result<(), weir_core::BrokerError> {
    /// let config = KafkaConfig::builder("kafka-1:9092,kafka-2:9092").client_id("billing").build()?;
    /// let broker = KafkaBroker::new(config);
    /// broker.create_topic("orders", 12).await?;
    /// # Ok(()) }
    /// ```
    pub fn new(config: KafkaConfig) -> Self {
        KafkaBroker {
            inner: Arc::new(Inner {
                config,
                producer: OnceLock::new(),
                admin: OnceLock::new(),
                capabilities: Arc::default(),
            }),
        }
    }

    /// The configuration.
    pub fn config(&self) -> &KafkaConfig {
        &self.inner.config
    }

    /// What the job capabilities keep for this handle and its clones.
    pub(crate) fn capabilities(&self) -> &capability::State {
        &self.inner.capabilities
    }
}

fn shared<T: Clone>(
    cell: &OnceLock<T>,
    make: impl FnOnce() -> Result<T, BrokerError>,
) -> Result<T, BrokerError> {
    if let Some(v) = cell.get() {
        return Ok(v.clone());
    }
    let v = make()?;
    Ok(cell.get_or_init(|| v).clone())
}

impl Broker for KafkaBroker {
    type Producer = KafkaProducer;
    type Consumer = KafkaConsumer;
    type Admin = KafkaAdmin;

    fn name(&self) -> &'static str {
        crate::error::BACKEND
    }

    async fn producer(&self) -> Result<KafkaProducer, BrokerError> {
        shared(&self.inner.producer, || {
            KafkaProducer::new(self.inner.config.clone())
        })
    }

    async fn consumer(&self, config: ConsumerConfig) -> Result<KafkaConsumer, BrokerError> {
        KafkaConsumer::new(self.inner.config.clone(), config)
    }

    async fn admin(&self) -> Result<KafkaAdmin, BrokerError> {
        shared(&self.inner.admin, || {
            KafkaAdmin::new(
                self.inner.config.clone(),
                Arc::clone(&self.inner.capabilities),
            )
        })
    }
}
