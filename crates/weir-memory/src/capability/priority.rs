//! Priorities in memory: each level is a topic of its own, served by weight
//! through the trait's provided methods.

use weir_core::capability::Priorities;

use crate::MemoryBroker;

impl Priorities for MemoryBroker {}
