//! The thread-local context: how code running inside `block_on` finds its runtime.
//!
//! While `block_on` (or the runtime's shutdown) runs, a thread-local pointer, [`CONTEXT`],
//! names the runtime's [`Local`] half. `spawn`, wakers, sockets and timers use it to reach the
//! run queue, the reactor and the timer wheel without a handle passed around. Wakers compare
//! it with their task's runtime to choose the local run queue (same thread) or the inbox.

use std::cell::Cell;
use std::io;
use std::marker::PhantomData;
use std::ptr;
use std::rc::Rc;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll};

use futures_task::ArcWake;

use super::{Local, Shared};
use crate::blocking::BlockingPool;
use crate::reactor::Reactor;
use crate::task::Notified;
use crate::time::Clock;

thread_local! {
    /// The runtime whose `block_on` (or drop) is running on this thread, or null.
    ///
    /// # Invariant
    /// Non-null only while an [`Enter`] guard is alive, and then it points to the `Local` that
    /// guard borrows (`Enter<'a>` holds a `&'a Local`, so the `Local` outlives the guard).
    /// Guards live on the stack and restore the previous value when they drop, even during an
    /// unwind, so the pointer always names a `Local` whose borrow is still alive up the stack.
    pub(super) static CONTEXT: Cell<*const Local> = const { Cell::new(ptr::null()) };
}

/// Sets [`CONTEXT`] for as long as it lives, and borrows the `Local` it names for as long.
pub(super) struct Enter<'a> {
    previous: *const Local,
    _local: PhantomData<&'a Local>,
}

impl<'a> Enter<'a> {
    /// Enters `local` for `block_on`: fails if a runtime is already running on this thread.
    pub(super) fn block_on(local: &'a Local) -> Enter<'a> {
        let previous = CONTEXT.with(|c| c.replace(local));
        if !previous.is_null() {
            CONTEXT.with(|c| c.set(previous));
            panic!(
                "minirt: `block_on` called while a runtime is already running on this thread; \
                 use `.await` inside async code, or `spawn`"
            );
        }
        Enter {
            previous,
            _local: PhantomData,
        }
    }

    /// Enters `local` for its shutdown, even inside another runtime's `block_on`.
    pub(super) fn shutdown(local: &'a Local) -> Enter<'a> {
        Enter {
            previous: CONTEXT.with(|c| c.replace(local)),
            _local: PhantomData,
        }
    }
}

impl Drop for Enter<'_> {
    fn drop(&mut self) {
        CONTEXT.with(|c| c.set(self.previous));
    }
}

/// Runs `f` with the current runtime's `Local`, or returns `None` outside a runtime.
#[inline]
pub(crate) fn with_current<R>(f: impl FnOnce(&Local) -> R) -> Option<R> {
    let current = CONTEXT.with(Cell::get);
    // SAFETY: the `CONTEXT` invariant.
    unsafe { current.as_ref() }.map(f)
}

/// Runs `f` with the current runtime's clock, or returns `None` outside a runtime.
#[inline]
pub(crate) fn with_clock<R>(f: impl FnOnce(&Clock) -> R) -> Option<R> {
    with_current(|local| f(&local.clock))
}

/// Runs `f` with the current runtime's blocking pool, or returns `None` outside a runtime.
pub(crate) fn with_blocking_pool<R>(f: impl FnOnce(&BlockingPool) -> R) -> Option<R> {
    let current = CONTEXT.with(Cell::get);
    // SAFETY: the `CONTEXT` invariant.
    unsafe { current.as_ref() }.map(|local| f(&local.blocking))
}

/// Spends one unit of the current task's I/O budget. Leaf I/O futures call this when the OS
/// says an operation is ready; `Pending` means "yield first": the task is already re-queued.
/// Outside a runtime there is no budget, and this is always `Ready`.
pub(crate) fn poll_budget(cx: &mut Context<'_>) -> Poll<()> {
    let current = CONTEXT.with(Cell::get);
    // SAFETY: the `CONTEXT` invariant.
    let Some(local) = (unsafe { current.as_ref() }) else {
        return Poll::Ready(());
    };
    match local.budget.get() {
        0 => {
            cx.waker().wake_by_ref();
            Poll::Pending
        }
        left => {
            local.budget.set(left - 1);
            Poll::Ready(())
        }
    }
}

/// The current runtime's reactor, for a new socket to register with.
///
/// # Errors
/// Outside a runtime: a socket made there could never be waited on.
pub(crate) fn current_reactor() -> io::Result<Rc<Reactor>> {
    let current = CONTEXT.with(Cell::get);
    // SAFETY: the `CONTEXT` invariant.
    match unsafe { current.as_ref() } {
        Some(local) => Ok(local.reactor.clone()),
        None => Err(io::Error::other(
            "minirt: sockets can only be created inside a runtime; create them in code run by \
             `minirt::run` or `Runtime::block_on`",
        )),
    }
}

/// Whether `reactor` is the current runtime's: only then can a task wait on its sockets.
pub(crate) fn is_current_reactor(reactor: &Reactor) -> bool {
    let current = CONTEXT.with(Cell::get);
    // SAFETY: the `CONTEXT` invariant.
    unsafe { current.as_ref() }.is_some_and(|local| ptr::eq(&*local.reactor, reactor))
}

/// Sends a woken task to its runtime's run queue: the local one when the wake happens on the
/// runtime's thread inside `block_on`, the inbox otherwise.
pub(crate) fn schedule(task: Notified) {
    let raw = task.raw();
    let current = CONTEXT.with(Cell::get);
    // SAFETY: the `CONTEXT` invariant: non-null means a live `Local`.
    if let Some(local) = unsafe { current.as_ref() }
        && Arc::ptr_eq(&local.shared, &raw.header().shared)
    {
        let source = local.wake_source.get();
        local.counters.wake(source, 1);
        local.observer.on_wake(raw.addr(), source, None);
        local.run_queue.borrow_mut().push_back(task);
        return;
    }
    // Once the task is in the inbox, the runtime may run and free it at any moment, and with
    // it the task's handle on `Shared`: keep our own for the `notify` that follows.
    let shared = raw.header().shared.clone();
    shared.schedule_remote(task);
}

/// The main future's waker: a flag, plus a wake of the loop (`Shared::wake_loop`) when woken
/// from elsewhere.
pub(super) struct MainWaker {
    pub(super) woken: AtomicBool,
    pub(super) shared: Arc<Shared>,
}

impl ArcWake for MainWaker {
    fn wake_by_ref(arc_self: &Arc<Self>) {
        if arc_self.woken.swap(true, Ordering::AcqRel) {
            return;
        }
        let current = CONTEXT.with(Cell::get);
        // SAFETY: the `CONTEXT` invariant.
        let on_loop = unsafe { current.as_ref() }
            .is_some_and(|local| Arc::ptr_eq(&local.shared, &arc_self.shared));
        if !on_loop {
            arc_self.shared.wake_loop();
        }
    }
}
