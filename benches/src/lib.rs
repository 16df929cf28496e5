//! Shared pieces of Weir's benchmarks: one methodology for every suite
//! (interleaved runs, medians with ranges, fresh payloads, precise clocks).

use std::time::Duration;

use weir_core::{CommitRequest, Consumer, ConsumerEvent};

/// The tokio runtime a benchmark runs every side on: multi-threaded with 2
/// workers (the machine's cores), or, with `WEIR_BENCH_RUNTIME=current`, one
/// current-thread runtime.
pub fn runtime() -> tokio::runtime::Runtime {
    let mut builder = if one_thread() {
        tokio::runtime::Builder::new_current_thread()
    } else {
        let mut b = tokio::runtime::Builder::new_multi_thread();
        b.worker_threads(2);
        b
    };
    match builder.enable_all().build() {
        Ok(rt) => rt,
        Err(e) => panic!("cannot start a tokio runtime: {e}"),
    }
}

/// Whether `WEIR_BENCH_RUNTIME=current` asks for one current-thread runtime.
pub fn one_thread() -> bool {
    std::env::var("WEIR_BENCH_RUNTIME").is_ok_and(|v| v == "current")
}

/// What [`runtime`] makes, for a bench's heading.
pub fn runtime_name() -> &'static str {
    if one_thread() {
        "a current-thread runtime"
    } else {
        "a multi-threaded runtime of 2 workers"
    }
}

/// Polls `consumer` until it has handed out `n` messages, committing each
/// batch before the next poll: the consuming side of every broker benchmark.
pub async fn consume_and_commit<C: Consumer>(consumer: &mut C, n: u64) {
    let mut got = 0u64;
    while got < n {
        if let ConsumerEvent::Messages(batch) = consumer.poll().await.expect("poll") {
            got += batch.len() as u64;
            let commit: CommitRequest = batch.iter().collect();
            consumer.commit(&commit).await.expect("commit");
        }
    }
}

// ---------------------------------------------------------------------------
// One methodology for every bench: each side measured several times, the
// sides interleaved run by run, and the median printed with its range (never
// the best run), with the same payloads built the same way on both sides.

/// The number of runs a bench makes of each workload: `$WEIR_BENCH_RUNS`,
/// else `default`; never fewer than one.
pub fn runs_from_env(default: usize) -> usize {
    env_or("WEIR_BENCH_RUNS", default).max(1)
}

/// `$name` parsed as `T`, or `default` when it is unset; a value that does
/// not parse stops the bench rather than being ignored.
pub fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    match std::env::var(name) {
        Ok(v) => match v.trim().replace('_', "").parse() {
            Ok(n) => n,
            Err(_) => panic!("${name} is not a valid value: {v:?}"),
        },
        Err(_) => default,
    }
}

/// Runs `measure(run, side)` for every side in every run, interleaved (run
/// 1: A, B, C; run 2: A, B, C; ...) so that a slow spell of a shared machine
/// falls on every side alike. Returns each side's samples in run order.
pub fn interleaved<S: Copy, T>(
    runs: usize,
    sides: &[S],
    mut measure: impl FnMut(usize, S) -> T,
) -> Vec<Vec<T>> {
    let mut samples: Vec<Vec<T>> = sides.iter().map(|_| Vec::with_capacity(runs)).collect();
    for run in 0..runs {
        for (i, side) in sides.iter().enumerate() {
            samples[i].push(measure(run, *side));
        }
    }
    samples
}

/// The median and range of a set of samples.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Spread {
    /// The median (the mean of the two middle samples when their number is even).
    pub median: f64,
    /// The smallest sample.
    pub min: f64,
    /// The largest sample.
    pub max: f64,
    /// How many samples.
    pub samples: usize,
}

impl Spread {
    /// The spread of `samples`; `None` when there are none. NaNs are ignored.
    pub fn of(samples: &[f64]) -> Option<Spread> {
        let mut sorted: Vec<f64> = samples.iter().copied().filter(|x| !x.is_nan()).collect();
        if sorted.is_empty() {
            return None;
        }
        sorted.sort_by(f64::total_cmp);
        let n = sorted.len();
        let median = if n % 2 == 1 {
            sorted[n / 2]
        } else {
            (sorted[n / 2 - 1] + sorted[n / 2]) / 2.0
        };
        Some(Spread {
            median,
            min: sorted[0],
            max: sorted[n - 1],
            samples: n,
        })
    }

    /// `median (min–max)`, each with `decimals` decimals.
    pub fn show(&self, decimals: usize) -> String {
        format!(
            "{:.d$} ({:.d$}–{:.d$})",
            self.median,
            self.min,
            self.max,
            d = decimals
        )
    }
}

/// The `p`-th percentile (0–100) of `samples`, nearest rank; `None` when
/// there are none.
pub fn percentile(samples: &[Duration], p: f64) -> Option<Duration> {
    if samples.is_empty() {
        return None;
    }
    let mut sorted = samples.to_vec();
    sorted.sort_unstable();
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    Some(sorted[rank.clamp(1, sorted.len()) - 1])
}

/// CPU time this thread has run, from `clock_gettime(CLOCK_THREAD_CPUTIME_ID)`
/// (nanosecond resolution, unlike `/proc/thread-self/schedstat`, which
/// advances in scheduler ticks); `None` where the clock is unavailable.
pub fn thread_cpu() -> Option<Duration> {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, writable timespec for the call's duration.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    if rc != 0 {
        return None;
    }
    Some(Duration::new(
        u64::try_from(ts.tv_sec).ok()?,
        u32::try_from(ts.tv_nsec).ok()?,
    ))
}

/// The wall time of a span, and the CPU time of the thread that ran it.
#[derive(Clone, Copy, Debug)]
pub struct Spent {
    /// Wall-clock time.
    pub wall: Duration,
    /// This thread's CPU time, where the clock is available.
    pub cpu: Option<Duration>,
}

impl Spent {
    /// The CPU time, or the wall time where the CPU clock is unavailable.
    pub fn cpu_or_wall(&self) -> Duration {
        self.cpu.unwrap_or(self.wall)
    }
}

/// Times a span run on the calling thread: wall clock and [`thread_cpu`].
#[derive(Debug)]
pub struct Clock {
    wall: std::time::Instant,
    cpu: Option<Duration>,
}

impl Clock {
    /// Starts the clocks.
    pub fn start() -> Self {
        Clock {
            wall: std::time::Instant::now(),
            cpu: thread_cpu(),
        }
    }

    /// What the span took so far (call it on the thread that started it).
    pub fn stop(&self) -> Spent {
        let wall = self.wall.elapsed();
        let cpu = match (self.cpu, thread_cpu()) {
            (Some(a), Some(b)) => Some(b.saturating_sub(a)),
            _ => None,
        };
        Spent { wall, cpu }
    }
}

/// Produces the messages numbered `seqs` to `topic`, each a fresh
/// `size`-byte payload, in `produce_batch` calls of `batch`.
pub async fn produce_fresh<P: weir_core::Producer>(
    producer: &P,
    topic: &weir_core::Topic,
    seqs: std::ops::Range<u64>,
    batch: u64,
    size: usize,
) {
    let mut seq = seqs.start;
    while seq < seqs.end {
        let end = (seq + batch.max(1)).min(seqs.end);
        let messages = (seq..end)
            .map(|s| {
                (
                    weir_core::Destination::Topic(topic.clone()),
                    weir_core::Payload::new(fresh_payload(size, s)),
                )
            })
            .collect();
        for r in producer.produce_batch(messages).await {
            if let Err(e) = r {
                panic!("producing message {seq}..{end} to {topic}: {e}");
            }
        }
        seq = end;
    }
}

/// CPU time this whole process has run, user and system, over all its
/// threads (`getrusage(RUSAGE_SELF)`); `None` where it is unavailable.
pub fn process_cpu() -> Option<Duration> {
    // SAFETY: an all-zero `rusage` is a valid value of this plain C struct.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: `usage` is a valid, writable rusage for the call's duration.
    let rc = unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut usage) };
    if rc != 0 {
        return None;
    }
    let time = |t: libc::timeval| {
        Some(Duration::new(
            u64::try_from(t.tv_sec).ok()?,
            u32::try_from(t.tv_usec).ok()? * 1_000,
        ))
    };
    Some(time(usage.ru_utime)? + time(usage.ru_stime)?)
}

/// A fresh `size`-byte buffer, as a real producer makes one per message: both
/// sides of a comparison build their payloads with this, one per message, so
/// neither is handed a buffer that is already shared.
pub fn fresh_payload(size: usize, seq: u64) -> bytes::Bytes {
    let mut v = vec![b'x'; size];
    for (dst, src) in v.iter_mut().zip(seq.to_le_bytes()) {
        *dst = src;
    }
    bytes::Bytes::from(v)
}

/// Items per second for `items` in `time`.
pub fn per_second(items: u64, time: Duration) -> f64 {
    items as f64 / time.as_secs_f64().max(f64::MIN_POSITIVE)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn median_and_range() {
        let s = Spread::of(&[3.0, 1.0, 2.0]).expect("samples");
        assert_eq!((s.median, s.min, s.max, s.samples), (2.0, 1.0, 3.0, 3));
        let s = Spread::of(&[4.0, 1.0, 2.0, 3.0]).expect("samples");
        assert_eq!(s.median, 2.5);
        assert!(Spread::of(&[]).is_none());
    }

    #[test]
    fn interleaves_sides_run_by_run() {
        let mut order = Vec::new();
        let samples = interleaved(2, &['a', 'b'], |run, side| {
            order.push((run, side));
            run
        });
        assert_eq!(order, [(0, 'a'), (0, 'b'), (1, 'a'), (1, 'b')]);
        assert_eq!(samples, [vec![0, 1], vec![0, 1]]);
    }

    #[test]
    fn thread_cpu_advances_with_work() {
        let before = thread_cpu().expect("thread CPU clock");
        let mut x = 0u64;
        for i in 0..5_000_000u64 {
            x = std::hint::black_box(x.wrapping_add(i));
        }
        let after = thread_cpu().expect("thread CPU clock");
        assert!(after > before, "{before:?} -> {after:?} ({x})");
    }

    #[test]
    fn process_cpu_advances_with_work() {
        let before = process_cpu().expect("process CPU clock");
        let mut x = 0u64;
        for i in 0..50_000_000u64 {
            x = std::hint::black_box(x.wrapping_add(i));
        }
        let after = process_cpu().expect("process CPU clock");
        assert!(after > before, "{before:?} -> {after:?} ({x})");
    }

    #[test]
    fn fresh_payloads_differ_and_have_the_size() {
        let (a, b) = (fresh_payload(100, 1), fresh_payload(100, 2));
        assert_eq!(a.len(), 100);
        assert_ne!(a, b);
    }

    #[test]
    fn percentiles_by_nearest_rank() {
        let d: Vec<Duration> = (1..=100).map(Duration::from_millis).collect();
        assert_eq!(percentile(&d, 50.0), Some(Duration::from_millis(50)));
        assert_eq!(percentile(&d, 99.0), Some(Duration::from_millis(99)));
        assert_eq!(percentile(&d, 100.0), Some(Duration::from_millis(100)));
        assert_eq!(percentile(&[], 50.0), None);
    }
}
