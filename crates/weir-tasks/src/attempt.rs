//! One attempt of a job: the actor run under the job's timeout.

use std::time::Duration;

use weir_core::Codec;

use crate::actor::{Actor, Outcome};
use crate::job::DEFAULT_TIMEOUT;
use crate::{Context, JobMessage};

/// The timeout of `message`'s attempts: the job's, else the actor's, else 10 minutes.
pub(crate) fn timeout_of<C>(actor: &Actor<C>, message: &JobMessage) -> Duration {
    message
        .timeout
        .or(actor.info.timeout)
        .unwrap_or(DEFAULT_TIMEOUT)
}

/// The retries `message` may use: the job's, else the actor's, else 0.
pub(crate) fn retries_of<C>(actor: &Actor<C>, message: &JobMessage) -> u32 {
    message.retries.or(actor.info.retries).unwrap_or(0)
}

/// Runs the actor once; a timeout fires the context's cancellation token
/// and is a failure like any other.
pub(crate) async fn run<C: Codec + Clone>(
    actor: &Actor<C>,
    message: &JobMessage,
    ctx: Context<C>,
) -> Outcome {
    let timeout = timeout_of(actor, message);
    let cancel = ctx.cancel.clone();
    match tokio::time::timeout(timeout, (actor.run)(message.args.clone(), ctx)).await {
        Ok(outcome) => outcome,
        Err(_) => {
            cancel.cancel();
            Outcome::Failed(format!("timed out after {timeout:?}"))
        }
    }
}
