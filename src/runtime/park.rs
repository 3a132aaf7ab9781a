//! Where the loop sleeps when it waits for nothing but other threads.
//!
//! A runtime with no socket registered and no timer armed can only be woken by another thread
//! (a task's or the main future's waker, the blocking pool). It then sleeps on its thread's
//! own parker, a futex: one system call on each side, where a wait in the poller costs five
//! (`benches/README.md` counts them for `remote_wake_1k`). [`ThreadParker::park`] sleeps, and
//! [`ThreadParker::unpark`] wakes it from any thread.
//!
//! # Why no wakeup is lost
//!
//! The loop moves through three states: running, spinning, parked. A waker first publishes
//! its wake (an inbox entry, the main future's flag), then sets `notified`, then reads the
//! state: parked, it unparks the thread; spinning, it does nothing
//! more (the loop is watching `notified`); running, it returns false and the caller nudges the
//! poller, where a running loop will look. The loop sets "parked" and only then takes
//! `notified`, sleeping only if it was not set. The loop only ever clears `notified` with a
//! swap, never a plain store, so whenever it consumes a wake it has read the waker's store and
//! sees what the waker published before it. The state and the flag's writes are `SeqCst`, so
//! they fall in one order: either the waker sees "parked" (and the unpark token, which `park` keeps if
//! it comes first, ends the sleep), or the loop's take comes after the waker's store and sees
//! `notified`. A `notified` left over from a wake the loop has already handled only skips one
//! sleep.
//!
//! # Spinning before sleeping (tuning: skip it on a first reading)
//!
//! When its last wait was short, the loop watches `notified` for up to [`SPIN_FOR`] before it
//! sleeps ([`ThreadParker::spin`]), because waking a sleeping thread costs far more than the
//! system call (an interrupt; in a virtual machine, an exit to the hypervisor). Take the spin
//! away and nothing above changes: `park` simply sleeps at once.

use std::sync::atomic::{AtomicBool, AtomicU8, Ordering};
use std::thread::Thread;
use std::time::{Duration, Instant};

/// How long the loop spins before it sleeps, when its last wait was at most this long.
pub(super) const SPIN_FOR: Duration = Duration::from_micros(50);

/// The loop runs tasks; a waker must nudge the poller.
const RUNNING: u8 = 0;
/// The loop spins on `notified`: setting it is enough.
const SPINNING: u8 = 1;
/// The loop sleeps on the thread's parker (or is about to): unpark it.
const PARKED: u8 = 2;

/// The runtime thread's parker, and whether the loop sleeps on it.
pub(super) struct ThreadParker {
    /// The runtime's thread: a `Runtime` is `!Send`, so it never runs anywhere else.
    thread: Thread,
    /// `RUNNING`, `SPINNING` or `PARKED`; written only by the loop.
    state: AtomicU8,
    /// Set by every wake from another thread; taken by the loop before it sleeps.
    notified: AtomicBool,
    /// Whether the last wait ended within [`SPIN_FOR`]. Only the loop's thread touches it
    /// (`park` runs there); a `Cell` in a `Sync` struct would not compile, so it is an atomic
    /// read and written with `Relaxed`, which costs what a plain access does.
    last_wait_short: AtomicBool,
}

impl ThreadParker {
    /// A parker for the current thread, the runtime's.
    pub(super) fn new() -> ThreadParker {
        ThreadParker {
            thread: std::thread::current(),
            state: AtomicU8::new(RUNNING),
            notified: AtomicBool::new(false),
            last_wait_short: AtomicBool::new(false),
        }
    }

    /// A wake from another thread: unparks the loop if it sleeps on the parker. Returns false
    /// if the loop is running, and the caller must nudge the poller instead.
    pub(super) fn unpark(&self) -> bool {
        self.notified.store(true, Ordering::SeqCst);
        match self.state.load(Ordering::SeqCst) {
            PARKED => {
                self.thread.unpark();
                true
            }
            SPINNING => true,
            _ => false,
        }
    }

    /// Sleeps until [`unpark`](Self::unpark), or returns at once; may return early, like
    /// `std::thread::park`. An unpark made since the last `park` began counts; one that lands
    /// in that park's last steps is consumed by it, and the loop sees what the waker published
    /// before it. Spins first if the last wait was short ([`spin`](Self::spin)).
    pub(super) fn park(&self) {
        let began = Instant::now();
        if !(self.last_wait_short.load(Ordering::Relaxed) && self.spin(began)) {
            self.state.store(PARKED, Ordering::SeqCst);
            if !self.notified.swap(false, Ordering::SeqCst) {
                std::thread::park();
            }
        }
        self.state.store(RUNNING, Ordering::SeqCst);
        // A wake that unparked us also left `notified` set: take it, so that the next park
        // does not return at once for a wake already handled. A swap, not a store: reading the
        // waker's store makes everything the waker wrote before it (the main future's `woken`
        // flag, say) visible to the loop's next look, even for a wake that arrived after the
        // loop was already awake.
        let _ = self.notified.swap(false, Ordering::SeqCst);
        self.last_wait_short
            .store(began.elapsed() <= SPIN_FOR, Ordering::Relaxed);
    }

    /// Watches `notified` for up to [`SPIN_FOR`] after `began`. Returns true if a wake came.
    ///
    /// A loop woken soon after its last sleep began is most likely in a conversation with
    /// another thread (a request answered by a blocking job, a reply from a thread that calls
    /// in through a `Handle`), and its next wake will come as soon: a wake that lands while it
    /// spins costs the waker no system call and the loop no interrupt. The spin is adaptive so
    /// that an idle program burns no CPU: `park` spins only if its last wait ended within
    /// [`SPIN_FOR`], spun or slept. A program woken every millisecond never spins; one woken
    /// every 20 µs spins and never sleeps; one whose wakes stop spins once, then sleeps. It
    /// yields its CPU between looks (`sched_yield`), so that on a machine with fewer cores than
    /// busy threads it does not take a core from the thread it waits for. What it buys:
    /// `benches/README.md`, "`remote_wake_1k`: the loop spins briefly before it sleeps".
    fn spin(&self, began: Instant) -> bool {
        self.state.store(SPINNING, Ordering::SeqCst);
        loop {
            for _ in 0..32 {
                if self.notified.load(Ordering::Relaxed)
                    && self.notified.swap(false, Ordering::SeqCst)
                {
                    return true;
                }
                std::hint::spin_loop();
            }
            // Let another thread have this CPU if one is waiting for it (the thread that will
            // wake us may be that one), then look at the clock: both cost more than a look at
            // the flag, so only every so often.
            std::thread::yield_now();
            if began.elapsed() > SPIN_FOR {
                return false;
            }
        }
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
            while p.state.load(Ordering::SeqCst) != PARKED {
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

    #[test]
    fn a_wake_while_the_loop_spins_needs_no_unpark() {
        let parker = Arc::new(ThreadParker::new());
        let done = Arc::new(AtomicBool::new(false));
        let (p, d) = (parker.clone(), done.clone());
        let waker = std::thread::spawn(move || {
            // Catch the loop while it spins. If it has given up and sleeps, wake it to spin
            // again (this thread may start later than one spin lasts).
            loop {
                match p.state.load(Ordering::SeqCst) {
                    SPINNING => {
                        d.store(true, Ordering::SeqCst);
                        return p.unpark();
                    }
                    PARKED => {
                        p.unpark();
                    }
                    _ => {}
                }
                std::thread::yield_now();
            }
        });
        while !done.load(Ordering::SeqCst) {
            // As if the last wait had been short, so that this one spins first.
            parker.last_wait_short.store(true, Ordering::Relaxed);
            parker.park();
        }
        assert!(
            waker.join().unwrap(),
            "a spinning loop watches `notified`: the poller needs no nudge"
        );
    }

    #[test]
    fn after_a_long_wait_the_loop_sleeps_without_spinning_first() {
        let parker = Arc::new(ThreadParker::new());
        parker.last_wait_short.store(true, Ordering::Relaxed);
        let p = parker.clone();
        let waker = std::thread::spawn(move || {
            // Wake the loop well after its spin has given up: once it sleeps (on a loaded
            // machine the loop may start parking late, so wait for that first; a wake sent
            // before would end a short wait), then a sleep longer than a spin.
            while p.state.load(Ordering::SeqCst) != PARKED {
                std::thread::yield_now();
            }
            std::thread::sleep(SPIN_FOR * 20);
            p.unpark();
        });
        parker.park();
        waker.join().unwrap();
        assert!(
            !parker.last_wait_short.load(Ordering::Relaxed),
            "the wait lasted longer than a spin: the next one must not spin"
        );
    }
}
