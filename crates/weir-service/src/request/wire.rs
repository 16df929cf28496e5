//! The headers requests and responses carry.

/// The correlation id a response repeats from its request.
pub const HEADER_CORRELATION_ID: &str = "weir-correlation-id";
/// Where the response goes: the topic the client reads.
pub const HEADER_REPLY_TO: &str = "weir-reply-to";
/// On the last message of a response stream (a unary response carries it too).
pub const HEADER_END_OF_STREAM: &str = "weir-end-of-stream";
/// On a response that reports the request failed, with the reason.
pub const HEADER_ERROR: &str = "weir-error";
/// On a message a client sends to its own response topic when it starts,
/// to know its reader is reading; every reader ignores others' probes.
pub const HEADER_PROBE: &str = "weir-probe";
