//! A publish/subscribe event channel (task events, progress, logs).

use std::future::Future;

use bytes::Bytes;

use crate::BrokerError;

/// What a subscription yields.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ChannelEvent {
    /// One published payload.
    Message(Bytes),
    /// The subscriber fell behind and this many events were dropped for it
    /// (reported, never skipped silently).
    Missed(u64),
}

/// Fire-and-forget events: every current subscriber of a channel gets each
/// event published on it after it subscribed; there is no history.
///
/// ```
/// use weir_core::capability::{ChannelEvent, EventChannel, EventSubscription};
///
/// async fn watch<B: EventChannel>(broker: &B) -> Result<(), weir_core::BrokerError> {
///     let mut sub = broker.subscribe("task-events").await?;
///     broker.publish("task-events", "job-7 done".into()).await?;
///     assert_eq!(sub.next_event().await?, ChannelEvent::Message("job-7 done".into()));
///     Ok(())
/// }
/// ```
pub trait EventChannel: Send + Sync + 'static {
    /// A live subscription.
    type Subscription: EventSubscription;

    /// Publishes `payload` on `channel`; returns how many subscribers got it,
    /// where the backend knows.
    fn publish(
        &self,
        channel: &str,
        payload: Bytes,
    ) -> impl Future<Output = Result<u64, BrokerError>> + Send;

    /// Publishes each of `payloads` on `channel`, in order, in as few round
    /// trips as the backend can (one pipeline on Redis). Not atomic: after
    /// an error, some may be published.
    fn publish_many(
        &self,
        channel: &str,
        payloads: &[Bytes],
    ) -> impl Future<Output = Result<(), BrokerError>> + Send {
        async move {
            for payload in payloads {
                self.publish(channel, payload.clone()).await?;
            }
            Ok(())
        }
    }

    /// Subscribes to `channel`; events published once this resolves are delivered.
    fn subscribe(
        &self,
        channel: &str,
    ) -> impl Future<Output = Result<Self::Subscription, BrokerError>> + Send;
}

/// A subscription to one channel; dropping it unsubscribes.
pub trait EventSubscription: Send + 'static {
    /// Waits for the next event (cancel-safe).
    fn next_event(&mut self) -> impl Future<Output = Result<ChannelEvent, BrokerError>> + Send;
}
