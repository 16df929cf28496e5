//! The job capabilities of `weir_core::capability`, in memory.

use std::sync::{Mutex, MutexGuard, PoisonError};

mod dedup;
mod delay;
mod events;
mod permits;
mod results;

pub use events::MemorySubscription;

/// Everything the capabilities keep, one lock each.
#[derive(Debug, Default)]
pub(crate) struct State {
    delayed: Mutex<delay::Delayed>,
    dedup: Mutex<dedup::Seen>,
    results: results::Results,
    events: Mutex<events::Channels>,
    permits: Mutex<permits::Held>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}
