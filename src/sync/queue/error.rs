//! The queue's errors. Each says which case it is with an `is_*()` predicate.

use std::error::Error;
use std::fmt;

/// Why a put failed. It carries the item back, so nothing is lost.
///
/// # Examples
///
/// ```
/// use minirt::sync::Queue;
///
/// let q = Queue::bounded(1);
/// q.put_nowait("a").unwrap();
/// let err = q.put_nowait("b").unwrap_err();
/// assert!(err.is_full());
/// assert_eq!(err.into_inner(), "b");
/// ```
#[derive(Clone, PartialEq, Eq)]
pub enum PutError<T> {
    /// The queue was full ([`put_nowait`](super::GenericQueue::put_nowait) only).
    Full(T),
    /// The queue was shut down.
    Shutdown(T),
}

impl<T> PutError<T> {
    /// Whether the queue was full.
    ///
    /// # Examples
    ///
    /// ```
    /// assert!(minirt::sync::PutError::Full(1).is_full());
    /// ```
    pub fn is_full(&self) -> bool {
        matches!(self, PutError::Full(_))
    }

    /// Whether the queue was shut down.
    ///
    /// # Examples
    ///
    /// ```
    /// assert!(minirt::sync::PutError::Shutdown(1).is_shutdown());
    /// ```
    pub fn is_shutdown(&self) -> bool {
        matches!(self, PutError::Shutdown(_))
    }

    /// The item that was not put.
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(minirt::sync::PutError::Full(1).into_inner(), 1);
    /// ```
    pub fn into_inner(self) -> T {
        match self {
            PutError::Full(item) | PutError::Shutdown(item) => item,
        }
    }
}

// By hand, so that the error is usable (`?`, `unwrap`) whatever `T` is.
impl<T> fmt::Debug for PutError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            PutError::Full(_) => "Full(..)",
            PutError::Shutdown(_) => "Shutdown(..)",
        })
    }
}

impl<T> fmt::Display for PutError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            PutError::Full(_) => "the queue is full",
            PutError::Shutdown(_) => "the queue was shut down",
        })
    }
}

impl<T> Error for PutError<T> {}

/// Why [`get_nowait`](super::GenericQueue::get_nowait) found nothing.
///
/// # Examples
///
/// ```
/// use minirt::sync::Queue;
///
/// let q = Queue::<u8>::new();
/// assert!(q.get_nowait().unwrap_err().is_empty());
/// q.shutdown();
/// assert!(q.get_nowait().unwrap_err().is_shutdown());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GetError {
    /// No item was free to take. Either the queue is empty, or every item in it is already
    /// promised to a `get` that was woken and has not run yet.
    Empty,
    /// The queue was shut down and has nothing left for this caller.
    Shutdown,
}

impl GetError {
    /// Whether there was no item to take (and the queue is still open).
    ///
    /// # Examples
    ///
    /// ```
    /// assert!(minirt::sync::GetError::Empty.is_empty());
    /// ```
    pub fn is_empty(&self) -> bool {
        matches!(self, GetError::Empty)
    }

    /// Whether the queue was shut down and drained.
    ///
    /// # Examples
    ///
    /// ```
    /// assert!(minirt::sync::GetError::Shutdown.is_shutdown());
    /// ```
    pub fn is_shutdown(&self) -> bool {
        matches!(self, GetError::Shutdown)
    }
}

impl fmt::Display for GetError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            GetError::Empty => "the queue is empty",
            GetError::Shutdown => "the queue was shut down and is empty",
        })
    }
}

impl Error for GetError {}

/// The queue was shut down and has no item left: what ends a worker's
/// `while let Ok(item) = queue.get().await` loop. asyncio's `QueueShutDown`.
///
/// # Examples
///
/// ```
/// let err = minirt::sync::QueueShutdown::default();
/// assert!(err.is_shutdown());
/// assert_eq!(err.to_string(), "the queue was shut down and is empty");
/// ```
#[doc(alias = "QueueShutDown")]
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct QueueShutdown;

impl QueueShutdown {
    /// Always true: there is one reason for this error. Here so that every queue error reads
    /// the same way.
    ///
    /// # Examples
    ///
    /// ```
    /// assert!(minirt::sync::QueueShutdown.is_shutdown());
    /// ```
    pub fn is_shutdown(&self) -> bool {
        true
    }
}

impl fmt::Display for QueueShutdown {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("the queue was shut down and is empty")
    }
}

impl Error for QueueShutdown {}

/// [`task_done`](super::GenericQueue::task_done) was called more times than items were put:
/// asyncio raises `ValueError` here. The count is left at zero.
///
/// # Examples
///
/// ```
/// let q = minirt::sync::Queue::<u8>::new();
/// let err = q.task_done().unwrap_err();
/// assert_eq!(err.to_string(), "task_done() called more times than items were put");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TaskDoneError(pub(super) ());

impl fmt::Display for TaskDoneError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("task_done() called more times than items were put")
    }
}

impl Error for TaskDoneError {}
