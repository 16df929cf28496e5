//! Batch: collect payloads into vectors by size or by time.

use std::time::Duration;

use crate::{ProcessingStrategy, Reduce};

type Inner<T, N> = Reduce<T, Vec<T>, fn() -> Vec<T>, fn(Vec<T>, T) -> Vec<T>, N>;

/// Collects payloads into a `Vec` of at most `max_batch_size`, forwarded when
/// full or `max_batch_time` after its first message; the batch commits the
/// positions of every message in it. [`Unbatch`](crate::Unbatch) undoes it.
///
/// ```
/// use std::time::Duration;
/// use weir_core::Payload;
/// use weir_strategies::{Batch, CommitOffsets, RunTask};
/// let bulk_insert = RunTask::new(|rows: Vec<Payload>| Ok(rows.len()), CommitOffsets::new());
/// let step: Batch<Payload, _> = Batch::new(500, Duration::from_secs(1), bulk_insert);
/// # let _ = step;
/// ```
pub struct Batch<T, N> {
    inner: Inner<T, N>,
}

fn push<T>(mut v: Vec<T>, x: T) -> Vec<T> {
    v.push(x);
    v
}

impl<T, N> Batch<T, N> {
    /// Batches of at most `max_batch_size` payloads, at most `max_batch_time` old.
    pub fn new(max_batch_size: usize, max_batch_time: Duration, next: N) -> Self {
        Batch {
            inner: Reduce::new(
                Vec::new as fn() -> Vec<T>,
                push as fn(Vec<T>, T) -> Vec<T>,
                max_batch_size,
                max_batch_time,
                next,
            ),
        }
    }
}

impl<T: Send, N: ProcessingStrategy<Vec<T>>> ProcessingStrategy<T> for Batch<T, N> {
    forward_to_inner!(T);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{Collect, broker_msg, part};

    #[tokio::test(start_paused = true)]
    async fn batches_by_size_then_by_time() {
        let sink = Collect::new();
        let mut b = Batch::new(2, Duration::from_secs(1), sink.clone());
        for o in 0..3 {
            b.submit(broker_msg(0, o, o)).unwrap();
        }
        assert_eq!(sink.payloads(), vec![Some(vec![0, 1])]);
        tokio::time::advance(Duration::from_secs(1)).await;
        let commits = b.poll().unwrap().unwrap();
        assert_eq!(sink.payloads(), vec![Some(vec![0, 1]), Some(vec![2])]);
        assert_eq!(commits.get(&part(0)), Some(3));
    }
}
