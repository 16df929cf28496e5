//! Delayed delivery: a payload produced now enters the log at its due time.

use std::future::Future;
use std::time::SystemTime;

use crate::{BrokerError, Destination, Payload, Produced, Topic};

/// Stores payloads until a due time, then appends them to their destination.
///
/// Due entries move to the log when someone calls
/// [`deliver_due`](DelayedDelivery::deliver_due) (a worker's loop, a
/// scheduler): each moves exactly once even when several workers call it at
/// the same moment. [`next_due`](DelayedDelivery::next_due) tells how long
/// such a loop may sleep.
///
/// ```
/// use std::time::{Duration, SystemTime};
/// use weir_core::capability::DelayedDelivery;
/// use weir_core::{Payload, Topic};
///
/// async fn retry_later<B: DelayedDelivery>(broker: &B, queue: &Topic) -> Result<(), weir_core::BrokerError> {
///     let due = SystemTime::now() + Duration::from_secs(30);
///     broker.produce_at(queue.clone().into(), Payload::new("job-7"), due).await
/// }
/// ```
pub trait DelayedDelivery: Send + Sync + 'static {
    /// Keeps `payload` for `destination` until `due` (a time in the past is due at once).
    ///
    /// Checks what producing would check (the topic exists, the size limit),
    /// so an error comes now rather than at the due time.
    fn produce_at(
        &self,
        destination: Destination,
        payload: Payload,
        due: SystemTime,
    ) -> impl Future<Output = Result<(), BrokerError>> + Send;

    /// Appends every entry for `topic` that is due by now, in due order, and
    /// returns where each went. Atomic per entry: concurrent callers never
    /// move one entry twice.
    fn deliver_due(
        &self,
        topic: &Topic,
    ) -> impl Future<Output = Result<Vec<Produced>, BrokerError>> + Send;

    /// When the earliest waiting entry for `topic` falls due (`None`: nothing waits).
    fn next_due(
        &self,
        topic: &Topic,
    ) -> impl Future<Output = Result<Option<SystemTime>, BrokerError>> + Send;

    /// How many entries wait for `topic`, where the backend can count them
    /// (`None`: it cannot; the default).
    fn scheduled(
        &self,
        topic: &Topic,
    ) -> impl Future<Output = Result<Option<u64>, BrokerError>> + Send {
        let _ = topic;
        async { Ok(None) }
    }
}
