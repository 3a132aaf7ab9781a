//! The poller the loop waits in: `polling`'s, or under Miri a small stand-in.
//!
//! minirt waits for I/O, timers and wakes from other threads in one place, step 5 of the loop:
//! `Poller::wait`, interrupted by `Poller::notify`. (With no socket registered and no timer
//! armed, only another thread can wake the loop, and it sleeps on its thread's parker instead:
//! `src/runtime/park.rs`.) In a normal build the poller is the `polling` crate's epoll poller,
//! re-exported as it is.
//!
//! # Why a stand-in exists
//!
//! CI runs the unsafe core (tasks, wakers, the runtime's shutdown) under Miri, which checks
//! every pointer and every cross-thread access as it runs. Miri cannot run `polling`'s epoll
//! backend (it lacks `timerfd` and the modes `polling` asks for), so under `cfg(miri)` the
//! loop waits on this stand-in instead: the same few calls, with no sockets, built on std's
//! `Mutex` and `Condvar`. `wait` sleeps until `notify` or the timeout; registering an fd fails
//! with `Unsupported`, so the tests that need sockets skip themselves under Miri. Nothing here
//! is compiled in a normal build.

#[cfg(not(miri))]
pub(crate) use polling::{Event, Events, PollMode, Poller};

#[cfg(miri)]
pub(crate) use stand_in::{Event, Events, PollMode, Poller};

#[cfg(miri)]
mod stand_in {
    use std::io;
    use std::os::fd::AsRawFd;
    use std::sync::{Condvar, Mutex, PoisonError};
    use std::time::{Duration, Instant};

    /// Waits for a `notify` or a timeout; knows no fds.
    pub(crate) struct Poller {
        notified: Mutex<bool>,
        cond: Condvar,
    }

    /// Never holds an event: no fd can be registered.
    pub(crate) struct Events(());

    /// What `Event::all` builds for `add_with_mode`, which then refuses it.
    pub(crate) struct Event {
        pub(crate) key: usize,
        pub(crate) readable: bool,
        pub(crate) writable: bool,
    }

    /// `polling`'s modes, of which minirt uses one.
    pub(crate) enum PollMode {
        Edge,
    }

    fn unsupported() -> io::Error {
        io::Error::new(
            io::ErrorKind::Unsupported,
            "minirt's Miri poller has no sockets",
        )
    }

    impl Poller {
        pub(crate) fn new() -> io::Result<Poller> {
            Ok(Poller {
                notified: Mutex::new(false),
                cond: Condvar::new(),
            })
        }

        pub(crate) fn notify(&self) -> io::Result<()> {
            *self.notified.lock().unwrap_or_else(PoisonError::into_inner) = true;
            self.cond.notify_one();
            Ok(())
        }

        /// Sleeps until `notify` (one made before the call counts too) or `timeout`.
        pub(crate) fn wait(&self, _: &mut Events, timeout: Option<Duration>) -> io::Result<usize> {
            let deadline = timeout.map(|t| Instant::now() + t);
            let mut notified = self.notified.lock().unwrap_or_else(PoisonError::into_inner);
            while !*notified {
                notified = match deadline.map(|d| d.saturating_duration_since(Instant::now())) {
                    Some(Duration::ZERO) => break,
                    Some(left) => {
                        let waited = self.cond.wait_timeout(notified, left);
                        waited.unwrap_or_else(PoisonError::into_inner).0
                    }
                    None => self
                        .cond
                        .wait(notified)
                        .unwrap_or_else(PoisonError::into_inner),
                };
            }
            *notified = false;
            Ok(0)
        }

        /// # Safety
        /// None needed: nothing is registered. `unsafe` only to match `polling`'s signature.
        pub(crate) unsafe fn add_with_mode(
            &self,
            _: impl AsRawFd,
            _: Event,
            _: PollMode,
        ) -> io::Result<()> {
            Err(unsupported())
        }

        pub(crate) fn delete(&self, _: impl std::os::fd::AsFd) -> io::Result<()> {
            Err(unsupported())
        }
    }

    impl Events {
        pub(crate) fn new() -> Events {
            Events(())
        }
        pub(crate) fn clear(&mut self) {}
        pub(crate) fn len(&self) -> usize {
            0
        }
        pub(crate) fn iter(&self) -> impl Iterator<Item = Event> {
            std::iter::empty()
        }
    }

    impl Event {
        pub(crate) fn all(key: usize) -> Event {
            Event {
                key,
                readable: true,
                writable: true,
            }
        }
    }
}
