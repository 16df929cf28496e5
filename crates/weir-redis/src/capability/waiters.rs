//! Waiting for results on one pub/sub connection per broker.
//!
//! Every `wait_result` of a broker shares one connection, subscribed to the
//! prefix's `results-ready` channel, on which each pipeline that stores
//! results names their ids (see `results.rs`). One task hands each id to its
//! waiters. So a thousand handles awaiting results hold one connection and
//! one subscription, and a new waiter costs no round trip. If the connection
//! drops, every waiter is woken, looks again, and the next wait opens a new
//! connection.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use futures::StreamExt;
use tokio::sync::{Notify, oneshot};
use weir_core::BrokerError;

use super::frame;
use crate::broker::Shared;
use crate::connection::to_broker_error;

/// The shared connection, made on first use.
#[derive(Debug, Default)]
pub(crate) struct Waiters {
    hub: tokio::sync::Mutex<Option<Arc<Hub>>>,
}

/// One live pub/sub connection and the ids waited for.
#[derive(Debug)]
struct Hub {
    ids: Mutex<HashMap<String, Waited>>,
    /// Set, and every waiter woken, when the connection is gone.
    lost: AtomicBool,
    lost_notify: Notify,
    /// Dropped with the hub: ends the task that reads the connection.
    _stop: oneshot::Sender<()>,
}

#[derive(Debug)]
struct Waited {
    announced: Arc<Notify>,
    waiters: usize,
}

/// One waiter's interest in an id; dropping it gives the interest up.
pub(crate) struct Watch {
    hub: Arc<Hub>,
    id: String,
    announced: Arc<Notify>,
}

/// What woke a waiter.
pub(crate) enum Woken {
    /// Something was announced on its channel.
    Announced,
    /// The connection is gone: look again, then wait on a new one.
    Lost,
}

impl Waiters {
    /// Watches for the result `id` on the shared connection (opening it if
    /// needed); once this returns, an announcement of `id` is not missed.
    pub(crate) async fn watch(&self, shared: &Shared, id: &str) -> Result<Watch, BrokerError> {
        let hub = self.hub(shared).await?;
        let announced = {
            let mut ids = hub.ids.lock().unwrap_or_else(PoisonError::into_inner);
            let w = ids.entry(id.to_owned()).or_insert_with(|| Waited {
                announced: Arc::new(Notify::new()),
                waiters: 0,
            });
            w.waiters += 1;
            Arc::clone(&w.announced)
        };
        Ok(Watch {
            hub,
            id: id.to_owned(),
            announced,
        })
    }

    async fn hub(&self, shared: &Shared) -> Result<Arc<Hub>, BrokerError> {
        let mut slot = self.hub.lock().await;
        if let Some(hub) = slot.as_ref().filter(|h| !h.lost.load(Ordering::Acquire)) {
            return Ok(Arc::clone(hub));
        }
        let endpoint = shared.conn.endpoint();
        let mut pubsub = shared
            .client
            .pubsub()
            .get_async_pubsub()
            .await
            .map_err(|e| to_broker_error(endpoint, e))?;
        pubsub
            .subscribe(shared.keys.results_ready())
            .await
            .map_err(|e| to_broker_error(endpoint, e))?;
        let mut stream = pubsub.into_on_message();
        let (stop, mut stopped) = oneshot::channel();
        let hub = Arc::new(Hub {
            ids: Mutex::new(HashMap::new()),
            lost: AtomicBool::new(false),
            lost_notify: Notify::new(),
            _stop: stop,
        });
        let weak = Arc::downgrade(&hub);
        tokio::spawn(async move {
            loop {
                let msg = tokio::select! {
                    msg = stream.next() => msg,
                    _ = &mut stopped => return,
                };
                let Some(msg) = msg else {
                    break;
                };
                let Some(hub) = weak.upgrade() else {
                    return;
                };
                let ids = hub.ids.lock().unwrap_or_else(PoisonError::into_inner);
                if ids.is_empty() {
                    continue;
                }
                for id in frame::unpack(msg.get_payload_bytes()) {
                    let waited = std::str::from_utf8(id).ok().and_then(|id| ids.get(id));
                    if let Some(w) = waited {
                        w.announced.notify_waiters();
                    }
                }
            }
            if let Some(hub) = weak.upgrade() {
                hub.lost.store(true, Ordering::Release);
                hub.lost_notify.notify_waiters();
            }
        });
        *slot = Some(Arc::clone(&hub));
        Ok(hub)
    }
}

impl Watch {
    /// Waits for an announcement on the channel, or the connection's loss.
    /// Make the future before looking for the result, and await it after:
    /// an announcement in between is kept.
    pub(crate) fn next(&self) -> impl std::future::Future<Output = Woken> + '_ {
        let announced = self.announced.notified();
        let lost = self.hub.lost_notify.notified();
        async move {
            let mut announced = std::pin::pin!(announced);
            let mut lost = std::pin::pin!(lost);
            announced.as_mut().enable();
            lost.as_mut().enable();
            if self.hub.lost.load(Ordering::Acquire) {
                return Woken::Lost;
            }
            tokio::select! {
                () = announced => Woken::Announced,
                () = lost => Woken::Lost,
            }
        }
    }
}

impl Drop for Watch {
    fn drop(&mut self) {
        let mut ids = self.hub.ids.lock().unwrap_or_else(PoisonError::into_inner);
        match ids.get_mut(&self.id) {
            Some(w) if w.waiters > 1 => w.waiters -= 1,
            Some(_) => {
                ids.remove(&self.id);
            }
            None => {}
        }
    }
}
