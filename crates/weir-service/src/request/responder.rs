//! The server side of request/response: consumers that answer.

use std::future::Future;
use std::marker::PhantomData;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use serde::Serialize;
use serde::de::DeserializeOwned;
use weir_core::{Destination, Payload, Topic};
use weir_strategies::TaskError;

use super::wire::{HEADER_CORRELATION_ID, HEADER_END_OF_STREAM, HEADER_ERROR, HEADER_REPLY_TO};
use crate::consumer::{Attempts, RawHandler, handle_with_retries};
use crate::{ConsumerSpec, Context, HandlerError, Received, ServiceError};

/// Where a request's responses go, and with which correlation id.
#[derive(Clone, Debug)]
struct ReplyAddress {
    topic: Topic,
    id: String,
}

impl ReplyAddress {
    fn of(payload: &Payload) -> Result<Self, String> {
        let header = |name: &str| {
            payload
                .headers
                .get(name)
                .and_then(|v| std::str::from_utf8(v).ok())
                .map(str::to_owned)
                .ok_or_else(|| format!("a request without the `{name}` header"))
        };
        Ok(ReplyAddress {
            topic: Topic::new(header(HEADER_REPLY_TO)?),
            id: header(HEADER_CORRELATION_ID)?,
        })
    }
}

/// Sends the responses of one request (a stream of them, for a streaming
/// responder), each with the request's correlation id.
pub struct Reply<T> {
    address: ReplyAddress,
    ctx: Context,
    /// Set once the end-of-stream marker went out.
    ended: Arc<AtomicBool>,
    types: PhantomData<fn(T)>,
}

impl<T> std::fmt::Debug for Reply<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Reply")
            .field("topic", &self.address.topic)
            .field("id", &self.address.id)
            .finish()
    }
}

impl<T: Serialize> Reply<T> {
    /// Sends one response.
    ///
    /// # Errors
    ///
    /// [`ServiceError::Codec`] if it cannot be encoded,
    /// [`ServiceError::Broker`] if the broker refuses it.
    pub async fn send(&self, value: &T) -> Result<(), ServiceError> {
        self.send_payload(self.encode(value)?).await
    }

    /// `value` as a response payload.
    fn encode(&self, value: &T) -> Result<Payload, ServiceError> {
        let bytes = self
            .ctx
            .encoding()
            .encode(value)
            .map_err(|source| ServiceError::Codec {
                what: format!("encoding the response to request `{}`", self.address.id),
                source,
            })?;
        Ok(Payload::new(bytes))
    }

    /// Sends the last response, marked end-of-stream: a unary answer is
    /// one message.
    async fn send_last(&self, value: &T) -> Result<(), ServiceError> {
        self.send_payload(self.encode(value)?.with_header(HEADER_END_OF_STREAM, "1"))
            .await?;
        self.ended.store(true, Ordering::SeqCst);
        Ok(())
    }

    /// Ends the stream, unless the last response already did.
    async fn end(&self) -> Result<(), ServiceError> {
        if self.ended.load(Ordering::SeqCst) {
            return Ok(());
        }
        self.send_payload(Payload::default().with_header(HEADER_END_OF_STREAM, "1"))
            .await
    }

    async fn fail(&self, reason: &str) -> Result<(), ServiceError> {
        self.send_payload(
            Payload::default()
                .with_header(HEADER_ERROR, reason.to_owned())
                .with_header(HEADER_END_OF_STREAM, "1"),
        )
        .await
    }

    async fn send_payload(&self, payload: Payload) -> Result<(), ServiceError> {
        let payload = payload.with_header(HEADER_CORRELATION_ID, self.address.id.clone());
        self.ctx
            .shared_producer()
            .produce(Destination::Topic(self.address.topic.clone()), payload)
            .await
            .map(|_| ())
            .map_err(|e| {
                ServiceError::broker(
                    format!(
                        "answering request `{}` on `{}`",
                        self.address.id, self.address.topic
                    ),
                    e,
                )
            })
    }
}

impl ConsumerSpec {
    /// A consumer that answers requests: `handler`'s value goes back to
    /// the client with the request's correlation id. When the handler fails
    /// for good (after its retries, or as `Invalid`), the request goes to the
    /// dead-letter topic and the client gets an error response at once.
    ///
    /// ```
    /// use weir_service::{ConsumerSpec, Context, HandlerError, Received};
    /// let words = ConsumerSpec::responder("count", "count-requests", |text: Received<String>, _ctx: Context| async move {
    ///     Ok::<u64, HandlerError>(text.value.split_whitespace().count() as u64)
    /// });
    /// # let _ = words;
    /// ```
    pub fn responder<Req, Resp, F, Fut>(
        name: impl Into<String>,
        topic: impl Into<Topic>,
        handler: F,
    ) -> Self
    where
        Req: DeserializeOwned + Send + 'static,
        Resp: Serialize + Send + Sync + 'static,
        F: Fn(Received<Req>, Context) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<Resp, HandlerError>> + Send + 'static,
    {
        let handler = Arc::new(handler);
        Self::streaming_responder(
            name,
            topic,
            move |req: Received<Req>, reply: Reply<Resp>, ctx| {
                let call = handler(req, ctx);
                async move {
                    let value = call.await?;
                    reply.send_last(&value).await?;
                    Ok(())
                }
            },
        )
    }

    /// A consumer that answers each request with a stream of responses:
    /// `handler` sends them through its [`Reply`]; once it returns `Ok` an
    /// end-of-stream marker follows. (A handler that fails after sending
    /// some is retried from the start, so a client may see those again.)
    pub fn streaming_responder<Req, Resp, F, Fut>(
        name: impl Into<String>,
        topic: impl Into<Topic>,
        handler: F,
    ) -> Self
    where
        Req: DeserializeOwned + Send + 'static,
        Resp: Serialize + Send + Sync + 'static,
        F: Fn(Received<Req>, Reply<Resp>, Context) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<(), HandlerError>> + Send + 'static,
    {
        let handler = Arc::new(handler);
        let raw: RawHandler = Arc::new(
            move |payload: Payload, ctx: Context, attempts: Attempts| {
                let handler = Arc::clone(&handler);
                Box::pin(async move {
                    let address = ReplyAddress::of(&payload).map_err(|reason| {
                        attempts.labels.processed("dead_lettered");
                        TaskError::invalid(reason)
                    })?;
                    let reply_with = |ended: &Arc<AtomicBool>| Reply::<Resp> {
                        address: address.clone(),
                        ctx: ctx.clone(),
                        ended: Arc::clone(ended),
                        types: PhantomData,
                    };
                    let reply = || reply_with(&Arc::default());
                    let outcome = handle_with_retries(&attempts, || {
                        let ended: Arc<AtomicBool> = Arc::default();
                        let call = ctx.encoding().decode::<Req>(&payload.value).map(|v| {
                            let received =
                                Received::new(v, payload.key.clone(), payload.headers.clone());
                            handler(received, reply_with(&ended), ctx.clone())
                        });
                        let done = reply_with(&ended);
                        async move {
                            match call {
                                Ok(call) => {
                                    call.await?;
                                    done.end().await?;
                                    Ok(())
                                }
                                Err(e) => Err(HandlerError::invalid(format!(
                                    "cannot decode the request as {}: {e}",
                                    std::any::type_name::<Req>()
                                ))),
                            }
                        }
                    })
                    .await;
                    if let Err(TaskError::Invalid(reason)) = &outcome
                        && let Err(e) = reply().fail(reason).await
                    {
                        tracing::warn!(request = %address.id, error = %e, "could not send the error response");
                    }
                    outcome
                })
            },
        );
        ConsumerSpec::from_raw(name.into(), topic.into(), raw)
    }
}
