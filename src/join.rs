//! Combinators over futures and tasks: `join_all` (asyncio's `gather`), `try_join_all`,
//! `wait`, and `yield_now`.
//!
//! `join_all` and `try_join_all` run their futures *inside* the task that awaits them: no
//! spawn, no `'static` bound, and the futures may borrow local data. Each time the task is
//! woken they poll every future that has not finished yet, so a wake costs O(n); that is the
//! right trade for the handful of futures a `gather` usually holds. For thousands, spawn tasks
//! and `wait` on their handles instead.

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use crate::task::{JoinError, JoinHandle};

/// Waits for every future and returns their outputs in input order. This is asyncio's
/// `gather`.
///
/// ```
/// use std::time::Duration;
///
/// let outputs = minirt::run(async {
///     let work = |ms: u64| async move {
///         minirt::sleep(Duration::from_millis(ms)).await;
///         ms
///     };
///     minirt::join_all([work(20), work(5), work(10)]).await
/// });
/// assert_eq!(outputs, [20, 5, 10]);
/// ```
#[doc(alias = "gather")]
pub fn join_all<I>(futures: I) -> JoinAll<I::Item>
where
    I: IntoIterator,
    I::Item: Future,
{
    JoinAll {
        set: FutureSet::new(futures),
    }
}

/// The future returned by [`join_all`].
#[must_use = "futures do nothing unless you `.await` them"]
pub struct JoinAll<F: Future> {
    set: FutureSet<F, F::Output>,
}

impl<F: Future> Future for JoinAll<F> {
    type Output = Vec<F::Output>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Vec<F::Output>> {
        let set = &mut self.get_mut().set;
        match set.poll_running(cx, Ok::<_, Infallible>) {
            Ok(true) => Poll::Ready(set.take_outputs()),
            Ok(false) => Poll::Pending,
        }
    }
}

/// Waits for every future of `Result`s. Returns all the `Ok` values in input order, or the
/// first `Err` as soon as it appears; the futures still running are then dropped, which
/// cancels them.
///
/// # Differences from asyncio
///
/// `asyncio.gather(*aws)` without `return_exceptions` raises the first exception but leaves
/// the other awaitables running. Here they are dropped, which cancels them (their work
/// stops at its current `.await`). To keep them running, spawn them and await the
/// [`JoinHandle`]s; to cancel a whole set on failure and wait for it to end, use a
/// [`TaskGroup`](crate::TaskGroup).
///
/// # Errors
/// The first error any future returns.
///
/// ```
/// let out: Result<Vec<u32>, String> = minirt::run(async {
///     let check = |n: u32| async move {
///         if n < 10 { Ok(n) } else { Err(format!("{n} is too big")) }
///     };
///     minirt::try_join_all([check(1), check(50), check(2)]).await
/// });
/// assert_eq!(out, Err("50 is too big".to_string()));
/// ```
pub fn try_join_all<I, T, E>(futures: I) -> TryJoinAll<I::Item, T, E>
where
    I: IntoIterator,
    I::Item: Future<Output = Result<T, E>>,
{
    TryJoinAll {
        set: FutureSet::new(futures),
    }
}

/// The future returned by [`try_join_all`].
#[must_use = "futures do nothing unless you `.await` them"]
pub struct TryJoinAll<F: Future<Output = Result<T, E>>, T, E> {
    set: FutureSet<F, T>,
}

impl<F, T, E> Future for TryJoinAll<F, T, E>
where
    F: Future<Output = Result<T, E>>,
{
    type Output = Result<Vec<T>, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<Vec<T>, E>> {
        let set = &mut self.get_mut().set;
        match set.poll_running(cx, |result| result) {
            Err(error) => Poll::Ready(Err(error)),
            Ok(true) => Poll::Ready(Ok(set.take_outputs())),
            Ok(false) => Poll::Pending,
        }
    }
}

/// Futures run side by side inside one task, and the outputs of those that finished.
///
/// Each future is boxed so that it stays pinned while the vectors are plain, movable data:
/// one small allocation per future buys code with no `unsafe` in it.
struct FutureSet<F, O> {
    running: Vec<Option<Pin<Box<F>>>>,
    outputs: Vec<Option<O>>,
    remaining: usize,
}

// The futures are pinned in their boxes and the outputs are never pinned, so the set itself
// may move freely, whatever `F` and `O` are.
impl<F, O> Unpin for FutureSet<F, O> {}

impl<F: Future, O> FutureSet<F, O> {
    fn new(futures: impl IntoIterator<Item = F>) -> Self {
        let running: Vec<_> = futures.into_iter().map(|f| Some(Box::pin(f))).collect();
        let remaining = running.len();
        FutureSet {
            outputs: running.iter().map(|_| None).collect(),
            running,
            remaining,
        }
    }

    /// Polls every future still running and stores what `accept` makes of each output.
    /// Returns `Ok(true)` once all are done, or the first `Err` that `accept` returns.
    fn poll_running<E>(
        &mut self,
        cx: &mut Context<'_>,
        accept: impl Fn(F::Output) -> Result<O, E>,
    ) -> Result<bool, E> {
        for (slot, output) in self.running.iter_mut().zip(&mut self.outputs) {
            if let Some(future) = slot
                && let Poll::Ready(value) = future.as_mut().poll(cx)
            {
                *slot = None;
                self.remaining -= 1;
                *output = Some(accept(value)?);
            }
        }
        Ok(self.remaining == 0)
    }

    fn take_outputs(&mut self) -> Vec<O> {
        self.outputs
            .drain(..)
            .map(|output| output.expect("`join_all` polled after it completed"))
            .collect()
    }
}

/// When [`wait`] returns. This is asyncio's `return_when`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReturnWhen {
    /// As soon as any task has finished.
    FirstCompleted,
    /// As soon as any task has failed (panicked or been cancelled), or when all have finished.
    ///
    /// Differs from asyncio's `FIRST_EXCEPTION`, which does not count a cancelled task as an
    /// exception: here a task cancelled by [`JoinHandle::abort`] returns too.
    FirstException,
    /// When every task has finished.
    AllCompleted,
}

/// What [`wait`] returns: the tasks that finished, and those still running.
#[derive(Debug)]
pub struct WaitOutcome<T> {
    /// Each finished task's index in the input and its result, in the order they were seen
    /// finishing (tasks found finished in the same turn are in input order).
    pub done: Vec<(usize, Result<T, JoinError>)>,
    /// The handles of the tasks still running, with their input index. They keep running;
    /// dropping a handle detaches its task.
    pub pending: Vec<(usize, JoinHandle<T>)>,
}

/// Waits on spawned tasks until `when` is met. This is asyncio's `asyncio.wait`.
///
/// ```
/// use minirt::ReturnWhen;
/// use std::time::Duration;
///
/// minirt::run(async {
///     let quick = minirt::spawn(async { "quick" });
///     let slow = minirt::spawn(async {
///         minirt::sleep(Duration::from_secs(5)).await;
///         "slow"
///     });
///     let outcome = minirt::wait(vec![quick, slow], ReturnWhen::FirstCompleted).await;
///     assert_eq!(outcome.done.len(), 1);
///     assert_eq!(outcome.done[0].0, 0);
///     assert_eq!(outcome.pending[0].0, 1);
///     outcome.pending[0].1.abort();
/// });
/// ```
pub fn wait<T>(handles: Vec<JoinHandle<T>>, when: ReturnWhen) -> Wait<T> {
    Wait {
        pending: handles.into_iter().map(Some).collect(),
        done: Vec::new(),
        when,
    }
}

/// The future returned by [`wait`].
#[must_use = "futures do nothing unless you `.await` them"]
pub struct Wait<T> {
    pending: Vec<Option<JoinHandle<T>>>,
    done: Vec<(usize, Result<T, JoinError>)>,
    when: ReturnWhen,
}

// Handles and results are never pinned.
impl<T> Unpin for Wait<T> {}

impl<T> Future for Wait<T> {
    type Output = WaitOutcome<T>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<WaitOutcome<T>> {
        let this = self.get_mut();
        let mut failed = false;
        for (index, slot) in this.pending.iter_mut().enumerate() {
            if let Some(handle) = slot
                && let Poll::Ready(result) = Pin::new(handle).poll(cx)
            {
                *slot = None;
                failed |= result.is_err();
                this.done.push((index, result));
            }
        }
        let all_done = this.pending.iter().all(Option::is_none);
        let ready = match this.when {
            ReturnWhen::AllCompleted => all_done,
            ReturnWhen::FirstCompleted => all_done || !this.done.is_empty(),
            ReturnWhen::FirstException => {
                all_done || failed || this.done.iter().any(|d| d.1.is_err())
            }
        };
        if !ready {
            return Poll::Pending;
        }
        Poll::Ready(WaitOutcome {
            done: std::mem::take(&mut this.done),
            pending: this
                .pending
                .drain(..)
                .enumerate()
                .filter_map(|(index, slot)| Some((index, slot?)))
                .collect(),
        })
    }
}

/// Lets every other ready task run once before this one continues. This is asyncio's
/// `await asyncio.sleep(0)`.
///
/// The first poll wakes its own task and returns `Pending`; the second returns `Ready`. A
/// spawned task goes to the back of the FIFO run queue, so every task that was ready before
/// it runs first. The future given to `block_on` is not in the run queue: the loop polls it
/// again after at most [`DEFAULT_EVENT_INTERVAL`](crate::DEFAULT_EVENT_INTERVAL) other tasks
/// (see [`Builder::event_interval`](crate::Builder::event_interval)).
///
/// ```
/// use std::{cell::RefCell, rc::Rc};
///
/// let order = minirt::run(async {
///     let order = Rc::new(RefCell::new(Vec::new()));
///     let o = order.clone();
///     let other = minirt::spawn(async move { o.borrow_mut().push("other") });
///     minirt::yield_now().await;
///     order.borrow_mut().push("main");
///     other.await.unwrap();
///     order.take()
/// });
/// assert_eq!(order, ["other", "main"]);
/// ```
#[doc(alias = "sleep(0)")]
pub fn yield_now() -> YieldNow {
    YieldNow { yielded: false }
}

/// The future returned by [`yield_now`].
#[derive(Debug)]
#[must_use = "futures do nothing unless you `.await` them"]
pub struct YieldNow {
    yielded: bool,
}

impl Future for YieldNow {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if self.yielded {
            return Poll::Ready(());
        }
        self.yielded = true;
        cx.waker().wake_by_ref();
        Poll::Pending
    }
}
