//! The queue's leaf futures: [`Put`], [`Get`] and [`Join`]. Each `poll` is one call into the
//! queue's `Permits` or `Flag`, and each `Drop` gives back a place in line it still holds.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use super::{GenericQueue, PutError, QueueShutdown, Storage};
use crate::sync::waiters::{WaitKey, cancel_on_drop};

/// The future returned by [`GenericQueue::put`]: resolves once the item is in the queue, or
/// gives it back if the queue was shut down first.
///
/// # Examples
///
/// ```
/// minirt::run(async {
///     let q = minirt::sync::Queue::bounded(1);
///     let put = q.put(1); // nothing happens until it is awaited
///     assert!(q.is_empty());
///     put.await.unwrap();
///     assert!(q.is_full());
/// });
/// ```
#[must_use = "futures do nothing unless awaited; the item is not put until this is awaited"]
pub struct Put<'a, S: Storage> {
    queue: &'a GenericQueue<S>,
    /// `Some` until the item goes in or comes back in an error.
    item: Option<S::Item>,
    /// Our place in line while waiting for room.
    key: Option<WaitKey>,
}

impl<'a, S: Storage> Put<'a, S> {
    pub(super) fn new(queue: &'a GenericQueue<S>, item: S::Item) -> Self {
        Put {
            queue,
            item: Some(item),
            key: None,
        }
    }
}

// The item is only ever moved, never pinned, so `Put` can be `Unpin` whatever the item is.
impl<S: Storage> Unpin for Put<'_, S> {}

impl<S: Storage> Future for Put<'_, S> {
    type Output = Result<(), PutError<S::Item>>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        let mut inner = this.queue.inner.borrow_mut();
        let acquired = ready!(inner.puts.poll_acquire(&mut this.key, cx));
        let item = this.item.take().expect("Put polled after it completed");
        if inner.shutdown {
            // A place promised before the shutdown goes back unused: after a shutdown nothing
            // gets in. (Nobody is waiting any more, so there is nobody to wake.)
            if acquired.is_ok() {
                let nobody = inner.puts.release();
                debug_assert!(nobody.is_none());
            }
            return Poll::Ready(Err(PutError::Shutdown(item)));
        }
        // `puts` is only ever closed by a shutdown, so here we hold a place.
        debug_assert!(acquired.is_ok());
        let waker = inner.push(item);
        drop(inner);
        if let Some(waker) = waker {
            waker.wake();
        }
        Poll::Ready(Ok(()))
    }
}

impl<S: Storage> Drop for Put<'_, S> {
    fn drop(&mut self) {
        // A free slot promised to us passes to the next putter.
        cancel_on_drop(&mut self.key, |key| {
            self.queue.inner.borrow_mut().puts.cancel(key)
        });
    }
}

impl<S: Storage> fmt::Debug for Put<'_, S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Put")
            .field("waiting", &self.key.is_some())
            .finish_non_exhaustive()
    }
}

/// The future returned by [`GenericQueue::get`]: resolves to the next item.
///
/// # Examples
///
/// ```
/// minirt::run(async {
///     let q = minirt::sync::Queue::new();
///     q.put_nowait('a').unwrap();
///     let get = q.get();
///     assert_eq!(get.await, Ok('a'));
/// });
/// ```
#[must_use = "futures do nothing unless awaited; no item is taken until this is awaited"]
pub struct Get<'a, S: Storage> {
    queue: &'a GenericQueue<S>,
    /// Our place in line while waiting for an item.
    key: Option<WaitKey>,
}

impl<'a, S: Storage> Get<'a, S> {
    pub(super) fn new(queue: &'a GenericQueue<S>) -> Self {
        Get { queue, key: None }
    }
}

impl<S: Storage> Future for Get<'_, S> {
    type Output = Result<S::Item, QueueShutdown>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let queue = self.queue;
        let mut inner = queue.inner.borrow_mut();
        if ready!(inner.gets.poll_acquire(&mut self.key, cx)).is_err() {
            return Poll::Ready(Err(QueueShutdown));
        }
        let (item, waker) = inner.pop();
        drop(inner);
        if let Some(waker) = waker {
            waker.wake();
        }
        Poll::Ready(Ok(item))
    }
}

impl<S: Storage> Drop for Get<'_, S> {
    fn drop(&mut self) {
        // If an item was promised to us, the promise passes to the next getter.
        cancel_on_drop(&mut self.key, |key| {
            self.queue.inner.borrow_mut().gets.cancel(key)
        });
    }
}

impl<S: Storage> fmt::Debug for Get<'_, S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Get")
            .field("waiting", &self.key.is_some())
            .finish_non_exhaustive()
    }
}

/// The future returned by [`GenericQueue::join`]: resolves when every item put has been marked
/// with `task_done`.
///
/// # Examples
///
/// ```
/// minirt::run(async {
///     let q = minirt::sync::Queue::new();
///     q.put_nowait(()).unwrap();
///     q.get_nowait().unwrap();
///     q.task_done().unwrap();
///     q.join().await; // nothing unfinished: returns at once
/// });
/// ```
#[must_use = "futures do nothing unless awaited; this one waits for every item to be done"]
pub struct Join<'a, S: Storage> {
    queue: &'a GenericQueue<S>,
    key: Option<WaitKey>,
}

impl<'a, S: Storage> Join<'a, S> {
    pub(super) fn new(queue: &'a GenericQueue<S>) -> Self {
        Join { queue, key: None }
    }
}

impl<S: Storage> Future for Join<'_, S> {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let queue = self.queue;
        let mut inner = queue.inner.borrow_mut();
        inner.all_done.poll_wait(&mut self.key, cx)
    }
}

impl<S: Storage> Drop for Join<'_, S> {
    fn drop(&mut self) {
        cancel_on_drop(&mut self.key, |key| {
            self.queue.inner.borrow_mut().all_done.cancel(key);
            None
        });
    }
}

impl<S: Storage> fmt::Debug for Join<'_, S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Join")
            .field("waiting", &self.key.is_some())
            .finish_non_exhaustive()
    }
}
