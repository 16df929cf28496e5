//! Consuming from Kafka as a member of a consumer group.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer as _};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::{BorrowedMessage, Headers as _, Message as _};
use rdkafka::{Offset, TopicPartitionList};
use weir_core::{
    BrokerError, BrokerValue, CommitRequest, Consumer, ConsumerConfig, ConsumerEvent, Headers,
    OffsetReset, Partition, Payload, Topic,
};

use crate::KafkaConfig;
use crate::arena::Arena;
use crate::error::{self, BACKEND, Context};
use crate::inbox::{self, Inbox};
use crate::metadata;
use crate::rebalance::{GroupChange, GroupContext};

/// How long a closing consumer may take to settle its membership before it
/// leaves the group anyway (see [`KafkaConfig::settle_before_leaving`]).
const SETTLE_WITHIN: Duration = Duration::from_secs(10);

/// How long an idle poll waits before looking at the consumer queue again
/// even without a wake-up (a safety net; wake-ups normally come first).
const IDLE_RECHECK: Duration = Duration::from_millis(500);

/// How many messages one call takes from the inbox at most.
const TAKE_AT_MOST: usize = 1024;

type Client = Arc<BaseConsumer<GroupContext>>;

/// A member of a Kafka consumer group.
///
/// Offsets are committed only by [`Consumer::commit`] (auto-commit is off).
/// Group changes come from rdkafka's rebalance callbacks and are reported by
/// [`Consumer::poll`] before any message of the partitions concerned; a
/// revoked partition may still be committed until the next `poll` (see the
/// `rebalance` module for how). `poll` never blocks the runtime: it takes
/// what librdkafka has already fetched and otherwise waits for a wake-up.
///
/// Dropping it leaves the group (on a blocking thread), handing its
/// partitions to the other members; uncommitted messages are redelivered.
pub struct KafkaConsumer {
    client: Option<Client>,
    /// Where the assigned partitions' messages arrive (see the `inbox` module).
    inbox: Option<Inbox>,
    context: Arc<GroupContext>,
    config: KafkaConfig,
    group: ConsumerConfig,
    topics: Vec<Topic>,
    owned: BTreeMap<Partition, Owned>,
    /// Reported as revoked; still committable until the next poll.
    revoking: BTreeSet<Partition>,
    /// An assignment whose start offsets are being looked up.
    announcing: Option<Vec<Partition>>,
}

impl std::fmt::Debug for KafkaConsumer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KafkaConsumer")
            .field("group", &self.group.group_id())
            .field("topics", &self.topics)
            .field("assignment", &self.owned.keys().collect::<Vec<_>>())
            .field("closed", &self.client.is_none())
            .finish_non_exhaustive()
    }
}

/// The destination of a run of messages from one topic partition.
#[derive(Debug, Default)]
struct Route {
    /// The run's topic handle and partition index.
    key: Option<(usize, i32)>,
    /// The partition, if its messages are accepted.
    partition: Option<Partition>,
    /// The offset after the last accepted message.
    next: Option<u64>,
}

#[derive(Debug, Default)]
struct Owned {
    position: Option<u64>,
    paused: bool,
    /// A message arrived while paused and was set aside: seek back on resume.
    reseek: bool,
}

impl KafkaConsumer {
    pub(crate) fn new(config: KafkaConfig, group: ConsumerConfig) -> Result<Self, BrokerError> {
        let cx = Context::cluster(config.bootstrap());
        let mut base: BaseConsumer<GroupContext> = config
            .consumer_settings(&group)
            .create_with_context(GroupContext::default())
            .map_err(|e| error::from_kafka(e, cx))?;
        let wake = Arc::clone(&base.context().wake);
        base.set_nonempty_callback(move || wake.notify_one());
        let context = Arc::clone(base.context());
        let client = Arc::new(base);
        let inbox = Inbox::new(&client, Arc::clone(&context.wake)).ok_or_else(|| {
            BrokerError::backend(
                BACKEND,
                KafkaError::ClientCreation("no queue for messages".into()),
            )
        })?;
        Ok(KafkaConsumer {
            client: Some(client),
            inbox: Some(inbox),
            context,
            config,
            group,
            topics: Vec::new(),
            owned: BTreeMap::new(),
            revoking: BTreeSet::new(),
            announcing: None,
        })
    }

    /// How to settle before leaving: only for a subscribed member, when configured.
    fn settle(&self) -> Option<Duration> {
        self.config
            .settle_before_leaving()
            .filter(|_| !self.topics.is_empty())
    }

    fn client(&self) -> Result<&Client, BrokerError> {
        self.client.as_ref().ok_or(BrokerError::Closed("consumer"))
    }

    fn cx(&self) -> Context<'_> {
        Context::cluster(self.config.bootstrap())
    }

    fn owned(&self, p: &Partition) -> Result<(), BrokerError> {
        if self.owned.contains_key(p) {
            Ok(())
        } else {
            Err(BrokerError::NotAssigned {
                partition: p.clone(),
            })
        }
    }

    /// Reports the next group change, looking up where an assignment starts.
    async fn group_event(&mut self) -> Result<Option<ConsumerEvent>, BrokerError> {
        if self.announcing.is_none() {
            match self.context.next_change() {
                None => return Ok(None),
                Some(GroupChange::Revoked(set)) => {
                    for p in &set {
                        self.owned.remove(p);
                    }
                    self.revoking.extend(set.iter().cloned());
                    return Ok(Some(ConsumerEvent::Revoked(set)));
                }
                Some(GroupChange::Assigned(parts)) => self.announcing = Some(parts),
            }
        }
        let Some(parts) = self.announcing.clone() else {
            return Ok(None);
        };
        // Cancel-safe: `announcing` stays set until the offsets are known.
        let starts = self.start_offsets(parts).await?;
        self.announcing = None;
        for (p, start) in &starts {
            self.owned.insert(
                p.clone(),
                Owned {
                    position: Some(*start),
                    ..Owned::default()
                },
            );
        }
        Ok(Some(ConsumerEvent::Assigned(starts)))
    }

    /// Where reading starts on newly assigned partitions: the committed
    /// offset, else the reset policy's end of the log.
    async fn start_offsets(
        &self,
        parts: Vec<Partition>,
    ) -> Result<BTreeMap<Partition, u64>, BrokerError> {
        let client = Arc::clone(self.client()?);
        let timeout = self.config.request_timeout();
        let reset = self.group.offset_reset();
        let result = tokio::task::spawn_blocking(move || {
            let committed = client.committed_offsets(tpl_of(&parts, None), timeout)?;
            let mut starts = BTreeMap::new();
            for p in parts {
                let index = i32::try_from(p.index).unwrap_or(i32::MAX);
                let at = committed
                    .find_partition(p.topic.as_str(), index)
                    .map(|e| e.offset());
                let start = match at {
                    Some(Offset::Offset(n)) if n >= 0 => n,
                    _ => {
                        let (low, high) =
                            client.fetch_watermarks(p.topic.as_str(), index, timeout)?;
                        match reset {
                            OffsetReset::Earliest => low,
                            OffsetReset::Latest => high,
                        }
                    }
                };
                starts.insert(p, u64::try_from(start).unwrap_or(0));
            }
            Ok::<_, KafkaError>(starts)
        })
        .await
        .map_err(|e| BrokerError::backend(BACKEND, e))?;
        result.map_err(|e| error::from_kafka(e, self.cx()))
    }

    /// Takes up to `max_poll_records` messages librdkafka already fetched:
    /// first serves the consumer queue's group events (stopping at a group
    /// change, which is reported before any message), then takes messages
    /// from the inbox, many per call.
    fn fetch(&mut self) -> Result<Vec<BrokerValue<Payload>>, BrokerError> {
        let client = Arc::clone(self.client()?);
        let max = self.group.max_poll_records();
        let mut out = Vec::new();
        loop {
            let served = self.context.served();
            match client.poll(Duration::ZERO) {
                None if self.context.served() != served => {
                    if self.context.has_changes() {
                        return Ok(out);
                    }
                }
                None => break,
                // Messages arrive in the inbox; one reaching the consumer
                // queue is taken all the same.
                Some(Ok(msg)) => {
                    if let Some(value) = self.accept(&msg) {
                        out.push(value);
                    }
                }
                Some(Err(e)) => {
                    if let Some(fatal) = self.consume_error(e) {
                        return if out.is_empty() { Err(fatal) } else { Ok(out) };
                    }
                }
            }
        }
        let mut inbox = self.inbox.take().ok_or(BrokerError::Closed("consumer"))?;
        let taken = self.take_from(&mut inbox, max, &mut out);
        self.inbox = Some(inbox);
        taken.map(|()| out)
    }

    /// Moves messages from the inbox into `out` until it holds `max`, or the
    /// inbox is empty, or a fatal error (returned if `out` is still empty).
    /// A batch taken is always converted whole: librdkafka counts every
    /// message in it as consumed.
    fn take_from(
        &mut self,
        inbox: &mut Inbox,
        max: usize,
        out: &mut Vec<BrokerValue<Payload>>,
    ) -> Result<(), BrokerError> {
        while out.len() < max {
            let want = (max - out.len()).min(TAKE_AT_MOST);
            let batch = inbox.take(want);
            let taken = batch.len();
            out.reserve(taken);
            let mut arena = Arena::with_capacity(batch.iter().map(inbox::Message::size).sum());
            let mut route = Route::default();
            let mut fatal = None;
            for msg in batch.iter() {
                if let Some(code) = msg.error() {
                    let error = self.consume_error(KafkaError::MessageConsumption(code));
                    fatal = fatal.or(error);
                    continue;
                }
                let key = (msg.topic_id(), msg.partition());
                if route.key != Some(key) {
                    self.leave(std::mem::take(&mut route));
                    route = self.route(key, msg.topic());
                }
                let Some(partition) = &route.partition else {
                    continue;
                };
                let Ok(offset) = u64::try_from(msg.offset()) else {
                    continue;
                };
                route.next = Some(offset + 1);
                out.push(BrokerValue::new(
                    payload_of_raw(msg, &mut arena),
                    partition.clone(),
                    offset,
                    msg.timestamp_ms().map_or_else(SystemTime::now, time_of_ms),
                ));
            }
            self.leave(route);
            if let Some(fatal) = fatal {
                return if out.is_empty() { Err(fatal) } else { Ok(()) };
            }
            if taken < want {
                break;
            }
        }
        Ok(())
    }

    /// Where the messages of one topic partition go, looked up once per run
    /// of messages from it: nowhere if it is not owned, and nowhere (but
    /// marked for a seek back on resume) if it is paused.
    fn route(&mut self, key: (usize, i32), topic: Option<&str>) -> Route {
        let mut route = Route {
            key: Some(key),
            ..Route::default()
        };
        let Some(topic) = topic.and_then(|name| self.topics.iter().find(|t| t.as_str() == name))
        else {
            return route;
        };
        let Ok(index) = u32::try_from(key.1) else {
            return route;
        };
        let partition = topic.partition(index);
        match self.owned.get_mut(&partition) {
            Some(owned) if owned.paused => owned.reseek = true,
            Some(_) => route.partition = Some(partition),
            None => {}
        }
        route
    }

    /// Records how far a run of messages got.
    fn leave(&mut self, route: Route) {
        if let (Some(p), Some(next)) = (route.partition, route.next)
            && let Some(owned) = self.owned.get_mut(&p)
        {
            owned.position = Some(next);
        }
    }

    /// An error met while consuming: fatal ones are returned, others logged
    /// (librdkafka retries them itself).
    fn consume_error(&self, e: KafkaError) -> Option<BrokerError> {
        let code = e.rdkafka_error_code();
        let fatal = matches!(e, KafkaError::MessageConsumptionFatal(_))
            || code.is_some_and(error::is_unauthorized);
        if fatal {
            Some(error::from_kafka(e, self.cx()))
        } else {
            tracing::debug!(error = %e, "kafka: consumer error");
            None
        }
    }

    /// The message as a [`BrokerValue`], if this consumer owns its partition
    /// and has not paused it.
    fn accept(&mut self, msg: &BorrowedMessage<'_>) -> Option<BrokerValue<Payload>> {
        let topic = self.topics.iter().find(|t| t.as_str() == msg.topic())?;
        let index = u32::try_from(msg.partition()).ok()?;
        let offset = u64::try_from(msg.offset()).ok()?;
        let partition = topic.partition(index);
        let owned = self.owned.get_mut(&partition)?;
        if owned.paused {
            owned.reseek = true;
            return None;
        }
        owned.position = Some(offset + 1);
        Some(BrokerValue::new(
            payload_of(msg),
            partition,
            offset,
            timestamp_of(msg),
        ))
    }

    fn seek_to(&self, partition: &Partition, offset: u64) -> Result<(), BrokerError> {
        let client = self.client()?;
        let index = i32::try_from(partition.index).unwrap_or(i32::MAX);
        let at = i64::try_from(offset).unwrap_or(i64::MAX);
        client
            .seek(
                partition.topic.as_str(),
                index,
                Offset::Offset(at),
                Duration::ZERO,
            )
            .map_err(|e| error::from_kafka(e, self.cx().topic(&partition.topic)))?;
        self.context.wake.notify_one();
        Ok(())
    }

    /// Leaves the group on a blocking thread (librdkafka's close waits for
    /// it), first settling the membership when configured to.
    fn close_client(
        client: Client,
        inbox: Option<Inbox>,
        settle: Option<Duration>,
    ) -> impl FnOnce() + Send + 'static {
        move || {
            if let Some(quiet) = settle {
                settle_membership(&client, quiet);
            }
            if client.close_queue().is_ok() {
                while !client.closed() {
                    let _ = client.poll(Duration::from_millis(100));
                }
            }
            // Unread messages go before the client: librdkafka's destroy
            // waits for every message of it.
            drop(inbox);
            drop(client);
        }
    }
}

/// Polls until the member has held an assignment for `quiet`, so it does
/// not leave in the middle of a join or rebalance (see the `rebalance`
/// module). Messages read meanwhile are dropped uncommitted: the group
/// redelivers them.
fn settle_membership(client: &BaseConsumer<GroupContext>, quiet: Duration) {
    let deadline = Instant::now() + SETTLE_WITHIN;
    let mut settled_since: Option<Instant> = None;
    while Instant::now() < deadline {
        let _ = client.poll(Duration::from_millis(50));
        if client.context().settled() {
            let since = *settled_since.get_or_insert_with(Instant::now);
            if since.elapsed() >= quiet {
                return;
            }
        } else {
            settled_since = None;
        }
    }
}

/// A topic partition list of `parts`, at `offset` when given.
pub(crate) fn tpl_of(parts: &[Partition], offset: Option<&CommitRequest>) -> TopicPartitionList {
    let mut tpl = TopicPartitionList::with_capacity(parts.len());
    for p in parts {
        let index = i32::try_from(p.index).unwrap_or(i32::MAX);
        let mut e = tpl.add_partition(p.topic.as_str(), index);
        if let Some(o) = offset.and_then(|req| req.get(p)) {
            let _ = e.set_offset(Offset::Offset(i64::try_from(o).unwrap_or(i64::MAX)));
        }
    }
    tpl
}

fn payload_of(msg: &BorrowedMessage<'_>) -> Payload {
    let mut headers = Headers::new();
    if let Some(hs) = msg.headers() {
        for h in hs.iter() {
            let value = h.value.map(Bytes::copy_from_slice).unwrap_or_default();
            headers.insert(h.key, value);
        }
    }
    Payload {
        key: msg.key().map(Bytes::copy_from_slice),
        value: msg
            .payload()
            .map(Bytes::copy_from_slice)
            .unwrap_or_default(),
        headers,
    }
}

/// A message read from the inbox as a [`Payload`]: key and value copied
/// into the batch's arena, headers only when it has some.
fn payload_of_raw(msg: inbox::Message<'_>, arena: &mut Arena) -> Payload {
    let mut headers = Headers::new();
    msg.for_each_header(|name, value| {
        headers.insert(name, value.map(Bytes::copy_from_slice).unwrap_or_default());
    });
    Payload {
        key: msg.key().map(|key| arena.copy(key)),
        value: msg.payload().map(|v| arena.copy(v)).unwrap_or_default(),
        headers,
    }
}

fn time_of_ms(ms: i64) -> SystemTime {
    u64::try_from(ms).map_or_else(
        |_| SystemTime::now(),
        |ms| UNIX_EPOCH + Duration::from_millis(ms),
    )
}

fn timestamp_of(msg: &BorrowedMessage<'_>) -> SystemTime {
    msg.timestamp()
        .to_millis()
        .and_then(|ms| u64::try_from(ms).ok())
        .map(|ms| UNIX_EPOCH + Duration::from_millis(ms))
        .unwrap_or_else(SystemTime::now)
}

/// Whether a commit failed because the group moved on (this member no
/// longer owns what it tried to commit).
fn lost_ownership(code: RDKafkaErrorCode) -> bool {
    matches!(
        code,
        RDKafkaErrorCode::IllegalGeneration
            | RDKafkaErrorCode::UnknownMemberId
            | RDKafkaErrorCode::RebalanceInProgress
            | RDKafkaErrorCode::AssignmentLost
            | RDKafkaErrorCode::FencedInstanceId
            | RDKafkaErrorCode::State
    )
}

impl Consumer for KafkaConsumer {
    async fn subscribe(&mut self, topics: &[Topic]) -> Result<(), BrokerError> {
        let client = Arc::clone(self.client()?);
        for topic in topics {
            let (client, topic) = (Arc::clone(&client), topic.clone());
            let timeout = self.config.request_timeout();
            let bootstrap = self.config.bootstrap().to_owned();
            metadata::blocking(move || {
                metadata::partitions_now(client.client(), &topic, timeout, &bootstrap)
            })
            .await?;
        }
        let names: Vec<&str> = topics.iter().map(Topic::as_str).collect();
        client
            .subscribe(&names)
            .map_err(|e| error::from_kafka(e, self.cx()))?;
        self.topics = topics.to_vec();
        Ok(())
    }

    async fn poll(&mut self) -> Result<ConsumerEvent, BrokerError> {
        let client = Arc::clone(self.client()?);
        if self.topics.is_empty() {
            return Err(BrokerError::NotSubscribed);
        }
        // The caller had its chance to commit what was revoked: hand it over.
        if !self.revoking.is_empty() {
            self.revoking.clear();
        }
        self.context
            .hand_over(&client)
            .map_err(|e| error::from_kafka(e, self.cx()))?;
        loop {
            let wake = Arc::clone(&self.context.wake);
            let woken = wake.notified();
            tokio::pin!(woken);
            woken.as_mut().enable();
            if let Some(event) = self.group_event().await? {
                return Ok(event);
            }
            let batch = self.fetch()?;
            if !batch.is_empty() {
                return Ok(ConsumerEvent::Messages(batch));
            }
            if self.context.has_changes() {
                continue;
            }
            let _ = tokio::time::timeout(IDLE_RECHECK, woken).await;
        }
    }

    fn pause(&mut self, partitions: &[Partition]) -> Result<(), BrokerError> {
        for p in partitions {
            self.owned(p)?;
        }
        self.client()?
            .pause(&tpl_of(partitions, None))
            .map_err(|e| error::from_kafka(e, self.cx()))?;
        for p in partitions {
            if let Some(o) = self.owned.get_mut(p) {
                o.paused = true;
            }
        }
        Ok(())
    }

    fn resume(&mut self, partitions: &[Partition]) -> Result<(), BrokerError> {
        for p in partitions {
            self.owned(p)?;
        }
        self.client()?
            .resume(&tpl_of(partitions, None))
            .map_err(|e| error::from_kafka(e, self.cx()))?;
        for p in partitions {
            let reseek = match self.owned.get_mut(p) {
                Some(o) => {
                    o.paused = false;
                    std::mem::take(&mut o.reseek)
                        .then_some(o.position)
                        .flatten()
                }
                None => None,
            };
            if let Some(at) = reseek {
                self.seek_to(p, at)?;
            }
        }
        self.context.wake.notify_one();
        Ok(())
    }

    fn paused(&self) -> BTreeSet<Partition> {
        self.owned
            .iter()
            .filter(|(_, o)| o.paused)
            .map(|(p, _)| p.clone())
            .collect()
    }

    fn seek(&mut self, partition: &Partition, offset: u64) -> Result<(), BrokerError> {
        self.owned(partition)?;
        self.seek_to(partition, offset)?;
        if let Some(o) = self.owned.get_mut(partition) {
            o.position = Some(offset);
            o.reseek = false;
        }
        Ok(())
    }

    fn assignment(&self) -> BTreeSet<Partition> {
        self.owned.keys().cloned().collect()
    }

    fn position(&self, partition: &Partition) -> Option<u64> {
        self.owned.get(partition).and_then(|o| o.position)
    }

    /// The high watermark librdkafka last saw for the partition (from its
    /// fetch responses, no request) minus this consumer's position; `None`
    /// before the partition was fetched from, or when it is not owned.
    fn lag(&self, partition: &Partition) -> Option<u64> {
        let position = self.position(partition)?;
        let client = self.client.as_ref()?;
        let index = i32::try_from(partition.index).ok()?;
        let (_, high) = inbox::cached_watermarks(client, partition.topic.as_str(), index)?;
        Some(u64::try_from(high).ok()?.saturating_sub(position))
    }

    async fn commit(&mut self, offsets: &CommitRequest) -> Result<(), BrokerError> {
        if let Some((p, _)) = offsets
            .iter()
            .find(|(p, _)| !self.owned.contains_key(*p) && !self.revoking.contains(*p))
        {
            return Err(BrokerError::NotAssigned {
                partition: p.clone(),
            });
        }
        if offsets.is_empty() {
            return Ok(());
        }
        let parts: Vec<Partition> = offsets.iter().map(|(p, _)| p.clone()).collect();
        let tpl = tpl_of(&parts, Some(offsets));
        let client = Arc::clone(self.client()?);
        let result = tokio::task::spawn_blocking(move || client.commit(&tpl, CommitMode::Sync))
            .await
            .map_err(|e| BrokerError::backend(BACKEND, e))?;
        match result {
            Ok(()) => Ok(()),
            Err(e) if e.rdkafka_error_code().is_some_and(lost_ownership) => {
                Err(BrokerError::NotAssigned {
                    partition: parts[0].clone(),
                })
            }
            Err(e) => Err(error::from_kafka(e, self.cx())),
        }
    }

    async fn committed(
        &mut self,
        partitions: &[Partition],
    ) -> Result<BTreeMap<Partition, Option<u64>>, BrokerError> {
        let client = Arc::clone(self.client()?);
        let tpl = tpl_of(partitions, None);
        let timeout = self.config.request_timeout();
        let result = tokio::task::spawn_blocking(move || client.committed_offsets(tpl, timeout))
            .await
            .map_err(|e| BrokerError::backend(BACKEND, e))?;
        let tpl = result.map_err(|e| error::from_kafka(e, self.cx()))?;
        Ok(partitions
            .iter()
            .map(|p| {
                let index = i32::try_from(p.index).unwrap_or(i32::MAX);
                let at =
                    tpl.find_partition(p.topic.as_str(), index)
                        .and_then(|e| match e.offset() {
                            Offset::Offset(n) => u64::try_from(n).ok(),
                            _ => None,
                        });
                (p.clone(), at)
            })
            .collect())
    }

    async fn close(&mut self) -> Result<(), BrokerError> {
        let Some(client) = self.client.take() else {
            return Ok(());
        };
        self.context.start_closing();
        let handed = self.context.hand_over(&client);
        self.owned.clear();
        self.revoking.clear();
        let settle = self.settle();
        let inbox = self.inbox.take();
        tokio::task::spawn_blocking(Self::close_client(client, inbox, settle))
            .await
            .map_err(|e| BrokerError::backend(BACKEND, e))?;
        handed.map_err(|e| error::from_kafka(e, self.cx()))
    }
}

impl Drop for KafkaConsumer {
    fn drop(&mut self) {
        let Some(client) = self.client.take() else {
            return;
        };
        self.context.start_closing();
        let _ = self.context.hand_over(&client);
        let close = Self::close_client(client, self.inbox.take(), self.settle());
        match tokio::runtime::Handle::try_current() {
            Ok(rt) => drop(rt.spawn_blocking(close)),
            Err(_) => close(),
        }
    }
}
