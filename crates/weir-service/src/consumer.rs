//! Consumer specs: what a service reads, how, and who handles it.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Instant;

use serde::de::DeserializeOwned;
use weir_core::{Payload, Topic};
use weir_strategies::TaskError;

use crate::metrics::ConsumerLabels;
use crate::rate_gate::RateGate;
use crate::{Context, HandlerError, Received, RetryPolicy};

pub(crate) type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send>>;

/// A handler over raw payloads: decode, call the user's handler with
/// retries, and say what the processor should do with the message.
pub(crate) type RawHandler =
    Arc<dyn Fn(Payload, Context, Attempts) -> BoxFuture<Result<(), TaskError>> + Send + Sync>;

/// What one handler call needs beside the message: the retry policy, the
/// consumer's rate gate and its metric labels.
#[derive(Clone)]
pub(crate) struct Attempts {
    pub(crate) retry: RetryPolicy,
    pub(crate) gate: RateGate,
    pub(crate) labels: ConsumerLabels,
}

/// A consumer a service declares: its name (metrics label, health entry),
/// topic, consumer group, the typed handler and how many messages it
/// handles at once.
///
/// The handler takes the decoded [`Received`] value and the service's
/// [`Context`]. A message that does not decode as `T`, and one whose
/// handler keeps failing past the [`RetryPolicy`], goes to the dead-letter
/// topic (`<topic>.dlq` unless set) with its original bytes.
///
/// ```
/// use weir_service::{ConsumerSpec, Context, HandlerError, Received};
/// let spec = ConsumerSpec::new("lines", "text-lines", |line: Received<String>, _ctx: Context| async move {
///     if line.value.is_empty() {
///         return Err(HandlerError::invalid("an empty line"));
///     }
///     Ok(())
/// })
/// .group("line-readers")
/// .concurrency(8);
/// # let _ = spec;
/// ```
#[derive(Clone)]
pub struct ConsumerSpec {
    pub(crate) name: String,
    pub(crate) topic: Topic,
    pub(crate) group: Option<String>,
    pub(crate) concurrency: Option<usize>,
    pub(crate) partitions: u32,
    pub(crate) retry: RetryPolicy,
    pub(crate) dead_letter: Option<Topic>,
    pub(crate) handler: RawHandler,
}

impl std::fmt::Debug for ConsumerSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConsumerSpec")
            .field("name", &self.name)
            .field("topic", &self.topic)
            .field("group", &self.group)
            .field("concurrency", &self.concurrency)
            .field("retry", &self.retry)
            .finish_non_exhaustive()
    }
}

impl ConsumerSpec {
    /// A consumer called `name` reading `topic`, decoding each message as
    /// `T` with the service's encoding and handing it to `handler`.
    pub fn new<T, F, Fut>(name: impl Into<String>, topic: impl Into<Topic>, handler: F) -> Self
    where
        T: DeserializeOwned + Send + 'static,
        F: Fn(Received<T>, Context) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<(), HandlerError>> + Send + 'static,
    {
        let handler = Arc::new(handler);
        let raw: RawHandler =
            Arc::new(move |payload: Payload, ctx: Context, attempts: Attempts| {
                let handler = Arc::clone(&handler);
                Box::pin(async move {
                    let value: T = ctx.encoding().decode(&payload.value).map_err(|e| {
                        attempts.labels.processed("dead_lettered");
                        TaskError::invalid(format!(
                            "cannot decode as {}: {e}",
                            std::any::type_name::<T>()
                        ))
                    })?;
                    // Each further attempt decodes the bytes again: no `Clone` asked of `T`.
                    let mut first = Some(value);
                    handle_with_retries(&attempts, || {
                        let value = match first.take() {
                            Some(v) => Ok(v),
                            None => ctx.encoding().decode::<T>(&payload.value),
                        };
                        let call = value.map(|v| {
                            let received =
                                Received::new(v, payload.key.clone(), payload.headers.clone());
                            handler(received, ctx.clone())
                        });
                        async move {
                            match call {
                                Ok(call) => call.await,
                                Err(e) => Err(HandlerError::invalid(e.to_string())),
                            }
                        }
                    })
                    .await
                })
            });
        ConsumerSpec::from_raw(name.into(), topic.into(), raw)
    }

    pub(crate) fn from_raw(name: String, topic: Topic, handler: RawHandler) -> Self {
        ConsumerSpec {
            name,
            topic,
            group: None,
            concurrency: None,
            partitions: 4,
            retry: RetryPolicy::default(),
            dead_letter: None,
            handler,
        }
    }

    /// The consumer group (default: the service's id). Instances of a
    /// service in one group share the topic's partitions.
    pub fn group(mut self, group: impl Into<String>) -> Self {
        self.group = Some(group.into());
        self
    }

    /// How many messages are handled at once (default: the service's
    /// concurrency, `--concurrency` on the command line).
    pub fn concurrency(mut self, n: usize) -> Self {
        self.concurrency = Some(n.max(1));
        self
    }

    /// Retries of a failed handler (default: [`RetryPolicy::default`]).
    pub fn retry(mut self, policy: RetryPolicy) -> Self {
        self.retry = policy;
        self
    }

    /// Where messages go that cannot be handled (default: `<topic>.dlq`).
    pub fn dead_letter_topic(mut self, topic: impl Into<Topic>) -> Self {
        self.dead_letter = Some(topic.into());
        self
    }

    /// Partitions of the topic when the service creates it (default 4).
    pub fn partitions(mut self, n: u32) -> Self {
        self.partitions = n;
        self
    }

    /// The consumer's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The dead-letter topic.
    pub fn dead_letter(&self) -> Topic {
        self.dead_letter
            .clone()
            .unwrap_or_else(|| Topic::new(format!("{}.dlq", self.topic)))
    }
}

/// Calls `attempt` until it succeeds, retrying failures with backoff up to
/// the policy's limit and waiting out rate limits (which do not count), and
/// turns the outcome into what the processor does with the message.
pub(crate) async fn handle_with_retries<F, Fut>(
    attempts: &Attempts,
    mut attempt: F,
) -> Result<(), TaskError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<(), HandlerError>>,
{
    let labels = &attempts.labels;
    let started = Instant::now();
    let mut failures = 0u32;
    let outcome = loop {
        attempts.gate.open().await;
        match attempt().await {
            Ok(()) => {
                labels.processed("ok");
                break Ok(());
            }
            Err(HandlerError::RateLimited { retry_after }) => {
                labels.rate_limited();
                tracing::debug!(consumer = %labels.consumer, ?retry_after, "rate limited: pausing the consumer");
                attempts.gate.pause_for(retry_after);
            }
            Err(HandlerError::Failed(e)) => {
                labels.processed("error");
                failures += 1;
                let reason = weir_core::ErrorReport::new(e.as_ref()).to_string();
                if failures >= attempts.retry.max_attempts() {
                    labels.processed("dead_lettered");
                    break Err(TaskError::invalid(format!(
                        "the handler failed {failures} times, last: {reason}"
                    )));
                }
                let wait = attempts.retry.backoff(failures);
                tracing::warn!(consumer = %labels.consumer, failures, ?wait, error = %reason, "handler failed: retrying");
                tokio::time::sleep(wait).await;
            }
            Err(HandlerError::Invalid(reason)) => {
                labels.processed("dead_lettered");
                break Err(TaskError::invalid(reason));
            }
            Err(HandlerError::Fatal(e)) => {
                labels.processed("error");
                break Err(TaskError::fatal(e));
            }
        }
    };
    labels.duration(started.elapsed().as_secs_f64());
    outcome
}
