#![doc = include_str!("../README.md")]
//!
//! # The crate's parts
//!
//! - [`Service`] and [`ServiceBuilder`]: the definition; `run.rs` brings one
//!   run up and down.
//! - [`ConsumerSpec`], [`ProducerSpec`], [`Context`], [`Received`],
//!   [`HandlerError`], [`RetryPolicy`]: what handlers see and return.
//! - [`request`]: the request client and the responders.
//! - `config`: the configuration topic, its reader and [`ConfigView`].
//! - [`metrics`], [`prometheus`], [`Health`], [`HttpEndpoint`]: what the
//!   service tells the outside.
//! - [`Supervisor`], [`ServiceGroup`], [`launch`]: restarts, several
//!   services, the command line; [`connect`]: the broker a URL names.
#![cfg_attr(test, allow(clippy::unwrap_used))]

mod cli;
mod config;
pub mod connect;
mod consumer;
mod context;
mod encoding;
mod error;
mod exporter;
mod group;
mod health;
mod http;
mod id;
pub mod metrics;
mod panic;
mod producer;
mod rate_gate;
mod received;
pub mod request;
mod retry;
mod run;
mod service;
mod supervisor;

pub use cli::{LogFormat, NoArgs, StandardArgs, launch, launch_group};
pub use config::{ConfigPublisher, ConfigPush, ConfigView};
pub use connect::{BrokerUrl, OnBroker, with_broker};
pub use consumer::ConsumerSpec;
pub use context::Context;
pub use encoding::Encoding;
pub use error::{HandlerError, ServiceError};
pub use exporter::prometheus;
pub use group::ServiceGroup;
pub use health::{Health, PartState};
pub use http::{DEFAULT_METRICS_ADDR, HttpEndpoint};
pub use producer::{ProducerSpec, Sender};
pub use received::Received;
pub use request::{Reply, RequestClient, RequestClientBuilder, ResponseStream};
pub use retry::{RetryPolicy, RetryPolicyBuilder};
pub use service::{Service, ServiceBuilder};
pub use supervisor::Supervisor;
