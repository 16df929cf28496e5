//! Produce: write payloads to a topic through any broker's producer.

use weir_core::{Destination, Payload, Produced, Producer};

use crate::strategy::split;
use crate::support::ordered::{Failure, Ordered, spawn_work};
use crate::support::stage::Stage;
use crate::{Incoming, ProcessingStrategy, SubmitError};

/// Produces each payload to `destination` with at most `max_in_flight`
/// produces outstanding, and forwards where each was stored
/// ([`Produced`]), in order, once the broker confirmed it.
///
/// A message is committed only after its produce is confirmed, so a crash
/// produces it again (at-least-once). A failed produce stops the processor
/// with [`StrategyError::Produce`](crate::StrategyError::Produce) naming the source message.
///
/// ```
/// use weir_core::{Broker, Topic};
/// use weir_memory::MemoryBroker;
/// use weir_strategies::{CommitOffsets, Produce};
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// let broker = MemoryBroker::new();
/// let step = Produce::new(broker.producer().await.unwrap(), Topic::new("out"), 1000, CommitOffsets::new());
/// # let _ = step; });
/// ```
pub struct Produce<P, N> {
    producer: P,
    destination: Destination,
    max_in_flight: usize,
    stage: Stage<Ordered<Produced>, N>,
}

impl<P: Producer + Clone, N> Produce<P, N> {
    /// Produces to `destination` (a topic or one partition).
    pub fn new(
        producer: P,
        destination: impl Into<Destination>,
        max_in_flight: usize,
        next: N,
    ) -> Self {
        Produce {
            producer,
            destination: destination.into(),
            max_in_flight: max_in_flight.max(1),
            stage: Stage::new(next),
        }
    }
}

impl<P, N> ProcessingStrategy<Payload> for Produce<P, N>
where
    P: Producer + Clone,
    N: ProcessingStrategy<Produced>,
{
    delegate_to_stage!(attach, poll, close, terminate, join);

    fn submit(&mut self, message: Incoming<Payload>) -> Result<(), SubmitError<Payload>> {
        if !self.stage.has_room(self.max_in_flight)? {
            return Err(SubmitError::Rejected(message));
        }
        match split(message) {
            Err(filtered) => self.stage.work.push_ready(filtered.into_filtered()),
            Ok((meta, payload)) => {
                let producer = self.producer.clone();
                let destination = self.destination.clone();
                let (rx, abort) = spawn_work(&self.stage.progress, async move {
                    producer
                        .produce(destination, payload)
                        .await
                        .map_err(Failure::Produce)
                });
                self.stage.work.push_running(meta, rx, Some(abort));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{Collect, broker_msg, filtered_msg, part};
    use crate::{Progress, StrategyError};
    use weir_core::{Broker, Topic};
    use weir_memory::MemoryBroker;

    #[tokio::test(start_paused = true)]
    async fn produces_in_order_and_forwards_positions() {
        let broker = MemoryBroker::new();
        let out = Topic::new("out");
        broker.create_topic(&out, 1).unwrap();
        let sink = Collect::new();
        let mut s = Produce::new(
            broker.producer().await.unwrap(),
            out.partition(0),
            2,
            sink.clone(),
        );
        s.attach(&Progress::new());
        s.submit(broker_msg(0, 0, Payload::new("a"))).unwrap();
        s.submit(filtered_msg(0, 1)).unwrap();
        assert!(matches!(
            s.submit(broker_msg(0, 2, Payload::new("b"))),
            Err(SubmitError::Rejected(_))
        ));
        s.close();
        let commits = s.join(None).await.unwrap().unwrap();
        assert_eq!(commits.get(&part(0)), Some(2));
        let produced = sink.payloads();
        assert_eq!(produced[0].as_ref().map(|p| p.offset), Some(0));
        assert_eq!(produced[1], None);
    }

    #[tokio::test(start_paused = true)]
    async fn a_failed_produce_names_the_source_message() {
        let broker = MemoryBroker::new();
        let mut s = Produce::new(
            broker.producer().await.unwrap(),
            Topic::new("missing"),
            4,
            Collect::new(),
        );
        s.submit(broker_msg(1, 5, Payload::new("x"))).unwrap();
        s.close();
        let err = s.join(None).await.unwrap_err();
        assert!(
            matches!(
                err,
                StrategyError::Produce {
                    offset: Some(5),
                    ..
                }
            ),
            "{err}"
        );
        assert!(err.to_string().contains("t/1 offset 5"), "{err}");
    }
}
