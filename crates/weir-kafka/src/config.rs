//! How to reach a Kafka cluster, and the librdkafka settings every client gets.

use std::collections::BTreeMap;
use std::time::Duration;

use rdkafka::ClientConfig;
use weir_core::{BrokerError, ConsumerConfig, OffsetReset};

use crate::CapabilityConfig;

/// How long librdkafka waits before it fetches again for a partition whose
/// prefetch queue was full (`fetch.queue.backoff.ms`). librdkafka's default,
/// 1000, is not cut short when the application drains the queue: a
/// consumer that empties a full queue in less than a second then idles until
/// the backoff ends, again and again. Ten milliseconds keeps the queue fed at
/// the cost of a cheap re-check per partition.
///
/// Applies unless set through [`KafkaConfigBuilder::set`] or [`KafkaConfigBuilder::set_consumer`].
const FETCH_QUEUE_BACKOFF_MS: &str = "10";
const FETCH_QUEUE_BACKOFF: &str = "fetch.queue.backoff.ms";

/// How many kilobytes librdkafka prefetches for each assigned partition at
/// most (`queued.max.messages.kbytes`). The consumer keeps each partition's
/// prefetched messages apart, to read them in turns (see the `inbox`
/// module), so librdkafka applies this limit to each partition rather than
/// to the consumer: its default, 64 MiB, would let a consumer of many
/// partitions hold gigabytes. 16 MiB is sixteen full fetches of one
/// partition (`max.partition.fetch.bytes`), enough to keep it fed.
///
/// Applies unless set through [`KafkaConfigBuilder::set`] or [`KafkaConfigBuilder::set_consumer`].
const PREFETCH_KBYTES: &str = "16384";
const QUEUED_MAX_KBYTES: &str = "queued.max.messages.kbytes";

/// How often a consumer that settles before leaving
/// ([`KafkaConfigBuilder::settle_before_leaving`]) reads its join state from
/// librdkafka's statistics (`statistics.interval.ms`): a cooperative
/// rebalance starts without a callback, and only the statistics show it.
/// A tenth of a second is well inside a join, which takes a heartbeat
/// (half a second with [`KafkaConfigBuilder::fast_group_joins`]) to start.
///
/// Applies only then, and unless set through [`KafkaConfigBuilder::set`] or
/// [`KafkaConfigBuilder::set_consumer`] (a longer interval makes settling
/// slower to notice a join).
const SETTLE_STATISTICS_MS: &str = "100";
const STATISTICS_INTERVAL: &str = "statistics.interval.ms";

/// How a consumer group hands partitions over when members come and go
/// (non-exhaustive: Kafka's newer consumer protocol may join them).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
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
/// passed through unchanged (SASL, TLS, timeouts, ...). Made with
/// [`KafkaConfig::builder`]: the builder's setters and the config's getters
/// share the settings' names, and [`build`](KafkaConfigBuilder::build) checks
/// them all.
///
/// ```
/// use std::time::Duration;
/// use weir_kafka::{KafkaConfig, RebalanceProtocol};
///
/// let config = KafkaConfig::builder("kafka-1:9092,kafka-2:9092")
///     .client_id("billing")
///     .rebalance_protocol(RebalanceProtocol::CooperativeSticky)
///     .set("security.protocol", "SASL_SSL")
///     .set("sasl.mechanisms", "PLAIN")
///     .request_timeout(Duration::from_secs(10))
///     .build()
///     .unwrap();
/// assert_eq!(config.bootstrap(), "kafka-1:9092,kafka-2:9092");
/// assert_eq!(config.request_timeout(), Duration::from_secs(10));
/// ```
///
/// Its `Debug` shows the value of every setting whose name suggests a secret
/// (see [`is_secret_setting`]) as `***`.
#[derive(Clone, PartialEq, Eq)]
pub struct KafkaConfig {
    bootstrap: String,
    client_id: Option<String>,
    rebalance_protocol: RebalanceProtocol,
    max_in_flight: usize,
    max_message_bytes: usize,
    request_timeout: Duration,
    settle_before_leaving: Option<Duration>,
    capabilities: CapabilityConfig,
    common: BTreeMap<String, String>,
    consumer: BTreeMap<String, String>,
    producer: BTreeMap<String, String>,
}

impl KafkaConfig {
    /// A builder for a cluster reached through `bootstrap` (`host:port[,host:port...]`).
    pub fn builder(bootstrap: impl Into<String>) -> KafkaConfigBuilder {
        KafkaConfigBuilder {
            config: KafkaConfig {
                bootstrap: bootstrap.into(),
                client_id: None,
                rebalance_protocol: RebalanceProtocol::Eager,
                max_in_flight: 100_000,
                max_message_bytes: 4 << 20,
                request_timeout: Duration::from_secs(30),
                settle_before_leaving: None,
                capabilities: CapabilityConfig::default(),
                common: BTreeMap::new(),
                consumer: BTreeMap::new(),
                producer: BTreeMap::new(),
            },
        }
    }

    /// The bootstrap servers.
    pub fn bootstrap(&self) -> &str {
        &self.bootstrap
    }

    /// The client id every client reports, if set.
    pub fn client_id(&self) -> Option<&str> {
        self.client_id.as_deref()
    }

    /// The rebalance protocol of consumers.
    pub fn rebalance_protocol(&self) -> RebalanceProtocol {
        self.rebalance_protocol
    }

    /// The most produced messages awaiting their delivery report at once.
    pub fn max_in_flight(&self) -> usize {
        self.max_in_flight
    }

    /// The largest message the producer sends, in bytes.
    pub fn max_message_bytes(&self) -> usize {
        self.max_message_bytes
    }

    /// How long metadata look-ups, commits and admin requests may take.
    pub fn request_timeout(&self) -> Duration {
        self.request_timeout
    }

    /// How long a closing consumer holds its assignment before leaving, if set.
    pub fn settle_before_leaving(&self) -> Option<Duration> {
        self.settle_before_leaving
    }

    /// Where the job capabilities keep their data (delays, results, events).
    pub fn capabilities(&self) -> &CapabilityConfig {
        &self.capabilities
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
        c.set(
            "partition.assignment.strategy",
            self.rebalance_protocol.strategy(),
        );
        if !self.common.contains_key(FETCH_QUEUE_BACKOFF) {
            c.set(FETCH_QUEUE_BACKOFF, FETCH_QUEUE_BACKOFF_MS);
        }
        if !self.common.contains_key(QUEUED_MAX_KBYTES) {
            c.set(QUEUED_MAX_KBYTES, PREFETCH_KBYTES);
        }
        if self.settle_before_leaving.is_some() && !self.common.contains_key(STATISTICS_INTERVAL) {
            c.set(STATISTICS_INTERVAL, SETTLE_STATISTICS_MS);
        }
        for (k, v) in &self.consumer {
            c.set(k, v);
        }
        c
    }
}

impl std::fmt::Debug for KafkaConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KafkaConfig")
            .field("bootstrap", &self.bootstrap)
            .field("client_id", &self.client_id)
            .field("rebalance_protocol", &self.rebalance_protocol)
            .field("max_in_flight", &self.max_in_flight)
            .field("max_message_bytes", &self.max_message_bytes)
            .field("request_timeout", &self.request_timeout)
            .field("settle_before_leaving", &self.settle_before_leaving)
            .field("capabilities", &self.capabilities)
            .field("common", &Redacted(&self.common))
            .field("consumer", &Redacted(&self.consumer))
            .field("producer", &Redacted(&self.producer))
            .finish()
    }
}

/// Settings passed through, secrets shown as `***`.
struct Redacted<'a>(&'a BTreeMap<String, String>);

impl std::fmt::Debug for Redacted<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_map()
            .entries(
                self.0
                    .iter()
                    .map(|(k, v)| (k, if is_secret_setting(k) { "***" } else { v })),
            )
            .finish()
    }
}

/// Whether a librdkafka setting's value is (or may hold) a secret, judged
/// by its name: passwords (`sasl.password`, `ssl.key.password`,
/// `ssl.keystore.password`), private keys (`ssl.key.pem`), SASL/OAuth
/// secrets and configs (`sasl.oauthbearer.client.secret`,
/// `sasl.oauthbearer.config`, `sasl.jaas.config`), and any name with
/// `password`, `secret`, `token`, `credential` or `private` in it. Weir
/// never shows such a value in a `Debug`, `Display`, error or log line.
///
/// ```
/// use weir_kafka::is_secret_setting;
/// assert!(is_secret_setting("sasl.password"));
/// assert!(is_secret_setting("ssl.key.pem"));
/// assert!(!is_secret_setting("sasl.username"));
/// assert!(!is_secret_setting("ssl.ca.pem"));
/// ```
pub fn is_secret_setting(name: &str) -> bool {
    let name = name.to_ascii_lowercase();
    [
        "password",
        "secret",
        "token",
        "credential",
        "private",
        "passphrase",
    ]
    .iter()
    .any(|word| name.contains(word))
        || name.ends_with("key.pem")
        || name.starts_with("ssl.key")
        || name.starts_with("ssl.keystore")
        || name.ends_with(".config") && name.starts_with("sasl.")
}

/// Builds a [`KafkaConfig`]; see there for the pattern.
#[derive(Clone, Debug)]
pub struct KafkaConfigBuilder {
    config: KafkaConfig,
}

impl KafkaConfigBuilder {
    /// Short group-membership timeouts (`session.timeout.ms=6000`,
    /// `heartbeat.interval.ms=500`), so groups form and notice a dead member
    /// in seconds: what tests and local development want. Production keeps
    /// librdkafka's defaults unless set otherwise.
    pub fn fast_group_joins(self) -> Self {
        self.set_consumer("session.timeout.ms", "6000")
            .set_consumer("heartbeat.interval.ms", "500")
    }

    /// The client id every client reports (consumers may override it through
    /// [`ConsumerConfigBuilder::client_id`](weir_core::ConsumerConfigBuilder::client_id);
    /// default: librdkafka's).
    pub fn client_id(mut self, id: impl Into<String>) -> Self {
        self.config.client_id = Some(id.into());
        self
    }

    /// The rebalance protocol of consumers (default: [`RebalanceProtocol::Eager`]).
    pub fn rebalance_protocol(mut self, protocol: RebalanceProtocol) -> Self {
        self.config.rebalance_protocol = protocol;
        self
    }

    /// The most produced messages awaiting their delivery report at once;
    /// `produce` waits for room beyond that (default 100 000; at least 1).
    pub fn max_in_flight(mut self, n: usize) -> Self {
        self.config.max_in_flight = n;
        self
    }

    /// The largest message (value, key and headers) the producer sends
    /// (librdkafka's `message.max.bytes`, default 4 MiB, at least 1000; the
    /// broker has its own limit).
    pub fn max_message_bytes(mut self, bytes: usize) -> Self {
        self.config.max_message_bytes = bytes;
        self
    }

    /// How long metadata look-ups, commits and admin requests may take
    /// (default 30 s).
    pub fn request_timeout(mut self, timeout: Duration) -> Self {
        self.config.request_timeout = timeout;
        self
    }

    /// Makes a closing consumer leave its group only from a settled
    /// generation: it first finishes any join or rebalance in progress and
    /// holds its assignment for `quiet` (up to ten seconds in all). Off by
    /// default; Kafka does not need it. tansu 0.6 does: a member leaving
    /// while the group forms leaves the others waiting forever.
    ///
    /// A consumer learns of a join under way from librdkafka's statistics,
    /// which this turns on every 100 ms unless `statistics.interval.ms` is
    /// set.
    ///
    /// A rebalance completes only once every member took part, and a member
    /// takes part in its `poll`: the group settles while its other members
    /// go on polling. Stop the members of one process one at a time, or all
    /// at once, but not one while the others are left unpolled.
    pub fn settle_before_leaving(mut self, quiet: Duration) -> Self {
        self.config.settle_before_leaving = Some(quiet);
        self
    }

    /// Where the job capabilities keep their data: the results and events
    /// topics, the delay topics' suffix (default: [`CapabilityConfig::default`]).
    pub fn capabilities(mut self, capabilities: CapabilityConfig) -> Self {
        self.config.capabilities = capabilities;
        self
    }

    /// Passes a librdkafka setting to every client (producer, consumers, admin).
    pub fn set(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.config.common.insert(key.into(), value.into());
        self
    }

    /// Passes a librdkafka setting to consumers only.
    pub fn set_consumer(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.config.consumer.insert(key.into(), value.into());
        self
    }

    /// Passes a librdkafka setting to the producer only.
    pub fn set_producer(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.config.producer.insert(key.into(), value.into());
        self
    }

    /// The settings; fails with [`BrokerError::InvalidConfig`] on empty
    /// bootstrap servers, a `max_in_flight` of 0, a `max_message_bytes` below
    /// 1000 or a zero request timeout. librdkafka checks the settings passed
    /// through when a client is made.
    pub fn build(self) -> Result<KafkaConfig, BrokerError> {
        let c = self.config;
        if c.bootstrap.trim().is_empty() {
            return Err(BrokerError::InvalidConfig(
                "the kafka bootstrap servers must not be empty".to_owned(),
            ));
        }
        if c.max_in_flight == 0 {
            return Err(BrokerError::InvalidConfig(
                "kafka max_in_flight must be at least 1".to_owned(),
            ));
        }
        if c.max_message_bytes < 1000 {
            return Err(BrokerError::InvalidConfig(format!(
                "kafka max_message_bytes must be at least 1000, got {}",
                c.max_message_bytes
            )));
        }
        if c.request_timeout.is_zero() {
            return Err(BrokerError::InvalidConfig(
                "the kafka request timeout must be positive".to_owned(),
            ));
        }
        Ok(c)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn consumers_refetch_soon_after_a_full_queue_unless_told_otherwise() {
        let group = ConsumerConfig::new("g");
        let config = |b: KafkaConfigBuilder| b.build().expect("a valid kafka config");
        let default = config(KafkaConfig::builder("localhost:9092")).consumer_settings(&group);
        assert_eq!(
            default.get("fetch.queue.backoff.ms"),
            Some(FETCH_QUEUE_BACKOFF_MS)
        );
        let set = config(
            KafkaConfig::builder("localhost:9092").set_consumer("fetch.queue.backoff.ms", "250"),
        )
        .consumer_settings(&group);
        assert_eq!(set.get("fetch.queue.backoff.ms"), Some("250"));
        let common =
            config(KafkaConfig::builder("localhost:9092").set("fetch.queue.backoff.ms", "300"))
                .consumer_settings(&group);
        assert_eq!(common.get("fetch.queue.backoff.ms"), Some("300"));
    }

    #[test]
    fn consumers_prefetch_a_bounded_amount_per_partition_unless_told_otherwise() {
        let group = ConsumerConfig::new("g");
        let config = |b: KafkaConfigBuilder| b.build().expect("a valid kafka config");
        let default = config(KafkaConfig::builder("localhost:9092")).consumer_settings(&group);
        assert_eq!(default.get(QUEUED_MAX_KBYTES), Some(PREFETCH_KBYTES));
        let set =
            config(KafkaConfig::builder("localhost:9092").set_consumer(QUEUED_MAX_KBYTES, "1024"))
                .consumer_settings(&group);
        assert_eq!(set.get(QUEUED_MAX_KBYTES), Some("1024"));
    }

    #[test]
    fn consumers_that_settle_before_leaving_hear_their_join_state_unless_told_otherwise() {
        let group = ConsumerConfig::new("g");
        let config = |b: KafkaConfigBuilder| b.build().expect("a valid kafka config");
        let plain = config(KafkaConfig::builder("localhost:9092")).consumer_settings(&group);
        assert_eq!(plain.get(STATISTICS_INTERVAL), None);
        let settling =
            KafkaConfig::builder("localhost:9092").settle_before_leaving(Duration::from_secs(1));
        let default = config(settling.clone()).consumer_settings(&group);
        assert_eq!(default.get(STATISTICS_INTERVAL), Some(SETTLE_STATISTICS_MS));
        let set = config(settling.clone().set_consumer(STATISTICS_INTERVAL, "1000"))
            .consumer_settings(&group);
        assert_eq!(set.get(STATISTICS_INTERVAL), Some("1000"));
        let common = config(settling.set(STATISTICS_INTERVAL, "2000")).consumer_settings(&group);
        assert_eq!(common.get(STATISTICS_INTERVAL), Some("2000"));
    }

    #[test]
    fn bad_settings_are_clear_errors() {
        let bad = |b: KafkaConfigBuilder| matches!(b.build(), Err(BrokerError::InvalidConfig(_)));
        assert!(bad(KafkaConfig::builder(" ")));
        assert!(bad(KafkaConfig::builder("k:9092").max_in_flight(0)));
        assert!(bad(KafkaConfig::builder("k:9092").max_message_bytes(999)));
        assert!(bad(
            KafkaConfig::builder("k:9092").request_timeout(Duration::ZERO)
        ));
        assert!(KafkaConfig::builder("k:9092").build().is_ok());
    }
}
