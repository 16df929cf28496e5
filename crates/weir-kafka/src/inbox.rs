//! The consumer's inbox: a librdkafka queue of our own that every assigned
//! partition's messages are forwarded to, read many messages per call.
//!
//! rdkafka's `BaseConsumer::poll` returns one message per call through
//! librdkafka's event API; each call pays a queue lock, clock reads,
//! poll-interval bookkeeping and an allocation. librdkafka's
//! `rd_kafka_consume_batch_queue` takes up to a whole batch per call, but it
//! cannot read the consumer queue itself: it serves rebalance events without
//! the event handling rdkafka relies on (librdkafka would then unassign on
//! its own). So each partition's fetch queue is forwarded here, *before* the
//! partition is assigned (in the rebalance callback, see the `rebalance`
//! module), and the consumer queue carries only group events, still served
//! by `BaseConsumer::poll`. Seeks, pauses and unassigns bump librdkafka's
//! per-partition op version, and `rd_kafka_consume_batch_queue` drops
//! messages of an outdated version, as `poll` does.
//!
//! The rebalance callback reaches the inbox through a [`Forwarding`] that
//! the consumer context holds: the context depends on this module, never
//! the other way, and the queue pointer never leaves it. The cached
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
/// librdkafka handle outlives the queue, and detaches itself from the
/// rebalance callback's [`Forwarding`] before the queue goes.
pub(crate) struct Inbox<C: ConsumerContext + 'static> {
    queue: NonNull<rd::rd_kafka_queue_t>,
    /// Keeps the librdkafka handle alive until the queue is gone.
    _client: Arc<BaseConsumer<C>>,
    forwarding: Arc<Forwarding>,
    /// What the wake-up callback's argument points at; kept alive until the
    /// callback is disabled.
    _wake: Arc<Notify>,
    /// Message pointers of the batch being read (empty between reads).
    taken: Vec<*mut rd::rd_kafka_message_t>,
}

// SAFETY: librdkafka queues are thread-safe (every operation takes the
// queue's lock); `taken` is empty except while a `Batch` borrows the inbox
// mutably, and librdkafka messages may be destroyed on any thread.
unsafe impl<C: ConsumerContext> Send for Inbox<C> {}
// SAFETY: no `&self` operation touches the queue; the queue pointer is
// handed out only through `Forwarding`, for `rd_kafka_queue_forward`,
// itself thread-safe.
unsafe impl<C: ConsumerContext> Sync for Inbox<C> {}

impl<C: ConsumerContext> std::fmt::Debug for Inbox<C> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Inbox").finish_non_exhaustive()
    }
}

/// Where the rebalance callback forwards newly assigned partitions: the
/// inbox's queue while it exists. Locked while forwarding, so the inbox
/// (which clears it under the same lock before destroying its queue) cannot
/// go meanwhile.
#[derive(Debug, Default)]
pub(crate) struct Forwarding(Mutex<Option<Target>>);

impl Forwarding {
    /// Sends the messages of these partitions to the inbox, if there is one:
    /// called before they are assigned, so none reaches the consumer queue.
    pub(crate) fn forward<C: ConsumerContext>(
        &self,
        consumer: &BaseConsumer<C>,
        tpl: &TopicPartitionList,
    ) {
        let target = self.lock();
        if let Some(target) = *target {
            for e in tpl.elements() {
                target.forward(consumer, e.topic(), e.partition());
            }
        }
    }

    fn attach(&self, target: Option<Target>) {
        *self.lock() = target;
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Option<Target>> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// The inbox's queue, not owned.
#[derive(Debug, Clone, Copy)]
struct Target(NonNull<rd::rd_kafka_queue_t>);

// SAFETY: a plain pointer to a thread-safe librdkafka queue, used only while
// the inbox that owns the queue is attached (see `Inbox::drop`).
unsafe impl Send for Target {}

impl Target {
    /// Forwards the fetch queue of `topic`'s partition `partition` to the
    /// inbox. librdkafka creates the partition's state if it is not known
    /// yet, and later fetch starts keep a forwarding the application set.
    fn forward<C: ConsumerContext>(self, consumer: &BaseConsumer<C>, topic: &str, partition: i32) {
        let Ok(name) = CString::new(topic) else {
            return;
        };
        // SAFETY: the client pointer is valid for the borrow of `consumer`;
        // `name` is a NUL-terminated string that outlives the call.
        let source = unsafe {
            rd::rd_kafka_queue_get_partition(
                consumer.client().native_ptr(),
                name.as_ptr(),
                partition,
            )
        };
        let Some(source) = NonNull::new(source) else {
            tracing::warn!(
                topic,
                partition,
                "kafka: no queue for an assigned partition"
            );
            return;
        };
        // SAFETY: `source` was just returned by librdkafka and is destroyed
        // once; `self.0` is the live inbox queue (the inbox detaches this
        // target under the forwarding's lock before it destroys the queue,
        // and the callback holds that lock while forwarding). Destroying the
        // handle `source` keeps the forwarding (it belongs to the partition).
        unsafe {
            rd::rd_kafka_queue_forward(source.as_ptr(), self.0.as_ptr());
            rd::rd_kafka_queue_destroy(source.as_ptr());
        }
    }
}

/// Wakes the consumer's poll: the inbox turned non-empty.
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
    ) -> Option<Inbox<C>> {
        // SAFETY: the client pointer is valid while `client` lives.
        let queue = NonNull::new(unsafe { rd::rd_kafka_queue_new(client.client().native_ptr()) })?;
        // SAFETY: `queue` is live; the opaque points at the `Notify` in
        // `wake`, which the inbox keeps until `drop` disabled the callback.
        unsafe {
            rd::rd_kafka_queue_cb_event_enable(
                queue.as_ptr(),
                Some(wake_up),
                Arc::as_ptr(&wake).cast_mut().cast(),
            );
        }
        forwarding.attach(Some(Target(queue)));
        Some(Inbox {
            queue,
            _client: Arc::clone(client),
            forwarding,
            _wake: wake,
            taken: Vec::new(),
        })
    }

    /// Takes up to `max` messages already in the inbox, without waiting.
    pub(crate) fn take(&mut self, max: usize) -> Batch<'_, C> {
        self.taken.clear();
        self.taken.reserve(max);
        // SAFETY: the queue is live; librdkafka writes at most `max`
        // message pointers into the reserved spare capacity.
        let n = unsafe {
            rd::rd_kafka_consume_batch_queue(self.queue.as_ptr(), 0, self.taken.as_mut_ptr(), max)
        };
        let n = usize::try_from(n).unwrap_or(0).min(max);
        // SAFETY: librdkafka initialised the first `n` elements.
        unsafe { self.taken.set_len(n) };
        Batch { inbox: self }
    }
}

impl<C: ConsumerContext> Drop for Inbox<C> {
    fn drop(&mut self) {
        self.forwarding.attach(None);
        // SAFETY: the queue is live and destroyed exactly once, here, after
        // its callback is disabled (so `_wake` is no longer referenced) and
        // the rebalance callback can no longer forward to it. Destroying the
        // owner handle drops what it still holds; partitions still forwarded
        // to it then discard their messages.
        unsafe {
            rd::rd_kafka_queue_cb_event_enable(self.queue.as_ptr(), None, std::ptr::null_mut());
            rd::rd_kafka_queue_destroy(self.queue.as_ptr());
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
