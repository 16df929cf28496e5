//! The event channel in memory: a tokio broadcast channel per name.

use std::collections::HashMap;

use bytes::Bytes;
use tokio::sync::broadcast;
use weir_core::BrokerError;
use weir_core::capability::{ChannelEvent, EventChannel, EventSubscription};

use super::lock;
use crate::MemoryBroker;

/// How many events a slow subscriber may fall behind before it misses some.
const CAPACITY: usize = 1024;

#[derive(Debug, Default)]
pub(super) struct Channels {
    senders: HashMap<String, broadcast::Sender<Bytes>>,
}

/// A subscription to one memory channel.
#[derive(Debug)]
pub struct MemorySubscription {
    receiver: broadcast::Receiver<Bytes>,
}

impl EventChannel for MemoryBroker {
    type Subscription = MemorySubscription;

    async fn publish(&self, channel: &str, payload: Bytes) -> Result<u64, BrokerError> {
        let channels = lock(&self.inner.capabilities.events);
        Ok(channels
            .senders
            .get(channel)
            .and_then(|s| s.send(payload).ok())
            .unwrap_or(0) as u64)
    }

    async fn subscribe(&self, channel: &str) -> Result<MemorySubscription, BrokerError> {
        let mut channels = lock(&self.inner.capabilities.events);
        channels.senders.retain(|_, s| s.receiver_count() > 0);
        let sender = channels
            .senders
            .entry(channel.to_owned())
            .or_insert_with(|| broadcast::channel(CAPACITY).0);
        Ok(MemorySubscription {
            receiver: sender.subscribe(),
        })
    }
}

impl EventSubscription for MemorySubscription {
    async fn next_event(&mut self) -> Result<ChannelEvent, BrokerError> {
        match self.receiver.recv().await {
            Ok(payload) => Ok(ChannelEvent::Message(payload)),
            Err(broadcast::error::RecvError::Lagged(n)) => Ok(ChannelEvent::Missed(n)),
            Err(broadcast::error::RecvError::Closed) => Err(BrokerError::Closed("event channel")),
        }
    }
}
