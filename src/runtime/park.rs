//! Where the loop sleeps when it waits for nothing but other threads.
//!
//! A runtime with no socket registered and no timer armed can only be woken by another thread
//! (a task's or the main future's waker, the blocking pool). Sleeping in the poller then costs
//! what `polling` costs per wait on epoll (five system calls: arm the timerfd, re-arm it and
//! the notifier with `epoll_ctl`, `epoll_pwait`, read the eventfd), plus an eventfd write from
//! the waking thread. Sleeping on the thread's own parker (a futex) costs one system call on
//! each side. Issue 14's `remote_wake_1k` (a thread and a task ping-pong 1,000 times) is made
//! of nothing but such waits; tokio, with no I/O driver, parks on a condition variable too.
//!
//! # Why no wakeup is lost
//!
//! A waker first sets `notified`, then looks at `parked`: if the loop is parked on the thread
//! it unparks it, otherwise it nudges the poller. The loop first sets `parked`, then takes
//! `notified`, and sleeps only if it was not set. All four accesses are `SeqCst`, so they fall
//! in one order: either the waker sees `parked` (and the unpark token, which `park` keeps if
//! it comes first, ends the sleep), or the loop sees `notified` (and does not sleep). A
//! `notified` left over from a wake the loop has already handled only skips one sleep.

use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::Thread;

/// The runtime thread's parker, and whether the loop sleeps on it.
pub(super) struct ThreadParker {
    /// The runtime's thread: a `Runtime` is `!Send`, so it never runs anywhere else.
    thread: Thread,
    /// Set while the loop sleeps (or is about to) on the parker rather than in the poller.
    parked: AtomicBool,
    /// Set by every wake from another thread; taken by the loop before it sleeps.
    notified: AtomicBool,
}

impl ThreadParker {
    /// A parker for the current thread, the runtime's.
    pub(super) fn new() -> ThreadParker {
        ThreadParker {
            thread: std::thread::current(),
            parked: AtomicBool::new(false),
            notified: AtomicBool::new(false),
        }
    }

    /// A wake from another thread: unparks the loop if it sleeps on the parker. Returns false
    /// if it does not, and the caller must nudge the poller instead.
    pub(super) fn unpark(&self) -> bool {
        self.notified.store(true, Ordering::SeqCst);
        if self.parked.load(Ordering::SeqCst) {
            self.thread.unpark();
            true
        } else {
            false
        }
    }

    /// Sleeps until [`unpark`](Self::unpark) (one made since the last `park` counts), or
    /// returns at once; may return early, like `std::thread::park`.
    pub(super) fn park(&self) {
        self.parked.store(true, Ordering::SeqCst);
        if !self.notified.swap(false, Ordering::SeqCst) {
            std::thread::park();
        }
        self.parked.store(false, Ordering::SeqCst);
        // A wake that unparked us also left `notified` set: take it, so that the next park
        // does not return at once for a wake already handled.
        self.notified.store(false, Ordering::SeqCst);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[test]
    fn an_unpark_before_the_park_is_not_lost() {
        let parker = ThreadParker::new();
        assert!(
            !parker.unpark(),
            "not parked: the caller must nudge the poller"
        );
        parker.park(); // returns at once; a lost wake would hang here
        assert!(
            !parker.notified.load(Ordering::SeqCst),
            "the wake is used up"
        );
    }

    #[test]
    fn an_unpark_from_another_thread_ends_the_park() {
        let parker = Arc::new(ThreadParker::new());
        let done = Arc::new(AtomicBool::new(false));
        let (p, d) = (parker.clone(), done.clone());
        let waker = std::thread::spawn(move || {
            // Wait until the loop's thread sleeps on the parker, then wake it that way.
            while !p.parked.load(Ordering::SeqCst) {
                std::thread::yield_now();
            }
            d.store(true, Ordering::SeqCst);
            p.unpark();
        });
        while !done.load(Ordering::SeqCst) {
            parker.park();
        }
        waker.join().unwrap();
    }
}
