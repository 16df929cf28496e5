//! The worker's mover of due jobs: delayed jobs and retries waiting in the
//! broker's delayed store are moved to their topics when due.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;
use weir_core::Topic;

use crate::{TaskBroker, later};

/// Moves the due jobs of `topics` until `stop` fires: at each due time it
/// knows of, when woken (this worker scheduled a retry), and at least every
/// `interval` (other processes schedule jobs too).
pub(crate) async fn move_due<B: TaskBroker>(
    broker: B,
    topics: Vec<Topic>,
    interval: Duration,
    wake: Arc<Notify>,
    stop: CancellationToken,
) {
    loop {
        // A stop does not wait for a move in progress (on Kafka it may be
        // joining the mover's group); what it moved stays moved.
        let moved = tokio::select! {
            _ = stop.cancelled() => return,
            moved = later::deliver_due(&broker, &topics) => moved,
        };
        let next = match moved {
            Ok(next) => next,
            Err(e) => {
                tracing::warn!(error = %weir_core::ErrorReport::new(&e), "cannot move due jobs; trying again");
                None
            }
        };
        let wait = next
            .map(|due| due.duration_since(SystemTime::now()).unwrap_or_default())
            .map_or(interval, |d| d.min(interval));
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = wake.notified() => {}
            _ = tokio::time::sleep(wait) => {}
        }
    }
}
