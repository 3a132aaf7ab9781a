//! The task's `Waker`: a pointer to the task header and four functions.
//!
//! A waker is how a leaf future (a socket, a timer, a lock) tells the runtime "poll this task
//! again". minirt's waker is the task pointer itself, with no extra allocation. Waking flips the
//! task's `SCHEDULED` flag with one compare-and-swap and, if the flag was clear, hands the task
//! to [`crate::runtime::schedule`], which picks the local run queue on the runtime's own thread
//! and the inbox on any other.

use std::ptr::NonNull;
use std::task::{RawWaker, RawWakerVTable, Waker};

use super::raw::{Header, Notified, RawTask};
use super::state::WakeByValue;

static VTABLE: RawWakerVTable = RawWakerVTable::new(clone, wake, wake_by_ref, drop_waker);

/// A waker for `ptr` that holds no reference: the caller must not let it drop as a real waker
/// (wrap it in `ManuallyDrop`) and must keep the task alive while it is in use.
///
/// # Safety
/// `ptr` is a live task header.
pub(crate) unsafe fn borrowed(ptr: NonNull<Header>) -> Waker {
    // SAFETY: the vtable's functions uphold the `RawWaker` contract for task pointers: each
    // real waker holds one counted reference, taken in `clone` and given up in `wake`/`drop`.
    unsafe { Waker::from_raw(RawWaker::new(ptr.as_ptr() as *const (), &VTABLE)) }
}

/// # Safety
/// `ptr` comes from a waker made by this module, which keeps the task alive.
unsafe fn task(ptr: *const ()) -> RawTask {
    // SAFETY: forwarded from the caller; waker pointers are never null.
    unsafe { RawTask::from_raw(NonNull::new_unchecked(ptr as *mut Header)) }
}

/// `RawWakerVTable::clone`: one more counted reference.
///
/// # Safety
/// `ptr` is the data pointer of a live waker made by this module (a real one, or the borrowed
/// one of a poll in progress), so the task is alive for the duration of the call.
unsafe fn clone(ptr: *const ()) -> RawWaker {
    // SAFETY: called on a live waker, which keeps the task alive.
    unsafe { task(ptr) }.header().state.ref_inc();
    RawWaker::new(ptr, &VTABLE)
}

/// `RawWakerVTable::wake`: schedules the task and gives up the waker's reference, in one
/// compare-and-swap.
///
/// # Safety
/// `ptr` is the data pointer of a real (counted) waker made by this module, which this call
/// consumes. Never called on the borrowed waker of a poll: std only calls `wake` on an owned
/// `Waker`, and the borrowed one is kept in a `ManuallyDrop` that is never taken out.
unsafe fn wake(ptr: *const ()) {
    // SAFETY: called on a live waker, which keeps the task alive.
    let task = unsafe { task(ptr) };
    match task.header().state.schedule_by_value() {
        // SAFETY: `schedule_by_value` set `SCHEDULED` and moved our reference into it.
        WakeByValue::Schedule => crate::runtime::schedule(unsafe { Notified::from_raw(task) }),
        // SAFETY: our reference was the last one.
        WakeByValue::Dealloc => unsafe { task.dealloc() },
        WakeByValue::Nothing => {}
    }
}

/// `RawWakerVTable::wake_by_ref`: schedules the task; the waker keeps its reference.
///
/// # Safety
/// As for [`clone`]: a live waker made by this module.
unsafe fn wake_by_ref(ptr: *const ()) {
    // SAFETY: called on a live waker, which keeps the task alive.
    let task = unsafe { task(ptr) };
    if task.header().state.schedule_by_ref() {
        // SAFETY: `schedule_by_ref` just set `SCHEDULED`, which is the entry's reference.
        crate::runtime::schedule(unsafe { Notified::from_raw(task) });
    }
}

/// `RawWakerVTable::drop`: gives up the waker's reference, and frees the task if it was the
/// last one. This may happen on any thread: by the thread rule the stage is empty by then.
///
/// # Safety
/// As for [`wake`]: a real waker made by this module, consumed by this call.
unsafe fn drop_waker(ptr: *const ()) {
    // SAFETY: called on a live waker, which keeps the task alive until this line.
    let task = unsafe { task(ptr) };
    if task.header().state.ref_dec() {
        // SAFETY: our reference was the last one.
        unsafe { task.dealloc() }
    }
}
