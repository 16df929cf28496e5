//! Unbatch: forward the items of a batch one by one.

use crate::{ProcessingStrategy, Unfold};

type Inner<T, N> = Unfold<fn(Vec<T>) -> Vec<T>, N, T>;

/// Forwards each item of a `Vec` payload as its own message; the last item
/// carries the batch's commit positions. The reverse of [`Batch`](crate::Batch).
pub struct Unbatch<T, N> {
    inner: Inner<T, N>,
}

fn identity<T>(v: Vec<T>) -> Vec<T> {
    v
}

impl<T, N> Unbatch<T, N> {
    /// Unbatches into `next`.
    pub fn new(next: N) -> Self {
        Unbatch {
            inner: Unfold::new(identity as fn(Vec<T>) -> Vec<T>, next),
        }
    }
}

impl<T: Send, N: ProcessingStrategy<T>> ProcessingStrategy<Vec<T>> for Unbatch<T, N> {
    forward_to_inner!(Vec<T>);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Batch;
    use crate::testing::{Collect, broker_msg, part};
    use std::time::Duration;

    #[tokio::test(start_paused = true)]
    async fn batch_then_unbatch_restores_the_stream() {
        let sink = Collect::new();
        let mut s = Batch::new(3, Duration::from_secs(1), Unbatch::new(sink.clone()));
        for o in 0..7u64 {
            s.submit(broker_msg(0, o, o)).unwrap();
        }
        s.close();
        let commits = s.join(None).await.unwrap().unwrap();
        let got: Vec<u64> = sink.payloads().into_iter().flatten().collect();
        assert_eq!(got, (0..7).collect::<Vec<_>>());
        assert_eq!(commits.get(&part(0)), Some(7));
    }
}
