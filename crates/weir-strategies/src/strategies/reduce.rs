//! Reduce: fold messages into batches flushed by size or by time.

use std::time::{Duration, SystemTime};

use tokio::time::Instant;
use weir_core::{CommitRequest, Filterable, Message, Value};

use crate::support::origins::Origins;
use crate::support::outbox::Outbox;
use crate::support::positions::Positions;
use crate::support::stage::Stage;
use crate::{Incoming, JoinFuture, ProcessingStrategy, Progress, StrategyError, SubmitError};

type SizeFn<T> = Box<dyn Fn(&T) -> usize + Send>;

/// Folds payloads into an accumulator and forwards it as one message once
/// the batch is full (`max_batch_size`) or old (`max_batch_time`).
///
/// The batch carries the commit positions of every message in it (filtered
/// ones included), so it commits them all once done. By default each payload
/// counts 1 towards the size; [`batch_size_fn`](Self::batch_size_fn) counts
/// bytes or anything else. With
/// [`flush_empty_batches`](Self::flush_empty_batches) an empty accumulator is
/// forwarded when the time runs out (a heartbeat); otherwise a batch holding
/// only filtered messages forwards a filtered marker with their positions.
///
/// The batch also records its origin: per partition, the runs of offsets of
/// the payloads it folded (filtered messages leave gaps). If a later step
/// declares the batch invalid, the dead-letter policy sends each of those
/// original messages, and no others.
///
/// ```
/// use std::time::Duration;
/// use weir_strategies::{CommitOffsets, Reduce};
/// let sums = Reduce::new(|| 0u64, |acc, x: u64| acc + x, 1000, Duration::from_millis(100), CommitOffsets::new());
/// # let _ = sums;
/// ```
pub struct Reduce<T, A, I, F, N> {
    initial: I,
    fold: F,
    max_batch_size: usize,
    max_batch_time: Duration,
    size_fn: Option<SizeFn<T>>,
    flush_empty: bool,
    batch: Batch<A>,
    stage: Stage<Outbox<A>, N>,
}

struct Batch<A> {
    acc: Option<A>,
    committable: Positions,
    origin: Origins,
    size: usize,
    started: Option<Instant>,
    timestamp: Option<SystemTime>,
}

impl<A> Batch<A> {
    fn empty(started: Option<Instant>) -> Self {
        Batch {
            acc: None,
            committable: Positions::default(),
            origin: Origins::default(),
            size: 0,
            started,
            timestamp: None,
        }
    }

    /// Adds a message's positions and timestamp, and (for a payload, not a
    /// filtered marker) its origin; returns its payload, if any.
    #[inline]
    fn add<T>(&mut self, message: Incoming<T>) -> Option<T> {
        let (payload, timestamp) = match message {
            Message::Broker(b) => {
                self.committable.record(&b.partition, b.offset + 1);
                if !b.payload.is_filtered() {
                    self.origin.record(&b.partition, b.offset, b.offset + 1);
                }
                (b.payload, Some(b.timestamp))
            }
            Message::Value(v) => {
                for (p, o) in &v.committable {
                    self.committable.record(p, *o);
                }
                if !v.payload.is_filtered() {
                    for (p, r) in v.origin.iter() {
                        self.origin.record(p, r.start, r.end);
                    }
                }
                (v.payload, v.timestamp)
            }
        };
        if let Some(t) = timestamp {
            self.timestamp = Some(self.timestamp.map_or(t, |c| c.max(t)));
        }
        payload.into_payload()
    }
}

impl<T, A, I, F, N> Reduce<T, A, I, F, N>
where
    I: Fn() -> A,
    F: FnMut(A, T) -> A,
{
    /// Folds with `fold`, starting each batch from `initial()`, and flushes
    /// after `max_batch_size` payloads or `max_batch_time`.
    pub fn new(
        initial: I,
        fold: F,
        max_batch_size: usize,
        max_batch_time: Duration,
        next: N,
    ) -> Self {
        Reduce {
            initial,
            fold,
            max_batch_size: max_batch_size.max(1),
            max_batch_time,
            size_fn: None,
            flush_empty: false,
            batch: Batch::empty(None),
            stage: Stage::new(next),
        }
    }

    /// Counts each payload as `size(&payload)` towards `max_batch_size`.
    pub fn batch_size_fn(mut self, size: impl Fn(&T) -> usize + Send + 'static) -> Self {
        self.size_fn = Some(Box::new(size));
        self
    }

    /// Forwards an empty accumulator when the time runs out with no payload.
    pub fn flush_empty_batches(mut self, on: bool) -> Self {
        self.flush_empty = on;
        if on {
            self.batch.started = Some(Instant::now());
        }
        self
    }

    fn deadline(&self) -> Option<Instant> {
        self.batch.started.map(|s| s + self.max_batch_time)
    }

    /// Forwards the batch (if it holds anything, or if empty flushes are on).
    fn flush(&mut self) -> Result<(), StrategyError>
    where
        N: ProcessingStrategy<A>,
    {
        let restart = self.flush_empty.then(Instant::now);
        let mut batch = std::mem::replace(&mut self.batch, Batch::empty(restart));
        let payload = match batch.acc {
            Some(acc) => Filterable::Payload(acc),
            None if !batch.committable.is_empty() => Filterable::Filtered,
            None if self.flush_empty => Filterable::Payload((self.initial)()),
            None => return Ok(()),
        };
        let message = Message::Value(Value {
            payload,
            committable: batch.committable.take_map(),
            timestamp: batch.timestamp,
            origin: batch.origin.take(),
        });
        let Stage { work, next, .. } = &mut self.stage;
        work.send(next, message)
    }
}

impl<T, A, I, F, N> ProcessingStrategy<T> for Reduce<T, A, I, F, N>
where
    T: Send,
    A: Send,
    I: Fn() -> A + Send,
    F: FnMut(A, T) -> A + Send,
    N: ProcessingStrategy<A>,
{
    delegate_to_stage!(close);

    fn attach(&mut self, progress: &Progress) {
        self.stage.attach(progress);
        if let Some(d) = self.deadline() {
            self.stage.progress.wake_at(d);
        }
    }

    fn submit(&mut self, message: Incoming<T>) -> Result<(), SubmitError<T>> {
        if !self.stage.has_room(1)? {
            return Err(SubmitError::Rejected(message));
        }
        if self.batch.started.is_none() {
            let now = Instant::now();
            self.batch.started = Some(now);
            self.stage.progress.wake_at(now + self.max_batch_time);
        }
        if let Some(payload) = self.batch.add(message) {
            self.batch.size += self.size_fn.as_ref().map_or(1, |f| f(&payload));
            let acc = self.batch.acc.take().unwrap_or_else(&self.initial);
            self.batch.acc = Some((self.fold)(acc, payload));
            if self.batch.size >= self.max_batch_size {
                self.flush()?;
            }
        }
        Ok(())
    }

    fn poll(&mut self) -> Result<Option<CommitRequest>, StrategyError> {
        self.stage.report_failure()?;
        {
            let Stage { work, next, .. } = &mut self.stage;
            work.flush(next)?;
        }
        if self.stage.work.is_empty()
            && let Some(d) = self.deadline()
            && Instant::now() >= d
        {
            self.flush()?;
        }
        if let Some(d) = self.deadline() {
            self.stage.progress.wake_at(d);
        }
        self.stage.next.poll()
    }

    fn terminate(&mut self) {
        self.batch = Batch::empty(None);
        self.stage.terminate();
    }

    fn join(&mut self, timeout: Option<Duration>) -> JoinFuture<'_> {
        Box::pin(async move {
            self.stage.report_failure()?;
            // The last batch goes out whatever its size (an empty one only
            // if it carries positions).
            self.flush_empty = false;
            self.flush()?;
            self.stage.join(timeout).await
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{Collect, broker_msg, filtered_msg, part};

    type Summing = Reduce<u32, u32, fn() -> u32, fn(u32, u32) -> u32, Collect<u32>>;

    fn summing(size: usize, time_ms: u64, sink: &Collect<u32>) -> Summing {
        Reduce::new(
            (|| 0) as fn() -> u32,
            (|a, x| a + x) as fn(u32, u32) -> u32,
            size,
            Duration::from_millis(time_ms),
            sink.clone(),
        )
    }

    #[tokio::test(start_paused = true)]
    async fn flushes_when_full() {
        let sink = Collect::new();
        let mut r = summing(3, 10_000, &sink);
        for (o, x) in [(0, 1), (1, 2), (2, 3), (3, 10)] {
            r.submit(broker_msg(0, o, x)).unwrap();
        }
        assert_eq!(sink.payloads(), vec![Some(6)]);
        assert_eq!(r.poll().unwrap().unwrap().get(&part(0)), Some(3));
    }

    #[tokio::test(start_paused = true)]
    async fn flushes_when_old_and_asks_to_be_woken() {
        let sink = Collect::new();
        let progress = Progress::new();
        let mut r = summing(100, 500, &sink);
        r.attach(&progress);
        let t0 = Instant::now();
        r.submit(broker_msg(0, 0, 4)).unwrap();
        r.submit(broker_msg(1, 0, 5)).unwrap();
        assert_eq!(progress.deadline(), Some(t0 + Duration::from_millis(500)));
        tokio::time::advance(Duration::from_millis(499)).await;
        r.poll().unwrap();
        assert!(sink.payloads().is_empty());
        progress.wait().await;
        assert_eq!(Instant::now(), t0 + Duration::from_millis(500));
        let commits = r.poll().unwrap().unwrap();
        assert_eq!(sink.payloads(), vec![Some(9)]);
        assert_eq!(
            (commits.get(&part(0)), commits.get(&part(1))),
            (Some(1), Some(1))
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_custom_size_function_counts_weight() {
        let sink = Collect::new();
        let mut r = summing(10, 10_000, &sink).batch_size_fn(|x: &u32| *x as usize);
        r.submit(broker_msg(0, 0, 4)).unwrap();
        r.submit(broker_msg(0, 1, 5)).unwrap();
        assert!(sink.payloads().is_empty());
        r.submit(broker_msg(0, 2, 1)).unwrap();
        assert_eq!(sink.payloads(), vec![Some(10)]);
    }

    #[tokio::test(start_paused = true)]
    async fn only_filtered_messages_flush_a_marker_that_commits() {
        let sink = Collect::new();
        let mut r = summing(10, 100, &sink);
        r.submit(filtered_msg(0, 7)).unwrap();
        tokio::time::advance(Duration::from_millis(100)).await;
        let commits = r.poll().unwrap().unwrap();
        assert_eq!(sink.payloads(), vec![None]);
        assert_eq!(commits.get(&part(0)), Some(8));
    }

    #[tokio::test(start_paused = true)]
    async fn empty_batches_flush_only_when_asked() {
        let quiet = Collect::new();
        let mut r = summing(10, 100, &quiet);
        tokio::time::advance(Duration::from_millis(250)).await;
        r.poll().unwrap();
        assert!(quiet.payloads().is_empty());

        let beat = Collect::new();
        let mut r = summing(10, 100, &beat).flush_empty_batches(true);
        tokio::time::advance(Duration::from_millis(100)).await;
        r.poll().unwrap();
        tokio::time::advance(Duration::from_millis(100)).await;
        r.poll().unwrap();
        assert_eq!(beat.payloads(), vec![Some(0), Some(0)]);
    }

    #[tokio::test(start_paused = true)]
    async fn a_full_batch_the_next_step_refuses_holds_back_new_messages() {
        let sink = Collect::with_capacity(1);
        let mut r = summing(2, 10_000, &sink);
        for o in 0..4 {
            r.submit(broker_msg(0, o, 1)).unwrap();
        }
        // The second batch is waiting for the sink.
        assert!(matches!(
            r.submit(broker_msg(0, 4, 1)),
            Err(SubmitError::Rejected(_))
        ));
        sink.drain();
        r.poll().unwrap();
        assert_eq!(sink.payloads(), vec![Some(2), Some(2)]);
    }

    #[tokio::test(start_paused = true)]
    async fn a_batch_records_the_messages_it_was_made_from() {
        let sink = Collect::new();
        let mut r = summing(4, 10_000, &sink);
        r.submit(filtered_msg(0, 2)).unwrap();
        for (p, o) in [(0, 3), (1, 40), (0, 4)] {
            r.submit(broker_msg(p, o, 1)).unwrap();
        }
        r.submit(filtered_msg(1, 41)).unwrap();
        r.submit(broker_msg(0, 6, 1)).unwrap();
        let out = sink.messages();
        let Some(Message::Value(v)) = out.first() else {
            panic!("expected one batch, got {out:?}")
        };
        let runs: Vec<_> = v.origin.iter().map(|(p, r)| (p.index, r.clone())).collect();
        assert_eq!(
            runs,
            [(0, 3..5), (0, 6..7), (1, 40..41)],
            "exactly the payloads folded: not the filtered ones, not the gap at 5"
        );
        assert_eq!(
            (v.committable.get(&part(0)), v.committable.get(&part(1))),
            (Some(&7), Some(&42))
        );
    }

    #[tokio::test(start_paused = true)]
    async fn join_flushes_the_partial_batch() {
        let sink = Collect::new();
        let mut r = summing(100, 10_000, &sink);
        r.submit(broker_msg(0, 0, 3)).unwrap();
        r.close();
        let commits = r.join(None).await.unwrap().unwrap();
        assert_eq!(sink.payloads(), vec![Some(3)]);
        assert_eq!(commits.get(&part(0)), Some(1));
    }
}
