//! The factory that builds a pipeline for each assignment.

use std::any::Any;
use std::collections::{BTreeMap, BTreeSet};

use weir_core::Partition;

use crate::ProcessingStrategy;

/// What a factory is told when it builds a pipeline.
#[derive(Clone, Debug)]
pub struct StrategyContext {
    partitions: BTreeMap<Partition, u64>,
}

impl StrategyContext {
    /// A context for these partitions (each with the offset reading starts from).
    pub fn new(partitions: BTreeMap<Partition, u64>) -> Self {
        StrategyContext { partitions }
    }

    /// The partitions the pipeline serves, each with its start offset.
    pub fn partitions(&self) -> &BTreeMap<Partition, u64> {
        &self.partitions
    }
}

/// Builds the strategy pipeline whenever the processor's assignment changes.
///
/// A closure `|ctx: &StrategyContext| ...` returning a strategy is the
/// usual factory; implement the trait to hear of assignment changes or of
/// the processor's shutdown too.
///
/// ```
/// use weir_core::Payload;
/// use weir_strategies::{Pipeline, ProcessingStrategy, ProcessingStrategyFactory, StrategyContext};
///
/// struct Lengths;
/// impl ProcessingStrategyFactory<Payload> for Lengths {
///     fn create(&self, _ctx: &StrategyContext) -> Box<dyn ProcessingStrategy<Payload>> {
///         Box::new(Pipeline::new().map(|p: Payload| Ok(p.value.len())).commit())
///     }
/// }
/// ```
pub trait ProcessingStrategyFactory<T>: Send + Sync {
    /// A pipeline for the partitions in `ctx`.
    fn create(&self, ctx: &StrategyContext) -> Box<dyn ProcessingStrategy<T>>;

    /// The assignment changed: `assigned` is the new full assignment and
    /// `revoked` what was taken away. Called before `create`.
    fn partitions_changed(
        &self,
        assigned: &BTreeMap<Partition, u64>,
        revoked: &BTreeSet<Partition>,
    ) {
        let _ = (assigned, revoked);
    }

    /// The processor stopped for good (also after a failure).
    fn shutdown(&self) {}
}

/// Any closure from the context to a strategy is a factory. It may return
/// the strategy's own type (what [`Pipeline`](crate::Pipeline) builds) or a
/// `Box<dyn ProcessingStrategy<T>>` when the pipeline's shape depends on the
/// context.
impl<T, F, S> ProcessingStrategyFactory<T> for F
where
    T: 'static,
    F: Fn(&StrategyContext) -> S + Send + Sync,
    S: ProcessingStrategy<T> + 'static,
{
    fn create(&self, ctx: &StrategyContext) -> Box<dyn ProcessingStrategy<T>> {
        into_boxed(self(ctx))
    }
}

/// Boxes a strategy, except one that is a box already: boxing it again
/// would add a second pointer to follow on every call for every message.
fn into_boxed<T, S>(strategy: S) -> Box<dyn ProcessingStrategy<T>>
where
    T: 'static,
    S: ProcessingStrategy<T> + 'static,
{
    let mut slot = Some(strategy);
    let boxed = (&mut slot as &mut dyn Any)
        .downcast_mut::<Option<Box<dyn ProcessingStrategy<T>>>>()
        .and_then(Option::take);
    match (boxed, slot) {
        (Some(boxed), _) => boxed,
        (None, Some(strategy)) => Box::new(strategy),
        (None, None) => unreachable!("the slot is emptied only when it held a box"),
    }
}

#[cfg(test)]
mod tests {
    use weir_core::Payload;

    use super::*;
    use crate::{CommitOffsets, Pipeline};

    fn context() -> StrategyContext {
        StrategyContext::new(BTreeMap::new())
    }

    #[test]
    fn a_boxed_strategy_is_not_boxed_again() {
        let inner: Box<dyn ProcessingStrategy<Payload>> = Box::new(CommitOffsets::new());
        let address = std::ptr::from_ref(inner.as_ref()).cast::<()>();
        let boxed = into_boxed::<Payload, _>(inner);
        assert_eq!(std::ptr::from_ref(boxed.as_ref()).cast::<()>(), address);
    }

    #[test]
    fn closures_may_return_a_concrete_strategy_or_a_box() {
        let concrete =
            |_: &StrategyContext| Pipeline::new().map(|p: Payload| Ok(p.value.len())).commit();
        let boxed = |_: &StrategyContext| -> Box<dyn ProcessingStrategy<Payload>> {
            Box::new(CommitOffsets::new())
        };
        let _ = ProcessingStrategyFactory::<Payload>::create(&concrete, &context());
        let _ = ProcessingStrategyFactory::<Payload>::create(&boxed, &context());
    }
}
