//! The consumer's inbox: the fetch queues of the assigned partitions, each
//! kept apart and read many messages per call, in turns.
//!
//! rdkafka's `BaseConsumer::poll` returns one message per call through
//! librdkafka's event API; each call pays a queue lock, clock reads,
//! poll-interval bookkeeping and an allocation. librdkafka's
//! `rd_kafka_consume_batch_queue` takes up to a whole batch per call, but it
//! cannot read the consumer queue itself: it serves rebalance events without
//! the event handling rdkafka relies on (librdkafka would then unassign on
//! its own). So the consumer queue carries only group events, still served
//! by `BaseConsumer::poll`, and the messages are read from each partition's
//! own fetch queue.
//!
//! ## Why one queue per partition
//!
//! librdkafka's high-level consumer forwards every partition's fetch queue
//! into one queue, which then holds the messages in the order the fetch
//! responses brought them: a whole fetch's worth of one partition (up to
//! `max.partition.fetch.bytes`, thousands of small messages) before the next
//! partition's. Read from the front, a backlog on one partition starved the
//! others for as long as it lasted. Kept apart, the queues are read in
//! turns, one batch from each partition that has messages (round-robin by
//! batch), so every partition with a backlog gets its share.
//!
//! Each partition's fetch queue is detached from the consumer queue *before*
//! the partition is assigned (in the rebalance callback, see the `rebalance`
//! module): librdkafka then keeps it apart at every later fetch start, as it
//! keeps any forwarding the application set. Its prefetch limits
//! (`queued.min.messages`, `queued.max.messages.kbytes`) therefore apply to
//! each partition, as in librdkafka's legacy consumer. Seeks, pauses and
//! unassigns bump librdkafka's per-partition op version, and
//! `rd_kafka_consume_batch_queue` drops messages of an outdated version, as
//! `poll` does.
//!
//! The rebalance callback reaches the inbox through a [`Forwarding`] that
//! the consumer context holds: the context depends on this module, never
//! the other way, and the queue pointers never leave it. The cached
//! watermarks behind `Consumer::lag` are read here too. This is the crate's
//! only unsafe code.
#![allow(unsafe_code)]

use std::ffi::{CStr, CString, c_void};
use std::ptr::NonNull;
use std::sync::{Arc, Mutex, PoisonError};

use rdkafka::TopicPartitionList;
use rdkafka::bindings as rd;
use rdkafka::consumer::{BaseConsumer, Consumer as _, ConsumerContext};
use rdkafka::types::{RDKafkaErrorCode, RDKafkaRespErr};
use tokio::sync::Notify;

/// The inbox, owned by the consumer. It keeps the client alive, so the
/// librdkafka handle outlives the partition queues, and detaches itself
/// from the rebalance callback's [`Forwarding`] before they go.
pub(crate) struct Inbox<C: ConsumerContext + 'static> {
    /// Keeps the librdkafka handle alive until the queues are gone.
    _client: Arc<BaseConsumer<C>>,
    forwarding: Arc<Forwarding>,
    /// What the wake-up callbacks' argument points at; kept alive until the
    /// callbacks are disabled.
    _wake: Arc<Notify>,
    /// The partition queue to read first at the next take.
    next: usize,
    /// Message pointers of the batch being read (empty between reads).
    taken: Vec<*mut rd::rd_kafka_message_t>,
}

// SAFETY: librdkafka queues are thread-safe (every operation takes the
// queue's lock); `taken` is empty except while a `Batch` borrows the inbox
// mutably, and librdkafka messages may be destroyed on any thread.
unsafe impl<C: ConsumerContext> Send for Inbox<C> {}
// SAFETY: no `&self` operation touches a queue.
unsafe impl<C: ConsumerContext> Sync for Inbox<C> {}

impl<C: ConsumerContext> std::fmt::Debug for Inbox<C> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Inbox").finish_non_exhaustive()
    }
}

/// The partition queues of the inbox, while it exists: the rebalance
/// callback adds the queues of newly assigned partitions, the inbox reads
/// them. Locked while adding, so the inbox (which empties it under the same
/// lock before the queues go) cannot go meanwhile.
#[derive(Debug, Default)]
pub(crate) struct Forwarding(Mutex<Option<Queues>>);

impl Forwarding {
    /// Keeps the fetch queues of these partitions apart for the inbox, if
    /// there is one: called before they are assigned, so none of their
    /// messages reaches the consumer queue.
    pub(crate) fn forward<C: ConsumerContext>(
        &self,
        consumer: &BaseConsumer<C>,
        tpl: &TopicPartitionList,
    ) {
        let mut queues = self.lock();
        if let Some(queues) = queues.as_mut() {
            for e in tpl.elements() {
                queues.add(consumer, e.topic(), e.partition());
            }
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Option<Queues>> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The queue at `index` (modulo their number) and their number.
    fn queue(&self, index: usize) -> Option<(NonNull<rd::rd_kafka_queue_t>, usize)> {
        let queues = self.lock();
        let list = &queues.as_ref()?.list;
        let n = list.len();
        (n > 0).then(|| (list[index % n].queue, n))
    }
}

/// The partition queues and what their wake-up callback wakes.
#[derive(Debug)]
struct Queues {
    wake: NonNull<Notify>,
    list: Vec<PartitionQueue>,
}

// SAFETY: `wake` points at a `Notify` (itself `Sync`) that the inbox keeps
// alive while the queues exist; the queue handles are thread-safe.
unsafe impl Send for Queues {}

/// One partition's fetch queue: a handle of our own, destroyed by the inbox.
#[derive(Debug)]
struct PartitionQueue {
    queue: NonNull<rd::rd_kafka_queue_t>,
    topic: String,
    partition: i32,
}

impl Queues {
    /// Detaches the fetch queue of `topic`'s partition `partition` from the
    /// consumer queue and adds it to the inbox's, unless it is there already.
    /// librdkafka creates the partition's state if it is not known yet, and
    /// later fetch starts keep a forwarding the application set (here: none).
    fn add<C: ConsumerContext>(&mut self, consumer: &BaseConsumer<C>, topic: &str, partition: i32) {
        let Ok(name) = CString::new(topic) else {
            return;
        };
        // SAFETY: the client pointer is valid for the borrow of `consumer`;
        // `name` is a NUL-terminated string that outlives the call.
        let queue = unsafe {
            rd::rd_kafka_queue_get_partition(
                consumer.client().native_ptr(),
                name.as_ptr(),
                partition,
            )
        };
        let Some(queue) = NonNull::new(queue) else {
            tracing::warn!(
                topic,
                partition,
                "kafka: no queue for an assigned partition"
            );
            return;
        };
        let known = self
            .list
            .iter()
            .any(|q| q.partition == partition && q.topic == topic);
        // SAFETY: `queue` was just returned by librdkafka. Forwarding it to
        // nothing marks it as set by the application, so librdkafka never
        // forwards it to the consumer queue. The wake-up's opaque points at
        // the `Notify` the inbox keeps alive until it disabled the callback.
        // A duplicate handle is destroyed at once (the queue lives on).
        unsafe {
            if known {
                rd::rd_kafka_queue_destroy(queue.as_ptr());
                return;
            }
            rd::rd_kafka_queue_forward(queue.as_ptr(), std::ptr::null_mut());
            rd::rd_kafka_queue_cb_event_enable(
                queue.as_ptr(),
                Some(wake_up),
                self.wake.as_ptr().cast(),
            );
        }
        self.list.push(PartitionQueue {
            queue,
            topic: topic.to_owned(),
            partition,
        });
    }
}

/// Wakes the consumer's poll: a partition queue turned non-empty.
unsafe extern "C" fn wake_up(_: *mut rd::rd_kafka_t, opaque: *mut c_void) {
    // SAFETY: `opaque` points at the `Notify` the inbox keeps alive; the
    // inbox disables this callback (under the queue's lock, which librdkafka
    // holds while calling it) before letting it go.
    let notify = unsafe { &*opaque.cast_const().cast::<Notify>() };
    notify.notify_one();
}

impl<C: ConsumerContext> Inbox<C> {
    /// A new, empty inbox for `client`, attached to `forwarding` (the
    /// rebalance callback's); a message arriving in it wakes `wake`.
    pub(crate) fn new(
        client: &Arc<BaseConsumer<C>>,
        forwarding: Arc<Forwarding>,
        wake: Arc<Notify>,
    ) -> Inbox<C> {
        *forwarding.lock() = Some(Queues {
            wake: NonNull::from(&*wake),
            list: Vec::new(),
        });
        Inbox {
            _client: Arc::clone(client),
            forwarding,
            _wake: wake,
            next: 0,
            taken: Vec::new(),
        }
    }

    /// Takes up to `max` messages of one partition, without waiting: from
    /// the first partition queue that holds any, starting after the one
    /// the last batch came from. Empty when every queue is.
    pub(crate) fn take(&mut self, max: usize) -> Batch<'_, C> {
        self.taken.clear();
        self.taken.reserve(max);
        let mut tried = 0;
        while let Some((queue, n)) = self.forwarding.queue(self.next)
            && tried < n
        {
            tried += 1;
            self.next = (self.next % n) + 1;
            // SAFETY: the queue handle lives until this inbox drops (only
            // `drop` destroys handles); librdkafka writes at most `max`
            // message pointers into the reserved spare capacity.
            let got = unsafe {
                rd::rd_kafka_consume_batch_queue(queue.as_ptr(), 0, self.taken.as_mut_ptr(), max)
            };
            let got = usize::try_from(got).unwrap_or(0).min(max);
            if got > 0 {
                // SAFETY: librdkafka initialised the first `got` elements.
                unsafe { self.taken.set_len(got) };
                break;
            }
        }
        Batch { inbox: self }
    }
}

impl<C: ConsumerContext> Drop for Inbox<C> {
    fn drop(&mut self) {
        let Some(queues) = self.forwarding.lock().take() else {
            return;
        };
        for q in queues.list {
            // SAFETY: each handle is live and destroyed exactly once, here,
            // after its callback is disabled (so `_wake` is no longer
            // referenced); the rebalance callback can no longer add to the
            // list. The partitions stay apart from the consumer queue: what
            // reaches them now is discarded with them.
            unsafe {
                rd::rd_kafka_queue_cb_event_enable(q.queue.as_ptr(), None, std::ptr::null_mut());
                rd::rd_kafka_queue_destroy(q.queue.as_ptr());
            }
        }
    }
}

/// Messages taken from the inbox; each is destroyed when the batch drops.
pub(crate) struct Batch<'a, C: ConsumerContext + 'static> {
    inbox: &'a mut Inbox<C>,
}

impl<C: ConsumerContext> Batch<'_, C> {
    /// How many messages were taken.
    pub(crate) fn len(&self) -> usize {
        self.inbox.taken.len()
    }

    /// The messages, in the order librdkafka delivered them.
    pub(crate) fn iter(&self) -> impl Iterator<Item = Message<'_>> {
        self.inbox.taken.iter().map(|&ptr| {
            // SAFETY: librdkafka returned a valid message; it stays valid
            // until this batch destroys it, after every borrow ends.
            Message(unsafe { &*ptr })
        })
    }
}

impl<C: ConsumerContext> Drop for Batch<'_, C> {
    fn drop(&mut self) {
        for ptr in self.inbox.taken.drain(..) {
            // SAFETY: each message is destroyed once; no borrow outlives
            // the batch.
            unsafe { rd::rd_kafka_message_destroy(ptr) };
        }
    }
}

/// One message of a batch (or a consumer error in its place).
#[derive(Clone, Copy)]
pub(crate) struct Message<'a>(&'a rd::rd_kafka_message_t);

/// A byte field of a message: `None` for a null pointer.
///
/// # Safety
///
/// `ptr` must be null or point at `len` bytes that live for `'a`.
unsafe fn bytes<'a>(ptr: *const c_void, len: usize) -> Option<&'a [u8]> {
    if ptr.is_null() {
        None
    } else {
        // SAFETY: see the function's contract.
        Some(unsafe { std::slice::from_raw_parts(ptr.cast::<u8>(), len) })
    }
}

impl<'a> Message<'a> {
    /// The error this entry carries instead of a message, if any.
    pub(crate) fn error(self) -> Option<RDKafkaErrorCode> {
        (self.0.err != RDKafkaRespErr::RD_KAFKA_RESP_ERR_NO_ERROR).then(|| self.0.err.into())
    }

    /// Identifies the message's topic within one batch (its topic handle).
    pub(crate) fn topic_id(self) -> usize {
        self.0.rkt as usize
    }

    /// The message's topic name.
    pub(crate) fn topic(self) -> Option<&'a str> {
        if self.0.rkt.is_null() {
            return None;
        }
        // SAFETY: a message's topic handle lives at least as long as the
        // message; its name is a NUL-terminated string owned by it.
        let name = unsafe { rd::rd_kafka_topic_name(self.0.rkt) };
        if name.is_null() {
            return None;
        }
        // SAFETY: checked non-null above; see the previous comment.
        unsafe { CStr::from_ptr(name) }.to_str().ok()
    }

    /// The partition index.
    pub(crate) fn partition(self) -> i32 {
        self.0.partition
    }

    /// The offset.
    pub(crate) fn offset(self) -> i64 {
        self.0.offset
    }

    /// The key, if any.
    pub(crate) fn key(self) -> Option<&'a [u8]> {
        // SAFETY: librdkafka's key pointer and length describe the key,
        // owned by the message.
        unsafe { bytes(self.0.key, self.0.key_len) }
    }

    /// The value, if any.
    pub(crate) fn payload(self) -> Option<&'a [u8]> {
        // SAFETY: as for the key.
        unsafe { bytes(self.0.payload, self.0.len) }
    }

    /// The bytes of its key and value together.
    pub(crate) fn size(self) -> usize {
        self.key().map_or(0, <[u8]>::len) + self.payload().map_or(0, <[u8]>::len)
    }

    /// The message's timestamp in milliseconds since the epoch, if known.
    pub(crate) fn timestamp_ms(self) -> Option<i64> {
        // SAFETY: a valid message; a null type pointer is allowed.
        let ms = unsafe { rd::rd_kafka_message_timestamp(self.0, std::ptr::null_mut()) };
        (ms >= 0).then_some(ms)
    }

    /// Calls `f` with each header's name and value (`None`: a null value).
    pub(crate) fn for_each_header(self, mut f: impl FnMut(&str, Option<&[u8]>)) {
        let mut headers = std::ptr::null_mut();
        // SAFETY: a valid message; librdkafka parses its headers into
        // storage the message owns and sets `headers` on success.
        let err = unsafe { rd::rd_kafka_message_headers(self.0, &raw mut headers) };
        if err != RDKafkaRespErr::RD_KAFKA_RESP_ERR_NO_ERROR || headers.is_null() {
            return;
        }
        for idx in 0.. {
            let mut name = std::ptr::null();
            let mut value = std::ptr::null();
            let mut size = 0usize;
            // SAFETY: `headers` belongs to the message; librdkafka fills
            // the out-pointers for a valid index and fails past the end.
            let err = unsafe {
                rd::rd_kafka_header_get_all(
                    headers,
                    idx,
                    &raw mut name,
                    &raw mut value,
                    &raw mut size,
                )
            };
            if err != RDKafkaRespErr::RD_KAFKA_RESP_ERR_NO_ERROR || name.is_null() {
                return;
            }
            // SAFETY: a header name is a NUL-terminated string and its value
            // `size` bytes (or null), both owned by the message.
            let (name, value) = unsafe { (CStr::from_ptr(name), bytes(value, size)) };
            f(&name.to_string_lossy(), value);
        }
    }
}

/// The low and high watermarks librdkafka last saw for a partition (from
/// its fetch responses): no network round trip, nothing blocks. `None`
/// until the partition has been fetched from.
pub(crate) fn cached_watermarks<C: ConsumerContext>(
    consumer: &BaseConsumer<C>,
    topic: &str,
    partition: i32,
) -> Option<(i64, i64)> {
    let name = CString::new(topic).ok()?;
    let (mut low, mut high) = (-1i64, -1i64);
    // SAFETY: the client pointer is valid for the borrow of `consumer`;
    // `name` outlives the call; librdkafka only writes the two integers.
    let err = unsafe {
        rd::rd_kafka_get_watermark_offsets(
            consumer.client().native_ptr(),
            name.as_ptr(),
            partition,
            &raw mut low,
            &raw mut high,
        )
    };
    (err == RDKafkaRespErr::RD_KAFKA_RESP_ERR_NO_ERROR && high >= 0).then_some((low, high))
}
