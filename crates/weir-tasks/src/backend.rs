//! What a broker must offer the job layer, in one name.

use weir_core::Broker;
use weir_core::capability::{Dedup, DelayedDelivery, EventChannel, Permits, ResultStore};

/// A broker with every capability the job layer uses: the log
/// ([`Broker`]), [`DelayedDelivery`] (delays and retry backoff),
/// [`ResultStore`] (task records and results), [`EventChannel`] (task
/// events), [`Dedup`] (unique ids) and [`Permits`] (an actor's limit across
/// workers). Implemented for every broker that has them all: memory,
/// Redis and Kafka (whose dedup and permits answer every call with
/// `BrokerError::Unsupported`, so unique ids and limits across workers fail
/// there with a typed error).
///
/// Inside the crate each capability is used from one module only
/// (`records`, `later`, `unique`, `events`, the worker's `global`), so a
/// backend that offers one differently replaces that module's seam, not
/// the worker.
pub trait TaskBroker:
    Broker + DelayedDelivery + ResultStore + EventChannel + Dedup + Permits
{
}

impl<B> TaskBroker for B where
    B: Broker + DelayedDelivery + ResultStore + EventChannel + Dedup + Permits
{
}
