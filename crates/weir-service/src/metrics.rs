//! The metrics a service records, through the `metrics` facade.
//!
//! Every metric carries the label `service`; consumer metrics add
//! `consumer`, producer metrics `producer`, client metrics `client`: names
//! the program chose, so the label sets stay small. Ids and per-request
//! topics never become labels.

/// Whether a consumer runs (1) or not (0) (gauge; `service`, `consumer`).
pub const CONSUMER_UP: &str = "weir_service_consumer_up";
/// How long a handler took, retries included (histogram, seconds; `service`, `consumer`).
pub const REQUEST_DURATION: &str = "weir_service_request_duration_seconds";
/// Messages handled, by `status`: `ok`, `error` (one failed attempt),
/// `dead_lettered` (counter; `service`, `consumer`, `status`).
pub const PROCESSED_TOTAL: &str = "weir_service_processed_total";
/// Times a handler reported a rate limit (counter; `service`, `consumer`).
pub const RATE_LIMITED_TOTAL: &str = "weir_service_rate_limited_total";
/// Messages sent through a declared producer (counter; `service`, `producer`).
pub const PRODUCED_TOTAL: &str = "weir_service_producer_messages_total";
/// The configuration version in force (gauge; `service`).
pub const CONFIG_VERSION: &str = "weir_service_config_version";
/// Configuration pushes ignored as stale or unreadable, by `reason`
/// (`stale`, `undecodable`) (counter; `service`).
pub const CONFIG_IGNORED_TOTAL: &str = "weir_service_config_ignored_total";
/// Always 1, labelled with the service's parameters, secrets left out (gauge; `service`, ...).
pub const SERVICE_INFO: &str = "weir_service_info";
/// Restarts after a failure (counter; `service`).
pub const RESTARTS_TOTAL: &str = "weir_service_restarts_total";
/// Requests sent by a request client (counter; `client`).
pub const REQUESTS_TOTAL: &str = "weir_service_client_requests_total";
/// Requests that got no response in time (counter; `client`).
pub const REQUEST_TIMEOUTS_TOTAL: &str = "weir_service_client_timeouts_total";
/// Responses for an unknown or expired correlation id, dropped (counter; `client`).
pub const RESPONSES_DROPPED_TOTAL: &str = "weir_service_client_responses_dropped_total";

/// The metrics of one consumer, registered once per run (so that handling
/// a message clones no label and looks nothing up).
#[derive(Clone, Debug)]
pub(crate) struct ConsumerLabels {
    pub(crate) service: String,
    pub(crate) consumer: String,
    ok: metrics::Counter,
    error: metrics::Counter,
    dead_lettered: metrics::Counter,
    rate_limited: metrics::Counter,
    duration: metrics::Histogram,
    up: metrics::Gauge,
}

impl ConsumerLabels {
    pub(crate) fn new(service: &str, consumer: &str) -> Self {
        let (s, c) = (service.to_owned(), consumer.to_owned());
        let processed = |status: &'static str| metrics::counter!(PROCESSED_TOTAL, "service" => s.clone(), "consumer" => c.clone(), "status" => status);
        ConsumerLabels {
            ok: processed("ok"),
            error: processed("error"),
            dead_lettered: processed("dead_lettered"),
            rate_limited: metrics::counter!(RATE_LIMITED_TOTAL, "service" => s.clone(), "consumer" => c.clone()),
            duration: metrics::histogram!(REQUEST_DURATION, "service" => s.clone(), "consumer" => c.clone()),
            up: metrics::gauge!(CONSUMER_UP, "service" => s.clone(), "consumer" => c.clone()),
            service: s,
            consumer: c,
        }
    }

    pub(crate) fn processed(&self, status: &'static str) {
        match status {
            "ok" => self.ok.increment(1),
            "error" => self.error.increment(1),
            _ => self.dead_lettered.increment(1),
        }
    }

    pub(crate) fn rate_limited(&self) {
        self.rate_limited.increment(1);
    }

    pub(crate) fn duration(&self, seconds: f64) {
        self.duration.record(seconds);
    }

    pub(crate) fn up(&self, up: bool) {
        self.up.set(if up { 1.0 } else { 0.0 });
    }
}
