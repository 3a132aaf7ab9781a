//! [`TaskGroup`]: structured concurrency, asyncio 3.11's `TaskGroup` and tokio's `JoinSet`.
//!
//! A group owns the tasks spawned into it. [`TaskGroup::join_next`] hands their results back in
//! the order they finish, [`TaskGroup::join_all`] (or [`TaskGroup::try_join_all`]) waits for
//! all of them, and when one fails (panics, or, in a [`fallible`](TaskGroup::fallible) group,
//! returns `Err`) the group cancels all the others at once. Dropping the group aborts whatever
//! is still running, so no task outlives the scope that made it by accident.
//!
//! # How it fits the loop
//!
//! Each member is an ordinary task made by [`spawn`](crate::spawn), wrapped in a small
//! `async` block that holds a `Finished` guard. Whichever way the member's future ends
//! (returns, panics, or is dropped because it was aborted or the runtime shut down), the guard
//! is dropped with it. Its `Drop` puts the member's slot number on the group's `ready` line and
//! wakes the tasks waiting in `join_next`. So `join_next` never polls every member: it looks at
//! the front of `ready`, and reads that member's output through its [`JoinHandle`]. The guard
//! fires a moment before the runtime stores the output; if `join_next` gets there first, the
//! handle's own waker brings it back once the output is in.
//!
//! A member that fails cancels its siblings from inside its own poll, through the handles the
//! group keeps: [`JoinHandle::abort`] only sets a flag and queues the task, so this runs no
//! user code and is safe while the group's lists are borrowed. The group uses only the public
//! [`JoinHandle`] API (`abort`, `poll`), and no `unsafe`.

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::error::Error;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll, Waker};

use crate::task::{JoinError, JoinHandle};

/// A set of tasks that run side by side and are joined as a group: asyncio's `TaskGroup`.
///
/// - [`spawn`](Self::spawn) starts a task in the group (asyncio's `create_task`).
/// - [`join_next`](Self::join_next) returns the next result in the order the tasks finish.
/// - [`join_all`](Self::join_all) waits for every task; [`try_join_all`](Self::try_join_all)
///   does the same for a group of `Result`s.
/// - When a task panics (or, in a group made with [`fallible`](Self::fallible), returns
///   `Err`), every other task in the group is aborted at once, and the joins report that first
///   failure.
/// - Dropping the group aborts every task still running in it.
///
/// Its methods take `&self`, so a group can be shared with `Rc` and spawned into from its own
/// tasks (asyncio's "a task adds work to its group"). A task holding an `Rc` of its own group
/// keeps the group alive, and so keeps it from aborting the others on drop, until it ends.
///
/// # Differences from asyncio
///
/// - Failing does not cancel the task that owns the group (asyncio cancels the body of the
///   `async with`). That task learns of the failure at its next `join_next`, `join_all` or
///   [`is_failed`](Self::is_failed).
/// - `join_all` returns the *first* failure; later ones are dropped. asyncio raises every
///   failure together in an `ExceptionGroup`.
/// - A child cancelled on its own (by [`abort_all`](Self::abort_all) here) does not make the
///   group fail, as in asyncio; its result is skipped by `join_all`.
/// - [`spawn`](Self::spawn) after a failure starts the task already aborted (asyncio 3.12+
///   raises `RuntimeError` instead); `join_next` reports it as cancelled.
/// - Dropping the group (asyncio: leaving the `async with` by an exception) aborts the
///   remaining tasks but cannot wait for them to end: they are dropped by the runtime the next
///   time it takes them off the run queue.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use minirt::TaskGroup;
///
/// minirt::run(async {
///     let group = TaskGroup::new();
///     for ms in [30, 10, 20] {
///         group.spawn(async move {
///             minirt::sleep(Duration::from_millis(ms)).await;
///             ms
///         });
///     }
///     // Results come back in the order the tasks finish.
///     assert_eq!(group.join_all().await.unwrap(), [10, 20, 30]);
/// });
/// ```
#[doc(alias = "JoinSet")]
pub struct TaskGroup<T> {
    shared: Rc<Shared<T>>,
}

/// What the group and its members' `Finished` guards share.
///
/// # Invariant
/// Every index in `ready` is an occupied slot of `handles`, at most once; a slot is freed only
/// by `join_next` after it has read the output, and only then goes back on `free`.
struct Shared<T> {
    /// One slot per member not yet joined.
    handles: RefCell<Vec<Option<JoinHandle<T>>>>,
    free: RefCell<Vec<usize>>,
    /// How many slots are occupied.
    members: Cell<usize>,
    /// Slots whose future has ended, in the order they ended.
    ready: RefCell<VecDeque<usize>>,
    /// Tasks waiting in `join_next`: each completion wakes them all.
    joiners: RefCell<Vec<Waker>>,
    /// Set by the first failure; from then on the group is cancelling.
    failed: Cell<bool>,
    /// Whether an output counts as a failure (a `fallible` group's `Err`).
    is_failure: fn(&T) -> bool,
}

impl<T> Shared<T> {
    /// Adds a joining task's waker to the list that every member's end wakes, once per task.
    fn register_joiner(&self, waker: &Waker) {
        let mut joiners = self.joiners.borrow_mut();
        if !joiners.iter().any(|w| w.will_wake(waker)) {
            joiners.push(waker.clone());
        }
    }

    /// The first failure cancels every other member, in the middle of the failing member's
    /// poll. `abort` only sets a flag and queues the task: no user code runs under the borrow.
    fn fail(&self, except: usize) {
        if self.failed.replace(true) {
            return;
        }
        self.abort_all(Some(except));
    }

    fn abort_all(&self, except: Option<usize>) {
        let handles = self.handles.borrow();
        for (index, handle) in handles.iter().enumerate() {
            if let Some(handle) = handle
                && Some(index) != except
            {
                handle.abort();
            }
        }
    }
}

/// Held by a member's future; dropped, whichever way that future ends, it reports the end.
struct Finished<T> {
    shared: Rc<Shared<T>>,
    index: usize,
}

impl<T> Finished<T> {
    /// The member returned `output`: a failure in a fallible group cancels the rest.
    fn returned(&self, output: &T) {
        if (self.shared.is_failure)(output) {
            self.shared.fail(self.index);
        }
    }
}

impl<T> Drop for Finished<T> {
    fn drop(&mut self) {
        // Dropped while unwinding: the member's future panicked (the runtime catches it and
        // keeps the panic for the handle).
        if std::thread::panicking() {
            self.shared.fail(self.index);
        }
        self.shared.ready.borrow_mut().push_back(self.index);
        let joiners = std::mem::take(&mut *self.shared.joiners.borrow_mut());
        // No borrow is held here.
        joiners.into_iter().for_each(Waker::wake);
    }
}

fn never_fails<T>(_: &T) -> bool {
    false
}

fn is_err<U, E>(output: &Result<U, E>) -> bool {
    output.is_err()
}

impl<T: 'static> TaskGroup<T> {
    /// An empty group, in which a panic fails the group. For tasks that return `Result` and
    /// should fail the group with their `Err`, use [`fallible`](Self::fallible).
    ///
    /// # Examples
    ///
    /// ```
    /// let group = minirt::TaskGroup::<u32>::new();
    /// assert!(group.is_empty());
    /// ```
    #[doc(alias = "TaskGroup")]
    pub fn new() -> Self {
        Self::with_failure(never_fails::<T>)
    }

    fn with_failure(is_failure: fn(&T) -> bool) -> Self {
        TaskGroup {
            shared: Rc::new(Shared {
                handles: RefCell::new(Vec::new()),
                free: RefCell::new(Vec::new()),
                members: Cell::new(0),
                ready: RefCell::new(VecDeque::new()),
                joiners: RefCell::new(Vec::new()),
                failed: Cell::new(false),
                is_failure,
            }),
        }
    }

    /// Spawns `future` as a task in the group. asyncio's `TaskGroup.create_task`.
    ///
    /// It starts running at once, like [`spawn`](crate::spawn); its result comes back through
    /// [`join_next`](Self::join_next) or [`join_all`](Self::join_all). If the group has already
    /// failed, the task is aborted before it ever runs.
    ///
    /// # Panics
    ///
    /// When called outside a runtime.
    ///
    /// # Examples
    ///
    /// ```
    /// minirt::run(async {
    ///     let group = minirt::TaskGroup::new();
    ///     group.spawn(async { 1 });
    ///     assert_eq!(group.len(), 1);
    ///     assert_eq!(group.join_next().await.unwrap().unwrap(), 1);
    /// });
    /// ```
    #[doc(alias = "create_task")]
    #[track_caller]
    pub fn spawn<F>(&self, future: F)
    where
        F: Future<Output = T> + 'static,
    {
        let shared = &self.shared;
        let index = shared.free.borrow_mut().pop().unwrap_or_else(|| {
            let mut handles = shared.handles.borrow_mut();
            handles.push(None);
            handles.len() - 1
        });
        // Made here, outside the `async` block, so that it is dropped even if the task is
        // aborted before its first poll.
        let finished = Finished {
            shared: shared.clone(),
            index,
        };
        let handle = crate::spawn(async move {
            let finished = finished;
            let output = future.await;
            finished.returned(&output);
            output
        });
        if shared.failed.get() {
            handle.abort();
        }
        shared.handles.borrow_mut()[index] = Some(handle);
        shared.members.set(shared.members.get() + 1);
    }

    /// Waits for the next task of the group to finish, and returns its result; `None` when the
    /// group has no task left. Results come in the order the tasks finished. A task that
    /// panicked gives `Err` with [`JoinError::is_panic`], one that was aborted `Err` with
    /// [`JoinError::is_cancelled`].
    ///
    /// Dropping the future loses nothing: a result it did not return stays for the next call.
    ///
    /// # Examples
    ///
    /// ```
    /// minirt::run(async {
    ///     let group = minirt::TaskGroup::new();
    ///     group.spawn(async { "a" });
    ///     group.spawn(async { panic!("b failed") });
    ///     assert_eq!(group.join_next().await.unwrap().unwrap(), "a");
    ///     assert!(group.join_next().await.unwrap().unwrap_err().is_panic());
    ///     assert!(group.join_next().await.is_none());
    /// });
    /// ```
    pub fn join_next(&self) -> JoinNext<'_, T> {
        JoinNext { group: self }
    }

    /// Waits for every task of the group, and returns their outputs in the order the tasks
    /// finished. asyncio's `async with TaskGroup()` exit.
    ///
    /// Tasks spawned while it waits are waited for too. Tasks that were aborted (by
    /// [`abort_all`](Self::abort_all)) are skipped.
    ///
    /// Dropping the future aborts the tasks still running in the group, as cancelling the
    /// body of an asyncio `async with TaskGroup()` cancels its children; outputs it had
    /// already collected are dropped with it.
    ///
    /// # Errors
    ///
    /// The first panic, as a [`JoinError`] (resume it with
    /// [`std::panic::resume_unwind`]`(err.into_panic())`). The other tasks were aborted when it
    /// happened, and have all ended by the time this returns.
    ///
    /// # Examples
    ///
    /// ```
    /// minirt::run(async {
    ///     let group = minirt::TaskGroup::new();
    ///     group.spawn(async { 1 });
    ///     group.spawn(async { 2 });
    ///     let mut all = group.join_all().await.unwrap();
    ///     all.sort();
    ///     assert_eq!(all, [1, 2]);
    /// });
    /// ```
    pub async fn join_all(&self) -> Result<Vec<T>, JoinError> {
        let abort_on_drop = AbortOnDrop(self);
        let mut outputs = Vec::new();
        let mut first_failure = None;
        while let Some(result) = self.join_next().await {
            match result {
                Ok(output) => outputs.push(output),
                Err(e) if e.is_panic() && first_failure.is_none() => first_failure = Some(e),
                Err(_) => {}
            }
        }
        std::mem::forget(abort_on_drop);
        match first_failure {
            Some(e) => Err(e),
            None => Ok(outputs),
        }
    }

    /// Asks every task still running in the group to stop. Their results come back from
    /// [`join_next`](Self::join_next) as cancelled. This is not a failure: the group can
    /// still be used.
    ///
    /// # Examples
    ///
    /// ```
    /// minirt::run(async {
    ///     let group = minirt::TaskGroup::new();
    ///     group.spawn(std::future::pending::<()>());
    ///     group.abort_all();
    ///     assert!(group.join_next().await.unwrap().unwrap_err().is_cancelled());
    ///     assert!(!group.is_failed());
    /// });
    /// ```
    pub fn abort_all(&self) {
        self.shared.abort_all(None);
    }

    /// How many tasks are in the group: running, or finished and not yet joined.
    ///
    /// # Examples
    ///
    /// ```
    /// minirt::run(async {
    ///     let group = minirt::TaskGroup::new();
    ///     group.spawn(async {});
    ///     assert_eq!(group.len(), 1);
    ///     group.join_next().await;
    ///     assert_eq!(group.len(), 0);
    /// });
    /// ```
    pub fn len(&self) -> usize {
        self.shared.members.get()
    }

    /// Whether the group has no task left to join.
    ///
    /// # Examples
    ///
    /// ```
    /// assert!(minirt::TaskGroup::<()>::new().is_empty());
    /// ```
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Whether a task of the group has failed (panicked, or returned `Err` in a
    /// [`fallible`](Self::fallible) group). From then on the group cancels every task in it.
    ///
    /// # Examples
    ///
    /// ```
    /// minirt::run(async {
    ///     let group = minirt::TaskGroup::new();
    ///     group.spawn(async { panic!("boom") });
    ///     minirt::yield_now().await;
    ///     assert!(group.is_failed());
    ///     assert!(group.join_all().await.is_err());
    /// });
    /// ```
    pub fn is_failed(&self) -> bool {
        self.shared.failed.get()
    }
}

impl<U: 'static, E: 'static> TaskGroup<Result<U, E>> {
    /// An empty group of fallible tasks: a task that returns `Err` fails the group (as a panic
    /// does), and every other task is aborted at once. asyncio's `TaskGroup`, where a child
    /// that raises cancels the rest.
    ///
    /// # Examples
    ///
    /// ```
    /// minirt::run(async {
    ///     let group = minirt::TaskGroup::fallible();
    ///     group.spawn(std::future::pending::<Result<u32, String>>());
    ///     group.spawn(async { Err("bad input".to_string()) });
    ///     let err = group.try_join_all().await.unwrap_err();
    ///     assert_eq!(err.into_failed(), Some("bad input".to_string()));
    /// });
    /// ```
    pub fn fallible() -> Self {
        Self::with_failure(is_err::<U, E>)
    }

    /// Waits for every task, like [`join_all`](Self::join_all), and unwraps their `Ok`s, in
    /// the order the tasks finished.
    ///
    /// Dropping the future aborts the tasks still running, as `join_all` does.
    ///
    /// # Errors
    ///
    /// The first failure: [`GroupError::Failed`] with the first `Err` a task returned, or
    /// [`GroupError::Panicked`] with the first panic. The other tasks were aborted, and have
    /// all ended by the time this returns. Tasks aborted by [`abort_all`](Self::abort_all) are
    /// skipped, not failures.
    ///
    /// # Examples
    ///
    /// ```
    /// minirt::run(async {
    ///     let group = minirt::TaskGroup::fallible();
    ///     group.spawn(async { Ok::<_, String>(1) });
    ///     assert_eq!(group.try_join_all().await, Ok(vec![1]));
    /// });
    /// ```
    pub async fn try_join_all(&self) -> Result<Vec<U>, GroupError<E>> {
        let abort_on_drop = AbortOnDrop(self);
        let mut outputs = Vec::new();
        let mut first_failure = None;
        while let Some(result) = self.join_next().await {
            let failure = match result {
                Ok(Ok(output)) => {
                    outputs.push(output);
                    continue;
                }
                Ok(Err(e)) => GroupError::Failed(e),
                Err(e) if e.is_panic() => GroupError::Panicked(e),
                Err(_) => continue,
            };
            if first_failure.is_none() {
                // A group made with `new` fails here, when the `Err` is seen.
                self.shared.fail(usize::MAX);
                first_failure = Some(failure);
            }
        }
        std::mem::forget(abort_on_drop);
        match first_failure {
            Some(e) => Err(e),
            None => Ok(outputs),
        }
    }
}

impl<T: 'static> Default for TaskGroup<T> {
    fn default() -> Self {
        TaskGroup::new()
    }
}

impl<T> Drop for TaskGroup<T> {
    fn drop(&mut self) {
        self.shared.abort_all(None);
        // Detach the handles outside the borrow: a finished task's output is dropped with its
        // handle, and an output's `Drop` is user code.
        let handles = std::mem::take(&mut *self.shared.handles.borrow_mut());
        drop(handles);
    }
}

impl<T> fmt::Debug for TaskGroup<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TaskGroup")
            .field("len", &self.shared.members.get())
            .field("failed", &self.shared.failed.get())
            .finish()
    }
}

/// Aborts the group's tasks if a `join_all` is dropped before it finished.
struct AbortOnDrop<'a, T>(&'a TaskGroup<T>);

impl<T> Drop for AbortOnDrop<'_, T> {
    fn drop(&mut self) {
        self.0.shared.abort_all(None);
    }
}

/// The future returned by [`TaskGroup::join_next`]: the next result, in completion order.
///
/// # Examples
///
/// ```
/// minirt::run(async {
///     let group = minirt::TaskGroup::new();
///     group.spawn(async { 7 });
///     let next = group.join_next();
///     assert_eq!(next.await.unwrap().unwrap(), 7);
/// });
/// ```
#[must_use = "futures do nothing unless awaited; this one waits for a task of the group"]
pub struct JoinNext<'a, T> {
    group: &'a TaskGroup<T>,
}

impl<T> Future for JoinNext<'_, T> {
    type Output = Option<Result<T, JoinError>>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let shared = &self.group.shared;
        let front = shared.ready.borrow().front().copied();
        let Some(index) = front else {
            if shared.members.get() == 0 {
                return Poll::Ready(None);
            }
            // Register; a member that ends later wakes us. (Members only end while their own
            // task runs, never during this poll, so nothing can slip in between.)
            shared.register_joiner(cx.waker());
            return Poll::Pending;
        };
        let mut handles = shared.handles.borrow_mut();
        let handle = handles[index]
            .as_mut()
            .expect("a ready index is an occupied slot");
        // The future has ended; the output is stored when the runtime finishes the task. Until
        // then the handle keeps our waker and wakes us when it is in.
        let Poll::Ready(result) = Pin::new(handle).poll(cx) else {
            drop(handles);
            // The handle keeps one waker only: if another task joins at the same time and
            // takes this result, it wakes us from the joiners' list (below).
            shared.register_joiner(cx.waker());
            return Poll::Pending;
        };
        let handle = handles[index].take();
        drop(handles);
        shared.ready.borrow_mut().pop_front();
        shared.free.borrow_mut().push(index);
        shared.members.set(shared.members.get() - 1);
        // Other tasks joining at the same time look again: at the next result, or at an empty
        // group. Our own waker is left out, so a lone joiner is not woken for nothing.
        let others: Vec<Waker> = {
            let mut joiners = shared.joiners.borrow_mut();
            joiners.retain(|w| !w.will_wake(cx.waker()));
            std::mem::take(&mut *joiners)
        };
        drop(handle);
        others.into_iter().for_each(Waker::wake);
        Poll::Ready(Some(result))
    }
}

impl<T> fmt::Debug for JoinNext<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JoinNext").finish_non_exhaustive()
    }
}

/// The first failure of a [`fallible`](TaskGroup::fallible) group, from
/// [`TaskGroup::try_join_all`]: a task returned `Err`, or panicked.
///
/// # Examples
///
/// ```
/// minirt::run(async {
///     let group = minirt::TaskGroup::fallible();
///     group.spawn(async { Err::<(), _>("no") });
///     let err = group.try_join_all().await.unwrap_err();
///     assert!(err.is_failed() && !err.is_panic());
///     assert_eq!(err.to_string(), "a task of the group failed: no");
/// });
/// ```
#[derive(Debug)]
pub enum GroupError<E> {
    /// A task returned this `Err`.
    Failed(E),
    /// A task panicked; the [`JoinError`] holds the panic.
    Panicked(JoinError),
}

impl<E> GroupError<E> {
    /// Whether a task returned `Err`.
    ///
    /// # Examples
    ///
    /// ```
    /// assert!(minirt::GroupError::Failed(1).is_failed());
    /// ```
    pub fn is_failed(&self) -> bool {
        matches!(self, GroupError::Failed(_))
    }

    /// Whether a task panicked.
    ///
    /// # Examples
    ///
    /// ```
    /// assert!(!minirt::GroupError::Failed(1).is_panic());
    /// ```
    pub fn is_panic(&self) -> bool {
        matches!(self, GroupError::Panicked(_))
    }

    /// The task's `Err`, if that was the failure.
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(minirt::GroupError::Failed(1).into_failed(), Some(1));
    /// ```
    pub fn into_failed(self) -> Option<E> {
        match self {
            GroupError::Failed(e) => Some(e),
            GroupError::Panicked(_) => None,
        }
    }
}

impl<E: PartialEq> PartialEq for GroupError<E> {
    /// Two failures are equal when both are equal `Err`s; panics are never equal.
    fn eq(&self, other: &Self) -> bool {
        match (self, other) {
            (GroupError::Failed(a), GroupError::Failed(b)) => a == b,
            _ => false,
        }
    }
}

impl<E: fmt::Display> fmt::Display for GroupError<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            GroupError::Failed(e) => write!(f, "a task of the group failed: {e}"),
            GroupError::Panicked(e) => write!(f, "a task of the group {e}"),
        }
    }
}

impl<E: fmt::Debug + fmt::Display> Error for GroupError<E> {}
