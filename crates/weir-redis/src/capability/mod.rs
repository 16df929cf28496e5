//! The job capabilities of `weir_core::capability`, on Redis.

mod dedup;
mod delay;
mod events;
mod frame;
mod permits;
mod results;
mod waiters;

pub(crate) use waiters::Waiters;

pub use events::RedisSubscription;
