//! The job capabilities of `weir_core::capability`, on Kafka.
//!
//! - Delayed delivery ([`DelayedDelivery`](weir_core::capability::DelayedDelivery)):
//!   entries wait on a delay topic beside their topic; a mover per topic,
//!   in a consumer group of its own, holds what is not due and appends
//!   what is (`delay`, `delay_entry`, `mover`, `pending`).
//! - The result store ([`ResultStore`](weir_core::capability::ResultStore)):
//!   a compacted topic, read into memory by one reader per broker handle
//!   (`results`, `results_view`).
//! - The event channel ([`EventChannel`](weir_core::capability::EventChannel)):
//!   one events topic, read from its end and fanned out to subscriptions
//!   (`events`).
//! - Dedup ([`Dedup`](weir_core::capability::Dedup)) and permits
//!   ([`Permits`](weir_core::capability::Permits)): not offered; every call
//!   fails with `BrokerError::Unsupported` (`dedup`, `permits`).
//!
//! The topics are created on first use; [`CapabilityConfig`] names them.
//! The clients are made lazily and shared by every clone of a broker
//! handle: the handle's producer, one reader each for results and events,
//! one mover per topic. They close when the last clone is dropped.

mod config;
mod dedup;
mod delay;
mod delay_entry;
mod ends;
mod error;
mod events;
mod mover;
mod pending;
mod permits;
mod reader;
mod results;
mod results_view;
mod topics;
mod written;

use weir_core::{BrokerError, Produced, Topic};

pub use config::{CapabilityConfig, CapabilityConfigBuilder};
pub use error::KafkaCapabilityError;
pub use events::KafkaSubscription;

/// What the capabilities keep per broker handle, shared by its clones.
#[derive(Debug, Default)]
pub(crate) struct State {
    topics: topics::Topics,
    written: written::Written,
    movers: delay::Movers,
    results: tokio::sync::OnceCell<results::Results>,
    events: tokio::sync::OnceCell<events::Events>,
}

impl State {
    /// Takes in the outcome of a write to a capability topic: notes where
    /// it went (see `written`), or, if the topic is gone (deleted by
    /// another process), forgets it so the next write creates it again.
    pub(crate) fn note(&self, produced: Result<Produced, BrokerError>) -> Result<(), BrokerError> {
        match produced {
            Ok(p) => {
                self.written.note(&p);
                Ok(())
            }
            Err(e) => {
                if let BrokerError::UnknownTopic { topic } = &e {
                    self.topics.forget(topic);
                }
                Err(e)
            }
        }
    }

    /// Takes in the outcomes of a batch written to capability topics, as
    /// [`note`](State::note) does each; the first failure, if any.
    pub(crate) fn note_all(
        &self,
        produced: Vec<Result<Produced, BrokerError>>,
    ) -> Result<(), BrokerError> {
        let mut failure = Ok(());
        for p in produced {
            if let Err(e) = self.note(p)
                && failure.is_ok()
            {
                failure = Err(e);
            }
        }
        failure
    }

    /// Forgets `topic` and its delay topic `delay` (both were deleted): a
    /// later use looks them up again, and the topic's mover is dropped.
    pub(crate) fn forget_topic(&self, topic: &Topic, delay: &Topic) {
        self.topics.forget(topic);
        self.topics.forget(delay);
        self.movers.forget(topic);
    }
}

/// The delay topic of `topic`: its name and the configured suffix.
pub(crate) fn delay_topic_of(topic: &Topic, config: &CapabilityConfig) -> Topic {
    Topic::new(format!("{topic}{}", config.delay_suffix()))
}
