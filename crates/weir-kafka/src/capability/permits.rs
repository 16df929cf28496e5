//! Permits on Kafka: not offered. A log has no counter that many processes
//! can take from atomically, so every call fails with
//! [`BrokerError::Unsupported`] naming the capability, and an actor limited
//! across workers fails with that typed error on Kafka instead of running
//! unlimited.

use std::time::Duration;

use weir_core::BrokerError;
use weir_core::capability::Permits;

use crate::KafkaBroker;
use crate::error::BACKEND;

/// The capability's name in the errors.
const CAPABILITY: &str = "permits";

fn unsupported() -> BrokerError {
    BrokerError::Unsupported {
        backend: BACKEND,
        capability: CAPABILITY,
    }
}

impl Permits for KafkaBroker {
    /// Always [`BrokerError::Unsupported`].
    async fn try_acquire(
        &self,
        _name: &str,
        _holder: &str,
        _limit: u32,
        _lease: Duration,
    ) -> Result<bool, BrokerError> {
        Err(unsupported())
    }

    /// Always [`BrokerError::Unsupported`].
    async fn release(&self, _name: &str, _holder: &str) -> Result<bool, BrokerError> {
        Err(unsupported())
    }
}
