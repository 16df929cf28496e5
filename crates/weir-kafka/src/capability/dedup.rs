//! Dedup on Kafka: not offered. A log cannot answer "was this id seen?"
//! atomically across producers, so every call fails with
//! [`BrokerError::Unsupported`] naming the capability, and a unique job on
//! Kafka fails with that typed error instead of running twice unnoticed.

use std::time::Duration;

use weir_core::BrokerError;
use weir_core::capability::Dedup;

use crate::KafkaBroker;
use crate::error::BACKEND;

/// The capability's name in the errors.
const CAPABILITY: &str = "dedup";

fn unsupported() -> BrokerError {
    BrokerError::Unsupported {
        backend: BACKEND,
        capability: CAPABILITY,
    }
}

impl Dedup for KafkaBroker {
    /// Always [`BrokerError::Unsupported`].
    async fn first_seen(
        &self,
        _scope: &str,
        _id: &str,
        _ttl: Duration,
    ) -> Result<bool, BrokerError> {
        Err(unsupported())
    }

    /// Always [`BrokerError::Unsupported`].
    async fn forget(&self, _scope: &str, _id: &str) -> Result<bool, BrokerError> {
        Err(unsupported())
    }
}
