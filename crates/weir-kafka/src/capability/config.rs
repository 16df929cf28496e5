//! Where the job capabilities keep their data on Kafka, and how much they hold.

use std::time::Duration;

use weir_core::BrokerError;

/// The topics and limits of the job capabilities (delays, results, events)
/// of a [`KafkaBroker`](crate::KafkaBroker), given to
/// [`KafkaConfigBuilder::capabilities`](crate::KafkaConfigBuilder::capabilities).
/// Every setting has a default; the builder's setters share the getters' names.
///
/// ```
/// use std::time::Duration;
/// use weir_kafka::{CapabilityConfig, KafkaConfig};
///
/// let capabilities = CapabilityConfig::builder()
///     .results_topic("billing.results")
///     .results_retention(Duration::from_secs(7 * 24 * 3600))
///     .events_topic("billing.events")
///     .build()
///     .unwrap();
/// let config = KafkaConfig::builder("kafka-1:9092").capabilities(capabilities).build().unwrap();
/// assert_eq!(config.capabilities().results_topic(), "billing.results");
/// assert_eq!(config.capabilities().delay_suffix(), ".delay");
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CapabilityConfig {
    results_topic: String,
    results_partitions: u32,
    results_retention: Option<Duration>,
    events_topic: String,
    events_partitions: u32,
    events_retention: Duration,
    delay_suffix: String,
    delay_hold: usize,
}

impl Default for CapabilityConfig {
    fn default() -> Self {
        CapabilityConfig {
            results_topic: "weir.results".to_owned(),
            results_partitions: 1,
            results_retention: None,
            events_topic: "weir.events".to_owned(),
            events_partitions: 1,
            events_retention: Duration::from_secs(3600),
            delay_suffix: ".delay".to_owned(),
            delay_hold: 10_000,
        }
    }
}

impl CapabilityConfig {
    /// A builder starting from the defaults.
    pub fn builder() -> CapabilityConfigBuilder {
        CapabilityConfigBuilder {
            config: CapabilityConfig::default(),
        }
    }

    /// The compacted topic results are stored on (default `weir.results`).
    pub fn results_topic(&self) -> &str {
        &self.results_topic
    }

    /// How many partitions the results topic gets when it is created (default 1).
    pub fn results_partitions(&self) -> u32 {
        self.results_partitions
    }

    /// How long the results topic keeps a record at most, if bounded
    /// (default: unbounded, compaction only).
    pub fn results_retention(&self) -> Option<Duration> {
        self.results_retention
    }

    /// The topic events are published on (default `weir.events`).
    pub fn events_topic(&self) -> &str {
        &self.events_topic
    }

    /// How many partitions the events topic gets when it is created (default 1).
    pub fn events_partitions(&self) -> u32 {
        self.events_partitions
    }

    /// How long the events topic keeps an event (default one hour).
    pub fn events_retention(&self) -> Duration {
        self.events_retention
    }

    /// What a topic's name gets to name its delay topic (default `.delay`:
    /// `jobs` waits in `jobs.delay`).
    pub fn delay_suffix(&self) -> &str {
        &self.delay_suffix
    }

    /// How many waiting entries the mover of a delay topic holds in memory
    /// per partition before it pauses reading that partition (default 10 000).
    pub fn delay_hold(&self) -> usize {
        self.delay_hold
    }
}

/// Builds a [`CapabilityConfig`]; see there.
#[derive(Clone, Debug)]
#[must_use]
pub struct CapabilityConfigBuilder {
    config: CapabilityConfig,
}

impl CapabilityConfigBuilder {
    /// The compacted topic results are stored on.
    pub fn results_topic(mut self, topic: impl Into<String>) -> Self {
        self.config.results_topic = topic.into();
        self
    }

    /// How many partitions the results topic gets when it is created.
    pub fn results_partitions(mut self, n: u32) -> Self {
        self.config.results_partitions = n;
        self
    }

    /// Bounds how long the results topic keeps a record (`retention.ms`
    /// beside compaction): a result kept for a longer TTL is gone after it.
    pub fn results_retention(mut self, retention: Duration) -> Self {
        self.config.results_retention = Some(retention);
        self
    }

    /// The topic events are published on.
    pub fn events_topic(mut self, topic: impl Into<String>) -> Self {
        self.config.events_topic = topic.into();
        self
    }

    /// How many partitions the events topic gets when it is created.
    pub fn events_partitions(mut self, n: u32) -> Self {
        self.config.events_partitions = n;
        self
    }

    /// How long the events topic keeps an event (`retention.ms`).
    pub fn events_retention(mut self, retention: Duration) -> Self {
        self.config.events_retention = retention;
        self
    }

    /// What a topic's name gets to name its delay topic.
    pub fn delay_suffix(mut self, suffix: impl Into<String>) -> Self {
        self.config.delay_suffix = suffix.into();
        self
    }

    /// How many waiting entries a delay mover holds per partition.
    pub fn delay_hold(mut self, entries: usize) -> Self {
        self.config.delay_hold = entries;
        self
    }

    /// The settings; [`BrokerError::InvalidConfig`] for an empty topic name
    /// or suffix, no partitions, a zero retention or a zero hold.
    pub fn build(self) -> Result<CapabilityConfig, BrokerError> {
        let c = self.config;
        let invalid = |what: &str| Err(BrokerError::InvalidConfig(format!("kafka {what}")));
        if c.results_topic.trim().is_empty() || c.events_topic.trim().is_empty() {
            return invalid("capability topic names must not be empty");
        }
        if c.delay_suffix.is_empty() {
            return invalid("delay_suffix must not be empty");
        }
        if c.results_partitions == 0 || c.events_partitions == 0 {
            return invalid("capability topics need at least one partition");
        }
        if c.results_retention.is_some_and(|r| r.is_zero()) || c.events_retention.is_zero() {
            return invalid("capability topic retention must be positive");
        }
        if c.delay_hold == 0 {
            return invalid("delay_hold must be at least 1");
        }
        Ok(c)
    }
}

/// A duration as Kafka's `*.ms` settings want it.
pub(crate) fn millis_setting(d: Duration) -> String {
    d.as_millis().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_settings_are_clear_errors() {
        let bad =
            |b: CapabilityConfigBuilder| matches!(b.build(), Err(BrokerError::InvalidConfig(_)));
        assert!(bad(CapabilityConfig::builder().results_topic(" ")));
        assert!(bad(CapabilityConfig::builder().events_topic("")));
        assert!(bad(CapabilityConfig::builder().delay_suffix("")));
        assert!(bad(CapabilityConfig::builder().results_partitions(0)));
        assert!(bad(
            CapabilityConfig::builder().events_retention(Duration::ZERO)
        ));
        assert!(bad(
            CapabilityConfig::builder().results_retention(Duration::ZERO)
        ));
        assert!(bad(CapabilityConfig::builder().delay_hold(0)));
        assert_eq!(
            CapabilityConfig::builder().build().ok(),
            Some(CapabilityConfig::default())
        );
    }
}
