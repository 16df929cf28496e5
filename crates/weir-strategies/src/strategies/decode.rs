//! Decode: turn raw payloads into typed values with a codec.

use serde::de::DeserializeOwned;
use weir_core::{Codec, Payload};

use crate::{Borrowing, ProcessingStrategy, RunTask, TaskError};

type DecodeFn<T> = Box<dyn FnMut(&Payload) -> Result<T, TaskError> + Send>;

/// Decodes each payload's value into a `T` with a [`Codec`]
/// ([`MsgPack`](weir_core::MsgPack) is Weir's default). A payload that does
/// not decode is an [`InvalidMessage`](crate::InvalidMessage) naming its
/// partition and offset: the processor's dead-letter policy receives it with
/// its original bytes.
///
/// It reads each payload in place: as a pipeline's first step, it takes
/// the messages a consumer lends without a copy of each (see
/// [`ProcessingStrategy::submit_batch`]).
///
/// ```
/// use weir_core::MsgPack;
/// use weir_strategies::{CommitOffsets, Decode, RunTask};
/// #[derive(serde::Deserialize)]
/// struct Order { id: u64 }
/// let step: Decode<Order, _> = Decode::new(MsgPack, RunTask::new(|o: Order| Ok(o.id), CommitOffsets::new()));
/// # let _ = step;
/// ```
pub struct Decode<T, N> {
    inner: RunTask<Borrowing<DecodeFn<T>>, N, T>,
}

impl<T: DeserializeOwned + 'static, N> Decode<T, N> {
    /// Decodes with `codec` into `next`.
    pub fn new<C: Codec>(codec: C, next: N) -> Self {
        let decode: DecodeFn<T> = Box::new(move |p: &Payload| {
            codec
                .decode::<T>(&p.value)
                .map_err(|e| TaskError::invalid(e.to_string()))
        });
        Decode {
            inner: RunTask::borrowing(decode, next),
        }
    }
}

impl<T, N> ProcessingStrategy<Payload> for Decode<T, N>
where
    T: DeserializeOwned + Send + 'static,
    N: ProcessingStrategy<T>,
{
    forward_to_inner!(Payload);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{Collect, broker_msg};
    use crate::{StrategyError, SubmitError};
    use weir_core::MsgPack;

    #[test]
    fn decodes_or_reports_the_message_invalid() {
        let sink = Collect::new();
        let mut d = Decode::new(MsgPack, sink.clone());
        let good = Payload::new(MsgPack.encode(&(7u32, "x")).unwrap());
        d.submit(broker_msg(0, 0, good)).unwrap();
        assert_eq!(sink.payloads(), vec![Some((7u32, "x".to_owned()))]);
        let Err(SubmitError::Failed(StrategyError::Invalid(i))) =
            d.submit(broker_msg(0, 1, Payload::new(&b"\xc1"[..])))
        else {
            panic!("expected an invalid message")
        };
        assert_eq!(i.offset, Some(1));
        assert!(i.reason.contains("msgpack"), "{}", i.reason);
    }
}
