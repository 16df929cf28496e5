//! The event channel on Redis: pub/sub on `{prefix}:events:{channel}`,
//! the events of one `publish_many` packed in one message (see `frame.rs`).

use std::collections::VecDeque;

use bytes::Bytes;
use futures::StreamExt;
use redis::aio::PubSubStream;
use weir_core::BrokerError;
use weir_core::capability::{ChannelEvent, EventChannel, EventSubscription};

use super::frame;
use crate::RedisBroker;
use crate::connection::to_broker_error;

/// A subscription to one Redis pub/sub channel, on a connection of its own.
pub struct RedisSubscription {
    channel: String,
    endpoint: String,
    messages: PubSubStream,
    /// The events of a frame not handed out yet.
    pending: VecDeque<Bytes>,
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
        let mut receivers = 0;
        for frame in frame::pack([&payload[..]]) {
            receivers = s
                .conn
                .query(
                    redis::cmd("PUBLISH")
                        .arg(s.keys.channel(channel))
                        .arg(frame),
                )
                .await?;
        }
        Ok(receivers)
    }

    /// One `PUBLISH` for all of them (one per megabyte).
    async fn publish_many(&self, channel: &str, payloads: &[Bytes]) -> Result<(), BrokerError> {
        if payloads.is_empty() {
            return Ok(());
        }
        let s = &self.shared;
        let channel = s.keys.channel(channel);
        let mut pipe = redis::pipe();
        for frame in frame::pack(payloads.iter().map(|p| &p[..])) {
            pipe.cmd("PUBLISH").arg(&channel).arg(frame).ignore();
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
            pending: VecDeque::new(),
        })
    }
}

impl EventSubscription for RedisSubscription {
    async fn next_event(&mut self) -> Result<ChannelEvent, BrokerError> {
        loop {
            if let Some(event) = self.pending.pop_front() {
                return Ok(ChannelEvent::Message(event));
            }
            match self.messages.next().await {
                Some(msg) => {
                    let whole = Bytes::copy_from_slice(msg.get_payload_bytes());
                    for part in frame::unpack(&whole) {
                        self.pending.push_back(whole.slice_ref(part));
                    }
                }
                None => {
                    return Err(BrokerError::Unreachable {
                        endpoint: self.endpoint.clone(),
                        reason: format!(
                            "the subscription to `{}` lost its connection",
                            self.channel
                        ),
                    });
                }
            }
        }
    }
}
