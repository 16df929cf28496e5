//! Waiting for results on one pub/sub connection per broker.
//!
//! Every `wait_result` of a broker shares one connection: the first waiter
//! of an id subscribes to its channel, the last one gone unsubscribes, and
//! one task hands each announcement to the waiters of its channel. So a
//! thousand handles awaiting results hold one connection, not a thousand.
//! If the connection drops, every waiter is woken, looks again, and the
//! next wait opens a new connection.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use futures::StreamExt;
use redis::aio::PubSubSink;
use tokio::sync::{Notify, oneshot};
use weir_core::BrokerError;

use crate::broker::Shared;
use crate::connection::to_broker_error;

/// The shared connection, made on first use.
#[derive(Debug, Default)]
pub(crate) struct Waiters {
    hub: tokio::sync::Mutex<Option<Arc<Hub>>>,
}

/// One live pub/sub connection and the channels waited on.
#[derive(Debug)]
struct Hub {
    sink: PubSubSink,
    channels: Mutex<HashMap<String, Channel>>,
    /// Held while subscribing or unsubscribing, so that an unsubscribe
    /// never lands after a newer waiter's subscribe to the same channel.
    order: tokio::sync::Mutex<()>,
    /// Set, and every waiter woken, when the connection is gone.
    lost: AtomicBool,
    lost_notify: Notify,
    /// Dropped with the hub: ends the task that reads the connection.
    _stop: oneshot::Sender<()>,
}

#[derive(Debug)]
struct Channel {
    announced: Arc<Notify>,
    waiters: usize,
}

/// One waiter's interest in a channel; dropping it gives the interest up.
pub(crate) struct Watch {
    hub: Arc<Hub>,
    channel: String,
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
    /// Watches `channel` on the shared connection (opening it if needed);
    /// once this returns, an announcement on `channel` is not missed.
    pub(crate) async fn watch(
        &self,
        shared: &Shared,
        channel: String,
    ) -> Result<Watch, BrokerError> {
        let hub = self.hub(shared).await?;
        let (announced, first) = {
            let mut channels = hub.channels.lock().unwrap_or_else(PoisonError::into_inner);
            let c = channels.entry(channel.clone()).or_insert_with(|| Channel {
                announced: Arc::new(Notify::new()),
                waiters: 0,
            });
            c.waiters += 1;
            (Arc::clone(&c.announced), c.waiters == 1)
        };
        let watch = Watch {
            hub: Arc::clone(&hub),
            channel,
            announced,
        };
        if first {
            let _order = hub.order.lock().await;
            let mut sink = hub.sink.clone();
            sink.subscribe(&watch.channel)
                .await
                .map_err(|e| to_broker_error(shared.conn.endpoint(), e))?;
        }
        Ok(watch)
    }

    async fn hub(&self, shared: &Shared) -> Result<Arc<Hub>, BrokerError> {
        let mut slot = self.hub.lock().await;
        if let Some(hub) = slot.as_ref().filter(|h| !h.lost.load(Ordering::Acquire)) {
            return Ok(Arc::clone(hub));
        }
        let endpoint = shared.conn.endpoint();
        let pubsub = shared
            .client
            .pubsub()
            .get_async_pubsub()
            .await
            .map_err(|e| to_broker_error(endpoint, e))?;
        let (sink, mut stream) = pubsub.split();
        let (stop, mut stopped) = oneshot::channel();
        let hub = Arc::new(Hub {
            sink,
            channels: Mutex::new(HashMap::new()),
            order: tokio::sync::Mutex::new(()),
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
                let channel = msg.get_channel_name();
                let channels = hub.channels.lock().unwrap_or_else(PoisonError::into_inner);
                if let Some(c) = channels.get(channel) {
                    c.announced.notify_waiters();
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
        let last = {
            let mut channels = self
                .hub
                .channels
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            match channels.get_mut(&self.channel) {
                Some(c) if c.waiters > 1 => {
                    c.waiters -= 1;
                    false
                }
                Some(_) => {
                    channels.remove(&self.channel);
                    true
                }
                None => false,
            }
        };
        if last && !self.hub.lost.load(Ordering::Acquire) {
            let hub = Arc::clone(&self.hub);
            let channel = std::mem::take(&mut self.channel);
            if let Ok(rt) = tokio::runtime::Handle::try_current() {
                rt.spawn(async move {
                    let _order = hub.order.lock().await;
                    let waited_again = hub
                        .channels
                        .lock()
                        .unwrap_or_else(PoisonError::into_inner)
                        .contains_key(&channel);
                    if !waited_again {
                        // A failure leaves a subscription whose
                        // announcements find no waiter; harmless.
                        let _ = hub.sink.clone().unsubscribe(&channel).await;
                    }
                });
            }
        }
    }
}
