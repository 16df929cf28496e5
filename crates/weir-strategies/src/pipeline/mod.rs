//! Pipelines written top-down: the steps in the order a message takes them.
//!
//! A strategy wraps the next one, so built by hand a pipeline reads
//! inside-out (`Filter::new(f, RunTask::new(g, CommitOffsets::new()))`). A
//! [`Pipeline`] lists the same steps in the order a message meets them, with
//! each setting named, and builds the nested strategies only at the end
//! ([`commit`](Pipeline::commit) or [`end_with`](Pipeline::end_with)), as
//! tower's `ServiceBuilder` does for layers.
//!
//! The builder knows the type a message has after every step, so a step
//! that does not fit where it is written does not compile: `unbatch()`
//! needs a `Vec` before it, `produce(..)` and `decode(..)` need a
//! [`Payload`], and a function given to `map` must take what the step
//! before it made.
//!
//! ```
//! use std::time::Duration;
//! use weir_core::Payload;
//! use weir_strategies::Pipeline;
//!
//! let pipeline = Pipeline::new()
//!     .filter(|p: &Payload| !p.value.is_empty())
//!     .map(|p: Payload| Ok(p.value.len() as u64))
//!     .reduce(|| 0u64, |total, n| total + n)
//!     .max_messages(1000)
//!     .max_time(Duration::from_millis(100))
//!     .map(|total| {
//!         println!("{total} bytes");
//!         Ok(())
//!     })
//!     .commit();
//! # let _ = pipeline;
//! ```
//!
//! The result is an ordinary strategy (its concrete type, not a box), so a
//! factory closure may return it as it is.
//!
//! Steps out of order do not compile. `unbatch` needs batches before it:
//!
//! ```compile_fail
//! use weir_core::Payload;
//! use weir_strategies::Pipeline;
//! let p = Pipeline::new().map(|p: Payload| Ok(p.value.len())).unbatch().commit();
//! ```
//!
//! and is fine after `batch`:
//!
//! ```
//! use weir_core::Payload;
//! use weir_strategies::Pipeline;
//! let p = Pipeline::new().map(|p: Payload| Ok(p.value.len())).batch(10).unbatch().commit();
//! # let _ = p;
//! ```
//!
//! `produce` sends payloads, not what a `map` made of them:
//!
//! ```compile_fail
//! use weir_core::{Payload, Topic};
//! use weir_strategies::Pipeline;
//! # async fn f(producer: weir_memory::MemoryProducer) {
//! let p = Pipeline::new().map(|p: Payload| Ok(p.value.len())).produce(producer, Topic::new("out")).commit();
//! # }
//! ```
//!
//! A function must take what the step before it made:
//!
//! ```compile_fail
//! use weir_core::Payload;
//! use weir_strategies::Pipeline;
//! let p = Pipeline::new().map(|p: Payload| Ok(p.value.len())).map(|s: String| Ok(s)).commit();
//! ```

mod step;
mod steps;

use std::marker::PhantomData;
use std::path::PathBuf;
use std::time::Duration;

use serde::de::DeserializeOwned;
use weir_core::{Codec, Destination, Payload, Producer};

use crate::{CommitOffsets, ProcessingStrategy, TaskError};

pub use step::{Identity, Stack, Step};
pub use steps::{
    BatchStep, DecodeStep, FilterStep, HealthcheckStep, KeyedStep, MapAsyncStep, MapBlockingStep,
    MapRefStep, MapStep, ProduceStep, ReduceStep, UnbatchStep, UnfoldStep,
};

/// A pipeline being written, top-down: messages of type `In` enter it, and
/// the last step so far hands on messages of type `Out`.
///
/// `S` is the stack of steps so far; it is built into nested strategies by
/// [`commit`](Self::commit) or [`end_with`](Self::end_with). See the
/// [module documentation](self) for an example.
#[must_use = "a pipeline does nothing until `commit()` or `end_with(..)` builds it"]
pub struct Pipeline<In = Payload, Out = In, S = Identity> {
    steps: S,
    types: PhantomData<fn(In) -> Out>,
}

impl Pipeline {
    /// A pipeline of broker messages ([`Payload`]s), with no steps yet.
    pub fn new() -> Self {
        Pipeline::of()
    }

    /// A pipeline whose messages enter as `In` (a nested pipeline, or one
    /// fed by a custom step): `Pipeline::of::<Order>()`.
    pub fn of<In>() -> Pipeline<In, In, Identity> {
        Pipeline {
            steps: Identity,
            types: PhantomData,
        }
    }
}

impl Default for Pipeline {
    fn default() -> Self {
        Pipeline::new()
    }
}

impl<In, Out, S> std::fmt::Debug for Pipeline<In, Out, S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pipeline")
            .field("in", &std::any::type_name::<In>())
            .field("out", &std::any::type_name::<Out>())
            .finish_non_exhaustive()
    }
}

impl<In, Out, S> Pipeline<In, Out, S> {
    fn then<U, L>(self, step: L) -> Pipeline<In, U, Stack<S, L>> {
        Pipeline {
            steps: Stack::new(self.steps, step),
            types: PhantomData,
        }
    }

    /// Adds a step of your own: `step` wraps the next step into a strategy
    /// that takes `Out` and hands `U` to the next step.
    pub fn step<U, L>(self, step: L) -> Pipeline<In, U, Stack<S, L>> {
        self.then(step)
    }

    /// Keeps the messages for which `predicate` holds. A dropped message
    /// still carries its commit position on, so filtering never stalls
    /// commits ([`Filter`](crate::Filter)).
    pub fn filter<F>(self, predicate: F) -> Pipeline<In, Out, Stack<S, FilterStep<F, Out>>>
    where
        F: FnMut(&Out) -> bool + Send,
    {
        self.then(FilterStep::new(predicate))
    }

    /// Applies a quick function to each message, in the processor's task
    /// ([`RunTask`](crate::RunTask)). [`TaskError::Invalid`] sends the message
    /// to the dead-letter policy.
    pub fn map<U, F>(self, function: F) -> Pipeline<In, U, Stack<S, MapStep<F, Out>>>
    where
        F: FnMut(Out) -> Result<U, TaskError> + Send,
    {
        self.then(MapStep::new(function))
    }

    /// Runs an async function on each message as a tokio task, results
    /// handed on in order ([`RunTaskAsync`](crate::RunTaskAsync)). Set how
    /// many run at once with
    /// `concurrency(n)` (default 1).
    pub fn map_async<U, F, Fut>(
        self,
        function: F,
    ) -> Pipeline<In, U, Stack<S, MapAsyncStep<F, Out>>>
    where
        F: FnMut(Out) -> Fut + Send,
        Fut: Future<Output = Result<U, TaskError>> + Send + 'static,
    {
        self.then(MapAsyncStep::new(function))
    }

    /// Runs a CPU-heavy function on dedicated threads, results handed on in
    /// order ([`RunTaskBlocking`](crate::RunTaskBlocking)); set the threads
    /// with `threads(n)` (default 1).
    pub fn map_blocking<U, F>(
        self,
        function: F,
    ) -> Pipeline<In, U, Stack<S, MapBlockingStep<F, Out>>>
    where
        F: Fn(Out) -> Result<U, TaskError> + Send + Sync + 'static,
    {
        self.then(MapBlockingStep::new(function))
    }

    /// Runs an async function per message, in order for messages with the
    /// same `key`, in parallel for different keys
    /// ([`KeyedRunTask`](crate::KeyedRunTask)); set `concurrency(n)`
    /// (default 1).
    pub fn keyed<K, U, KF, F, Fut>(
        self,
        key: KF,
        function: F,
    ) -> Pipeline<In, U, Stack<S, KeyedStep<KF, F, Out>>>
    where
        KF: Fn(&Out) -> K + Send,
        F: FnMut(Out) -> Fut + Send,
        Fut: Future<Output = Result<U, TaskError>> + Send + 'static,
    {
        self.then(KeyedStep::new(key, function))
    }

    /// Turns each message into any number of messages
    /// ([`Unfold`](crate::Unfold)).
    pub fn unfold<U, I, F>(self, function: F) -> Pipeline<In, U, Stack<S, UnfoldStep<F, Out>>>
    where
        F: FnMut(Out) -> I + Send,
        I: IntoIterator<Item = U>,
    {
        self.then(UnfoldStep::new(function))
    }

    /// Folds messages into an accumulator, starting each batch from
    /// `initial()`, and hands it on when full or old
    /// ([`Reduce`](crate::Reduce)); set `max_messages(n)` (default 1000)
    /// and `max_time(d)` (default 1 s).
    pub fn reduce<A, I, F>(
        self,
        initial: I,
        fold: F,
    ) -> Pipeline<In, A, Stack<S, ReduceStep<Out, I, F>>>
    where
        I: Fn() -> A + Send,
        F: FnMut(A, Out) -> A + Send,
    {
        self.then(ReduceStep::new(initial, fold))
    }

    /// Gathers up to `max_messages` messages into a `Vec`
    /// ([`Batch`](crate::Batch)); set `max_time(d)` (default 1 s).
    pub fn batch(self, max_messages: usize) -> Pipeline<In, Vec<Out>, Stack<S, BatchStep<Out>>> {
        self.then(BatchStep::new(max_messages))
    }

    /// Touches a file whenever the pipeline is polled, for a liveness probe
    /// ([`Healthcheck`](crate::Healthcheck)).
    pub fn healthcheck(
        self,
        path: impl Into<PathBuf>,
    ) -> Pipeline<In, Out, Stack<S, HealthcheckStep>> {
        self.then(HealthcheckStep::new(path.into()))
    }

    /// Ends the pipeline: finished messages are committed
    /// ([`CommitOffsets`]).
    pub fn commit(self) -> S::Strategy
    where
        S: Step<CommitOffsets>,
        S::Strategy: ProcessingStrategy<In>,
    {
        self.steps.wrap(CommitOffsets::new())
    }

    /// Ends the pipeline with a strategy of your own, which receives what
    /// the last step made.
    pub fn end_with<N>(self, last: N) -> S::Strategy
    where
        N: ProcessingStrategy<Out>,
        S: Step<N>,
        S::Strategy: ProcessingStrategy<In>,
    {
        self.steps.wrap(last)
    }
}

impl<In, T, S> Pipeline<In, Vec<T>, S> {
    /// Hands on each item of a `Vec` as a message of its own
    /// ([`Unbatch`](crate::Unbatch)).
    pub fn unbatch(self) -> Pipeline<In, T, Stack<S, UnbatchStep<T>>> {
        self.then(UnbatchStep::new())
    }
}

impl<In, S> Pipeline<In, Payload, S> {
    /// Applies a quick function that only reads each payload, as
    /// [`map`](Self::map) does ([`RunTask::borrowing`](crate::RunTask::borrowing)).
    /// As a pipeline's first step it takes the messages a consumer lends
    /// without a copy of each (see
    /// [`ProcessingStrategy::submit_batch`]).
    ///
    /// ```
    /// use weir_core::Payload;
    /// use weir_strategies::Pipeline;
    /// let pipeline = Pipeline::new()
    ///     .map_ref(|p: &Payload| Ok(p.value.len()))
    ///     .commit();
    /// # let _ = pipeline;
    /// ```
    pub fn map_ref<U, F>(self, function: F) -> Pipeline<In, U, Stack<S, MapRefStep<F>>>
    where
        F: FnMut(&Payload) -> Result<U, TaskError> + Send,
    {
        self.then(MapRefStep::new(function))
    }

    /// Decodes each payload into `T` with `codec`; one that does not decode
    /// goes to the dead-letter policy naming its position
    /// ([`Decode`](crate::Decode)).
    pub fn decode<T, C>(self, codec: C) -> Pipeline<In, T, Stack<S, DecodeStep<T, C>>>
    where
        T: DeserializeOwned + Send + 'static,
        C: Codec,
    {
        self.then(DecodeStep::new(codec))
    }

    /// Produces each payload to `destination` (a topic or one partition)
    /// and hands on where it was stored, once the broker confirmed it
    /// ([`Produce`](crate::Produce)); set `max_in_flight(n)` (default 1000).
    pub fn produce<P>(
        self,
        producer: P,
        destination: impl Into<Destination>,
    ) -> Pipeline<In, weir_core::Produced, Stack<S, ProduceStep<P>>>
    where
        P: Producer + Clone,
    {
        self.then(ProduceStep::new(producer, destination.into()))
    }
}

impl<In, Out, S, F, T> Pipeline<In, Out, Stack<S, MapAsyncStep<F, T>>> {
    /// At most `n` (at least 1) tasks run at once.
    pub fn concurrency(mut self, n: usize) -> Self {
        self.steps.last_mut().concurrency = n.max(1);
        self
    }
}

impl<In, Out, S, KF, F, T> Pipeline<In, Out, Stack<S, KeyedStep<KF, F, T>>> {
    /// At most `n` (at least 1) tasks run at once.
    pub fn concurrency(mut self, n: usize) -> Self {
        self.steps.last_mut().concurrency = n.max(1);
        self
    }

    /// At most `n` messages held before the step refuses more (default:
    /// four times the concurrency).
    pub fn max_pending(mut self, n: usize) -> Self {
        self.steps.last_mut().max_pending = Some(n.max(1));
        self
    }
}

impl<In, Out, S, F, T> Pipeline<In, Out, Stack<S, MapBlockingStep<F, T>>> {
    /// Runs the function on `n` (at least 1) threads.
    pub fn threads(mut self, n: usize) -> Self {
        self.steps.last_mut().threads = n.max(1);
        self
    }

    /// At most `n` messages unfinished before the step refuses more
    /// (default: twice the threads).
    pub fn max_pending(mut self, n: usize) -> Self {
        self.steps.last_mut().max_pending = Some(n.max(1));
        self
    }
}

impl<In, Out, S, T, I, F> Pipeline<In, Out, Stack<S, ReduceStep<T, I, F>>> {
    /// A batch is handed on once it holds `n` messages (or their size, with
    /// [`size_of`](Self::size_of), reaches `n`).
    pub fn max_messages(mut self, n: usize) -> Self {
        self.steps.last_mut().max_messages = n.max(1);
        self
    }

    /// A batch is handed on once it is `d` old, however small.
    pub fn max_time(mut self, d: Duration) -> Self {
        self.steps.last_mut().max_time = d;
        self
    }

    /// Counts each message as `size(&message)` towards `max_messages`
    /// (bytes, say) instead of 1.
    pub fn size_of(mut self, size: impl Fn(&T) -> usize + Send + 'static) -> Self {
        self.steps.last_mut().size = Some(Box::new(size));
        self
    }

    /// Hands on an empty accumulator when the time runs out with nothing
    /// folded (a heartbeat).
    pub fn flush_empty(mut self, on: bool) -> Self {
        self.steps.last_mut().flush_empty = on;
        self
    }
}

impl<In, Out, S, T> Pipeline<In, Out, Stack<S, BatchStep<T>>> {
    /// A batch is handed on once it is `d` old, however small.
    pub fn max_time(mut self, d: Duration) -> Self {
        self.steps.last_mut().max_time = d;
        self
    }
}

impl<In, Out, S, P> Pipeline<In, Out, Stack<S, ProduceStep<P>>> {
    /// At most `n` (at least 1) produces wait for the broker at once.
    pub fn max_in_flight(mut self, n: usize) -> Self {
        self.steps.last_mut().max_in_flight = n.max(1);
        self
    }
}

#[cfg(test)]
mod tests;
