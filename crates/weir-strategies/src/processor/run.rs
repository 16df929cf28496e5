//! The processor's loop.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::time::Duration;

use tokio::time::Instant;
use weir_core::{
    BrokerError, BrokerValue, CommitRequest, Consumer, ConsumerEvent, Filterable, Message,
    Partition, Payload, Polled, RecordBatch, Topic,
};

use super::backpressure::Backpressure;
use super::dlq::DeadLetter;
use super::invalid::{InvalidAction, InvalidCounts};
use super::metrics::{self as m, count, seconds};
use super::outage::Outage;
use super::raw_buffer::RawBuffer;
use super::{ProcessorError, ProcessorReport, StreamProcessor};
use crate::{
    Incoming, InvalidMessage, ProcessingStrategy, Progress, StrategyContext, StrategyError,
};

/// Why the hot submit loop stopped.
enum Stop {
    /// Nothing left to submit, or the pipeline is holding back.
    Drained,
    /// A message is invalid: the policy handles it, then submitting goes on.
    Invalid(InvalidMessage),
    /// The pipeline failed.
    Failed(StrategyError),
}

/// Everything one run of the loop keeps.
struct Run<C> {
    p: StreamProcessor<C>,
    strategy: Option<Box<dyn ProcessingStrategy<Payload>>>,
    progress: Progress,
    /// Partitions owned, with their start offsets.
    assignment: BTreeMap<Partition, u64>,
    /// Per partition, the offset committed last (or the start offset).
    committed: BTreeMap<Partition, u64>,
    uncommitted: CommitRequest,
    since_commit: u64,
    last_commit: Instant,
    /// Messages read but not yet submitted, in order, already in the shape
    /// the pipeline takes (converted in one pass per batch). The first is
    /// the one the pipeline rejected last, if it did.
    buffered: VecDeque<Incoming<Payload>>,
    /// Record batches the consumer lent, not yet taken by the pipeline
    /// (read before anything in `buffered`: the two never hold messages
    /// of one partition at once, as reading waits while either holds any).
    lent: VecDeque<RecordBatch>,
    /// Whether the pipeline takes lent batches (see
    /// [`ProcessingStrategy::submit_batch`]); learnt at its first batch.
    lending: bool,
    backpressure: Backpressure,
    /// Polling failing with transient errors, and when to poll again.
    poll_outage: Outage,
    poll_again_at: Option<Instant>,
    /// Partitions a commit found moved to another member: their work is
    /// dropped, and their messages discarded until the consumer reports
    /// them revoked or assigned again.
    lost: BTreeSet<Partition>,
    raw: Option<RawBuffer>,
    counts: InvalidCounts,
    report: ProcessorReport,
}

impl<C: Consumer> StreamProcessor<C> {
    /// Subscribes and processes until shut down (graceful: `Ok` with a report)
    /// or until something fails (`Err`, after committing only finished work).
    pub async fn run(mut self) -> Result<ProcessorReport, ProcessorError> {
        let signals = self
            .handle_signals
            .then(|| tokio::spawn(super::shutdown::on_signal(self.shutdown.clone())));
        let topics = std::mem::take(&mut self.topics);
        let raw = matches!(self.invalid.action, InvalidAction::DeadLetter(_))
            .then(|| RawBuffer::new(self.raw_buffer_limit));
        let mut run = Run {
            backpressure: Backpressure::new(self.pause_after),
            p: self,
            strategy: None,
            progress: Progress::new(),
            assignment: BTreeMap::new(),
            committed: BTreeMap::new(),
            uncommitted: CommitRequest::new(),
            since_commit: 0,
            last_commit: Instant::now(),
            buffered: VecDeque::new(),
            lent: VecDeque::new(),
            lending: true,
            poll_outage: Outage::new(),
            poll_again_at: None,
            lost: BTreeSet::new(),
            raw,
            counts: InvalidCounts::default(),
            report: ProcessorReport::default(),
        };
        let outcome = match run.subscribe(&topics).await {
            Ok(()) => run.run_loop().await,
            Err(e) => Err(e),
        };
        let outcome = match outcome {
            Ok(()) => run.finish().await,
            Err(e) => {
                run.abandon().await;
                Err(e)
            }
        };
        run.p.factory.shutdown();
        if let Err(e) = run.p.consumer.close().await {
            tracing::warn!(
                error = &e as &(dyn std::error::Error + 'static),
                "closing the consumer failed"
            );
        }
        if let Some(s) = signals {
            s.abort();
        }
        outcome.map(|()| run.report)
    }
}

impl<C: Consumer> Run<C> {
    /// Subscribes, retrying transient errors for the outage timeout (or
    /// until a shutdown is requested).
    async fn subscribe(&mut self, topics: &[Topic]) -> Result<(), ProcessorError> {
        let mut outage = Outage::new();
        loop {
            let e = match self.p.consumer.subscribe(topics).await {
                Ok(()) => return Ok(()),
                Err(e) if e.is_transient() => e,
                Err(e) => return Err(ProcessorError::Consumer(e)),
            };
            let now = Instant::now();
            let Some(wait) = outage.failed(now, self.p.outage_timeout) else {
                return Err(ProcessorError::Outage {
                    operation: "subscribing",
                    lasted: outage.lasted(now),
                    source: e,
                });
            };
            retrying("subscribing", &e, wait);
            tokio::select! {
                () = self.p.shutdown.requested() => return Ok(()),
                () = tokio::time::sleep(wait) => {}
            }
        }
    }

    async fn run_loop(&mut self) -> Result<(), ProcessorError> {
        while !self.p.shutdown.is_requested() {
            let started = Instant::now();
            self.progress.clear_due(started);
            self.poll_strategy().await?;
            if self.submit_buffered().await? > 0 {
                // Collect the positions of what the submits finished.
                self.poll_strategy().await?;
            }
            seconds(m::PROCESSING_SECONDS, started.elapsed());
            if self
                .p
                .commit_policy
                .is_due(self.last_commit, self.since_commit, Instant::now())
            {
                self.commit().await?;
            }
            if self.lost.iter().any(|p| self.assignment.contains_key(p)) {
                // A commit found partitions moved: a rebalance.
                self.rebuild(BTreeMap::new(), BTreeSet::new()).await?;
            }
            self.wait().await?;
        }
        Ok(())
    }

    /// Waits for the next thing to do: a consumer event, progress in the
    /// pipeline, a deadline, or a shutdown request.
    async fn wait(&mut self) -> Result<(), ProcessorError> {
        let mut deadline = self.progress.deadline();
        if !self.uncommitted.is_empty() {
            deadline = earliest(deadline, self.p.commit_policy.next_due(self.last_commit));
        }
        let holding = self.is_holding();
        if holding {
            deadline = earliest(deadline, self.backpressure.pause_at());
            deadline = earliest(deadline, Some(Instant::now() + self.p.retry_interval));
        }
        // After a failed poll, poll again only once the backoff is over.
        let may_poll = match self.poll_again_at {
            Some(at) if Instant::now() < at => {
                deadline = earliest(deadline, Some(at));
                false
            }
            _ => true,
        };
        // While holding a message, read more only once the partitions are
        // paused (then only group events arrive).
        let read = may_poll && (!holding || self.backpressure.is_paused());
        let sleep = async {
            match deadline {
                Some(d) => tokio::time::sleep_until(d).await,
                None => std::future::pending().await,
            }
        };
        let polled = Instant::now();
        let event = tokio::select! {
            biased;
            () = self.p.shutdown.requested() => None,
            () = self.progress.notified() => None,
            () = sleep => None,
            e = poll(&mut self.p.consumer, self.lending), if read => Some(e),
        };
        if let Some(event) = event {
            seconds(m::CONSUMER_POLL_SECONDS, polled.elapsed());
            match event {
                Ok(polled) => {
                    if self.poll_outage.is_active() {
                        tracing::info!("polling the consumer works again");
                        self.poll_outage.recovered();
                        self.poll_again_at = None;
                    }
                    match polled {
                        Polled::Event(event) => self.on_event(event).await?,
                        Polled::Batches(batches) => self.on_batches(batches),
                    }
                }
                Err(e) if e.is_transient() => self.poll_failed(e)?,
                Err(e) => return Err(ProcessorError::Consumer(e)),
            }
        }
        if holding && self.backpressure.should_pause(Instant::now()) {
            self.pause().await?;
        }
        Ok(())
    }

    /// A poll failed with a transient error: poll again after a backoff,
    /// unless it has been failing for the outage timeout.
    fn poll_failed(&mut self, e: BrokerError) -> Result<(), ProcessorError> {
        let now = Instant::now();
        let Some(wait) = self.poll_outage.failed(now, self.p.outage_timeout) else {
            return Err(ProcessorError::Outage {
                operation: "polling",
                lasted: self.poll_outage.lasted(now),
                source: e,
            });
        };
        retrying("polling", &e, wait);
        self.poll_again_at = Some(now + wait);
        Ok(())
    }

    /// Whether read messages wait for the pipeline.
    fn is_holding(&self) -> bool {
        !self.buffered.is_empty() || !self.lent.is_empty()
    }

    /// Keeps lent batches for the pipeline. (Only a pipeline that takes
    /// them is polled for them: one that declines gets the ones held as
    /// copies, in `submit_run`, and owned messages from then on.)
    fn on_batches(&mut self, mut batches: Vec<RecordBatch>) {
        if !self.lost.is_empty() {
            let lost = &self.lost;
            batches.retain(|b| !lost.contains(b.partition()));
        }
        if self.strategy.is_none() {
            return;
        }
        if let Some(raw) = &mut self.raw {
            for message in batches.iter().flat_map(RecordBatch::iter) {
                raw.remember(message);
            }
        }
        self.lent.extend(batches);
    }

    async fn on_event(&mut self, event: ConsumerEvent) -> Result<(), ProcessorError> {
        match event {
            ConsumerEvent::Messages(mut batch) => {
                if !self.lost.is_empty() {
                    let lost = &self.lost;
                    batch.retain(|m| !lost.contains(&m.partition));
                }
                if self.strategy.is_some() {
                    if let Some(raw) = &mut self.raw {
                        for message in &batch {
                            raw.remember(message.as_ref());
                        }
                    }
                    self.buffered.extend(batch.into_iter().map(incoming));
                }
            }
            ConsumerEvent::Assigned(added) => {
                count(m::ASSIGNED_TOTAL, added.len() as u64);
                self.lost.retain(|p| !added.contains_key(p));
                self.rebuild(added, BTreeSet::new()).await?;
            }
            ConsumerEvent::Revoked(revoked) => {
                count(m::REVOKED_TOTAL, revoked.len() as u64);
                self.lost.retain(|p| !revoked.contains(p));
                self.rebuild(BTreeMap::new(), revoked).await?;
            }
        }
        Ok(())
    }

    /// Joins the pipeline, commits what finished, rewinds the partitions kept
    /// to their committed offsets, and builds a pipeline for the new assignment.
    ///
    /// Partitions a commit found moved to another member are dropped like
    /// revoked ones, unless the consumer still owns them (the refusal was
    /// about a rebalance that left them here): those are rewound and kept.
    async fn rebuild(
        &mut self,
        added: BTreeMap<Partition, u64>,
        mut revoked: BTreeSet<Partition>,
    ) -> Result<(), ProcessorError> {
        self.join_strategy().await?;
        self.commit().await?;
        if !self.lost.is_empty() {
            let owned = self.p.consumer.assignment();
            let lost = std::mem::take(&mut self.lost);
            for p in lost {
                if !self.assignment.contains_key(&p) {
                    self.lost.insert(p);
                } else if !owned.contains(&p) {
                    revoked.insert(p.clone());
                    self.lost.insert(p);
                }
            }
        }
        self.buffered.clear();
        self.lent.clear();
        self.lending = true;
        if let Some(raw) = &mut self.raw {
            raw.clear();
        }
        if self.backpressure.reset() {
            self.resume_all_paused()?;
        }
        for p in &revoked {
            self.assignment.remove(p);
            self.committed.remove(p);
        }
        let mut moved = Vec::new();
        for (p, offset) in &self.committed {
            match self.p.consumer.seek(p, *offset) {
                Ok(()) => {}
                Err(BrokerError::NotAssigned { .. }) => moved.push(p.clone()),
                Err(e) => return Err(ProcessorError::Consumer(e)),
            }
        }
        for p in moved {
            // Gone from under the consumer; its next poll says so.
            self.assignment.remove(&p);
            self.committed.remove(&p);
            revoked.insert(p.clone());
            self.lost.insert(p);
        }
        for (p, offset) in added {
            self.committed.insert(p.clone(), offset);
            self.assignment.insert(p, offset);
        }
        self.p
            .factory
            .partitions_changed(&self.assignment, &revoked);
        if !self.assignment.is_empty() {
            let ctx = StrategyContext::new(self.committed.clone());
            let mut strategy = self.p.factory.create(&ctx);
            strategy.attach(&self.progress);
            self.strategy = Some(strategy);
            self.report.pipelines += 1;
        }
        Ok(())
    }

    async fn poll_strategy(&mut self) -> Result<(), ProcessorError> {
        loop {
            let Some(s) = &mut self.strategy else {
                return Ok(());
            };
            match s.poll() {
                Ok(commits) => {
                    if let Some(c) = commits {
                        self.uncommitted.merge_in(c);
                    }
                    return Ok(());
                }
                Err(StrategyError::Invalid(i)) => self.on_invalid(i).await?,
                Err(e) => return Err(ProcessorError::Strategy(e)),
            }
        }
    }

    /// Submits the held message and the buffered ones until the pipeline
    /// rejects one; returns how many it took.
    async fn submit_buffered(&mut self) -> Result<u64, ProcessorError> {
        let mut submitted = 0u64;
        let result = loop {
            let (n, stop) = self.submit_run();
            submitted += n;
            match stop {
                Stop::Drained => break Ok(()),
                Stop::Invalid(i) => {
                    if let Err(e) = self.on_invalid(i).await {
                        break Err(e);
                    }
                }
                Stop::Failed(e) => break Err(ProcessorError::Strategy(e)),
            }
        };
        self.since_commit += submitted;
        self.report.messages += submitted;
        count(m::MESSAGES_TOTAL, submitted);
        if !self.is_holding() && self.backpressure.is_active() {
            let (resume, lasted) = self.backpressure.accepted(Instant::now());
            if let Some(d) = lasted {
                seconds(m::BACKPRESSURE_SECONDS, d);
            }
            if resume {
                self.resume_all_paused()?;
            }
        }
        result.map(|()| submitted)
    }

    /// The hot loop, kept free of awaits: submits until nothing is held,
    /// the pipeline rejects a message (it stays first in line), or a
    /// message fails. Lent batches go first.
    fn submit_run(&mut self) -> (u64, Stop) {
        let Run {
            strategy,
            buffered,
            lent,
            lending,
            counts,
            backpressure,
            ..
        } = self;
        let Some(strategy) = strategy.as_mut() else {
            return (0, Stop::Drained);
        };
        let mut taken = 0u64;
        while let Some(batch) = lent.front_mut() {
            let before = batch.len();
            let Some(result) = strategy.submit_batch(batch) else {
                // The pipeline wants its messages owned, now and later.
                *lending = false;
                debug_assert!(buffered.is_empty(), "lent and owned messages held at once");
                let copies = lent.drain(..).flat_map(|b| b.to_messages());
                buffered.extend(copies.map(incoming));
                break;
            };
            let rest = batch.len();
            if rest == 0 {
                lent.pop_front();
            }
            let (n, stop) = settle(result, before - rest, rest > 0, counts, backpressure);
            taken += n;
            if rest > 0 || !matches!(stop, Stop::Drained) {
                return (taken, stop);
            }
        }
        let before = buffered.len();
        let result = strategy.submit_all(buffered);
        let rest = buffered.len();
        let (n, stop) = settle(result, before - rest, rest > 0, counts, backpressure);
        (taken + n, stop)
    }

    async fn on_invalid(&mut self, invalid: InvalidMessage) -> Result<(), ProcessorError> {
        self.report.invalid += 1;
        let limit = self.counts.invalid(&self.p.invalid);
        let action = match &self.p.invalid.action {
            InvalidAction::Fail => "fail",
            InvalidAction::Skip => "skip",
            InvalidAction::DeadLetter(_) => "dead_letter",
        };
        metrics::counter!(m::INVALID_TOTAL, "action" => action).increment(1);
        match &self.p.invalid.action {
            InvalidAction::Fail => return Err(ProcessorError::Invalid(invalid)),
            InvalidAction::Skip => {
                tracing::warn!(%invalid, "skipping an invalid message");
            }
            InvalidAction::DeadLetter(queue) => {
                let letters = match &self.raw {
                    Some(raw) => raw.dead_letters(&invalid),
                    None => vec![DeadLetter::unknown(&invalid)],
                };
                let records = letters.len();
                for letter in letters {
                    if let Err(source) = queue.send(letter, &invalid.reason).await {
                        return Err(ProcessorError::DeadLetter { invalid, source });
                    }
                    self.report.dead_lettered += 1;
                }
                tracing::warn!(%invalid, records, topic = %queue.topic(), "sent an invalid message to the dead-letter topic");
            }
        }
        match limit {
            Some(limit) => Err(ProcessorError::TooManyInvalid {
                limit,
                last: invalid,
            }),
            None => Ok(()),
        }
    }

    async fn pause(&mut self) -> Result<(), ProcessorError> {
        let parts: Vec<Partition> = self.assignment.keys().cloned().collect();
        if let Err(source) = self.p.consumer.pause(&parts) {
            return Err(ProcessorError::Pause {
                partitions: parts,
                source,
            });
        }
        self.report.pauses += 1;
        count(m::PAUSES_TOTAL, 1);
        tracing::debug!(partitions = parts.len(), "backpressure: partitions paused");
        Ok(())
    }

    fn resume_all_paused(&mut self) -> Result<(), ProcessorError> {
        let paused: Vec<Partition> = self
            .p
            .consumer
            .paused()
            .into_iter()
            .filter(|p| self.assignment.contains_key(p))
            .collect();
        if paused.is_empty() {
            return Ok(());
        }
        if let Err(source) = self.p.consumer.resume(&paused) {
            return Err(ProcessorError::Pause {
                partitions: paused,
                source,
            });
        }
        count(m::RESUMES_TOTAL, 1);
        Ok(())
    }

    /// Closes and joins the pipeline, keeping the commits it returns.
    async fn join_strategy(&mut self) -> Result<(), ProcessorError> {
        let Some(mut strategy) = self.strategy.take() else {
            return Ok(());
        };
        let started = Instant::now();
        strategy.close();
        let joined = strategy.join(self.p.join_timeout).await;
        seconds(m::JOIN_SECONDS, started.elapsed());
        match joined {
            Ok(c) => {
                if let Some(c) = c {
                    self.uncommitted.merge_in(c);
                }
                Ok(())
            }
            Err(StrategyError::Invalid(i)) => self.on_invalid(i).await,
            Err(e) => Err(ProcessorError::Strategy(e)),
        }
    }

    /// Commits what is ready (positions of partitions still owned),
    /// retrying transient errors for the outage timeout.
    async fn commit(&mut self) -> Result<(), ProcessorError> {
        self.commit_within(self.p.outage_timeout).await
    }

    /// Commits what is ready, retrying transient errors for `limit` (for at
    /// most the final commit's limit once a shutdown is requested). A
    /// partition the broker says moved to another member is dropped from
    /// the commit and marked lost.
    async fn commit_within(&mut self, limit: Duration) -> Result<(), ProcessorError> {
        self.since_commit = 0;
        self.last_commit = Instant::now();
        if self.uncommitted.is_empty() {
            return Ok(());
        }
        let mut req: CommitRequest = std::mem::take(&mut self.uncommitted)
            .into_iter()
            .filter(|(p, o)| {
                self.assignment.contains_key(p)
                    && !self.lost.contains(p)
                    && self.committed.get(p).is_none_or(|c| o > c)
            })
            .collect();
        let mut outage = Outage::new();
        loop {
            if req.is_empty() {
                return Ok(());
            }
            let e = match self.p.consumer.commit(&req).await {
                Ok(()) => break,
                Err(e) => e,
            };
            if let BrokerError::NotAssigned { partition } = &e
                && let Some(dropped) = req.remove(partition)
            {
                tracing::warn!(
                    %partition,
                    offset = dropped,
                    "the partition moved to another member before its commit: its unfinished work is dropped"
                );
                self.lost.insert(partition.clone());
                continue;
            }
            if !e.is_transient() {
                self.uncommitted.merge_in(req);
                return Err(ProcessorError::Commit(e));
            }
            let now = Instant::now();
            let limit = if self.p.shutdown.is_requested() {
                limit.min(self.final_commit_limit())
            } else {
                limit
            };
            let Some(wait) = outage.failed(now, limit) else {
                self.uncommitted.merge_in(req);
                return Err(ProcessorError::Outage {
                    operation: "committing",
                    lasted: outage.lasted(now),
                    source: e,
                });
            };
            retrying("committing", &e, wait);
            let shutdown = self.p.shutdown.clone();
            tokio::select! {
                // A shutdown shortens the limit: look again at once.
                () = shutdown.requested(), if !shutdown.is_requested() => {}
                () = tokio::time::sleep(wait) => {}
            }
        }
        self.report.commits += 1;
        count(m::COMMITS_TOTAL, 1);
        for (p, o) in req.iter() {
            self.committed.insert(p.clone(), o);
            if let Some(raw) = &mut self.raw {
                raw.committed(p, o);
            }
            if let Some(lag) = self.p.consumer.lag(p) {
                metrics::gauge!(m::CONSUMER_LAG, "partition" => p.to_string()).set(lag as f64);
            }
        }
        Ok(())
    }

    /// A graceful stop: join, commit everything finished.
    async fn finish(&mut self) -> Result<(), ProcessorError> {
        let joined = self.join_strategy().await;
        let committed = self.commit_within(self.final_commit_limit()).await;
        joined.and(committed)
    }

    /// How long the commit at shutdown retries transient errors: the outage
    /// timeout, but no longer than the join timeout.
    fn final_commit_limit(&self) -> Duration {
        self.p
            .join_timeout
            .map_or(self.p.outage_timeout, |j| j.min(self.p.outage_timeout))
    }

    /// A stop after a failure: abandon the pipeline, commit only the
    /// positions it returned before failing (all finished work).
    async fn abandon(&mut self) {
        if let Some(mut s) = self.strategy.take() {
            // Positions a step returns cover finished work only: keep them.
            if let Ok(Some(c)) = s.poll() {
                self.uncommitted.merge_in(c);
            }
            s.terminate();
        }
        if let Err(e) = self.commit_within(Duration::ZERO).await {
            tracing::warn!(
                error = &e as &(dyn std::error::Error + 'static),
                "committing finished work after a failure failed"
            );
        }
    }
}

/// A message as read, in the shape the pipeline takes.
#[inline(always)]
fn incoming(message: BrokerValue<Payload>) -> Incoming<Payload> {
    Message::Broker(BrokerValue {
        payload: Filterable::Payload(message.payload),
        partition: message.partition,
        offset: message.offset,
        timestamp: message.timestamp,
    })
}

/// What one submit call of the hot loop comes to, given the `taken`
/// messages it took and whether some are left over (the pipeline is at
/// capacity): how many count as submitted, and why it stopped.
fn settle(
    result: Result<(), StrategyError>,
    taken: usize,
    left_over: bool,
    counts: &mut InvalidCounts,
    backpressure: &mut Backpressure,
) -> (u64, Stop) {
    let taken = taken as u64;
    match result {
        Ok(()) => {
            counts.valid(taken);
            if left_over {
                backpressure.rejected(Instant::now());
            }
            (taken, Stop::Drained)
        }
        // The invalid message counts as submitted, but not as valid.
        Err(StrategyError::Invalid(i)) => {
            counts.valid(taken.saturating_sub(1));
            (taken, Stop::Invalid(i))
        }
        Err(e) => (taken.saturating_sub(1), Stop::Failed(e)),
    }
}

/// Polls for lent batches while the pipeline takes them, for owned
/// messages otherwise.
async fn poll<C: Consumer>(consumer: &mut C, lending: bool) -> Result<Polled, BrokerError> {
    if lending {
        consumer.poll_batches().await
    } else {
        consumer.poll().await.map(Polled::Event)
    }
}

/// Logs a transient broker error about to be retried.
fn retrying(operation: &'static str, e: &BrokerError, wait: Duration) {
    tracing::warn!(
        error = e as &(dyn std::error::Error + 'static),
        operation,
        retry_in = ?wait,
        "the broker failed; retrying"
    );
}

fn earliest(a: Option<Instant>, b: Option<Instant>) -> Option<Instant> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, None) => a,
        (None, b) => b,
    }
}
