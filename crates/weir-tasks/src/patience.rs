//! Riding through broker outages on the job side.
//!
//! The worker's stream processor retries its own broker calls (poll,
//! commit) through an outage for its outage timeout. A job's calls (its
//! records, events, the delayed re-enqueue of a retry, the dead letter) go
//! through [`Patience`] with the same timeout: a transient error
//! ([`BrokerError::is_transient`](weir_core::BrokerError::is_transient))
//! is tried again after the processor's backoff ([`Outage`]: exponential,
//! capped), so a Redis restart holds jobs back instead of stopping the
//! worker. Any other
//! error, or one that outlasts the timeout, is returned at once.

use std::future::Future;
use std::time::Duration;

use tokio::time::Instant;
use weir_strategies::Outage;

use crate::TaskError;

/// How long a job's broker calls keep trying through an outage.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Patience {
    pub(crate) timeout: Duration,
}

impl Patience {
    /// Calls `call` until it succeeds, fails with an error that is not
    /// transient, or has failed for `timeout`.
    pub(crate) async fn call<T, F, Fut>(&self, mut call: F) -> Result<T, TaskError>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, TaskError>>,
    {
        let mut outage = Outage::new();
        loop {
            match call().await {
                Err(e) if e.is_transient() => {
                    let Some(backoff) = outage.failed(Instant::now(), self.timeout) else {
                        return Err(e);
                    };
                    tracing::warn!(error = %weir_core::ErrorReport::new(&e), ?backoff, "a broker call failed; trying again");
                    tokio::time::sleep(backoff).await;
                }
                other => return other,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicU32, Ordering};

    use weir_core::BrokerError;

    use super::*;

    fn down() -> TaskError {
        TaskError::broker("storing a record")(BrokerError::transient("redis", "connection refused"))
    }

    #[tokio::test(start_paused = true)]
    async fn transient_errors_are_tried_again_until_the_call_passes() {
        let calls = AtomicU32::new(0);
        let patience = Patience {
            timeout: Duration::from_secs(10),
        };
        let t0 = Instant::now();
        let out = patience
            .call(|| async {
                if calls.fetch_add(1, Ordering::Relaxed) < 3 {
                    Err(down())
                } else {
                    Ok(7)
                }
            })
            .await;
        assert_eq!(out.unwrap(), 7);
        assert_eq!(calls.load(Ordering::Relaxed), 4);
        // 100 + 200 + 400 ms of backoff.
        assert_eq!(t0.elapsed(), Duration::from_millis(700));
    }

    #[tokio::test(start_paused = true)]
    async fn it_gives_up_after_the_timeout_and_at_once_on_other_errors() {
        let patience = Patience {
            timeout: Duration::from_secs(5),
        };
        let t0 = Instant::now();
        let out: Result<(), _> = patience.call(|| async { Err(down()) }).await;
        assert!(out.unwrap_err().is_transient());
        assert!(t0.elapsed() >= Duration::from_secs(5));
        assert!(t0.elapsed() < Duration::from_secs(8));

        let calls = AtomicU32::new(0);
        let out: Result<(), _> = patience
            .call(|| async {
                calls.fetch_add(1, Ordering::Relaxed);
                Err(TaskError::broker("x")(BrokerError::backend("redis", "bad")))
            })
            .await;
        assert!(out.is_err());
        assert_eq!(calls.load(Ordering::Relaxed), 1);
    }
}
