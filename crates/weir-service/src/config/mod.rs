//! Configuration pushed at run time on a versioned topic.
//!
//! Every push is a whole configuration (all keys) with a version. A service
//! reads the topic from its beginning in a consumer group of its own each
//! time it starts, so it always ends on the newest version, even when it
//! starts after the last push (a subscriber that only read new pushes would
//! wait for the next one). Pushes apply in version order: one whose version
//! is not above the version in force is stale and ignored (counted in
//! [`CONFIG_IGNORED_TOTAL`](crate::metrics::CONFIG_IGNORED_TOTAL)).

mod follow;
mod handler;
mod push;
mod view;

pub(crate) use follow::fetch;
pub(crate) use handler::ConfigHandler;
pub use push::{ConfigPublisher, ConfigPush};
pub use view::ConfigView;
