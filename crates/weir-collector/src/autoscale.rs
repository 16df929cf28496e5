//! How many consumers a queue runs: sized from measured load by Little's law,
//! grown at once, shrunk one step at a time after an idle grace period.

use std::time::Duration;

/// The autoscaler's settings.
///
/// Every `interval` (on the tokio clock) the autoscaler measures the arrival
/// rate λ, the mean service time S (smoothed), the queue depth and the busy
/// consumers, and asks for
///
/// ```text
/// desired = ceil(λ·S + depth·S / drain_within)
/// ```
///
/// consumers (Little's law for the steady load, plus enough to clear the
/// backlog within `drain_within`), clamped to `[min_consumers, max_consumers]`.
/// It adds consumers at once; it removes one per interval, and only after
/// `desired` stayed below the current count for `idle_grace`.
///
/// ```
/// use std::time::Duration;
/// use weir_collector::Autoscale;
///
/// let scale = Autoscale::default()
///     .with_interval(Duration::from_millis(50))
///     .with_idle_grace(Duration::from_secs(2));
/// assert_eq!(scale.interval(), Duration::from_millis(50));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Autoscale {
    interval: Duration,
    idle_grace: Duration,
    drain_within: Duration,
}

impl Default for Autoscale {
    /// Measures every 100 ms, drains a backlog within 1 s, shrinks after 1 s
    /// of surplus.
    fn default() -> Self {
        Self {
            interval: Duration::from_millis(100),
            idle_grace: Duration::from_secs(1),
            drain_within: Duration::from_secs(1),
        }
    }
}

impl Autoscale {
    /// Sets how often the autoscaler measures and decides.
    #[must_use]
    pub fn with_interval(mut self, interval: Duration) -> Self {
        self.interval = interval;
        self
    }

    /// Sets how long a surplus must last before consumers are removed.
    #[must_use]
    pub fn with_idle_grace(mut self, idle_grace: Duration) -> Self {
        self.idle_grace = idle_grace;
        self
    }

    /// Sets within how long the pool should clear a backlog.
    #[must_use]
    pub fn with_drain_within(mut self, drain_within: Duration) -> Self {
        self.drain_within = drain_within;
        self
    }

    /// How often the autoscaler measures and decides.
    pub fn interval(&self) -> Duration {
        self.interval
    }

    /// How long a surplus must last before consumers are removed.
    pub fn idle_grace(&self) -> Duration {
        self.idle_grace
    }

    /// Within how long the pool should clear a backlog.
    pub fn drain_within(&self) -> Duration {
        self.drain_within
    }
}

/// One interval's measurements.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Sample {
    /// How long the interval lasted.
    pub(crate) elapsed: Duration,
    /// Events accepted during the interval.
    pub(crate) arrivals: u64,
    /// Events completed during the interval.
    pub(crate) completions: u64,
    /// Total service time of those completions.
    pub(crate) service: Duration,
    /// Events waiting at the end of the interval.
    pub(crate) depth: usize,
    /// Consumers busy at the end of the interval.
    pub(crate) busy: usize,
    /// Consumers running.
    pub(crate) consumers: usize,
}

/// The autoscaler's memory between intervals and its decision rule.
#[derive(Debug)]
pub(crate) struct Scaler {
    min: usize,
    max: usize,
    config: Autoscale,
    mean_service: Option<f64>,
    surplus_for: Duration,
}

impl Scaler {
    pub(crate) fn new(min: usize, max: usize, config: Autoscale) -> Self {
        Self {
            min,
            max: max.max(min),
            config,
            mean_service: None,
            surplus_for: Duration::ZERO,
        }
    }

    /// The arrival rate of a sample, in events per second.
    pub(crate) fn rate(count: u64, elapsed: Duration) -> f64 {
        let secs = elapsed.as_secs_f64();
        if secs > 0.0 { count as f64 / secs } else { 0.0 }
    }

    /// What the load asks for, before the gentle-shrink rule.
    fn desired(&mut self, s: &Sample) -> usize {
        if s.completions > 0 {
            let mean = s.service.as_secs_f64() / s.completions as f64;
            self.mean_service = Some(match self.mean_service {
                Some(prev) => 0.5 * prev + 0.5 * mean,
                None => mean,
            });
        }
        let wanted = match self.mean_service {
            Some(service) => {
                let steady = Self::rate(s.arrivals, s.elapsed) * service;
                let drain = self.config.drain_within.as_secs_f64();
                let backlog = if drain > 0.0 {
                    s.depth as f64 * service / drain
                } else {
                    s.depth as f64
                };
                let wanted = (steady + backlog).ceil();
                if wanted.is_finite() && wanted >= 0.0 {
                    // Saturating: a float beyond usize::MAX becomes MAX.
                    wanted as usize
                } else {
                    self.max
                }
            }
            // No service time measured yet: double the busy pool while a
            // backlog waits.
            None if s.depth > 0 => s.busy + s.depth.min(s.consumers.max(1)),
            None => 0,
        };
        let wanted = if s.depth > 0 {
            wanted.max(s.busy + 1)
        } else {
            wanted
        };
        wanted.clamp(self.min, self.max)
    }

    /// The number of consumers to run after this interval.
    pub(crate) fn decide(&mut self, s: &Sample) -> usize {
        let current = s.consumers.clamp(self.min, self.max);
        let desired = self.desired(s);
        if desired >= current {
            self.surplus_for = Duration::ZERO;
            return desired;
        }
        self.surplus_for += s.elapsed;
        if self.surplus_for >= self.config.idle_grace {
            current - 1
        } else {
            current
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const TICK: Duration = Duration::from_millis(100);

    fn loaded(consumers: usize) -> Sample {
        // 1000 events/s of 10 ms each: λ·S = 10, plus a backlog of 50.
        Sample {
            elapsed: TICK,
            arrivals: 100,
            completions: 100,
            service: Duration::from_millis(1000),
            depth: 50,
            busy: consumers,
            consumers,
        }
    }

    fn idle(consumers: usize) -> Sample {
        Sample {
            elapsed: TICK,
            consumers,
            ..Sample::default()
        }
    }

    #[test]
    fn grows_at_once_under_load() {
        let mut scaler = Scaler::new(1, 64, Autoscale::default());
        // 10 for the steady load, 50 * 0.01 / 1 = 0.5 -> 11 in all.
        assert_eq!(scaler.decide(&loaded(1)), 11);
    }

    #[test]
    fn never_leaves_the_bounds() {
        let mut scaler = Scaler::new(2, 4, Autoscale::default());
        assert_eq!(scaler.decide(&loaded(2)), 4);
        assert_eq!(scaler.decide(&idle(4)), 4);
        for _ in 0..100 {
            scaler.decide(&idle(2));
        }
        assert_eq!(scaler.decide(&idle(2)), 2);
    }

    #[test]
    fn shrinks_one_step_per_interval_after_the_grace() {
        let grace = Duration::from_millis(300);
        let mut scaler = Scaler::new(1, 8, Autoscale::default().with_idle_grace(grace));
        scaler.decide(&loaded(8));
        let mut consumers = 8;
        let mut path = Vec::new();
        for _ in 0..10 {
            consumers = scaler.decide(&idle(consumers));
            path.push(consumers);
        }
        assert_eq!(path, [8, 8, 7, 6, 5, 4, 3, 2, 1, 1]);
    }

    #[test]
    fn a_backlog_without_estimate_doubles_the_busy_pool() {
        let mut scaler = Scaler::new(1, 100, Autoscale::default());
        let s = Sample {
            elapsed: TICK,
            arrivals: 500,
            depth: 500,
            busy: 3,
            consumers: 3,
            ..Sample::default()
        };
        assert_eq!(scaler.decide(&s), 6);
    }

    prop_compose! {
        fn sample()(
            elapsed_ms in 0u64..1_000,
            arrivals in 0u64..1_000_000,
            completions in 0u64..1_000_000,
            service_ms in 0u64..10_000_000,
            depth in 0usize..1_000_000,
            busy in 0usize..2_000,
            consumers in 0usize..2_000,
        ) -> Sample {
            Sample {
                elapsed: Duration::from_millis(elapsed_ms),
                arrivals,
                completions,
                service: Duration::from_millis(service_ms),
                depth,
                busy,
                consumers,
            }
        }
    }

    proptest! {
        #[test]
        fn decisions_stay_within_bounds(
            min in 1usize..16,
            extra in 0usize..64,
            samples in proptest::collection::vec(sample(), 1..40),
        ) {
            let max = min + extra;
            let mut scaler = Scaler::new(min, max, Autoscale::default());
            for s in &samples {
                let n = scaler.decide(s);
                prop_assert!((min..=max).contains(&n), "{} not in [{}, {}]", n, min, max);
            }
        }

        #[test]
        fn shrinking_is_at_most_one_step(
            samples in proptest::collection::vec(sample(), 1..40),
        ) {
            let mut scaler = Scaler::new(1, 4096, Autoscale::default());
            for s in &samples {
                let current = s.consumers.clamp(1, 4096);
                let n = scaler.decide(s);
                prop_assert!(n + 1 >= current);
            }
        }
    }
}
