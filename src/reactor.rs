//! The reactor: which task waits for which socket, and the one [`Poller`] that says when.
//!
//! # A socket's side of the story
//!
//! 1. **Register.** A socket is registered once, when it is made ([`Registration::new`]): its fd
//!    goes into the runtime's poller in *edge-triggered* mode, for both directions, and it gets
//!    a slot in a slab here. The slot's [`Key`] (index and generation) is the key the poller
//!    reports.
//! 2. **Try when ready.** Each direction has a *ready* flag, true for a new socket. An I/O
//!    operation ([`Registration::poll_io`], [`Registration::poll_bytes`]) calls the OS only
//!    when its direction is ready. Most of the time the data (or the buffer space) is there
//!    and that is the end of it: no poller, no waker.
//! 3. **Wait.** When the OS says `WouldBlock`, the flag is cleared until the next edge. When
//!    a read or write comes back *short* (the receive buffer is most likely empty now, or the
//!    send buffer full), it is cleared until the next turn of the poller: the direction is
//!    *deferred*. An operation on a direction that is not ready does not call the OS: its task
//!    leaves its waker in the slot, as the reader or the writer, and returns `Pending`.
//!    Nothing is said to the kernel.
//! 4. **Fire.** In step 5 of the loop, `poller.wait` returns the ready keys, and
//!    [`Reactor::dispatch`] sets the ready flag of each direction an edge names and of each
//!    deferred one, takes the wakers of those directions out of their slots, lets go of the
//!    slab, and only then wakes them. While a direction is deferred the loop does not block in
//!    the poller (it asks with a zero timeout).
//! 5. **Deregister.** Dropping the socket drops its `Registration`, which deletes the fd from
//!    the poller and frees the slot *before* the fd is closed.
//!
//! # Readiness: why a short read goes back to the poller
//!
//! After a short read the task may not read that socket again until the loop has been back
//! to the poller, and has woken every other connection whose data came meanwhile. Each turn of
//! the poller then serves every ready connection once, which is what tokio does (it clears a
//! socket's readiness after a short read) and what keeps the tail as short as the median.
//! Otherwise a peer quick enough to answer before the task's poll ends keeps its connection
//! ready, and that one connection holds the loop for a whole I/O budget while the others wait
//! (`benches/README.md`, "Latency from outside the process", measured it). It costs no extra
//! system call on the path of a busy socket: the read that waits is one that would have taken
//! the turn of another socket.
//!
//! **Why the next turn, not the next edge.** tokio waits for the next edge, but it also asks
//! epoll for `EPOLLRDHUP` and keeps a "read closed" flag that is never cleared. `polling` does
//! not ask for `EPOLLRDHUP`, and a short read does not always mean an empty buffer: a read
//! stops before the peer's FIN (and at TCP's urgent mark). If the data and the FIN came in
//! one event, the read that returns the data is short, and no edge will ever come for the end
//! of file. So a short read or write only defers the direction to the next turn of the
//! poller, edge or not. The try then made either succeeds, or meets `WouldBlock`, which does
//! mean empty (or full); `tests/io_readiness.rs` checks the FIN case.
//!
//! # Why edge-triggered
//!
//! In edge-triggered mode the kernel reports a *change*: data arrived, buffer space freed up,
//! the peer hung up. A direction waits for an edge only after the OS said `WouldBlock`, so the
//! next change is exactly what it waits for. The fd is
//! registered once and never touched again until it is closed: no system call per wait.
//!
//! (Oneshot mode, which re-arms the fd with an `epoll_ctl` each time a task starts to wait,
//! costs a system call per wait: `benches/README.md`, finding 1, counts them.) An edge for a
//! socket nobody waits on costs setting a flag in `dispatch`.
//!
//! # Why no wakeup is lost
//!
//! The rule is "register the waker, then check again". Here the kernel does the checking, and
//! the ready flag is its memory. A flag is cleared until the next edge only right after the OS
//! said `WouldBlock`: the direction was empty (or full) at that instant. Any data (or space)
//! that comes after it is a change, which edge-triggered epoll reports at the next `wait`;
//! [`Reactor::dispatch`] then sets the flag again and wakes whoever waits. A flag cleared by a
//! short read or write is set again by the next `dispatch` whatever happens, and the loop does
//! not block while one is deferred. The loop runs one task at a time, and `dispatch` runs
//! between tasks, never inside one: so between the OS call and the clearing of the flag, and
//! between finding the flag clear and storing the waker, no edge can be dispatched and lost.
//! An edge for data that a task had already read (the edge was queued before the read, and
//! dispatched after) only sets the flag of an empty socket: the next try meets `WouldBlock`
//! and waits again. An edge while nobody waits sets the flag, and the task finds it the next
//! time it asks.
//!
//! A wake is a hint, not a promise: another reader may have taken the data, or the event was
//! a hang-up. A woken task simply tries its operation again, and waits again on `WouldBlock`.

use std::cell::RefCell;
use std::io;
use std::os::fd::{AsFd, AsRawFd};
use std::rc::Rc;
use std::sync::Arc;
use std::task::{Context, Poll, Waker, ready};

use crate::poller::{Event, Events, PollMode, Poller};

use crate::runtime::seed::Rng;
use crate::runtime::{self, Shared};

/// The most bytes Linux moves in one `read` or `write` (`MAX_RW_COUNT`, 2 GiB less a page):
/// a result this long says nothing about the buffer being empty or full.
const MAX_RW_COUNT: usize = 0x7fff_f000;

/// Which way a task waits: to read (or accept) or to write (or finish connecting).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Direction {
    Read,
    Write,
}

/// Bits of a poll key that hold the slot index; the bits above hold the slot's generation.
const INDEX_BITS: u32 = usize::BITS / 2;
/// Masks a key down to its index.
const INDEX_MASK: usize = (1 << INDEX_BITS) - 1;
/// How many slots the slab may have. Index `INDEX_MASK` itself is never handed out, so no key
/// can be `usize::MAX`, which `polling` keeps for its own wake-ups.
const MAX_SOURCES: usize = INDEX_MASK;
/// Generations count modulo this (2^32 on 64-bit targets): a stale event would have to wait
/// for its slot to be reused that many times to be mistaken for a new one.
const GENERATIONS: usize = 1 << (usize::BITS - INDEX_BITS);

/// A poll key: which slot, and which of the sockets that have used that slot.
///
/// The generation is what keeps a stale event (for a socket that has since closed) from
/// waking the task of a new socket that got the same slot.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Key(usize);

impl Key {
    fn new(index: usize, generation: usize) -> Key {
        debug_assert!(index < MAX_SOURCES, "index {index} out of range");
        Key((generation % GENERATIONS) << INDEX_BITS | index)
    }

    fn index(self) -> usize {
        self.0 & INDEX_MASK
    }

    fn generation(self) -> usize {
        self.0 >> INDEX_BITS
    }
}

/// One registered fd: who waits on it, to read and to write, and which directions may be
/// ready (see "Readiness").
struct Source {
    reader: Option<Waker>,
    writer: Option<Waker>,
    /// Whether a read may succeed: cleared when the OS says `WouldBlock` or a read comes back
    /// short; set by an edge, and after a short read by the next turn of the poller.
    readable: bool,
    /// The same for writes.
    writable: bool,
}

impl Default for Source {
    /// A new socket is tried at once: its state before registration is unknown, and a
    /// `WouldBlock` costs less than a wait for an edge that may already have passed.
    fn default() -> Source {
        Source {
            reader: None,
            writer: None,
            readable: true,
            writable: true,
        }
    }
}

impl Source {
    fn direction(&mut self, direction: Direction) -> (&mut Option<Waker>, &mut bool) {
        match direction {
            Direction::Read => (&mut self.reader, &mut self.readable),
            Direction::Write => (&mut self.writer, &mut self.writable),
        }
    }
}

/// A slot in the slab. `generation` counts (modulo [`GENERATIONS`]) how many sockets have used
/// the slot before.
#[derive(Default)]
struct Slot {
    generation: usize,
    source: Option<Source>,
}

/// Registered sources, by key. Freed slots are reused (last freed, first reused) with their
/// generation bumped.
#[derive(Default)]
struct Slab {
    slots: Vec<Slot>,
    free: Vec<usize>,
    len: usize,
}

impl Slab {
    fn insert(&mut self, source: Source) -> io::Result<Key> {
        let index = match self.free.pop() {
            Some(index) => index,
            None if self.slots.len() < MAX_SOURCES => {
                self.slots.push(Slot::default());
                self.slots.len() - 1
            }
            None => return Err(io::Error::other("minirt: too many registered sockets")),
        };
        let slot = &mut self.slots[index];
        debug_assert!(
            slot.source.is_none(),
            "slot {index} is on the free list but taken"
        );
        slot.source = Some(source);
        self.len += 1;
        Ok(Key::new(index, slot.generation))
    }

    /// The source under `key`, unless that socket has gone (the slot is free or reused).
    fn get_mut(&mut self, key: Key) -> Option<&mut Source> {
        let slot = self.slots.get_mut(key.index())?;
        if slot.generation != key.generation() {
            return None;
        }
        slot.source.as_mut()
    }

    fn remove(&mut self, key: Key) -> Option<Source> {
        self.get_mut(key)?;
        let slot = &mut self.slots[key.index()];
        slot.generation = (slot.generation + 1) % GENERATIONS;
        self.free.push(key.index());
        self.len -= 1;
        slot.source.take()
    }
}

/// The runtime's reactor. It lives in the runtime's `Local` as an `Rc`, and every socket holds
/// another `Rc`, so a socket that outlives its runtime can still deregister (see
/// [`Registration`]).
pub(crate) struct Reactor {
    /// The poller lives in the runtime's shared half: other threads need it to interrupt the
    /// wait.
    shared: Arc<Shared>,
    sources: RefCell<Slab>,
    /// Wakers that `dispatch` collects while it holds the slab, to wake once it has let go.
    /// Kept between calls so that dispatching does not allocate.
    to_wake: RefCell<Vec<Waker>>,
    /// Directions whose last read or write came back short: ready again at the next
    /// `dispatch`, edge or not (see "Readiness").
    deferred: RefCell<Vec<(Key, Direction)>>,
}

impl Reactor {
    pub(crate) fn new(shared: Arc<Shared>) -> Reactor {
        Reactor {
            shared,
            sources: RefCell::default(),
            to_wake: RefCell::default(),
            deferred: RefCell::default(),
        }
    }

    fn poller(&self) -> &Poller {
        self.shared.poller()
    }

    /// Whether any socket is registered, so that waiting on the poller could find something.
    pub(crate) fn has_sources(&self) -> bool {
        self.sources.borrow().len > 0
    }

    /// Whether a socket waits for the next turn of the poller, whatever its edges: the loop
    /// must then not block in the poller.
    pub(crate) fn has_deferred(&self) -> bool {
        !self.deferred.borrow().is_empty()
    }

    /// Step 5 of the loop, after `poller.wait`: wakes each task whose socket is ready (in an
    /// order drawn from `rng` when the runtime is seeded).
    pub(crate) fn dispatch(&self, events: &Events, rng: Option<&Rng>) {
        let mut to_wake = self.to_wake.borrow_mut();
        let mut sources = self.sources.borrow_mut();
        for event in events.iter() {
            // A key we no longer know is a socket that has gone: nothing to wake.
            let key = Key(event.key);
            let Some(source) = sources.get_mut(key) else {
                continue;
            };
            // polling reports a hang-up or an error as both readable and writable, so a
            // waiter either way wakes, retries, and meets the error itself.
            // The edge says the direction may be ready again, whether or not anyone waits: a
            // task that is busy now will try the socket the next time it asks.
            if event.readable {
                source.readable = true;
                to_wake.extend(source.reader.take());
            }
            if event.writable {
                source.writable = true;
                to_wake.extend(source.writer.take());
            }
        }
        // This was the poller's turn that the short reads and writes waited for.
        for (key, direction) in self.deferred.borrow_mut().drain(..) {
            if let Some(source) = sources.get_mut(key) {
                let (waiter, ready) = source.direction(direction);
                *ready = true;
                to_wake.extend(waiter.take());
            }
        }
        // Never wake while borrowed: a waker may be anything, even one that registers a socket.
        drop(sources);
        if let Some(rng) = rng {
            rng.shuffle(&mut to_wake); // a seeded runtime varies the order (`seed.rs`)
        }
        for waker in to_wake.drain(..) {
            waker.wake();
        }
    }

    /// Whether `direction` of the socket under `key` may be ready: whether an operation is
    /// worth a system call.
    fn is_ready(&self, key: Key, direction: Direction) -> bool {
        let mut sources = self.sources.borrow_mut();
        let source = sources
            .get_mut(key)
            .expect("a live Registration owns its slot");
        *source.direction(direction).1
    }

    /// Marks `direction` of the socket under `key` as not ready until the next turn of the
    /// poller: its last read or write came back short.
    fn defer(&self, key: Key, direction: Direction) {
        let mut sources = self.sources.borrow_mut();
        if let Some(source) = sources.get_mut(key) {
            *source.direction(direction).1 = false;
            self.deferred.borrow_mut().push((key, direction));
        }
    }

    /// Marks `direction` not ready and leaves `cx`'s waker in the slot under `key` for it. The
    /// caller has just seen `WouldBlock`, or found the direction not ready, and returns
    /// `Pending`: the next edge on the fd wakes it.
    fn wait(&self, key: Key, direction: Direction, cx: &mut Context<'_>) -> io::Result<()> {
        if !runtime::is_current_reactor(self) {
            // Nobody would ever poll this reactor for us: the task would hang forever.
            return Err(io::Error::other(
                "minirt: a socket was used outside the runtime that created it; sockets \
                 belong to one runtime, and only that runtime's `block_on` can wait on them",
            ));
        }
        let mut sources = self.sources.borrow_mut();
        let source = sources
            .get_mut(key)
            .expect("a live Registration owns its slot");
        let (slot, ready) = source.direction(direction);
        *ready = false;
        // A waker replaced here is dropped only after the slab is released, like the ones
        // `dispatch` wakes: its drop could be anyone's code.
        let replaced = match slot {
            Some(waker) if waker.will_wake(cx.waker()) => None,
            _ => slot.replace(cx.waker().clone()),
        };
        drop(sources);
        drop(replaced);
        Ok(())
    }
}

/// A socket (or any fd) registered with the reactor, for as long as this value lives.
///
/// It is `!Send`, and so is every socket built on it: a socket belongs to the runtime, and so
/// the thread, that created it.
pub(crate) struct Registration<T: AsFd> {
    /// The socket.
    ///
    /// # Invariant
    /// `io`'s fd is in `reactor`'s poller, and `key`'s slot holds it, from `new` until `drop`.
    /// `drop` deletes it from the poller and frees the slot, and only then is `io` dropped
    /// (a struct's fields drop after its `Drop::drop` has run), which closes the fd. Nothing
    /// else closes it: `io` is private and is lent out only by shared reference. So the fd
    /// stays open while it is registered, which is what `Poller::add` asks of its caller.
    io: T,
    reactor: Rc<Reactor>,
    key: Key,
}

impl<T: AsFd> Registration<T> {
    /// Registers `io`, which must already be in non-blocking mode, with the current runtime.
    ///
    /// # Errors
    /// Outside a runtime, or when the OS refuses to add the fd to the poller.
    pub(crate) fn new(io: T) -> io::Result<Registration<T>> {
        let reactor = runtime::current_reactor()?;
        let fd = io.as_fd().as_raw_fd();
        let key = reactor.sources.borrow_mut().insert(Source::default())?;
        // Both directions, edge-triggered, for the socket's whole life (see "Why
        // edge-triggered").
        // SAFETY: the invariant on `io`: it stays open until `drop` has deleted it.
        let added = unsafe {
            reactor
                .poller()
                .add_with_mode(fd, Event::all(key.0), PollMode::Edge)
        };
        if let Err(e) = added {
            reactor.sources.borrow_mut().remove(key);
            return Err(e);
        }
        Ok(Registration { io, reactor, key })
    }

    /// The socket, to call the OS on it directly (for `local_addr`, `set_nodelay`, ...).
    pub(crate) fn get_ref(&self) -> &T {
        &self.io
    }

    /// Runs the non-blocking operation `op` if `direction` may be ready, and waits on the
    /// reactor when it is not or when the OS says `WouldBlock`. Every leaf I/O future's `poll`
    /// goes through here, or through [`poll_bytes`](Self::poll_bytes).
    ///
    /// It first spends one unit of the task's I/O budget, so that a socket that is always
    /// ready still lets other tasks run now and then.
    pub(crate) fn poll_io<R>(
        &self,
        cx: &mut Context<'_>,
        direction: Direction,
        op: impl FnMut(&T) -> io::Result<R>,
    ) -> Poll<io::Result<R>> {
        self.poll_ready_op(cx, direction, op, |_| false)
    }

    /// [`poll_io`](Self::poll_io) for a byte-stream read or write of `len` bytes. A result
    /// shorter than `len` (and not 0, which is end of file) means the OS has most likely
    /// emptied the receive buffer or filled the send buffer, so the next operation in that
    /// direction waits for the next turn of the poller instead of trying again at once (see
    /// "Readiness").
    pub(crate) fn poll_bytes(
        &self,
        cx: &mut Context<'_>,
        direction: Direction,
        len: usize,
        op: impl FnMut(&T) -> io::Result<usize>,
    ) -> Poll<io::Result<usize>> {
        // Linux moves at most `MAX_RW_COUNT` bytes per call, full buffers or not.
        let len = len.min(MAX_RW_COUNT);
        self.poll_ready_op(cx, direction, op, |&n| n > 0 && n < len)
    }

    fn poll_ready_op<R>(
        &self,
        cx: &mut Context<'_>,
        direction: Direction,
        mut op: impl FnMut(&T) -> io::Result<R>,
        drained: impl Fn(&R) -> bool,
    ) -> Poll<io::Result<R>> {
        ready!(runtime::poll_budget(cx));
        if self.reactor.is_ready(self.key, direction) {
            loop {
                match op(&self.io) {
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                    Ok(value) => {
                        if drained(&value) {
                            self.reactor.defer(self.key, direction);
                        }
                        return Poll::Ready(Ok(value));
                    }
                    Err(e) => return Poll::Ready(Err(e)),
                }
            }
        }
        // Not ready, or the OS just said so: wait for the next edge. See "Why no wakeup is
        // lost".
        match self.reactor.wait(self.key, direction, cx) {
            Ok(()) => Poll::Pending,
            Err(e) => Poll::Ready(Err(e)),
        }
    }
}

impl<T: AsFd> Drop for Registration<T> {
    fn drop(&mut self) {
        // An error here (the poller is broken) cannot be handled, and the fd is about to be
        // closed, which removes it from the poller anyway.
        let _ = self.reactor.poller().delete(self.io.as_fd());
        let source = self.reactor.sources.borrow_mut().remove(self.key);
        // Dropped after the borrow ends: a waker's drop must not find the slab borrowed.
        drop(source);
    }
}

impl<T: AsFd + std::fmt::Debug> std::fmt::Debug for Registration<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.io.fmt(f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_round_trips_index_and_generation() {
        for index in [0, 1, 7, MAX_SOURCES - 1] {
            for generation in [0, 1, 2, GENERATIONS - 1] {
                let key = Key::new(index, generation);
                assert_eq!((key.index(), key.generation()), (index, generation));
                assert_ne!(key.0, usize::MAX, "polling's notify key");
            }
        }
    }

    #[test]
    fn generations_wrap() {
        assert_eq!(Key::new(3, GENERATIONS).generation(), 0);
        assert_eq!(Key::new(3, GENERATIONS + 1), Key::new(3, 1));
    }

    fn source() -> Source {
        Source::default()
    }

    #[test]
    fn a_reused_slot_does_not_answer_to_the_old_key() {
        let mut slab = Slab::default();
        let old = slab.insert(source()).unwrap();
        assert!(slab.remove(old).is_some());
        let new = slab.insert(source()).unwrap();
        assert_eq!(old.index(), new.index(), "the slot is reused");
        assert!(slab.get_mut(old).is_none(), "a stale key finds nothing");
        assert!(slab.remove(old).is_none());
        assert!(slab.get_mut(new).is_some());
        assert_eq!(slab.len, 1);
    }
}
