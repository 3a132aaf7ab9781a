//! [`Shared`]: what other threads may touch, and the inbox, how they reach the loop.
//!
//! A waker on another thread cannot touch the run queue (a `VecDeque` only the loop's thread
//! may borrow), and a [`Handle`](super::Handle) on another thread cannot spawn there. Both go
//! through the inbox instead: a mutex around two vectors, woken tasks and spawn jobs, which the
//! loop moves into its run queue in step 3 (and right after each wait in step 5, since a wake
//! from another thread is what most often ends one). Pushing raises a `pending` flag, so that
//! the loop takes the lock only when something is there; the first push into an empty inbox
//! wakes the loop, with `Poller::notify`, or by unparking its thread when it sleeps with no
//! socket and no timer (`park.rs`), which costs one system call on each side instead of six.
//!
//! This is the second-pass half of the runtime: a first reading can stop at `drain_inbox` in
//! `mod.rs` ("other threads' wakes arrive here"). `docs/internals.md` section 3 draws the
//! path.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use super::RUN_QUEUE_KEEP;
use super::handle::Job;
use super::park::ThreadParker;
use crate::task::Notified;
use crate::time::Clock;

/// What other threads may touch: the poller, the parker, the clock and the inbox.
pub(crate) struct Shared {
    /// The poller. To wake the loop from another thread, call [`Shared::wake_loop`], never
    /// `poller.notify()` alone: the loop may be asleep on `parker` instead.
    pub(super) poller: crate::poller::Poller,
    /// Where the loop sleeps when only another thread can wake it (see `park.rs`).
    pub(super) parker: ThreadParker,
    pub(super) inbox: Mutex<Inbox>,
    /// Whether the inbox holds anything, for the loop to read without the lock.
    ///
    /// # Invariant
    /// Written only under the inbox's lock, so that whenever the lock is free it equals
    /// `!inbox.is_empty()`. A loop that reads `false` while another thread is pushing misses
    /// nothing: that thread found the inbox empty, so it wakes the loop after unlocking
    /// (`enqueue`), and the loop's next turn reads the flag again.
    ///
    /// Every access is `SeqCst`, as are the parker's. The wake the loop consumes may be a
    /// later one than the pusher's (another thread's, or the main future's), and only the
    /// single order of `SeqCst` operations guarantees that the loop's next read, which
    /// comes after that wake, also comes after the pusher's store. On x86-64 the read is a
    /// plain load and the store, made under the lock anyway, an `xchg`.
    pub(super) pending: AtomicBool,
    /// Whether a trace is recording: then remote wakes note which thread they came from.
    pub(super) tracing: bool,
    /// The runtime's clock (real, or paused), which other threads read too.
    pub(super) clock: Arc<Clock>,
}

impl Shared {
    /// The runtime's clock.
    pub(crate) fn clock(&self) -> &Clock {
        &self.clock
    }

    /// The runtime's one poller, which the reactor registers sockets with.
    pub(crate) fn poller(&self) -> &crate::poller::Poller {
        &self.poller
    }
}

/// Tasks woken from other threads, waiting to be moved into the run queue, and spawn jobs sent
/// through a [`Handle`], waiting to be run.
#[derive(Default)]
pub(super) struct Inbox {
    pub(super) tasks: Vec<Notified>,
    /// Remote spawns (see `handle.rs`). Each holds a `Send` closure and the completer of a
    /// `RemoteJoinHandle`, which reports "cancelled" if the job is dropped unrun.
    pub(super) jobs: Vec<Job>,
    /// With tracing on, the name of the thread behind each entry of `tasks`.
    pub(super) origins: Vec<Box<str>>,
    /// Set when the runtime is gone: later wakes drop their entry instead of queueing it, and
    /// later spawns drop their job (on the spawning thread).
    pub(super) closed: bool,
}

impl Inbox {
    pub(super) fn is_empty(&self) -> bool {
        self.tasks.is_empty() && self.jobs.is_empty()
    }
}

/// The inbox's three vectors as the loop drains them.
///
/// The loop keeps a set of empty ones ([`Local::drained`]) and swaps it with the inbox's full
/// set under the lock; it works through the full set after, and keeps it, emptied, for the
/// next drain. So the buffers go back and forth and keep their capacity: taking the vectors
/// out (`mem::take`) left the inbox with none, and the first wake or spawn from another
/// thread after every drain allocated a new buffer (`bash benches/opcount.sh spawn_handle`
/// counted it).
#[derive(Default)]
pub(super) struct Drained {
    pub(super) tasks: Vec<Notified>,
    pub(super) origins: Vec<Box<str>>,
    pub(super) jobs: Vec<Job>,
}

impl Drained {
    /// After a burst, keeps the buffers' capacity down to what the run queue keeps
    /// ([`RUN_QUEUE_KEEP`]): a steady flow of that many wakes per turn reuses them, and a
    /// burst of a million does not hold its memory for good.
    pub(super) fn shrink(&mut self) {
        debug_assert!(self.tasks.is_empty() && self.origins.is_empty() && self.jobs.is_empty());
        self.tasks.shrink_to(RUN_QUEUE_KEEP);
        self.origins.shrink_to(RUN_QUEUE_KEEP);
        self.jobs.shrink_to(RUN_QUEUE_KEEP);
    }
}

impl Shared {
    /// A wake from another thread (or from this thread outside `block_on`).
    pub(super) fn schedule_remote(&self, task: Notified) {
        self.enqueue(task, |inbox, task| {
            inbox.tasks.push(task);
            if self.tracing {
                let thread = std::thread::current();
                let name = thread
                    .name()
                    .map_or_else(|| format!("{:?}", thread.id()), String::from);
                inbox.origins.push(name.into());
            }
        });
    }

    /// A remote spawn (or a timer armed or cancelled from another thread, `time/sleep.rs`):
    /// queues `job` for the loop exactly as a remote wake is queued. A closed inbox drops the
    /// job here, on the caller's thread (it is `Send`), which cancels its `RemoteJoinHandle`.
    pub(crate) fn send_job(&self, job: Job) {
        self.enqueue(job, |inbox, job| inbox.jobs.push(job));
    }

    /// Puts `item` in the inbox with `push`, then wakes the loop if the inbox was empty (a
    /// loop that has not drained it yet will see the new item anyway). If the inbox is closed,
    /// drops `item` instead, after releasing the lock: its `Drop` is user code.
    pub(super) fn enqueue<T>(&self, item: T, push: impl FnOnce(&mut Inbox, T)) {
        let mut inbox = self.inbox.lock().unwrap_or_else(PoisonError::into_inner);
        if inbox.closed {
            drop(inbox);
            drop(item);
            return;
        }
        let was_empty = inbox.is_empty();
        push(&mut inbox, item);
        self.pending.store(true, Ordering::SeqCst);
        drop(inbox);
        if was_empty {
            self.wake_loop();
        }
    }

    /// Ends the loop's sleep, on the thread parker or in the poller, from another thread.
    pub(super) fn wake_loop(&self) {
        if !self.parker.unpark() {
            // An error here means the poller's eventfd is broken; the loop would then fail in
            // `wait` too, and report it there.
            let _ = self.poller.notify();
        }
    }

    pub(super) fn is_closed(&self) -> bool {
        self.inbox
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .closed
    }

    /// Swaps the inbox's vectors with `empty` ones, under the lock.
    pub(super) fn swap_inbox(&self, empty: &mut Drained) {
        let mut inbox = self.inbox.lock().unwrap_or_else(PoisonError::into_inner);
        std::mem::swap(&mut inbox.tasks, &mut empty.tasks);
        std::mem::swap(&mut inbox.origins, &mut empty.origins);
        std::mem::swap(&mut inbox.jobs, &mut empty.jobs);
        self.pending.store(false, Ordering::SeqCst);
    }

    pub(super) fn take_inbox(&self) -> (Vec<Notified>, Vec<Box<str>>, Vec<Job>) {
        let mut inbox = self.inbox.lock().unwrap_or_else(PoisonError::into_inner);
        self.pending.store(false, Ordering::SeqCst);
        (
            std::mem::take(&mut inbox.tasks),
            std::mem::take(&mut inbox.origins),
            std::mem::take(&mut inbox.jobs),
        )
    }
}
