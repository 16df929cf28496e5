//! Optional capabilities a backend offers beyond the log, for the jobs layer.
//!
//! A backend implements only what it can, on its broker handle; code that
//! needs one says so in its bounds (`B: Broker + DelayedDelivery`), so asking
//! a backend for a capability it lacks (delay on Kafka, say) does not compile.
//!
//! - [`DelayedDelivery`]: produce now, appear in the log at a due time.
//! - [`Priorities`]: one sub-queue per level, served by weight.
//! - [`Dedup`]: remember an id for a while; set-if-absent.
//! - [`ResultStore`]: put, get and await a result, kept for a TTL.
//! - [`EventChannel`]: publish/subscribe of events (no history).

mod dedup;
mod delay;
mod events;
mod priority;
mod results;

pub use dedup::Dedup;
pub use delay::DelayedDelivery;
pub use events::{ChannelEvent, EventChannel, EventSubscription};
pub use priority::{Priorities, PriorityConsumer, PriorityLevels};
pub use results::ResultStore;
