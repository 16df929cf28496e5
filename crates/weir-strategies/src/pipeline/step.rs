//! How steps written top-down become strategies nested inside-out.

/// A step waiting for the step after it: [`wrap`](Self::wrap) makes the
/// strategy that feeds `N`.
///
/// Every step the [`Pipeline`](crate::Pipeline) offers implements it; write
/// your own to add a custom strategy with
/// [`Pipeline::step`](crate::Pipeline::step).
///
/// ```
/// use weir_core::Payload;
/// use weir_strategies::pipeline::Step;
/// use weir_strategies::{Filter, Pipeline, ProcessingStrategy};
///
/// /// Drops empty payloads.
/// struct SkipEmpty;
///
/// impl<N: ProcessingStrategy<Payload>> Step<N> for SkipEmpty {
///     type Strategy = Filter<fn(&Payload) -> bool, N>;
///     fn wrap(self, next: N) -> Self::Strategy {
///         Filter::new(|p: &Payload| !p.value.is_empty(), next)
///     }
/// }
///
/// let pipeline = Pipeline::new().step::<Payload, _>(SkipEmpty).commit();
/// # let _ = pipeline;
/// ```
pub trait Step<N> {
    /// The strategy this step becomes in front of `N`.
    type Strategy;

    /// Makes the strategy that feeds `next`.
    fn wrap(self, next: N) -> Self::Strategy;
}

/// No step: a pipeline's start.
#[derive(Clone, Copy, Debug, Default)]
pub struct Identity;

impl<N> Step<N> for Identity {
    type Strategy = N;

    fn wrap(self, next: N) -> N {
        next
    }
}

/// The steps so far (`first`), then one more (`last`).
#[derive(Debug)]
pub struct Stack<First, Last> {
    first: First,
    last: Last,
}

impl<First, Last> Stack<First, Last> {
    pub(crate) fn new(first: First, last: Last) -> Self {
        Stack { first, last }
    }

    /// The step added last, for its settings.
    pub(crate) fn last_mut(&mut self) -> &mut Last {
        &mut self.last
    }
}

impl<N, First, Last> Step<N> for Stack<First, Last>
where
    Last: Step<N>,
    First: Step<Last::Strategy>,
{
    type Strategy = First::Strategy;

    /// The last step wraps `next` first; the steps before it wrap that.
    fn wrap(self, next: N) -> Self::Strategy {
        self.first.wrap(self.last.wrap(next))
    }
}
