//! Strategies that are another strategy under a new name and type (a
//! `Decode` is a `RunTask`, a `Batch` a `Reduce`) hand every call to it.

/// The body of a `ProcessingStrategy<$input>` impl that forwards every call
/// to the field `inner`.
macro_rules! forward_to_inner {
    ($input:ty) => {
        fn attach(&mut self, progress: &$crate::Progress) {
            self.inner.attach(progress);
        }

        fn submit(
            &mut self,
            message: $crate::Incoming<$input>,
        ) -> Result<(), $crate::SubmitError<$input>> {
            self.inner.submit(message)
        }

        fn submit_all(
            &mut self,
            queue: &mut std::collections::VecDeque<$crate::Incoming<$input>>,
        ) -> Result<(), $crate::StrategyError> {
            self.inner.submit_all(queue)
        }

        fn submit_batch(
            &mut self,
            batch: &mut weir_core::RecordBatch,
        ) -> Option<Result<(), $crate::StrategyError>> {
            self.inner.submit_batch(batch)
        }

        fn poll(&mut self) -> Result<Option<weir_core::CommitRequest>, $crate::StrategyError> {
            self.inner.poll()
        }

        fn close(&mut self) {
            self.inner.close();
        }

        fn terminate(&mut self) {
            self.inner.terminate();
        }

        fn join(&mut self, timeout: Option<std::time::Duration>) -> $crate::JoinFuture<'_> {
            self.inner.join(timeout)
        }
    };
}

/// Methods of a `ProcessingStrategy` impl that a step with a `stage` field
/// (a [`Stage`](crate::support::stage::Stage)) leaves to it: name the ones
/// the step does not write itself, e.g.
/// `delegate_to_stage!(attach, poll, close, terminate, join);`.
macro_rules! delegate_to_stage {
    ($($method:ident),+ $(,)?) => {
        $(delegate_to_stage!(@ $method);)+
    };
    (@ attach) => {
        fn attach(&mut self, progress: &$crate::Progress) {
            self.stage.attach(progress);
        }
    };
    (@ poll) => {
        fn poll(&mut self) -> Result<Option<weir_core::CommitRequest>, $crate::StrategyError> {
            self.stage.poll()
        }
    };
    (@ close) => {
        fn close(&mut self) {
            self.stage.close();
        }
    };
    (@ terminate) => {
        fn terminate(&mut self) {
            self.stage.terminate();
        }
    };
    (@ join) => {
        fn join(&mut self, timeout: Option<std::time::Duration>) -> $crate::JoinFuture<'_> {
            Box::pin(self.stage.join(timeout))
        }
    };
}
