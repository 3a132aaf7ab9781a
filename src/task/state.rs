//! The task's state word: flags and a reference count packed into one `AtomicUsize`.
//!
//! Wakers may live on any thread, so everything a waker reads or writes about its task goes
//! through this one atomic word. Packing the flags and the count together means that a wake
//! (check "not yet scheduled, not finished", set "scheduled", keep a reference for the run
//! queue) is a single compare-and-swap.
//!
//! ```text
//!  bit:  63 ............................ 4    3              2          1          0
//!        [        reference count         ] [JOIN_INTEREST] [CANCELLED] [COMPLETE] [SCHEDULED]
//! ```

use std::sync::atomic::{AtomicUsize, Ordering};

/// The task sits in a run queue (the local one or the inbox) and will be polled.
///
/// Set by a wake when neither `SCHEDULED` nor `COMPLETE` is set, and by `spawn`. Cleared by the
/// runtime just before it polls the task, so a wake that arrives during the poll queues it again.
///
/// The flag *is* a reference: while it is set, the queue entry keeps the task's memory alive,
/// even when the count below is zero. That saves a second atomic operation per wake.
pub(crate) const SCHEDULED: usize = 1 << 0;

/// The future is gone: it returned `Ready`, panicked, or was cancelled. The stage now holds the
/// output (or nothing). Set once, by the runtime, on the task's home thread. Never cleared.
pub(crate) const COMPLETE: usize = 1 << 1;

/// `JoinHandle::abort` asked for cancellation. The runtime drops the future the next time it
/// picks the task from the queue, unless the task completed first. Set on the home thread.
pub(crate) const CANCELLED: usize = 1 << 2;

/// A `JoinHandle` exists and wants the output. Set at spawn, cleared when the handle is dropped.
/// When the task completes without it, the runtime drops the output at once.
pub(crate) const JOIN_INTEREST: usize = 1 << 3;

/// One reference in the count. Wakers, the `JoinHandle` and the runtime's owned-task list each
/// hold one.
pub(crate) const REF_ONE: usize = 1 << 4;

/// A snapshot of the state word.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) struct Snapshot(usize);

impl Snapshot {
    pub(crate) fn is_scheduled(self) -> bool {
        self.0 & SCHEDULED != 0
    }
    pub(crate) fn is_complete(self) -> bool {
        self.0 & COMPLETE != 0
    }
    pub(crate) fn is_cancelled(self) -> bool {
        self.0 & CANCELLED != 0
    }
    pub(crate) fn has_join_interest(self) -> bool {
        self.0 & JOIN_INTEREST != 0
    }
    pub(crate) fn ref_count(self) -> usize {
        self.0 / REF_ONE
    }
    /// True when nothing keeps the task alive: no counted reference and no queue entry.
    pub(crate) fn is_unreferenced(self) -> bool {
        self.ref_count() == 0 && !self.is_scheduled()
    }
}

impl std::fmt::Debug for Snapshot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("State")
            .field("scheduled", &self.is_scheduled())
            .field("complete", &self.is_complete())
            .field("cancelled", &self.is_cancelled())
            .field("join_interest", &self.has_join_interest())
            .field("refs", &self.ref_count())
            .finish()
    }
}

/// What a consuming wake (`Waker::wake`) must do after its state transition.
pub(crate) enum WakeByValue {
    /// The waker's reference became the queue's: push the task onto a run queue.
    Schedule,
    /// Nothing to schedule; the waker's reference was dropped and it was the last one.
    Dealloc,
    /// Nothing to do.
    Nothing,
}

/// The task's state word.
pub(crate) struct State(AtomicUsize);

impl State {
    /// A new task: scheduled (it is about to be pushed onto the run queue), wanted by its
    /// `JoinHandle`, and referenced twice (the handle and the runtime's owned-task list).
    pub(crate) fn new() -> State {
        State(AtomicUsize::new(SCHEDULED | JOIN_INTEREST | (2 * REF_ONE)))
    }

    pub(crate) fn load(&self) -> Snapshot {
        Snapshot(self.0.load(Ordering::Acquire))
    }

    /// Adds one reference (a cloned waker).
    pub(crate) fn ref_inc(&self) {
        let prev = self.0.fetch_add(REF_ONE, Ordering::Relaxed);
        // Like `Arc`: a count this large means references are being leaked in a loop.
        if prev > isize::MAX as usize {
            std::process::abort();
        }
    }

    /// Drops one reference. Returns true when the caller must free the task.
    pub(crate) fn ref_dec(&self) -> bool {
        let prev = Snapshot(self.0.fetch_sub(REF_ONE, Ordering::AcqRel));
        debug_assert!(prev.ref_count() >= 1, "reference count underflow: {prev:?}");
        prev.ref_count() == 1 && !prev.is_scheduled()
    }

    /// A wake that keeps its waker (`wake_by_ref`). Returns true when the caller must push
    /// the task onto a run queue; the `SCHEDULED` flag it set is the queue entry's reference.
    pub(crate) fn schedule_by_ref(&self) -> bool {
        let mut current = self.0.load(Ordering::Acquire);
        loop {
            if current & (SCHEDULED | COMPLETE) != 0 {
                return false;
            }
            match self.0.compare_exchange_weak(
                current,
                current | SCHEDULED,
                Ordering::AcqRel,
                Ordering::Acquire,
            ) {
                Ok(_) => return true,
                Err(actual) => current = actual,
            }
        }
    }

    /// A wake that consumes its waker (`wake`). The waker's reference either turns into the
    /// queue's `SCHEDULED` reference or is dropped, in the same compare-and-swap.
    pub(crate) fn schedule_by_value(&self) -> WakeByValue {
        let mut current = self.0.load(Ordering::Acquire);
        loop {
            debug_assert!(
                Snapshot(current).ref_count() >= 1,
                "{:?}",
                Snapshot(current)
            );
            let idle = current & (SCHEDULED | COMPLETE) == 0;
            let next = if idle {
                (current - REF_ONE) | SCHEDULED
            } else {
                current - REF_ONE
            };
            match self
                .0
                .compare_exchange_weak(current, next, Ordering::AcqRel, Ordering::Acquire)
            {
                Ok(_) if idle => return WakeByValue::Schedule,
                Ok(_) if Snapshot(next).is_unreferenced() => return WakeByValue::Dealloc,
                Ok(_) => return WakeByValue::Nothing,
                Err(actual) => current = actual,
            }
        }
    }

    /// The runtime took the task off a queue: clears `SCHEDULED` and so releases the queue's
    /// reference. Returns the state from before.
    pub(crate) fn unschedule(&self) -> Snapshot {
        Snapshot(self.0.fetch_and(!SCHEDULED, Ordering::AcqRel))
    }

    /// Marks the future as gone. Returns the state from before.
    pub(crate) fn complete(&self) -> Snapshot {
        Snapshot(self.0.fetch_or(COMPLETE, Ordering::AcqRel))
    }

    /// Asks for cancellation. Returns true when the caller must push the task onto a run queue
    /// (it was idle); the runtime cancels it when it picks it up.
    pub(crate) fn request_cancel(&self) -> bool {
        let mut current = self.0.load(Ordering::Acquire);
        loop {
            if current & (COMPLETE | CANCELLED) != 0 {
                return false;
            }
            let next = current | CANCELLED | SCHEDULED;
            match self
                .0
                .compare_exchange_weak(current, next, Ordering::AcqRel, Ordering::Acquire)
            {
                Ok(_) => return current & SCHEDULED == 0,
                Err(actual) => current = actual,
            }
        }
    }

    /// The `JoinHandle` goes away: it gives up its interest in the output, before anything
    /// else it does (its reference goes last, with [`ref_dec`](State::ref_dec)). Returns the
    /// state from before.
    ///
    /// Clearing the flag first is what makes the handle's drop safe against re-entrancy: once
    /// it is clear, a completion that happens while the handle drops its waker (user code, which
    /// may run the runtime) drops the output itself, on the home thread, instead of leaving it
    /// for a handle that is no longer looking.
    pub(crate) fn drop_join_interest(&self) -> Snapshot {
        let prev = Snapshot(self.0.fetch_and(!JOIN_INTEREST, Ordering::AcqRel));
        debug_assert!(prev.has_join_interest(), "{prev:?}");
        prev
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn new_task_is_scheduled_with_two_references() {
        let s = State::new().load();
        assert!(s.is_scheduled() && s.has_join_interest() && !s.is_complete());
        assert_eq!(s.ref_count(), 2);
    }

    #[test]
    fn wake_by_ref_schedules_once() {
        let state = State::new();
        state.unschedule();
        assert!(state.schedule_by_ref());
        assert!(
            !state.schedule_by_ref(),
            "a second wake before the poll must not queue again"
        );
        state.unschedule();
        assert!(state.schedule_by_ref());
    }

    #[test]
    fn no_wake_after_completion() {
        let state = State::new();
        state.unschedule();
        state.complete();
        assert!(!state.schedule_by_ref());
        assert!(!state.request_cancel());
    }

    #[test]
    fn wake_by_value_moves_the_reference_into_the_queue() {
        let state = State::new();
        state.unschedule();
        state.ref_inc(); // a waker
        assert!(matches!(state.schedule_by_value(), WakeByValue::Schedule));
        let s = state.load();
        assert!(s.is_scheduled());
        assert_eq!(s.ref_count(), 2);
    }

    #[test]
    fn last_reference_is_reported_once() {
        let state = State::new();
        state.unschedule();
        state.complete();
        assert!(state.drop_join_interest().is_complete());
        assert!(!state.ref_dec(), "the owned reference is left");
        assert!(state.ref_dec(), "the owned reference was the last one");
    }

    #[test]
    fn a_queued_task_is_not_freed_by_its_last_counted_reference() {
        let state = State::new();
        state.complete();
        state.drop_join_interest();
        assert!(!state.ref_dec());
        assert!(!state.ref_dec(), "the queue entry still holds the task");
        assert!(state.unschedule().is_scheduled());
        assert!(state.load().is_unreferenced());
    }

    #[test]
    fn cancel_schedules_an_idle_task_only() {
        let state = State::new();
        assert!(!state.request_cancel(), "already queued");
        let state = State::new();
        state.unschedule();
        assert!(state.request_cancel());
        assert!(!state.request_cancel(), "cancel is requested once");
        assert!(state.load().is_cancelled());
    }
}
