//! What a [`RunTask`](crate::RunTask) applies: a function of the payload,
//! taking it owned or borrowed.

use weir_core::Payload;

use crate::TaskError;

/// The function a [`RunTask`](crate::RunTask) applies to each payload.
///
/// Any `FnMut(T) -> Result<U, TaskError>` is one and takes its payload
/// owned. A [`Borrowing`] task (made by
/// [`RunTask::borrowing`](crate::RunTask::borrowing)) takes a `&Payload`,
/// and can then read the messages a consumer lends without a copy (see
/// [`ProcessingStrategy::submit_batch`](crate::ProcessingStrategy::submit_batch)).
pub trait Task<T, U>: Send {
    /// Whether [`call_lent`](Task::call_lent) may be called.
    const BORROWS: bool = false;

    /// Applies the task to an owned payload.
    fn call(&mut self, payload: T) -> Result<U, TaskError>;

    /// Applies the task to a lent payload; called only if
    /// [`BORROWS`](Task::BORROWS) (otherwise a fatal error).
    fn call_lent(&mut self, payload: &Payload) -> Result<U, TaskError> {
        let _ = payload;
        Err(TaskError::fatal("this task takes its payloads owned"))
    }
}

impl<T, U, F> Task<T, U> for F
where
    F: FnMut(T) -> Result<U, TaskError> + Send,
{
    #[inline]
    fn call(&mut self, payload: T) -> Result<U, TaskError> {
        self(payload)
    }
}

/// A task that borrows each payload; see [`RunTask::borrowing`](crate::RunTask::borrowing).
#[derive(Clone, Debug)]
pub struct Borrowing<F>(pub(crate) F);

impl<U, F> Task<Payload, U> for Borrowing<F>
where
    F: FnMut(&Payload) -> Result<U, TaskError> + Send,
{
    const BORROWS: bool = true;

    #[inline]
    fn call(&mut self, payload: Payload) -> Result<U, TaskError> {
        (self.0)(&payload)
    }

    #[inline]
    fn call_lent(&mut self, payload: &Payload) -> Result<U, TaskError> {
        (self.0)(payload)
    }
}
