//! How to reach a Kafka cluster, and the librdkafka settings every client gets.

use std::collections::BTreeMap;
use std::time::Duration;

use rdkafka::ClientConfig;
use weir_core::{ConsumerConfig, OffsetReset};

/// How long librdkafka waits before it fetches again for a partition whose
/// prefetch queue was full (`fetch.queue.backoff.ms`). librdkafka's default,
/// 1000, is not cut short when the application drains the queue: a
/// consumer that empties a full queue in less than a second then idles until
/// the backoff ends, again and again. Ten milliseconds keeps the queue fed at
/// the cost of a cheap re-check per partition.
///
/// Applies unless set through [`KafkaConfig::set`] or [`KafkaConfig::set_consumer`].
const FETCH_QUEUE_BACKOFF_MS: &str = "10";
const FETCH_QUEUE_BACKOFF: &str = "fetch.queue.backoff.ms";

/// How a consumer group hands partitions over when members come and go.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum RebalanceProtocol {
    /// Every member gives up all its partitions, then the group assigns them
    /// afresh (librdkafka's `range,roundrobin`).
    #[default]
    Eager,
    /// Only the partitions that move are revoked (`cooperative-sticky`):
    /// members keep reading the rest during a rebalance.
    CooperativeSticky,
}

impl RebalanceProtocol {
    fn strategy(self) -> &'static str {
        match self {
            RebalanceProtocol::Eager => "range,roundrobin",
            RebalanceProtocol::CooperativeSticky => "cooperative-sticky",
        }
    }
}

/// The settings of a [`KafkaBroker`](crate::KafkaBroker): where the cluster
/// is, how clients name themselves, limits, and any librdkafka setting
/// passed through unchanged (SASL, TLS, timeouts, ...).
///
/// ```
/// use std::time::Duration;
/// use weir_kafka::{KafkaConfig, RebalanceProtocol};
///
/// let config = KafkaConfig::new("kafka-1:9092,kafka-2:9092")
///     .client_id("billing")
///     .rebalance(RebalanceProtocol::CooperativeSticky)
///     .set("security.protocol", "SASL_SSL")
///     .set("sasl.mechanisms", "PLAIN")
///     .timeout(Duration::from_secs(10));
/// assert_eq!(config.bootstrap(), "kafka-1:9092,kafka-2:9092");
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KafkaConfig {
    bootstrap: String,
    client_id: Option<String>,
    rebalance: RebalanceProtocol,
    max_in_flight: usize,
    max_message_bytes: usize,
    timeout: Duration,
    settle: Option<Duration>,
    common: BTreeMap<String, String>,
    consumer: BTreeMap<String, String>,
    producer: BTreeMap<String, String>,
}

impl KafkaConfig {
    /// A cluster reached through `bootstrap` (`host:port[,host:port...]`).
    pub fn new(bootstrap: impl Into<String>) -> Self {
        KafkaConfig {
            bootstrap: bootstrap.into(),
            client_id: None,
            rebalance: RebalanceProtocol::Eager,
            max_in_flight: 100_000,
            max_message_bytes: 4 << 20,
            timeout: Duration::from_secs(30),
            settle: None,
            common: BTreeMap::new(),
            consumer: BTreeMap::new(),
            producer: BTreeMap::new(),
        }
    }

    /// Short group-membership timeouts (`session.timeout.ms=6000`,
    /// `heartbeat.interval.ms=500`), so groups form and notice a dead member
    /// in seconds: what tests and local development want. Production keeps
    /// librdkafka's defaults unless set otherwise.
    pub fn fast_group_joins(self) -> Self {
        self.set_consumer("session.timeout.ms", "6000")
            .set_consumer("heartbeat.interval.ms", "500")
    }

    /// The client id every client reports (consumers may override it through
    /// [`ConsumerConfig::client_id`]).
    pub fn client_id(mut self, id: impl Into<String>) -> Self {
        self.client_id = Some(id.into());
        self
    }

    /// The rebalance protocol of consumers.
    pub fn rebalance(mut self, protocol: RebalanceProtocol) -> Self {
        self.rebalance = protocol;
        self
    }

    /// The most produced messages awaiting their delivery report at once;
    /// `produce` waits for room beyond that (at least 1).
    pub fn max_in_flight(mut self, n: usize) -> Self {
        self.max_in_flight = n.max(1);
        self
    }

    /// The largest message (value, key and headers) the producer sends
    /// (librdkafka's `message.max.bytes`; the broker has its own limit).
    pub fn max_message_bytes(mut self, bytes: usize) -> Self {
        self.max_message_bytes = bytes.max(1000);
        self
    }

    /// How long metadata look-ups, commits and admin requests may take.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Makes a closing consumer leave its group only from a settled
    /// generation: it first finishes any join or rebalance in progress and
    /// holds its assignment for `quiet` (up to ten seconds in all). Off by
    /// default; Kafka does not need it. tansu 0.6 does: a member leaving
    /// while the group forms leaves the others waiting forever.
    pub fn settle_before_leaving(mut self, quiet: Duration) -> Self {
        self.settle = Some(quiet);
        self
    }

    /// Passes a librdkafka setting to every client (producer, consumers, admin).
    pub fn set(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.common.insert(key.into(), value.into());
        self
    }

    /// Passes a librdkafka setting to consumers only.
    pub fn set_consumer(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.consumer.insert(key.into(), value.into());
        self
    }

    /// Passes a librdkafka setting to the producer only.
    pub fn set_producer(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.producer.insert(key.into(), value.into());
        self
    }

    /// How long a closing consumer holds its assignment before leaving, if set.
    pub fn settle_quiet(&self) -> Option<Duration> {
        self.settle
    }

    /// The bootstrap servers.
    pub fn bootstrap(&self) -> &str {
        &self.bootstrap
    }

    /// The rebalance protocol.
    pub fn rebalance_protocol(&self) -> RebalanceProtocol {
        self.rebalance
    }

    /// The in-flight limit of the producer.
    pub fn in_flight_limit(&self) -> usize {
        self.max_in_flight
    }

    /// The producer's message size limit.
    pub fn message_limit(&self) -> usize {
        self.max_message_bytes
    }

    /// The timeout of metadata, commit and admin requests.
    pub fn request_timeout(&self) -> Duration {
        self.timeout
    }

    fn base(&self) -> ClientConfig {
        let mut c = ClientConfig::new();
        c.set("bootstrap.servers", &self.bootstrap);
        c.set("allow.auto.create.topics", "false");
        if let Some(id) = &self.client_id {
            c.set("client.id", id);
        }
        for (k, v) in &self.common {
            c.set(k, v);
        }
        c
    }

    /// The settings of the admin client.
    pub(crate) fn admin_settings(&self) -> ClientConfig {
        self.base()
    }

    /// The settings of the producer.
    pub(crate) fn producer_settings(&self) -> ClientConfig {
        let mut c = self.base();
        c.set("message.max.bytes", self.max_message_bytes.to_string());
        for (k, v) in &self.producer {
            c.set(k, v);
        }
        c
    }

    /// The settings of a consumer in `group.group_id()`: manual commits, no
    /// offset store, the group's reset policy and rebalance protocol.
    pub(crate) fn consumer_settings(&self, group: &ConsumerConfig) -> ClientConfig {
        let mut c = self.base();
        c.set("group.id", group.group_id());
        if let Some(id) = group.client_id() {
            c.set("client.id", id);
        }
        c.set("enable.auto.commit", "false");
        c.set("enable.auto.offset.store", "false");
        c.set("enable.partition.eof", "false");
        c.set(
            "auto.offset.reset",
            match group.offset_reset() {
                OffsetReset::Earliest => "earliest",
                OffsetReset::Latest => "latest",
            },
        );
        c.set("partition.assignment.strategy", self.rebalance.strategy());
        if !self.common.contains_key(FETCH_QUEUE_BACKOFF) {
            c.set(FETCH_QUEUE_BACKOFF, FETCH_QUEUE_BACKOFF_MS);
        }
        for (k, v) in &self.consumer {
            c.set(k, v);
        }
        c
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn consumers_refetch_soon_after_a_full_queue_unless_told_otherwise() {
        let group = ConsumerConfig::new("g");
        let default = KafkaConfig::new("localhost:9092").consumer_settings(&group);
        assert_eq!(
            default.get("fetch.queue.backoff.ms"),
            Some(FETCH_QUEUE_BACKOFF_MS)
        );
        let set = KafkaConfig::new("localhost:9092")
            .set_consumer("fetch.queue.backoff.ms", "250")
            .consumer_settings(&group);
        assert_eq!(set.get("fetch.queue.backoff.ms"), Some("250"));
        let common = KafkaConfig::new("localhost:9092")
            .set("fetch.queue.backoff.ms", "300")
            .consumer_settings(&group);
        assert_eq!(common.get("fetch.queue.backoff.ms"), Some("300"));
    }
}
