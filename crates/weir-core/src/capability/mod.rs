//! Optional capabilities a backend offers beyond the log, for the jobs layer.
//!
//! A backend implements only what it can, on its broker handle; code that
//! needs one says so in its bounds (`B: Broker + DelayedDelivery`), so asking
//! a backend for a capability it lacks (delay on Kafka, say) does not compile.
//!
//! - [`DelayedDelivery`]: produce now, appear in the log at a due time.
//! - [`Dedup`]: remember an id for a while; set-if-absent.
//! - [`ResultStore`]: put, get and await a result, kept for a TTL.
//! - [`EventChannel`]: publish/subscribe of events (no history).
//! - [`Permits`]: a counting semaphore shared by every process, leased.
//!
//! Priorities are not a capability: every backend serves them the same way,
//! one topic per level read by a weighted consumer, so they live with the
//! jobs layer in `weir-tasks`.

mod dedup;
mod delay;
mod events;
mod permits;
mod results;

pub use dedup::Dedup;
pub use delay::DelayedDelivery;
pub use events::{ChannelEvent, EventChannel, EventSubscription};
pub use permits::Permits;
pub use results::ResultStore;
