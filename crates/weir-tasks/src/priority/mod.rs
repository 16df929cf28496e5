//! Prioritized queues: one topic per level, served by weight.
//!
//! A queue `q` with [`PriorityLevels`] `[6, 3, 1]` is three topics, `q.p0`
//! (highest) to `q.p2`. Producers write to a level's topic; a
//! [`PriorityConsumer`] reads all of them and hands out messages in the order
//! a [`WeightedRoundRobin`] decides: while every level has work, 6 of every 10
//! come from `q.p0`. [`PriorityQueues`] gives every broker the three calls
//! that set this up.

mod consumer;
mod levels;
mod queue;
mod round_robin;

pub use consumer::PriorityConsumer;
pub use levels::PriorityLevels;
pub use queue::PriorityQueues;
pub use round_robin::WeightedRoundRobin;
