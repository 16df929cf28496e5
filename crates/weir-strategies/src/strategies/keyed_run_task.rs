//! KeyedRunTask: same key in order, different keys in parallel, commits at
//! the low watermark.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::future::Future;
use std::hash::Hash;
use std::time::Duration;

use tokio::sync::oneshot;
use tokio::time::Instant;
use weir_core::{CommitRequest, Filterable, Message, Origin, Partition, Value};

use crate::strategy::split;
use crate::support::deferred::Deferred;
use crate::support::ordered::{Failure, Outcome, run_user_task, spawn_work};
use crate::support::origins::origin_of;
use crate::support::outbox::{Outbox, deadline_after, join_next, wait};
use crate::{
    Incoming, JoinFuture, ProcessingStrategy, Progress, StrategyError, SubmitError, TaskError,
};

/// Runs an async function per message with messages of the same key in
/// submission order and different keys in parallel (at most `concurrency`
/// tasks at once), forwarding each result as soon as it is done.
///
/// Results leave out of order, so each carries as commit position its
/// partition's *low watermark*: the position just before the oldest
/// unfinished message. A slow key delays commits, never correctness: nothing
/// unfinished is ever committed, and after a crash only the unfinished tail
/// (and what finished past it) is processed again.
///
/// ```
/// use weir_core::Payload;
/// use weir_strategies::{CommitOffsets, KeyedRunTask, TaskError};
/// let step = KeyedRunTask::new(
///     |p: &Payload| p.key.clone(),
///     |p: Payload| async move { Ok::<_, TaskError>(p.value.len()) },
///     64,
///     CommitOffsets::new(),
/// );
/// # let _ = step;
/// ```
pub struct KeyedRunTask<KF, F, K, T, U, N> {
    key_fn: KF,
    function: F,
    concurrency: usize,
    max_pending: usize,
    next: N,
    /// Keys with a running task or waiting messages, and what waits.
    keys: HashMap<K, VecDeque<Waiting<T>>>,
    /// Keys whose next message may start once a task slot frees.
    ready: VecDeque<K>,
    running: Vec<Running<K, U>>,
    pending: usize,
    partitions: HashMap<Partition, Track>,
    outbox: Outbox<U>,
    progress: Progress,
    closed: bool,
    /// A failure met while making room, for the next `poll` or `join`.
    failed: Deferred,
}

struct Waiting<T> {
    meta: Message<()>,
    payload: T,
    ticket: Ticket,
}

struct Running<K, U> {
    key: K,
    meta: Message<()>,
    ticket: Ticket,
    result: oneshot::Receiver<Outcome<U>>,
    abort: tokio::task::AbortHandle,
}

/// Where a message sits in each of its partitions' windows.
type Ticket = Vec<(Partition, u64)>;

/// One partition's unfinished window: commit positions in submission order.
#[derive(Debug, Default)]
struct Track {
    first_seq: u64,
    window: VecDeque<(u64, bool)>,
    watermark: Option<u64>,
}

impl Track {
    fn push(&mut self, position: u64) -> u64 {
        self.window.push_back((position, false));
        self.first_seq + self.window.len() as u64 - 1
    }

    fn done(&mut self, seq: u64) {
        if let Some(slot) = seq
            .checked_sub(self.first_seq)
            .and_then(|i| usize::try_from(i).ok())
            .and_then(|i| self.window.get_mut(i))
        {
            slot.1 = true;
        }
        while let Some(&(position, true)) = self.window.front() {
            self.window.pop_front();
            self.first_seq += 1;
            self.watermark = Some(position);
        }
    }
}

impl<KF, F, K, T, U, N> KeyedRunTask<KF, F, K, T, U, N> {
    /// Runs `function` per message, ordered per `key_fn(&payload)`, with at
    /// most `concurrency` tasks at once.
    pub fn new<Fut>(key_fn: KF, function: F, concurrency: usize, next: N) -> Self
    where
        KF: Fn(&T) -> K,
        F: FnMut(T) -> Fut,
        Fut: Future<Output = Result<U, TaskError>> + Send + 'static,
    {
        let concurrency = concurrency.max(1);
        KeyedRunTask {
            key_fn,
            function,
            concurrency,
            max_pending: concurrency * 4,
            next,
            keys: HashMap::new(),
            ready: VecDeque::new(),
            running: Vec::new(),
            pending: 0,
            partitions: HashMap::new(),
            outbox: Outbox::default(),
            progress: Progress::new(),
            closed: false,
            failed: Deferred::default(),
        }
    }

    /// At most `n` messages held (running, waiting behind their key, or
    /// finished but not forwarded) before `submit` rejects (default: four
    /// times the concurrency).
    pub fn max_pending(mut self, n: usize) -> Self {
        self.max_pending = n.max(1);
        self
    }
}

impl<KF, F, Fut, K, T, U, N> KeyedRunTask<KF, F, K, T, U, N>
where
    KF: Fn(&T) -> K + Send,
    F: FnMut(T) -> Fut + Send,
    Fut: Future<Output = Result<U, TaskError>> + Send + 'static,
    K: Hash + Eq + Clone + Send,
    T: Send,
    U: Send + 'static,
    N: ProcessingStrategy<U>,
{
    fn ticket(&mut self, message: &Message<()>) -> Ticket {
        message
            .committable()
            .map(|(p, position)| {
                let track = match self.partitions.get_mut(p) {
                    Some(t) => t,
                    None => self.partitions.entry(p.clone()).or_default(),
                };
                (p.clone(), track.push(position))
            })
            .collect()
    }

    /// Marks a message done; the positions now safe to commit.
    fn done(&mut self, ticket: &Ticket) -> BTreeMap<Partition, u64> {
        let mut out = BTreeMap::new();
        for (p, seq) in ticket {
            if let Some(track) = self.partitions.get_mut(p) {
                track.done(*seq);
                if let Some(w) = track.watermark {
                    out.insert(p.clone(), w);
                }
            }
        }
        out
    }

    /// Drops all work, cancelling the running tasks.
    fn abandon(&mut self) {
        for r in self.running.drain(..) {
            r.abort.abort();
        }
        self.keys.clear();
        self.ready.clear();
        self.pending = 0;
    }

    fn start_ready(&mut self) {
        while self.running.len() < self.concurrency {
            let Some(key) = self.ready.pop_front() else {
                break;
            };
            let Some(w) = self.keys.get_mut(&key).and_then(VecDeque::pop_front) else {
                self.keys.remove(&key);
                continue;
            };
            let task = run_user_task((self.function)(w.payload));
            let (result, abort) = spawn_work(&self.progress, task);
            self.running.push(Running {
                key,
                meta: w.meta,
                ticket: w.ticket,
                result,
                abort,
            });
        }
    }

    /// Whether as many messages as allowed are held, or a failure waits
    /// for `poll`: then no message is taken.
    fn is_full(&self) -> bool {
        self.failed.is_waiting() || self.pending + self.outbox.len() >= self.max_pending
    }

    /// Collects finished tasks, forwards their results, starts waiting work.
    fn advance(&mut self) -> Result<(), StrategyError> {
        self.outbox.flush(&mut self.next)?;
        let mut i = 0;
        while i < self.running.len() {
            let outcome = match self.running[i].result.try_recv() {
                Err(oneshot::error::TryRecvError::Empty) => {
                    i += 1;
                    continue;
                }
                Ok(outcome) => outcome,
                Err(oneshot::error::TryRecvError::Closed) => {
                    Err(Failure::Panic("the task was cancelled".to_owned()))
                }
            };
            let r = self.running.swap_remove(i);
            self.pending -= 1;
            match self.keys.get(&r.key) {
                Some(q) if !q.is_empty() => self.ready.push_back(r.key.clone()),
                _ => {
                    self.keys.remove(&r.key);
                }
            }
            let committable = self.done(&r.ticket);
            match outcome {
                Ok(value) => {
                    let message = Message::Value(Value {
                        payload: Filterable::Payload(value),
                        committable,
                        timestamp: r.meta.timestamp(),
                        origin: origin_of(&r.meta),
                    });
                    self.outbox.send(&mut self.next, message)?;
                }
                Err(failure) => {
                    self.start_ready();
                    return Err(crate::support::ordered::failure_error(failure, &r.meta));
                }
            }
        }
        self.start_ready();
        Ok(())
    }
}

impl<KF, F, Fut, K, T, U, N> ProcessingStrategy<T> for KeyedRunTask<KF, F, K, T, U, N>
where
    KF: Fn(&T) -> K + Send,
    F: FnMut(T) -> Fut + Send,
    Fut: Future<Output = Result<U, TaskError>> + Send + 'static,
    K: Hash + Eq + Clone + Send,
    T: Send,
    U: Send + 'static,
    N: ProcessingStrategy<U>,
{
    fn attach(&mut self, progress: &Progress) {
        self.progress = progress.clone();
        self.next.attach(progress);
    }

    fn submit(&mut self, message: Incoming<T>) -> Result<(), SubmitError<T>> {
        if self.closed {
            return Err(StrategyError::Closed.into());
        }
        if self.is_full() {
            // `Deferred::make_room`, written out because `advance` borrows
            // the whole step: nothing is forwarded while a failure waits;
            // a failure met is about earlier work, kept for `poll`, and
            // this message goes back.
            if !self.failed.is_waiting()
                && let Err(e) = self.advance()
            {
                self.failed.keep(e, &self.progress);
            }
            if self.is_full() {
                return Err(SubmitError::Rejected(message));
            }
        }
        match split(message) {
            Err(filtered) => {
                let ticket = self.ticket(&filtered);
                let committable = self.done(&ticket);
                let marker = Message::Value(Value {
                    payload: Filterable::Filtered,
                    committable,
                    timestamp: filtered.timestamp(),
                    origin: Origin::new(),
                });
                self.outbox.send(&mut self.next, marker)?;
            }
            Ok((meta, payload)) => {
                let key = (self.key_fn)(&payload);
                let ticket = self.ticket(&meta);
                let waiting = Waiting {
                    meta,
                    payload,
                    ticket,
                };
                self.pending += 1;
                match self.keys.get_mut(&key) {
                    Some(q) => q.push_back(waiting),
                    None => {
                        self.keys.insert(key.clone(), VecDeque::from([waiting]));
                        self.ready.push_back(key);
                        self.start_ready();
                    }
                }
            }
        }
        Ok(())
    }

    fn poll(&mut self) -> Result<Option<CommitRequest>, StrategyError> {
        self.failed.report()?;
        self.advance()?;
        self.next.poll()
    }

    fn close(&mut self) {
        self.closed = true;
    }

    fn terminate(&mut self) {
        self.closed = true;
        self.abandon();
        self.outbox.clear();
        self.next.terminate();
    }

    fn join(&mut self, timeout: Option<Duration>) -> JoinFuture<'_> {
        Box::pin(async move {
            self.failed.report()?;
            let deadline: Option<Instant> = deadline_after(timeout);
            let mut commits = None;
            loop {
                self.advance()?;
                commits = CommitRequest::merge_opt(commits, self.next.poll()?);
                if self.pending == 0 {
                    break;
                }
                if !wait(&self.progress, deadline).await {
                    self.abandon();
                    break;
                }
            }
            let drained = self
                .outbox
                .drain(&mut self.next, &self.progress, deadline)
                .await?;
            join_next(
                &mut self.next,
                deadline,
                CommitRequest::merge_opt(commits, drained),
            )
            .await
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{Collect, broker_msg, filtered_msg, handed_back_then_reported, part};

    /// (key, value, milliseconds)
    type Job = (char, u32, u64);

    fn step(sink: &Collect<u32>, concurrency: usize) -> impl ProcessingStrategy<Job> + use<> {
        KeyedRunTask::new(
            |j: &Job| j.0,
            |j: Job| async move {
                tokio::time::sleep(Duration::from_millis(j.2)).await;
                Ok::<_, TaskError>(j.1)
            },
            concurrency,
            sink.clone(),
        )
    }

    #[tokio::test(start_paused = true)]
    async fn same_key_in_order_different_keys_in_parallel() {
        let sink = Collect::new();
        let mut s = step(&sink, 4);
        s.attach(&Progress::new());
        s.submit(broker_msg(0, 0, ('a', 1, 100))).unwrap();
        s.submit(broker_msg(0, 1, ('a', 2, 10))).unwrap();
        s.submit(broker_msg(0, 2, ('b', 3, 10))).unwrap();
        tokio::time::sleep(Duration::from_millis(15)).await;
        let c = s.poll().unwrap();
        assert_eq!(
            sink.payloads(),
            vec![Some(3)],
            "b ran beside a; a's second waits"
        );
        let Some(Message::Value(v)) = sink.messages().first().cloned() else {
            panic!("results are values")
        };
        assert_eq!(
            (v.origin.runs(&part(0)).next(), v.committable.get(&part(0))),
            (Some(&(2..3)), None),
            "made from offset 2, though it commits nothing yet"
        );
        assert_eq!(c, None, "offset 0 is unfinished: nothing commits");
        tokio::time::sleep(Duration::from_millis(90)).await;
        let c = s.poll().unwrap().unwrap();
        assert_eq!(sink.payloads(), vec![Some(3), Some(1)]);
        assert_eq!(
            c.get(&part(0)),
            Some(1),
            "the watermark stops at the unfinished offset 1"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
        let c = s.poll().unwrap().unwrap();
        assert_eq!(sink.payloads(), vec![Some(3), Some(1), Some(2)]);
        assert_eq!(c.get(&part(0)), Some(3));
    }

    #[tokio::test(start_paused = true)]
    async fn a_message_offered_while_an_earlier_one_fails_comes_back() {
        let sink = Collect::new();
        let mut s = KeyedRunTask::new(
            |j: &Job| j.0,
            |j: Job| async move {
                match j.1 {
                    0 => Err(TaskError::invalid("zero")),
                    v => Ok(v),
                }
            },
            1,
            sink.clone(),
        )
        .max_pending(1);
        s.attach(&Progress::new());
        s.submit(broker_msg(0, 0, ('a', 0, 0))).unwrap();
        tokio::time::sleep(Duration::from_millis(1)).await;
        // Full: making room finds the first task's failure.
        let back = handed_back_then_reported(&mut s, broker_msg(0, 1, ('b', 1, 0)), 0);
        s.submit(back).unwrap();
        s.close();
        s.join(None).await.unwrap();
        assert_eq!(sink.payloads(), vec![Some(1)]);
    }

    #[tokio::test(start_paused = true)]
    async fn filtered_messages_wait_for_the_watermark() {
        let sink = Collect::new();
        let mut s = step(&sink, 2);
        s.submit(broker_msg(0, 0, ('a', 1, 50))).unwrap();
        s.submit(filtered_msg(0, 1)).unwrap();
        assert_eq!(
            s.poll().unwrap(),
            None,
            "the filtered one cannot commit past offset 0"
        );
        s.close();
        let c = s.join(None).await.unwrap().unwrap();
        assert_eq!(c.get(&part(0)), Some(2));
    }

    #[tokio::test(start_paused = true)]
    async fn concurrency_and_pending_are_bounded() {
        let sink = Collect::new();
        let mut s = KeyedRunTask::new(
            |j: &Job| j.0,
            |j: Job| async move {
                tokio::time::sleep(Duration::from_millis(j.2)).await;
                Ok::<_, TaskError>(j.1)
            },
            2,
            sink.clone(),
        )
        .max_pending(3);
        s.submit(broker_msg(0, 0, ('a', 0, 10))).unwrap();
        s.submit(broker_msg(0, 1, ('b', 1, 10))).unwrap();
        s.submit(broker_msg(0, 2, ('c', 2, 10))).unwrap();
        assert!(matches!(
            s.submit(broker_msg(0, 3, ('d', 3, 10))),
            Err(SubmitError::Rejected(_))
        ));
        tokio::time::sleep(Duration::from_millis(11)).await;
        s.poll().unwrap();
        assert_eq!(sink.payloads().len(), 2, "c waited for a free slot");
        tokio::time::sleep(Duration::from_millis(11)).await;
        let c = s.poll().unwrap().unwrap();
        assert_eq!(c.get(&part(0)), Some(3));
    }
}
