//! Helpers for the unit tests: a waker that counts its wakes, and polling a future by hand.
//!
//! Polling by hand is how these tests reach every `.await` deterministically: poll once so the
//! future registers, change the world (or drop the future), and look at the primitive's state.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::{Context, Poll, Waker};

use futures_task::ArcWake;

/// A waker that counts how often it was woken. Clones share the count.
#[derive(Clone, Default)]
pub(crate) struct CountingWaker(Arc<Counter>);

#[derive(Default)]
struct Counter(AtomicUsize);

impl ArcWake for Counter {
    fn wake_by_ref(arc_self: &Arc<Self>) {
        arc_self.0.fetch_add(1, Ordering::SeqCst);
    }
}

impl CountingWaker {
    pub(crate) fn new() -> Self {
        Self::default()
    }

    /// A `Waker` that bumps this counter. Every call gives a waker that `will_wake` the others.
    pub(crate) fn waker(&self) -> Waker {
        futures_task::waker(self.0.clone())
    }

    pub(crate) fn count(&self) -> usize {
        self.0.0.load(Ordering::SeqCst)
    }

    /// How many `Waker`s made by [`waker`](Self::waker) are still alive: a primitive that holds
    /// on to one after it no longer needs it shows up here.
    pub(crate) fn clones(&self) -> usize {
        Arc::strong_count(&self.0) - 1
    }

    /// Polls `fut` once with this waker.
    pub(crate) fn poll<F: Future + ?Sized>(&self, fut: Pin<&mut F>) -> Poll<F::Output> {
        fut.poll(&mut Context::from_waker(&self.waker()))
    }
}

/// Polls `fut` once with a waker that does nothing.
pub(crate) fn poll_once<F: Future + ?Sized>(fut: Pin<&mut F>) -> Poll<F::Output> {
    fut.poll(&mut Context::from_waker(futures_task::noop_waker_ref()))
}
