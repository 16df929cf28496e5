//! Looking up together: what the jobs starting at the same time read from
//! the result store goes as one `get_results` (a pipeline on Redis).
//!
//! A worker takes jobs a batch at a time, and every job first reads its
//! final and latest records. One task gathers the reads that wait, sends
//! them at once and hands each job its values, then gathers again: a batch
//! of a hundred jobs costs one round trip, not a hundred.

use bytes::Bytes;
use tokio::sync::{mpsc, oneshot};
use weir_core::BrokerError;

use crate::patience::Patience;
use crate::{TaskBroker, TaskError};

/// The most keys one round reads.
const MAX_KEYS: usize = 4096;

type Reply = oneshot::Sender<Result<Vec<Option<Bytes>>, TaskError>>;

/// The queue of a worker's reads; cheap to clone.
#[derive(Clone, Debug)]
pub(crate) struct Lookups {
    tx: mpsc::UnboundedSender<(Vec<String>, Reply)>,
}

impl Lookups {
    /// Starts the task that reads from `broker`, riding through outages
    /// with `patience`; it ends when the last handle is dropped.
    pub(crate) fn start<B: TaskBroker>(broker: B, patience: Patience) -> Self {
        let (tx, rx) = mpsc::unbounded_channel();
        tokio::spawn(look_up(broker, patience, rx));
        Lookups { tx }
    }

    /// The values of `keys`, in their order, read with whatever other
    /// reads wait at the same time.
    ///
    /// # Errors
    ///
    /// The read failed for good (outlasting the outage timeout, or an
    /// error that is not transient).
    pub(crate) async fn get(&self, keys: Vec<String>) -> Result<Vec<Option<Bytes>>, TaskError> {
        let (tx, rx) = oneshot::channel();
        self.tx.send((keys, tx)).map_err(|_| gone())?;
        rx.await.unwrap_or_else(|_| Err(gone()))
    }
}

fn gone() -> TaskError {
    TaskError::Broker {
        doing: "reading task records".to_owned(),
        source: BrokerError::Closed("the worker's reader"),
    }
}

async fn look_up<B: TaskBroker>(
    broker: B,
    patience: Patience,
    mut rx: mpsc::UnboundedReceiver<(Vec<String>, Reply)>,
) {
    let mut waiting = Vec::new();
    // At least one read per round, and about `MAX_KEYS` keys.
    while rx.recv_many(&mut waiting, MAX_KEYS / 2).await > 0 {
        let n = waiting.len();
        let keys: Vec<String> = waiting
            .iter()
            .flat_map(|(k, _)| k.iter().cloned())
            .collect();
        let read = patience
            .call(|| async {
                broker
                    .get_results(&keys)
                    .await
                    .map_err(TaskError::broker(format!(
                        "reading the records of {n} task(s)"
                    )))
            })
            .await;
        match read {
            Ok(values) => {
                let mut values = values.into_iter();
                for (k, reply) in waiting.drain(..) {
                    let mine: Vec<Option<Bytes>> = values.by_ref().take(k.len()).collect();
                    let _ = reply.send(Ok(mine));
                }
            }
            Err(e) => {
                for ((_, reply), e) in waiting.drain(..).zip(e.for_each_of(n)) {
                    let _ = reply.send(Err(e));
                }
            }
        }
    }
}
