//! A consumer task: takes events off the queue, routes them, runs the
//! targets' processors (with timeout, retry and panic capture) and replies.

use std::collections::VecDeque;
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::task::Poll;
use std::time::Duration;

use futures::FutureExt;
use futures::future::BoxFuture;
use tokio::time::Instant;

use crate::error::panic_message;
use crate::shared::{Envelope, Shared};
use crate::signal::Signal;
use crate::{BoxError, CollectorError, CollectorId, DeadLetter, Failure};

/// Events that take longer than this on average are taken one at a time.
const BATCH_BELOW: Duration = Duration::from_micros(50);

/// Takes and processes events until retired, stopped, or the queue is closed
/// and empty.
pub(crate) async fn consume<P, R>(shared: Arc<Shared<P, R>>, retire: Signal)
where
    P: Clone + Send + Sync + 'static,
    R: Send + 'static,
{
    // Events taken off the queue together, to be processed in order.
    let mut taken = VecDeque::new();
    // When the previous event finished, if the next one starts right away:
    // reading the clock is not free on every host.
    let mut finished = None;
    // Busy from the first event of a batch to the end of the last.
    let mut busy = false;
    // Completions not yet added to the shared counters.
    let mut tally = Tally::default();
    loop {
        if shared.hard_stop.is_fired() {
            break;
        }
        if let Some((envelope, depth)) = taken.pop_front() {
            if !busy {
                busy = true;
                set_busy(&shared, true);
            }
            let started = finished.take().unwrap_or_else(Instant::now);
            // After the batch's last event the consumer is idle: it says so
            // before the results go out, so whoever has them all sees no
            // consumer busy with them.
            let last = taken.is_empty();
            finished = Some(process(&shared, envelope, depth, started, last, &mut tally).await);
            if last {
                busy = false;
            }
            continue;
        }
        finished = None;
        if busy {
            busy = false;
            set_busy(&shared, false);
        }
        if retire.is_fired() {
            break;
        }
        // Quick events are taken a few at a time, to spend less per event on
        // the queue; slow ones one by one, so that consumers the autoscaler
        // adds find them. Either way only a share of the backlog: the other
        // consumers should find work too.
        let batch = match shared.load.mean_service() {
            Some(mean) if mean <= BATCH_BELOW => shared.batch,
            _ => 1,
        };
        let consumers = shared.load.consumers.load(Ordering::Relaxed).max(1);
        let popped = tokio::select! {
            biased;
            popped = shared.queue.pop_into(&mut taken, batch, consumers) => popped,
            () = retire.fired() => {
                // Hand a wake-up we may have taken to a consumer that stays.
                shared.queue.wake_consumer();
                break;
            }
            () = shared.hard_stop.fired() => break,
        };
        if !popped {
            break;
        }
    }
    tally.flush(&shared);
    if busy {
        set_busy(&shared, false);
    }
    // Stopped with events in hand: answer them and report them.
    for (envelope, _) in taken {
        let payload = shared.abandon(envelope);
        shared.push_unprocessed(payload);
    }
    let left = shared
        .load
        .consumers
        .fetch_sub(1, Ordering::Relaxed)
        .saturating_sub(1);
    shared.metrics.consumers.set(left as f64);
}

/// Completions a consumer counted but has not yet added to the shared
/// counters: it adds them once per batch, and before any result goes out
/// (so whoever holds a result sees its event counted), rather than with two
/// atomic additions per event.
#[derive(Debug, Default)]
struct Tally {
    events: u64,
    service_nanos: u64,
}

impl Tally {
    fn add(&mut self, service: Duration) {
        let nanos = u64::try_from(service.as_nanos()).unwrap_or(u64::MAX);
        self.events += 1;
        self.service_nanos = self.service_nanos.saturating_add(nanos);
    }

    fn flush<P, R>(&mut self, shared: &Shared<P, R>) {
        if self.events > 0 {
            shared
                .load
                .record_completions(self.events, self.service_nanos);
            shared.metrics.completed.increment(self.events);
            *self = Tally::default();
        }
    }
}

fn set_busy<P, R>(shared: &Shared<P, R>, busy: bool) {
    if busy {
        shared.load.busy.fetch_add(1, Ordering::Relaxed);
        shared.metrics.busy.increment(1.0);
    } else {
        shared.load.busy.fetch_sub(1, Ordering::Relaxed);
        shared.metrics.busy.decrement(1.0);
    }
}

/// Whether an outcome is an attempt the hard stop cut off.
fn cut_off<R>(outcome: &Result<R, CollectorError>) -> bool {
    matches!(outcome, Err(e) if matches!(e.failure, Failure::ShutDown) && e.attempts > 0)
}

/// Routes one event, runs every target, and sends the results back (if the
/// publisher asked for them); the `last` of a batch marks the consumer idle
/// first. Its completion goes to `tally`, which reaches the shared counters
/// before any result goes out. Returns when it finished.
async fn process<P, R>(
    shared: &Shared<P, R>,
    envelope: Envelope<P, R>,
    depth: usize,
    started: Instant,
    last: bool,
    tally: &mut Tally,
) -> Instant
where
    P: Clone + Send + Sync + 'static,
    R: Send + 'static,
{
    shared.metrics.depth.set(depth as f64);
    shared
        .metrics
        .wait
        .record(started.saturating_duration_since(envelope.accepted));

    let Envelope { event, reply, .. } = envelope;
    let mut routed = shared.route(&event);
    let targets = std::mem::take(&mut routed.targets);
    let payload = event.into_payload();

    let mut interrupted = false;
    let mut entries = Vec::new();
    // When the event finished, and its service time.
    let (finished, service) = match &*targets {
        [] => {
            let now = Instant::now();
            (now, now.saturating_duration_since(started))
        }
        [id] => {
            let outcome = run_target(shared, *id, &payload).await;
            let now = Instant::now();
            // The one collector's time is the event's.
            let took = now.saturating_duration_since(started);
            record_processor(shared, *id, took);
            interrupted = cut_off(&outcome);
            if reply.is_some() {
                entries.push((key(shared, *id), outcome));
            }
            (now, took)
        }
        many => {
            // The targets run concurrently. One that had to wait reads the
            // clock when it finishes; the others finished in the first pass
            // and share one clock read after it.
            let runs = many.iter().map(|&id| {
                let payload = &payload;
                async move {
                    let mut run = std::pin::pin!(run_target(shared, id, payload));
                    let mut waited = false;
                    let outcome = std::future::poll_fn(|cx| {
                        let poll = run.as_mut().poll(cx);
                        waited |= poll.is_pending();
                        poll
                    })
                    .await;
                    (outcome, waited.then(Instant::now))
                }
            });
            let outcomes = futures::future::join_all(runs).await;
            let now = Instant::now();
            for (&id, (_, done)) in many.iter().zip(&outcomes) {
                let done = done.unwrap_or(now);
                record_processor(shared, id, done.saturating_duration_since(started));
            }
            interrupted = outcomes.iter().any(|(outcome, _)| cut_off(outcome));
            if reply.is_some() {
                let keys = many.iter().map(|&id| key(shared, id));
                entries.extend(keys.zip(outcomes.into_iter().map(|(outcome, _)| outcome)));
            }
            (now, now.saturating_duration_since(started))
        }
    };
    if interrupted {
        shared.push_interrupted(payload);
    }

    tally.add(service);
    shared.metrics.service.record(service);
    if last || reply.is_some() {
        tally.flush(shared);
    }
    if last {
        set_busy(shared, false);
    }
    if let Some(reply) = reply {
        // The publisher may have dropped its handle: fire-and-forget.
        let _ = reply.send(routed.results(entries));
    }
    finished
}

fn key<P, R>(shared: &Shared<P, R>, id: CollectorId) -> Arc<str> {
    shared
        .directory
        .key_arc(id)
        .cloned()
        .unwrap_or_else(|| Arc::from(""))
}

/// Runs one collector on one payload: every attempt its retry policy allows,
/// then the dead-letter sink if all failed.
async fn run_target<P, R>(
    shared: &Shared<P, R>,
    id: CollectorId,
    payload: &P,
) -> Result<R, CollectorError>
where
    P: Clone + Send + Sync + 'static,
    R: Send + 'static,
{
    let collector = &shared.collectors[id.index()];
    let max_attempts = collector.retry.max_attempts();
    let mut attempt = 0;
    let failure = loop {
        attempt += 1;
        let call = std::panic::catch_unwind(AssertUnwindSafe(|| {
            (collector.process)(payload.clone(), attempt)
        }));
        let outcome = match call {
            Ok(future) => run_attempt(future, collector.timeout, &shared.hard_stop).await,
            Err(panic) => Err(Failure::panicked(&*panic)),
        };
        match outcome {
            Ok(value) => return Ok(value),
            Err(Failure::ShutDown) => break Failure::ShutDown,
            Err(failure) if attempt >= max_attempts => break failure,
            Err(failure) => {
                tracing::debug!(collector = %collector.key, attempt, failure = &failure as &(dyn std::error::Error + 'static), "attempt failed, retrying");
                let backoff = collector.retry.backoff(attempt);
                tokio::select! {
                    biased;
                    () = shared.hard_stop.fired() => break Failure::ShutDown,
                    () = tokio::time::sleep(backoff) => {}
                }
            }
        }
    };
    if let Some(counter) = shared.metrics.failures.get(id.index()) {
        counter.increment(1);
    }
    let error = CollectorError::new(Arc::clone(&collector.key), failure, attempt);
    if !matches!(error.failure, Failure::ShutDown) {
        tracing::warn!(collector = %collector.key, attempts = attempt, failure = &error.failure as &(dyn std::error::Error + 'static), "event failed");
        if let Some(sink) = &shared.dead_letter {
            let letter = DeadLetter {
                payload: payload.clone(),
                error: error.clone(),
            };
            if let Err(panic) = AssertUnwindSafe(sink.send(letter)).catch_unwind().await {
                let message = panic_message(&*panic);
                tracing::error!(collector = %collector.key, %message, "dead-letter sink panicked");
            }
        }
    }
    Err(error)
}

fn record_processor<P, R>(shared: &Shared<P, R>, id: CollectorId, took: Duration) {
    if let Some(histogram) = shared.metrics.processor.get(id.index()) {
        histogram.record(took);
    }
}

/// One attempt: the processor future, caught if it panics, cut at the timeout
/// or at the hard stop.
async fn run_attempt<R>(
    future: BoxFuture<'static, Result<R, BoxError>>,
    timeout: Option<Duration>,
    stop: &Signal,
) -> Result<R, Failure> {
    let guarded = AssertUnwindSafe(future).catch_unwind();
    let bounded = async {
        let caught = match timeout {
            Some(limit) => match tokio::time::timeout(limit, guarded).await {
                Ok(caught) => caught,
                Err(_) => return Err(Failure::TimedOut(limit)),
            },
            None => guarded.await,
        };
        match caught {
            Ok(Ok(value)) => Ok(value),
            Ok(Err(error)) => Err(Failure::error(error)),
            Err(panic) => Err(Failure::panicked(&*panic)),
        }
    };
    // Most attempts finish on their first poll: only wait for the stop
    // signal alongside those that do not.
    let mut bounded = std::pin::pin!(bounded);
    if let Poll::Ready(outcome) = futures::poll!(bounded.as_mut()) {
        return outcome;
    }
    tokio::select! {
        biased;
        outcome = bounded => outcome,
        () = stop.fired() => Err(Failure::ShutDown),
    }
}
