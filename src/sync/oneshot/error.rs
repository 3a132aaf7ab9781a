//! The oneshot channel's errors. Each says which case it is with an `is_*()` predicate.

use std::fmt;

/// The error from awaiting a [`Receiver`](super::Receiver) when no value will come: its
/// [`Sender`](super::Sender) was dropped without sending one, or the receiver was
/// [closed](super::Receiver::close) first.
///
/// # Examples
///
/// ```
/// let (tx, mut rx) = minirt::sync::oneshot::channel::<u8>();
/// drop(tx);
/// assert!(rx.try_recv().unwrap_err().is_closed());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RecvError(pub(super) ());

impl fmt::Display for RecvError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("the oneshot channel closed without a value")
    }
}

impl std::error::Error for RecvError {}

/// The error from [`Receiver::try_recv`](super::Receiver::try_recv).
///
/// # Examples
///
/// ```
/// let (_tx, mut rx) = minirt::sync::oneshot::channel::<u8>();
/// let err = rx.try_recv().unwrap_err();
/// assert!(err.is_empty() && !err.is_closed());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TryRecvError {
    /// No value yet; one may still come.
    Empty,
    /// No value will ever come: the sender was dropped, the channel was closed, or the value was
    /// already taken.
    Closed,
}

impl TryRecvError {
    /// Whether no value has arrived yet but one still may.
    ///
    /// # Examples
    ///
    /// ```
    /// assert!(minirt::sync::oneshot::TryRecvError::Empty.is_empty());
    /// ```
    pub fn is_empty(&self) -> bool {
        matches!(self, TryRecvError::Empty)
    }

    /// Whether no value will ever arrive.
    ///
    /// # Examples
    ///
    /// ```
    /// assert!(minirt::sync::oneshot::TryRecvError::Closed.is_closed());
    /// ```
    pub fn is_closed(&self) -> bool {
        matches!(self, TryRecvError::Closed)
    }
}

impl fmt::Display for TryRecvError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            TryRecvError::Empty => "no value has been sent on the oneshot channel yet",
            TryRecvError::Closed => "the oneshot channel is closed",
        })
    }
}

impl std::error::Error for TryRecvError {}
