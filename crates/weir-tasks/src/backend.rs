//! What a broker must offer the job layer, in one name.

use weir_core::Broker;
use weir_core::capability::{Dedup, DelayedDelivery, EventChannel, Permits, ResultStore};

/// A broker with every capability the job layer uses: the log
/// ([`Broker`]), [`DelayedDelivery`] (delays and retry backoff),
/// [`ResultStore`] (task records and results), [`EventChannel`] (task
/// events), [`Dedup`] (unique ids) and [`Permits`] (an actor's limit across
/// workers). Implemented for every broker that has them all: memory and
/// Redis do, Kafka does not (yet).
///
/// Inside the crate each capability is used from one module only
/// (`records`, `later`, `unique`, `events`), so a backend that offers one
/// differently (Kafka's retry topic for delays) replaces that module's
/// seam, not the worker.
pub trait TaskBroker:
    Broker + DelayedDelivery + ResultStore + EventChannel + Dedup + Permits
{
}

impl<B> TaskBroker for B where
    B: Broker + DelayedDelivery + ResultStore + EventChannel + Dedup + Permits
{
}
