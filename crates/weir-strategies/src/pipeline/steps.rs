//! The steps a [`Pipeline`](crate::Pipeline) offers: each holds its
//! settings until the pipeline is built, then becomes its strategy.
//!
//! `T` in a step's type is the message type it takes; the builder fills it
//! in, so nobody writes these types by hand.

use std::future::Future;
use std::marker::PhantomData;
use std::path::PathBuf;
use std::time::Duration;

use serde::de::DeserializeOwned;
use weir_core::{Codec, Destination, Payload, Produced, Producer};

use crate::pipeline::Step;
use crate::{
    Batch, Borrowing, Decode, Filter, Healthcheck, KeyedRunTask, ProcessingStrategy, Produce,
    Reduce, RunTask, RunTaskAsync, RunTaskBlocking, TaskError, Unbatch, Unfold,
};

/// How long a batch waits to fill up by default.
const DEFAULT_MAX_TIME: Duration = Duration::from_secs(1);

/// How many messages a reduce folds into one batch by default.
const DEFAULT_MAX_MESSAGES: usize = 1000;

/// How many produces wait for the broker at once by default.
const DEFAULT_MAX_IN_FLIGHT: usize = 1000;

/// [`Pipeline::filter`](crate::Pipeline::filter).
pub struct FilterStep<F, T> {
    predicate: F,
    types: PhantomData<fn(&T)>,
}

impl<F, T> FilterStep<F, T> {
    pub(crate) fn new(predicate: F) -> Self {
        FilterStep {
            predicate,
            types: PhantomData,
        }
    }
}

impl<N, F, T> Step<N> for FilterStep<F, T>
where
    F: FnMut(&T) -> bool,
{
    type Strategy = Filter<F, N>;

    fn wrap(self, next: N) -> Self::Strategy {
        Filter::new(self.predicate, next)
    }
}

/// [`Pipeline::map`](crate::Pipeline::map).
pub struct MapStep<F, T> {
    function: F,
    types: PhantomData<fn(T)>,
}

impl<F, T> MapStep<F, T> {
    pub(crate) fn new(function: F) -> Self {
        MapStep {
            function,
            types: PhantomData,
        }
    }
}

impl<N, F, T, U> Step<N> for MapStep<F, T>
where
    F: FnMut(T) -> Result<U, TaskError>,
{
    type Strategy = RunTask<F, N, U>;

    fn wrap(self, next: N) -> Self::Strategy {
        RunTask::new(self.function, next)
    }
}

/// [`Pipeline::map_ref`](crate::Pipeline::map_ref).
pub struct MapRefStep<F> {
    function: F,
}

impl<F> MapRefStep<F> {
    pub(crate) fn new(function: F) -> Self {
        MapRefStep { function }
    }
}

impl<N, F, U> Step<N> for MapRefStep<F>
where
    F: FnMut(&Payload) -> Result<U, TaskError>,
{
    type Strategy = RunTask<Borrowing<F>, N, U>;

    fn wrap(self, next: N) -> Self::Strategy {
        RunTask::borrowing(self.function, next)
    }
}

/// [`Pipeline::map_async`](crate::Pipeline::map_async).
pub struct MapAsyncStep<F, T> {
    function: F,
    pub(crate) concurrency: usize,
    types: PhantomData<fn(T)>,
}

impl<F, T> MapAsyncStep<F, T> {
    pub(crate) fn new(function: F) -> Self {
        MapAsyncStep {
            function,
            concurrency: 1,
            types: PhantomData,
        }
    }
}

impl<N, F, Fut, T, U> Step<N> for MapAsyncStep<F, T>
where
    F: FnMut(T) -> Fut,
    Fut: Future<Output = Result<U, TaskError>> + Send + 'static,
{
    type Strategy = RunTaskAsync<F, N, U>;

    fn wrap(self, next: N) -> Self::Strategy {
        RunTaskAsync::new(self.function, self.concurrency, next)
    }
}

/// [`Pipeline::map_blocking`](crate::Pipeline::map_blocking).
pub struct MapBlockingStep<F, T> {
    function: F,
    pub(crate) threads: usize,
    pub(crate) max_pending: Option<usize>,
    types: PhantomData<fn(T)>,
}

impl<F, T> MapBlockingStep<F, T> {
    pub(crate) fn new(function: F) -> Self {
        MapBlockingStep {
            function,
            threads: 1,
            max_pending: None,
            types: PhantomData,
        }
    }
}

impl<N, F, T, U> Step<N> for MapBlockingStep<F, T>
where
    F: Fn(T) -> Result<U, TaskError>,
{
    type Strategy = RunTaskBlocking<F, N, U>;

    fn wrap(self, next: N) -> Self::Strategy {
        let step = RunTaskBlocking::new(self.function, self.threads, next);
        match self.max_pending {
            Some(n) => step.max_pending(n),
            None => step,
        }
    }
}

/// [`Pipeline::keyed`](crate::Pipeline::keyed).
pub struct KeyedStep<KF, F, T> {
    key: KF,
    function: F,
    pub(crate) concurrency: usize,
    pub(crate) max_pending: Option<usize>,
    types: PhantomData<fn(T)>,
}

impl<KF, F, T> KeyedStep<KF, F, T> {
    pub(crate) fn new(key: KF, function: F) -> Self {
        KeyedStep {
            key,
            function,
            concurrency: 1,
            max_pending: None,
            types: PhantomData,
        }
    }
}

impl<N, KF, F, Fut, K, T, U> Step<N> for KeyedStep<KF, F, T>
where
    KF: Fn(&T) -> K,
    F: FnMut(T) -> Fut,
    Fut: Future<Output = Result<U, TaskError>> + Send + 'static,
{
    type Strategy = KeyedRunTask<KF, F, K, T, U, N>;

    fn wrap(self, next: N) -> Self::Strategy {
        let step = KeyedRunTask::new(self.key, self.function, self.concurrency, next);
        match self.max_pending {
            Some(n) => step.max_pending(n),
            None => step,
        }
    }
}

/// [`Pipeline::unfold`](crate::Pipeline::unfold).
pub struct UnfoldStep<F, T> {
    function: F,
    types: PhantomData<fn(T)>,
}

impl<F, T> UnfoldStep<F, T> {
    pub(crate) fn new(function: F) -> Self {
        UnfoldStep {
            function,
            types: PhantomData,
        }
    }
}

impl<N, F, I, T, U> Step<N> for UnfoldStep<F, T>
where
    F: FnMut(T) -> I,
    I: IntoIterator<Item = U>,
{
    type Strategy = Unfold<F, N, U>;

    fn wrap(self, next: N) -> Self::Strategy {
        Unfold::new(self.function, next)
    }
}

type SizeFn<T> = Box<dyn Fn(&T) -> usize + Send>;

/// [`Pipeline::reduce`](crate::Pipeline::reduce).
pub struct ReduceStep<T, I, F> {
    initial: I,
    fold: F,
    pub(crate) max_messages: usize,
    pub(crate) max_time: Duration,
    pub(crate) size: Option<SizeFn<T>>,
    pub(crate) flush_empty: bool,
}

impl<T, I, F> ReduceStep<T, I, F> {
    pub(crate) fn new(initial: I, fold: F) -> Self {
        ReduceStep {
            initial,
            fold,
            max_messages: DEFAULT_MAX_MESSAGES,
            max_time: DEFAULT_MAX_TIME,
            size: None,
            flush_empty: false,
        }
    }
}

impl<N, T, A, I, F> Step<N> for ReduceStep<T, I, F>
where
    T: 'static,
    I: Fn() -> A,
    F: FnMut(A, T) -> A,
{
    type Strategy = Reduce<T, A, I, F, N>;

    fn wrap(self, next: N) -> Self::Strategy {
        let mut step = Reduce::new(
            self.initial,
            self.fold,
            self.max_messages,
            self.max_time,
            next,
        );
        if let Some(size) = self.size {
            step = step.batch_size_fn(size);
        }
        if self.flush_empty {
            step = step.flush_empty_batches(true);
        }
        step
    }
}

/// [`Pipeline::batch`](crate::Pipeline::batch).
pub struct BatchStep<T> {
    max_messages: usize,
    pub(crate) max_time: Duration,
    types: PhantomData<fn(T)>,
}

impl<T> BatchStep<T> {
    pub(crate) fn new(max_messages: usize) -> Self {
        BatchStep {
            max_messages,
            max_time: DEFAULT_MAX_TIME,
            types: PhantomData,
        }
    }
}

impl<N, T> Step<N> for BatchStep<T> {
    type Strategy = Batch<T, N>;

    fn wrap(self, next: N) -> Self::Strategy {
        Batch::new(self.max_messages, self.max_time, next)
    }
}

/// [`Pipeline::unbatch`](crate::Pipeline::unbatch).
pub struct UnbatchStep<T> {
    types: PhantomData<fn(T)>,
}

impl<T> UnbatchStep<T> {
    pub(crate) fn new() -> Self {
        UnbatchStep { types: PhantomData }
    }
}

impl<N, T> Step<N> for UnbatchStep<T> {
    type Strategy = Unbatch<T, N>;

    fn wrap(self, next: N) -> Self::Strategy {
        Unbatch::new(next)
    }
}

/// [`Pipeline::decode`](crate::Pipeline::decode).
pub struct DecodeStep<T, C> {
    codec: C,
    types: PhantomData<fn() -> T>,
}

impl<T, C> DecodeStep<T, C> {
    pub(crate) fn new(codec: C) -> Self {
        DecodeStep {
            codec,
            types: PhantomData,
        }
    }
}

impl<N, T, C> Step<N> for DecodeStep<T, C>
where
    T: DeserializeOwned + 'static,
    C: Codec,
{
    type Strategy = Decode<T, N>;

    fn wrap(self, next: N) -> Self::Strategy {
        Decode::new(self.codec, next)
    }
}

/// [`Pipeline::produce`](crate::Pipeline::produce).
pub struct ProduceStep<P> {
    producer: P,
    destination: Destination,
    pub(crate) max_in_flight: usize,
}

impl<P> ProduceStep<P> {
    pub(crate) fn new(producer: P, destination: Destination) -> Self {
        ProduceStep {
            producer,
            destination,
            max_in_flight: DEFAULT_MAX_IN_FLIGHT,
        }
    }
}

impl<N, P> Step<N> for ProduceStep<P>
where
    P: Producer + Clone,
    N: ProcessingStrategy<Produced>,
{
    type Strategy = Produce<P, N>;

    fn wrap(self, next: N) -> Self::Strategy {
        Produce::new(self.producer, self.destination, self.max_in_flight, next)
    }
}

/// [`Pipeline::healthcheck`](crate::Pipeline::healthcheck).
pub struct HealthcheckStep {
    path: PathBuf,
}

impl HealthcheckStep {
    pub(crate) fn new(path: PathBuf) -> Self {
        HealthcheckStep { path }
    }
}

impl<N> Step<N> for HealthcheckStep {
    type Strategy = Healthcheck<N>;

    fn wrap(self, next: N) -> Self::Strategy {
        Healthcheck::new(self.path, next)
    }
}
