//! The task's memory: a header followed by the stage, and the type-erased functions over them.
//!
//! The runtime stores tasks of many future types in one queue, so it sees only a pointer to
//! the [`Header`]. The header's [`Vtable`] holds the few functions that must know the future's
//! type: poll, cancel, read and drop the output, and free the memory. They are monomorphised
//! once per future type at `spawn`.

use std::alloc::Layout;
use std::cell::UnsafeCell;
use std::future::Future;
use std::mem::ManuallyDrop;
use std::panic::{self, AssertUnwindSafe, Location};
use std::pin::Pin;
use std::ptr::{self, NonNull};
use std::sync::Arc;
use std::task::{Context, Poll, Waker};

use super::join_handle::{JoinError, JoinHandle};
use super::state::State;
use super::waker;
use crate::memory;
use crate::runtime::Shared;

/// The part of a task that does not depend on the future's type.
///
/// `#[repr(C)]` with the header first in [`Cell`], so a pointer to the cell is a pointer to its
/// header and back.
#[repr(C)]
pub(crate) struct Header {
    pub(crate) state: State,
    vtable: &'static Vtable,
    /// The runtime this task belongs to. Wakers on other threads reach its inbox through it.
    pub(crate) shared: Arc<Shared>,
    /// The waker of whoever awaits the `JoinHandle`.
    ///
    /// # Invariant
    /// Touched only on the task's home thread (the thread rule, in the `task` module docs),
    /// and only through [`RawTask::replace_join_waker`] and its two siblings, whose borrow of
    /// the slot never spans a call into a waker: a waker is woken or dropped only after it has
    /// been moved out. So a waker's `Drop` that runs the runtime finds the slot free.
    join_waker: UnsafeCell<Option<Waker>>,
    /// Where `spawn` was called: names the task in warnings and traces.
    pub(crate) location: &'static Location<'static>,
    /// Where this task sits in the runtime's owned-task list.
    ///
    /// # Invariant
    /// Touched only on the task's home thread (the thread rule).
    pub(crate) owned_slot: UnsafeCell<u32>,
}

/// The whole allocation for a task running future `F`.
#[repr(C)]
pub(crate) struct Cell<F: Future> {
    header: Header,
    /// # Invariant
    /// Touched only on the task's home thread (the thread rule). The future inside is pinned:
    /// it is polled and dropped in place and never moved.
    stage: UnsafeCell<Stage<F>>,
}

/// The future, then its output, then nothing.
enum Stage<F: Future> {
    Running(F),
    Finished(Result<F::Output, JoinError>),
    Consumed,
}

/// The functions that know the future's type.
pub(crate) struct Vtable {
    /// Polls the future once. Returns true if it finished (the stage now holds the output).
    poll: unsafe fn(NonNull<Header>) -> bool,
    /// Drops the future and stores a "cancelled" output.
    cancel: unsafe fn(NonNull<Header>),
    /// Moves the output into `*mut Poll<Result<F::Output, JoinError>>`.
    read_output: unsafe fn(NonNull<Header>, *mut ()),
    /// Drops the output if it is still there.
    drop_output: unsafe fn(NonNull<Header>),
    /// Frees the allocation.
    dealloc: unsafe fn(NonNull<Header>),
}

/// Allocates a task for `future`. Returns the owned-list reference, the run-queue entry and
/// the `JoinHandle`, the three references that [`State::new`] counts.
pub(crate) fn allocate<F>(
    future: F,
    shared: Arc<Shared>,
    location: &'static Location<'static>,
) -> (TaskRef, Notified, JoinHandle<F::Output>)
where
    F: Future + 'static,
    F::Output: 'static,
{
    let cell = Cell {
        header: Header {
            state: State::new(),
            vtable: &Vtable {
                poll: poll::<F>,
                cancel: cancel::<F>,
                read_output: read_output::<F>,
                drop_output: drop_output::<F>,
                dealloc: dealloc::<F>,
            },
            shared,
            location,
            join_waker: UnsafeCell::new(None),
            owned_slot: UnsafeCell::new(u32::MAX),
        },
        stage: UnsafeCell::new(Stage::Running(future)),
    };
    let block = memory::alloc(Layout::new::<Cell<F>>()).cast::<Cell<F>>();
    // SAFETY: `memory::alloc` returns an unused block that fits `Cell<F>`'s layout.
    unsafe { block.as_ptr().write(cell) };
    let raw = RawTask(block.cast::<Header>());
    (TaskRef(raw), Notified(raw), JoinHandle::new(raw))
}

/// A pointer to a live task's header. `Copy`, and holds no reference by itself: the owner of
/// a `RawTask` must hold one of the references counted in the state word.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) struct RawTask(NonNull<Header>);

impl RawTask {
    /// # Safety
    /// `ptr` must point to a live task header, kept alive by a reference the caller holds.
    pub(crate) unsafe fn from_raw(ptr: NonNull<Header>) -> RawTask {
        RawTask(ptr)
    }

    /// The task's address, which identifies it while it is alive.
    pub(crate) fn addr(self) -> usize {
        self.0.as_ptr() as usize
    }

    pub(crate) fn header(&self) -> &Header {
        // SAFETY: a `RawTask` is only held together with a reference that keeps the task
        // allocated (see the type's docs).
        unsafe { self.0.as_ref() }
    }

    /// Polls the future. Returns true when it finished.
    ///
    /// # Safety
    /// On the home thread, with the future still in the stage.
    pub(crate) unsafe fn poll(self) -> bool {
        // SAFETY: forwarded from the caller.
        unsafe { (self.header().vtable.poll)(self.0) }
    }

    /// # Safety
    /// On the home thread, with the future still in the stage.
    pub(crate) unsafe fn cancel(self) {
        // SAFETY: forwarded from the caller.
        unsafe { (self.header().vtable.cancel)(self.0) }
    }

    /// # Safety
    /// On the home thread; `T` must be the future's output type.
    pub(crate) unsafe fn read_output<T>(self, dst: &mut Poll<Result<T, JoinError>>) {
        // SAFETY: forwarded from the caller, who guarantees the output type.
        unsafe { (self.header().vtable.read_output)(self.0, dst as *mut _ as *mut ()) }
    }

    /// # Safety
    /// On the home thread.
    pub(crate) unsafe fn drop_output(self) {
        // SAFETY: forwarded from the caller.
        unsafe { (self.header().vtable.drop_output)(self.0) }
    }

    /// Whether the `JoinHandle`'s stored waker would wake the same task as `waker`.
    ///
    /// # Safety
    /// On the home thread (the `join_waker` invariant).
    pub(crate) unsafe fn join_waker_will_wake(&self, waker: &Waker) -> bool {
        // SAFETY: home thread, so nothing else touches the slot; the borrow ends before we
        // return, and `will_wake` is std's pointer comparison, not user code.
        let slot = unsafe { &*self.header().join_waker.get() };
        slot.as_ref().is_some_and(|stored| stored.will_wake(waker))
    }

    /// Stores `waker` as the `JoinHandle`'s waker and returns the one it replaces, for the
    /// caller to drop *after* this borrow of the slot has ended: a waker's `Drop` is user code
    /// and may run the runtime, which takes the slot itself when the task completes.
    ///
    /// # Safety
    /// On the home thread (the `join_waker` invariant).
    pub(crate) unsafe fn replace_join_waker(&self, waker: Option<Waker>) -> Option<Waker> {
        // SAFETY: home thread; the only code that runs inside this borrow is the move.
        unsafe { std::mem::replace(&mut *self.header().join_waker.get(), waker) }
    }

    /// Takes the `JoinHandle`'s waker out of its slot, for the caller to wake or drop once the
    /// borrow has ended.
    ///
    /// # Safety
    /// On the home thread (the `join_waker` invariant).
    pub(crate) unsafe fn take_join_waker(&self) -> Option<Waker> {
        // SAFETY: forwarded from the caller.
        unsafe { self.replace_join_waker(None) }
    }

    /// # Safety
    /// No reference of any kind is left (the state word says unreferenced).
    pub(crate) unsafe fn dealloc(self) {
        // SAFETY: forwarded from the caller.
        unsafe { (self.header().vtable.dealloc)(self.0) }
    }
}

/// A counted reference to a task (see the `task` module docs).
pub(crate) struct TaskRef(RawTask);

// SAFETY: off the home thread a `TaskRef` does two things: it updates the atomic state word,
// and, as the last reference, frees the cell (`dealloc`). By the thread rule the stage is
// empty by then, so freeing touches no future and no output; the header's `Arc<Shared>` and
// `Option<Waker>` are `Send`. Everything that touches the stage runs on the home thread.
unsafe impl Send for TaskRef {}

impl TaskRef {
    /// Wraps a counted reference the caller holds, so that dropping the `TaskRef` gives it
    /// back, however the caller's scope ends (a guard against user code that panics).
    ///
    /// # Safety
    /// The caller owns one counted reference to `raw` and hands it over.
    pub(crate) unsafe fn adopt(raw: RawTask) -> TaskRef {
        TaskRef(raw)
    }

    pub(crate) fn raw(&self) -> RawTask {
        self.0
    }
}

impl Drop for TaskRef {
    fn drop(&mut self) {
        if self.0.header().state.ref_dec() {
            // SAFETY: `ref_dec` said this was the last reference of any kind.
            unsafe { self.0.dealloc() }
        }
    }
}

/// A run-queue entry. Its reference is the task's `SCHEDULED` flag, not a count.
pub(crate) struct Notified(RawTask);

// SAFETY: as for `TaskRef`: dropping an entry off the home thread (a wake into a closed inbox)
// clears `SCHEDULED` and may free an empty cell. Only the runtime *runs* an entry, on the home
// thread, and entries from other threads reach it through the inbox.
unsafe impl Send for Notified {}

impl Notified {
    /// # Safety
    /// The caller has just set `SCHEDULED` for this task and hands its reference over.
    pub(crate) unsafe fn from_raw(raw: RawTask) -> Notified {
        Notified(raw)
    }

    pub(crate) fn raw(&self) -> RawTask {
        self.0
    }

    /// Gives up the entry without running it, and returns the state from before.
    pub(crate) fn into_unscheduled(self) -> super::state::Snapshot {
        let raw = ManuallyDrop::new(self).0;
        let prev = raw.header().state.unschedule();
        if prev.ref_count() == 0 {
            // SAFETY: the entry was the last reference and `unschedule` released it.
            unsafe { raw.dealloc() }
        }
        prev
    }
}

impl Drop for Notified {
    fn drop(&mut self) {
        Notified(self.0).into_unscheduled();
    }
}

/// Polls the future of a `Cell<F>`; see [`Vtable::poll`].
///
/// # Safety
/// `ptr` is a live `Cell<F>` with the future still in its stage, on the home thread.
unsafe fn poll<F: Future>(ptr: NonNull<Header>) -> bool {
    // SAFETY: the caller promises a live `Cell<F>`.
    let cell = unsafe { ptr.cast::<Cell<F>>().as_ref() };
    let stage = cell.stage.get();
    // A waker that borrows the task for this poll only: it holds no reference, so it must not
    // be dropped as a real waker. Clones made from it are real, counted wakers.
    // SAFETY: the task outlives the poll (the caller holds a reference).
    let waker = ManuallyDrop::new(unsafe { waker::borrowed(ptr) });
    let mut cx = Context::from_waker(&waker);
    let polled = panic::catch_unwind(AssertUnwindSafe(|| {
        // SAFETY: the stage invariant: home thread, and nobody else borrows the stage now.
        let Stage::Running(future) = (unsafe { &mut *stage }) else {
            unreachable!("a finished task was polled")
        };
        // SAFETY: the future lives in the heap cell and is only ever dropped in place.
        unsafe { Pin::new_unchecked(future) }.poll(&mut cx)
    }));
    let output = match polled {
        Ok(Poll::Pending) => return false,
        Ok(Poll::Ready(value)) => Ok(value),
        Err(payload) => Err(JoinError::panicked(payload)),
    };
    // SAFETY: the poll is over, so nothing borrows the stage; home thread.
    unsafe { replace_future(stage, output) };
    true
}

/// # Safety
/// As for [`poll`].
unsafe fn cancel<F: Future>(ptr: NonNull<Header>) {
    // SAFETY: the caller promises a live `Cell<F>` on its home thread.
    let stage = unsafe { ptr.cast::<Cell<F>>().as_ref() }.stage.get();
    // SAFETY: as above; no borrow of the stage is alive.
    unsafe { replace_future(stage, Err(JoinError::cancelled())) };
}

/// Drops the future in place (it is pinned, so it must not be moved out) and stores `output`.
/// A panic in the future's `Drop` becomes the task's result, and `output`, no longer wanted,
/// is dropped under a guard too: its `Drop` is user code that may panic as well, and a panic
/// escaping here would leave the task finished but never completed.
///
/// # Safety
/// `stage` holds `Running`, on the home thread, with no other borrow alive.
unsafe fn replace_future<F: Future>(stage: *mut Stage<F>, output: Result<F::Output, JoinError>) {
    // SAFETY: forwarded from the caller. After `drop_in_place`, panicking or not, the old
    // value counts as dropped, so it is overwritten without a second drop.
    let dropped = panic::catch_unwind(AssertUnwindSafe(|| unsafe { ptr::drop_in_place(stage) }));
    let output = match dropped {
        Ok(()) => output,
        Err(payload) => {
            drop_guarded(output);
            Err(JoinError::panicked(payload))
        }
    };
    // SAFETY: as above.
    unsafe { ptr::write(stage, Stage::Finished(output)) };
}

/// Drops `value`, whose `Drop` is user code, and swallows a panic from it; the payload of that
/// panic is user code too, and is leaked should its own `Drop` panic.
fn drop_guarded<T>(value: T) {
    if let Err(payload) = panic::catch_unwind(AssertUnwindSafe(move || drop(value))) {
        if let Err(again) = panic::catch_unwind(AssertUnwindSafe(move || drop(payload))) {
            std::mem::forget(again);
        }
    }
}

/// # Safety
/// `ptr` is a live `Cell<F>` on its home thread, and `dst` points to a
/// `Poll<Result<F::Output, JoinError>>`.
unsafe fn read_output<F: Future>(ptr: NonNull<Header>, dst: *mut ()) {
    // SAFETY: the caller promises a live `Cell<F>` on its home thread; no borrow is alive.
    let stage = unsafe { &mut *ptr.cast::<Cell<F>>().as_ref().stage.get() };
    if !matches!(stage, Stage::Finished(_)) {
        panic!("`JoinHandle` polled after it returned its output");
    }
    let Stage::Finished(output) = std::mem::replace(stage, Stage::Consumed) else {
        unreachable!()
    };
    // SAFETY: the caller promises the type behind `dst`.
    unsafe { *(dst as *mut Poll<Result<F::Output, JoinError>>) = Poll::Ready(output) };
}

/// # Safety
/// `ptr` is a live `Cell<F>` whose future is gone, on its home thread.
unsafe fn drop_output<F: Future>(ptr: NonNull<Header>) {
    // SAFETY: the caller promises a live `Cell<F>` on its home thread; no borrow is alive.
    let stage = unsafe { &mut *ptr.cast::<Cell<F>>().as_ref().stage.get() };
    debug_assert!(
        !matches!(stage, Stage::Running(_)),
        "drop_output on a running task"
    );
    // The output's `Drop` is user code: move it out, and let the borrow end, before running it.
    let output = std::mem::replace(stage, Stage::Consumed);
    drop(output);
}

/// Frees the cell. Safe on any thread, because the stage is empty by then (the thread rule).
///
/// Should the stage still hold a future or an output, which the thread rule rules out, it is
/// neither dropped (that could be a `!Send` value on the wrong thread) nor freed: the cell is
/// leaked, and the process says so on stderr. This is a last line of defence, not a path.
///
/// # Safety
/// No reference to the task is left.
unsafe fn dealloc<F: Future>(ptr: NonNull<Header>) {
    let cell = ptr.cast::<Cell<F>>();
    // SAFETY: the caller promises this is the last use, so nothing else borrows the cell; only
    // the enum's tag is read, never the value inside.
    if !matches!(unsafe { &*cell.as_ref().stage.get() }, Stage::Consumed) {
        eprintln!(
            "minirt: bug: a task was freed with its future or output still inside; leaking it \
             rather than dropping it on the wrong thread"
        );
        return;
    }
    // SAFETY: the cell is ours alone (last use); this drops the header (the `Arc<Shared>`, an
    // empty or `Send` waker slot) and an empty stage, and nothing reads the cell after.
    unsafe { ptr::drop_in_place(cell.as_ptr()) };
    // SAFETY: the block came from `memory::alloc` with this layout (`allocate`), and is no
    // longer used.
    unsafe { memory::free(cell.cast(), Layout::new::<Cell<F>>()) };
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cell_size<F: Future>(_: &F) -> usize {
        std::mem::size_of::<Cell<F>>()
    }

    /// The figures quoted in the `task` module docs. A change that grows a task shows here.
    #[test]
    #[cfg(target_pointer_width = "64")]
    fn a_task_costs_what_the_docs_say() {
        assert_eq!(std::mem::size_of::<Header>(), 56);
        assert_eq!(cell_size(&async {}), 80);
    }
}
