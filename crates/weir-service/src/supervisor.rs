//! Restarting a service after a failure, with an exponential backoff.

use std::time::Duration;

use tokio::time::Instant;
use weir_core::Broker;
use weir_strategies::ShutdownHandle;

use crate::{Health, Service, ServiceError};

/// Runs a [`Service`] and runs it again after each failure (an error or a
/// panic), waiting `initial_backoff`, doubled after each failure in a row,
/// at most `max_backoff`; a run that lasted `healthy_after` resets the
/// count. Each restart is logged and counted in
/// [`RESTARTS_TOTAL`](crate::metrics::RESTARTS_TOTAL). A failure that
/// running again cannot cure (an invalid setting) ends supervision.
///
/// ```no_run
/// # async fn demo(service: weir_service::Service) -> Result<(), weir_service::ServiceError> {
/// use std::time::Duration;
/// use weir_service::{Health, Supervisor};
/// let broker = weir_memory::MemoryBroker::new();
/// let stop = weir_strategies::ShutdownHandle::default();
/// Supervisor::new(service)
///     .backoff(Duration::from_millis(100), Duration::from_secs(30))
///     .run(&broker, &stop, &Health::new())
///     .await
/// # }
/// ```
#[derive(Clone, Debug)]
pub struct Supervisor {
    service: Service,
    initial_backoff: Duration,
    max_backoff: Duration,
    healthy_after: Duration,
}

impl Supervisor {
    /// Supervises `service` with the defaults: 100 ms doubling up to 30 s,
    /// reset after a minute of running.
    pub fn new(service: Service) -> Self {
        Supervisor {
            service,
            initial_backoff: Duration::from_millis(100),
            max_backoff: Duration::from_secs(30),
            healthy_after: Duration::from_secs(60),
        }
    }

    /// The first wait and the longest one.
    pub fn backoff(mut self, initial: Duration, max: Duration) -> Self {
        self.initial_backoff = initial;
        self.max_backoff = max.max(initial);
        self
    }

    /// How long a run must last for the next failure to count as the first.
    pub fn healthy_after(mut self, d: Duration) -> Self {
        self.healthy_after = d;
        self
    }

    /// The wait before the restart after `failures` failures in a row.
    pub fn wait_after(&self, failures: u32) -> Duration {
        self.initial_backoff
            .saturating_mul(1u32 << failures.saturating_sub(1).min(20))
            .min(self.max_backoff)
    }

    /// Runs the service until `stop` is requested (then `Ok`).
    ///
    /// # Errors
    ///
    /// Only a failure that a restart cannot cure: an invalid setting or
    /// definition ([`ServiceError::InvalidConfig`]).
    pub async fn run<B: Broker>(
        &self,
        broker: &B,
        stop: &ShutdownHandle,
        health: &Health,
    ) -> Result<(), ServiceError> {
        let id = self.service.id().to_owned();
        let mut failures = 0u32;
        loop {
            let started = Instant::now();
            let run = {
                let (service, broker, stop, health) = (
                    self.service.clone(),
                    broker.clone(),
                    stop.clone(),
                    health.clone(),
                );
                tokio::spawn(async move { service.run(&broker, &stop, &health).await })
            };
            let outcome = match run.await {
                Ok(outcome) => outcome,
                Err(e) => Err(ServiceError::Task {
                    service: id.clone(),
                    what: "the run".into(),
                    reason: if e.is_panic() {
                        format!(
                            "panicked: {}",
                            crate::panic::message(e.into_panic().as_ref())
                        )
                    } else {
                        e.to_string()
                    },
                }),
            };
            let error = match outcome {
                Ok(()) => return Ok(()),
                Err(e @ ServiceError::InvalidConfig(_)) => return Err(e),
                Err(e) => e,
            };
            if stop.is_requested() {
                tracing::warn!(service = %id, error = %weir_core::ErrorReport::new(&error), "failed while stopping");
                return Ok(());
            }
            if started.elapsed() >= self.healthy_after {
                failures = 0;
            }
            failures += 1;
            let wait = self.wait_after(failures);
            metrics::counter!(crate::metrics::RESTARTS_TOTAL, "service" => id.clone()).increment(1);
            tracing::error!(service = %id, failures, ?wait, error = %weir_core::ErrorReport::new(&error),
                "service failed: restarting after a backoff");
            tokio::select! {
                () = stop.requested() => return Ok(()),
                () = tokio::time::sleep(wait) => {}
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn waits_double_up_to_the_cap() {
        let s = Supervisor::new(Service::builder("t").build().unwrap())
            .backoff(Duration::from_millis(100), Duration::from_secs(1));
        let waits: Vec<u128> = (1..=6).map(|n| s.wait_after(n).as_millis()).collect();
        assert_eq!(waits, [100, 200, 400, 800, 1000, 1000]);
    }
}
