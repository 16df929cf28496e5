//! An actor's limit across every worker of the cluster: a permit of the
//! broker's [`Permits`](weir_core::capability::Permits), leased, held while
//! an attempt runs.
//!
//! A job whose actor is at its limit waits (never dropped), trying again
//! with a backoff of 10 ms doubling to 500 ms, in the worker slot it took.
//! The lease (30 s) is renewed every 10 s while the attempt runs, so a long
//! job keeps its permit and a worker that dies frees its permits within
//! 30 s.

use std::time::Duration;

use tokio::task::JoinHandle;

use crate::patience::Patience;
use crate::{TaskBroker, TaskError};

/// How long a permit lasts without renewal.
const LEASE: Duration = Duration::from_secs(30);
/// How often a held permit is renewed.
const RENEW_EVERY: Duration = Duration::from_secs(10);
/// The first and the longest wait between tries of a busy permit.
const FIRST_WAIT: Duration = Duration::from_millis(10);
const LONGEST_WAIT: Duration = Duration::from_millis(500);

/// The permit name of `actor`'s limit.
fn permit_name(actor: &str) -> String {
    format!("weir-tasks:actor:{actor}")
}

/// A permit held: renewed until dropped, then given back.
pub(crate) struct Held<B: TaskBroker> {
    broker: B,
    name: String,
    holder: String,
    renewal: JoinHandle<()>,
}

/// Waits for one of `limit` permits of `actor` for `holder`.
///
/// # Errors
///
/// The broker failed for good (its calls ride through outages with
/// `patience`), or it lacks the capability.
pub(crate) async fn acquire<B: TaskBroker>(
    broker: &B,
    patience: Patience,
    actor: &str,
    holder: String,
    limit: u32,
) -> Result<Held<B>, TaskError> {
    let name = permit_name(actor);
    let mut wait = FIRST_WAIT;
    loop {
        let taken = patience
            .call(|| async {
                broker
                    .try_acquire(&name, &holder, limit, LEASE)
                    .await
                    .map_err(TaskError::broker(format!(
                        "taking a permit of actor `{actor}` (at most {limit} at once)"
                    )))
            })
            .await?;
        if taken {
            break;
        }
        tokio::time::sleep(wait).await;
        wait = (wait * 2).min(LONGEST_WAIT);
    }
    let renewal = tokio::spawn({
        let (broker, name, holder) = (broker.clone(), name.clone(), holder.clone());
        async move {
            loop {
                tokio::time::sleep(RENEW_EVERY).await;
                match broker.try_acquire(&name, &holder, limit, LEASE).await {
                    Ok(true) => {}
                    Ok(false) => {
                        tracing::warn!(permit = %name, %holder, "a permit's lease ran out before it was renewed; another holder took it")
                    }
                    Err(e) => {
                        tracing::warn!(permit = %name, %holder, error = &e as &(dyn std::error::Error + 'static), "cannot renew a permit")
                    }
                }
            }
        }
    });
    Ok(Held {
        broker: broker.clone(),
        name,
        holder,
        renewal,
    })
}

impl<B: TaskBroker> Drop for Held<B> {
    fn drop(&mut self) {
        self.renewal.abort();
        let (broker, name, holder) = (
            self.broker.clone(),
            std::mem::take(&mut self.name),
            std::mem::take(&mut self.holder),
        );
        // Given back in the background; if that fails, the lease frees it.
        if let Ok(rt) = tokio::runtime::Handle::try_current() {
            rt.spawn(async move {
                if let Err(e) = broker.release(&name, &holder).await {
                    tracing::warn!(permit = %name, %holder, error = &e as &(dyn std::error::Error + 'static), "cannot give a permit back; its lease frees it");
                }
            });
        }
    }
}
