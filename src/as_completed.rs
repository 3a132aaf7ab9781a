//! [`as_completed`]: futures' outputs in the order they finish, as a [`Stream`]. asyncio's
//! `as_completed`.
//!
//! Like [`join_all`](crate::join_all), it runs the futures *inside* the task that polls the
//! stream: no spawn, no `'static` bound, and the futures may borrow local data. Each time the
//! task is woken it polls every future still running, so a wake costs O(n); that suits the
//! handful of futures `as_completed` usually gets. For thousands, spawn them into a
//! [`TaskGroup`](crate::TaskGroup) and use its `join_next`, which costs O(1) per result.

use std::collections::VecDeque;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use futures_core::Stream;

/// Runs `futures` side by side and yields each output as soon as its future finishes, in the
/// order they finish. This is asyncio's `as_completed`.
///
/// The returned [`AsCompleted`] is a [`Stream`]; [`AsCompleted::next`] awaits one output
/// without needing a stream extension crate. Futures that finish during the same poll are
/// yielded in input order.
///
/// # Differences from asyncio
///
/// asyncio's `as_completed` yields awaitables (or, since 3.13, the original tasks when used
/// with `async for`); this yields the outputs themselves. Tag each future's output (for
/// example with its index, as below) to know which one finished. Dropping the stream drops
/// the futures still running, which cancels them; asyncio leaves its tasks running.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
///
/// minirt::run(async {
///     let work = |name: &'static str, ms: u64| async move {
///         minirt::sleep(Duration::from_millis(ms)).await;
///         name
///     };
///     let mut done = minirt::as_completed([work("slow", 30), work("fast", 5), work("mid", 15)]);
///     let mut order = Vec::new();
///     while let Some(name) = done.next().await {
///         order.push(name);
///     }
///     assert_eq!(order, ["fast", "mid", "slow"]);
/// });
/// ```
pub fn as_completed<I>(futures: I) -> AsCompleted<I::Item>
where
    I: IntoIterator,
    I::Item: Future,
{
    AsCompleted {
        running: futures.into_iter().map(Box::pin).collect(),
        finished: VecDeque::new(),
    }
}

/// The stream returned by [`as_completed`]: yields each future's output as it finishes.
///
/// # Examples
///
/// ```
/// minirt::run(async {
///     let mut done = minirt::as_completed([std::future::ready(1), std::future::ready(2)]);
///     assert_eq!(done.len(), 2);
///     assert_eq!(done.next().await, Some(1));
///     assert_eq!(done.next().await, Some(2));
///     assert_eq!(done.next().await, None);
/// });
/// ```
#[must_use = "streams do nothing unless polled; dropping this cancels the futures in it"]
pub struct AsCompleted<F: Future> {
    /// The futures still running, in input order. Each is boxed so that it stays pinned while
    /// the vector moves and shrinks.
    running: Vec<Pin<Box<F>>>,
    /// Outputs found finished and not yet yielded, in the order they were found.
    finished: VecDeque<F::Output>,
}

// The futures are pinned in their boxes and the outputs are never pinned.
impl<F: Future> Unpin for AsCompleted<F> {}

impl<F: Future> AsCompleted<F> {
    /// Waits for the next output; `None` once every future's output was yielded.
    ///
    /// Dropping the returned future loses nothing: an output it did not return stays for the
    /// next call.
    ///
    /// # Examples
    ///
    /// ```
    /// minirt::run(async {
    ///     let mut done = minirt::as_completed([std::future::ready(3)]);
    ///     assert_eq!(done.next().await, Some(3));
    /// });
    /// ```
    // An async `next`, as `StreamExt::next` is: not `Iterator::next`, which cannot wait.
    #[allow(clippy::should_implement_trait)]
    pub fn next(&mut self) -> NextCompleted<'_, F> {
        NextCompleted { stream: self }
    }

    /// How many outputs are still to come: futures running plus outputs not yet yielded.
    ///
    /// # Examples
    ///
    /// ```
    /// let done = minirt::as_completed([async { 1 }]);
    /// assert_eq!(done.len(), 1);
    /// ```
    pub fn len(&self) -> usize {
        self.running.len() + self.finished.len()
    }

    /// Whether every output has been yielded.
    ///
    /// # Examples
    ///
    /// ```
    /// let done = minirt::as_completed(Vec::<std::future::Ready<()>>::new());
    /// assert!(done.is_empty());
    /// ```
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl<F: Future> Stream for AsCompleted<F> {
    type Item = F::Output;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<F::Output>> {
        let this = self.get_mut();
        if this.finished.is_empty() {
            let finished = &mut this.finished;
            this.running
                .retain_mut(|future| match future.as_mut().poll(cx) {
                    Poll::Ready(output) => {
                        finished.push_back(output);
                        false
                    }
                    Poll::Pending => true,
                });
        }
        match this.finished.pop_front() {
            Some(output) => Poll::Ready(Some(output)),
            None if this.running.is_empty() => Poll::Ready(None),
            None => Poll::Pending,
        }
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (self.len(), Some(self.len()))
    }
}

impl<F: Future> fmt::Debug for AsCompleted<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AsCompleted")
            .field("running", &self.running.len())
            .field("finished", &self.finished.len())
            .finish()
    }
}

/// The future returned by [`AsCompleted::next`].
///
/// # Examples
///
/// ```
/// minirt::run(async {
///     let mut done = minirt::as_completed([async { 'a' }]);
///     let next = done.next();
///     assert_eq!(next.await, Some('a'));
/// });
/// ```
#[must_use = "futures do nothing unless awaited"]
pub struct NextCompleted<'a, F: Future> {
    stream: &'a mut AsCompleted<F>,
}

impl<F: Future> Future for NextCompleted<'_, F> {
    type Output = Option<F::Output>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<F::Output>> {
        Pin::new(&mut *self.stream).poll_next(cx)
    }
}

impl<F: Future> fmt::Debug for NextCompleted<'_, F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NextCompleted")
            .field("stream", &self.stream)
            .finish()
    }
}
