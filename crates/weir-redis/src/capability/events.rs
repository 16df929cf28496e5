//! The event channel on Redis: pub/sub on `{prefix}:events:{channel}`.

use bytes::Bytes;
use futures::StreamExt;
use redis::aio::PubSubStream;
use weir_core::BrokerError;
use weir_core::capability::{ChannelEvent, EventChannel, EventSubscription};

use crate::RedisBroker;
use crate::connection::to_broker_error;

/// A subscription to one Redis pub/sub channel, on a connection of its own.
pub struct RedisSubscription {
    channel: String,
    endpoint: String,
    messages: PubSubStream,
}

impl std::fmt::Debug for RedisSubscription {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisSubscription")
            .field("channel", &self.channel)
            .finish_non_exhaustive()
    }
}

impl EventChannel for RedisBroker {
    type Subscription = RedisSubscription;

    async fn publish(&self, channel: &str, payload: Bytes) -> Result<u64, BrokerError> {
        let s = &self.shared;
        s.conn
            .query(
                redis::cmd("PUBLISH")
                    .arg(s.keys.channel(channel))
                    .arg(&payload[..]),
            )
            .await
    }

    /// One pipeline for all of them.
    async fn publish_many(&self, channel: &str, payloads: &[Bytes]) -> Result<(), BrokerError> {
        if payloads.is_empty() {
            return Ok(());
        }
        let s = &self.shared;
        let channel = s.keys.channel(channel);
        let mut pipe = redis::pipe();
        for payload in payloads {
            pipe.cmd("PUBLISH").arg(&channel).arg(&payload[..]).ignore();
        }
        s.conn.pipe::<()>(&pipe).await
    }

    async fn subscribe(&self, channel: &str) -> Result<RedisSubscription, BrokerError> {
        let s = &self.shared;
        let endpoint = s.conn.endpoint().to_owned();
        let mut pubsub = s
            .client
            .pubsub()
            .get_async_pubsub()
            .await
            .map_err(|e| to_broker_error(&endpoint, e))?;
        pubsub
            .subscribe(s.keys.channel(channel))
            .await
            .map_err(|e| to_broker_error(&endpoint, e))?;
        Ok(RedisSubscription {
            channel: channel.to_owned(),
            endpoint,
            messages: pubsub.into_on_message(),
        })
    }
}

impl EventSubscription for RedisSubscription {
    async fn next_event(&mut self) -> Result<ChannelEvent, BrokerError> {
        match self.messages.next().await {
            Some(msg) => Ok(ChannelEvent::Message(Bytes::copy_from_slice(
                msg.get_payload_bytes(),
            ))),
            None => Err(BrokerError::Unreachable {
                endpoint: self.endpoint.clone(),
                reason: format!("the subscription to `{}` lost its connection", self.channel),
            }),
        }
    }
}
