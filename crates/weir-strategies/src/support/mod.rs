//! What the strategies share and the user does not see: the life of a step,
//! its queue of outgoing messages, a failure reported later, background work kept in order, the
//! positions and origins a message stands for, and the progress signal.

#[macro_use]
pub(crate) mod forward;
pub(crate) mod deferred;
pub(crate) mod ordered;
pub(crate) mod origins;
pub(crate) mod outbox;
pub(crate) mod positions;
pub(crate) mod progress;
pub(crate) mod stage;
