//! The job capabilities of `weir_core::capability`, on Redis.

mod dedup;
mod delay;
mod events;
mod permits;
mod results;

pub use events::RedisSubscription;
