//! A failure a step met while making room for a message it then handed
//! back, kept for the step's next `poll` (or `join`).
//!
//! A full step forwards its earlier work before it takes another message.
//! If forwarding fails (a task's invalid result, a next step's failure),
//! the failure is about that earlier work, not about the message offered:
//! returning it from `submit` would drop the offered message, whose
//! position later commits would then pass. So the step hands the message
//! back as rejected, keeps the failure, raises the progress signal, and
//! reports the failure from its next `poll`, before anything else.

use crate::{Progress, StrategyError};

/// At most one failure waiting to be reported.
#[derive(Debug, Default)]
pub(crate) struct Deferred(Option<StrategyError>);

impl Deferred {
    /// Keeps `failure` for the next report and wakes the processor to poll.
    #[cold]
    pub(crate) fn keep(&mut self, failure: StrategyError, progress: &Progress) {
        self.0 = Some(failure);
        progress.notify();
    }

    /// Makes room with `forward` (earlier work going on), unless a failure
    /// already waits: forwarding then could meet a second failure, and one
    /// is kept at a time. Keeps the failure `forward` meets.
    #[inline]
    pub(crate) fn make_room(
        &mut self,
        progress: &Progress,
        forward: impl FnOnce() -> Result<(), StrategyError>,
    ) {
        if self.0.is_none()
            && let Err(e) = forward()
        {
            self.keep(e, progress);
        }
    }

    /// Whether a failure waits: the step takes no message until it is reported.
    #[inline]
    pub(crate) fn is_waiting(&self) -> bool {
        self.0.is_some()
    }

    /// The waiting failure as an error, once.
    #[inline]
    pub(crate) fn report(&mut self) -> Result<(), StrategyError> {
        self.0.take().map_or(Ok(()), Err)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_kept_failure_wakes_the_processor_and_is_reported_once() {
        let progress = Progress::new();
        let mut d = Deferred::default();
        assert!(d.report().is_ok());
        d.keep(StrategyError::Closed, &progress);
        assert!(d.is_waiting());
        // The signal was raised: this returns at once.
        progress.notified().await;
        assert!(matches!(d.report(), Err(StrategyError::Closed)));
        assert!(!d.is_waiting() && d.report().is_ok());
    }
}
