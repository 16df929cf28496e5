//! The time a produced message is stored at.
//!
//! Reading the system clock (`SystemTime::now`) takes about 30 ns here, a
//! quarter of a single `produce`. So the stamp is read from the CPU's
//! time-stamp counter instead, through [`quanta`] (one instruction and a
//! multiplication, about 9 ns), and placed on the system clock by an
//! [`Anchor`]: one reading of both clocks, kept per thread and taken again
//! once it is [`ANCHOR_FOR`] old.
//!
//! Between two anchors a stamp can stray from the system clock only by the
//! counter's rate error over that span: microseconds at most. A step of the
//! system clock (a correction by NTP, say) shows in the stamps within
//! [`ANCHOR_FOR`]. Stamps stay nanosecond-precise. Where the CPU has no
//! usable counter, quanta reads the operating system's monotonic clock
//! instead: stamps are as exact, just not cheaper.

use std::cell::Cell;
use std::sync::OnceLock;
use std::time::{Duration, SystemTime};

/// How long one anchor places stamps before the system clock is read again.
pub(crate) const ANCHOR_FOR: Duration = Duration::from_millis(100);

/// The time now, for a message being stored.
#[inline]
pub(crate) fn now() -> SystemTime {
    let clock = counter();
    let raw = clock.raw();
    ANCHOR.with(|anchor| {
        if let Some(stamp) = anchor.get().and_then(|a| a.stamp(clock, raw)) {
            return stamp;
        }
        let fresh = Anchor::take(raw);
        anchor.set(Some(fresh));
        fresh.wall
    })
}

thread_local! {
    /// This thread's anchor (none before its first stamp).
    static ANCHOR: Cell<Option<Anchor>> = const { Cell::new(None) };
}

/// Calibrates the counter clock now, if no stamp did yet, so that the first
/// `produce` does not pay for it (see [`counter`]).
pub(crate) fn calibrate() {
    counter();
}

/// The process's counter clock; the first use calibrates it (under a
/// millisecond here; quanta gives up after 200 ms), later ones read it.
fn counter() -> &'static quanta::Clock {
    static CLOCK: OnceLock<quanta::Clock> = OnceLock::new();
    CLOCK.get_or_init(quanta::Clock::new)
}

/// The system clock and the counter read at one moment.
#[derive(Clone, Copy, Debug)]
struct Anchor {
    /// The counter's raw reading.
    raw: u64,
    /// The system clock's reading.
    wall: SystemTime,
}

impl Anchor {
    fn take(raw: u64) -> Anchor {
        Anchor {
            raw,
            wall: SystemTime::now(),
        }
    }

    /// The system time at the counter's reading `raw`, or `None` once this
    /// anchor is [`ANCHOR_FOR`] old. A reading before the anchor (the
    /// thread moved to a core whose counter lags) gives the anchor's time.
    #[inline]
    fn stamp(self, clock: &quanta::Clock, raw: u64) -> Option<SystemTime> {
        let since = Duration::from_nanos(clock.delta_as_nanos(self.raw, raw));
        if since >= ANCHOR_FOR {
            return None;
        }
        self.wall.checked_add(since)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_anchor_places_stamps_until_it_is_old() {
        let (clock, mock) = quanta::Clock::mock();
        mock.increment(1_000);
        let anchor = Anchor::take(clock.raw());
        mock.increment(Duration::from_millis(30));
        assert_eq!(
            anchor.stamp(&clock, clock.raw()),
            Some(anchor.wall + Duration::from_millis(30))
        );
        mock.increment(ANCHOR_FOR - Duration::from_millis(30));
        assert_eq!(anchor.stamp(&clock, clock.raw()), None);
    }

    #[test]
    fn a_reading_before_the_anchor_gives_the_anchors_time() {
        let (clock, mock) = quanta::Clock::mock();
        mock.increment(1_000_000);
        let anchor = Anchor::take(clock.raw());
        mock.decrement(500);
        assert_eq!(anchor.stamp(&clock, clock.raw()), Some(anchor.wall));
    }

    #[test]
    fn stamps_follow_the_system_clock() {
        for _ in 0..1_000 {
            let before = SystemTime::now();
            let stamp = now();
            let after = SystemTime::now();
            // The anchor was taken at most `ANCHOR_FOR` ago, so the stamp
            // can only stray by the counter's rate error over that span.
            let slack = Duration::from_millis(5);
            assert!(stamp + slack >= before, "{stamp:?} before {before:?}");
            assert!(stamp <= after + slack, "{stamp:?} after {after:?}");
        }
    }
}
