//! Priorities on Redis: each level is a topic of its own; the provided
//! methods of the trait create, produce and serve them by weight.

use weir_core::capability::Priorities;

use crate::RedisBroker;

impl Priorities for RedisBroker {}
