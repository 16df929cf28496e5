//! The job capabilities of `weir_core::capability`, on Redis.

mod dedup;
mod delay;
mod events;
mod results;

pub use events::RedisSubscription;
