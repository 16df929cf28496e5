//! Request/response over two topics, matched by a correlation id.
//!
//! A [`RequestClient`] sends each request with a fresh correlation id and
//! the topic to answer on; a responder ([`ConsumerSpec::responder`](crate::ConsumerSpec::responder),
//! or [`streaming_responder`](crate::ConsumerSpec::streaming_responder))
//! answers there with the same id, the last message marked end-of-stream.
//! One client reads every response of its topic in a consumer group of its
//! own and hands each to the request waiting for it: any number of requests
//! in flight share that one consumer. A response nobody waits for (an
//! unknown id, or one that timed out) is counted and dropped.

mod client;
mod responder;
pub mod wire;

pub(crate) use client::ReaderFactory;
pub use client::{RequestClient, RequestClientBuilder, ResponseStream};
pub use responder::Reply;
