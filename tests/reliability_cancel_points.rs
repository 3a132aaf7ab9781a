//! A task cancelled at every `.await` point of every primitive, in every way: aborted or
//! dropped, while still waiting or after it was woken (handed the lock, the permit, the item,
//! the value, the connection) but before it ran. No random sleeps: each case drives the task
//! to its await point, checks it is parked there, and cancels it. Afterwards the primitive is
//! consistent: the next lock, acquire or get succeeds, a task queued behind is served, counts
//! are right, no permit or item leaked or was lost, and no timer is left armed.
//!
//! How "woken but not yet run" is reached, deterministically:
//! - a point released by a plain call (unlock, `put_nowait`, `set`, `set_result`) wakes the
//!   task onto the run queue, and the test cancels it in the same step;
//! - a point released by the reactor or the timer wheel (accept, read, sleep) is woken during
//!   the loop's park; the test's main future waits on a timer that fires in that same park, and
//!   the loop polls the main future before any task (step 1 of the loop in `runtime/mod.rs`);
//! - a `JoinHandle` is released when the child task completes, which wakes the parent behind a
//!   third task the child woke just before: that task cancels the parent (the run queue is FIFO).
//!
//! Each case checks that it really reached the state it claims: the task was not polled since
//! it parked, and the wake happened.
mod common;

use std::cell::{Cell, RefCell};
use std::future::{Future, poll_fn};
use std::io::{Read as _, Write as _};
use std::os::fd::{AsFd, AsRawFd};
use std::pin::{Pin, pin};
use std::rc::Rc;
use std::task::{Poll, Waker};
use std::time::{Duration, Instant};

use minirt::net::TcpListener;
use minirt::sync::{Barrier, Condition, Event, Mutex, Queue, Semaphore, oneshot};
use minirt::{JoinHandle, Runtime, TaskGroup};

/// How the task at the await point is cancelled.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum How {
    /// `JoinHandle::abort` while it waits.
    AbortWaiting,
    /// `JoinHandle::abort` after the point was made ready and the task woken, before it ran.
    AbortWoken,
    /// The awaited future is dropped (as `select` or a timeout would) while it waits.
    DropWaiting,
    /// The awaited future is dropped after it was woken, without being polled again.
    DropWoken,
}

use How::*;

const EVERY_WAY: [How; 4] = [AbortWaiting, AbortWoken, DropWaiting, DropWoken];

impl How {
    fn woken(self) -> bool {
        matches!(self, AbortWoken | DropWoken)
    }
    fn aborts(self) -> bool {
        matches!(self, AbortWaiting | AbortWoken)
    }
}

/// The test's view of one await point.
#[derive(Default)]
struct Probe {
    /// Polls of the awaited future.
    polls: Cell<usize>,
    /// Polls when it first returned `Pending`: it is parked from then on.
    parked_at: Cell<Option<usize>>,
    /// Set by the test: drop the awaited future at the next poll, without polling it.
    drop_it: Cell<bool>,
    waker: RefCell<Option<Waker>>,
}

impl Probe {
    /// The task has not been polled since it parked.
    fn still_parked(&self) -> bool {
        self.parked_at.get() == Some(self.polls.get())
    }
}

/// The await point: awaits `future`, unless the test asks for it to be dropped first. Then it
/// drops `future` without polling it again, and returns `None`.
async fn point<F: Future>(probe: &Probe, future: F) -> Option<F::Output> {
    let mut future = pin!(future);
    poll_fn(|cx| {
        if probe.drop_it.get() {
            return Poll::Ready(None);
        }
        probe.polls.set(probe.polls.get() + 1);
        *probe.waker.borrow_mut() = Some(cx.waker().clone());
        match future.as_mut().poll(cx) {
            Poll::Ready(output) => Poll::Ready(Some(output)),
            Poll::Pending => {
                if probe.parked_at.get().is_none() {
                    probe.parked_at.set(Some(probe.polls.get()));
                }
                Poll::Pending
            }
        }
    })
    .await
}

/// Spawns `body`, which awaits one `point` with `probe`, and yields until it is parked there.
async fn spawn_parked<T: 'static>(
    probe: &Probe,
    body: impl Future<Output = T> + 'static,
) -> JoinHandle<T> {
    let handle = minirt::spawn(body);
    while probe.parked_at.get().is_none() {
        assert!(
            !handle.is_finished(),
            "the task finished instead of waiting"
        );
        minirt::yield_now().await;
    }
    handle
}

/// Spawns a task whose one await point is `future`, and yields until it is parked there.
async fn spawn_point<F>(future: F) -> (Rc<Probe>, JoinHandle<Option<F::Output>>)
where
    F: Future + 'static,
    F::Output: 'static,
{
    let probe = Rc::new(Probe::default());
    let handle = spawn_parked(&probe, {
        let probe = probe.clone();
        async move { point(&probe, future).await }
    })
    .await;
    (probe, handle)
}

/// Cancels the task parked at `probe`'s point, as `how` says. Synchronous: the abort or the
/// drop happens when the runtime next takes the task off the run queue.
fn cancel<T>(how: How, probe: &Probe, handle: &JoinHandle<T>) {
    assert!(
        probe.still_parked(),
        "{how:?}: the task ran before it was cancelled"
    );
    match how {
        AbortWaiting | AbortWoken => handle.abort(),
        DropWaiting | DropWoken => {
            probe.drop_it.set(true);
            probe.waker.borrow().as_ref().unwrap().wake_by_ref();
        }
    }
}

/// Awaits a cancelled task: aborted, or finished with its point dropped unfinished.
async fn cancelled<T>(how: How, handle: JoinHandle<Option<T>>) {
    match handle.await {
        Err(e) => assert!(e.is_cancelled() && how.aborts(), "{how:?}: {e}"),
        Ok(out) => assert!(
            out.is_none() && !how.aborts(),
            "{how:?}: the point finished"
        ),
    }
}

/// Cancels the parked task around `release`, the step that makes the point ready: before the
/// release for the waiting ways, after it for the woken ones. `release` must leave the task
/// woken but not run (a plain call that wakes it, or `turn_the_loop`).
async fn cancel_around<T>(
    how: How,
    probe: &Probe,
    handle: JoinHandle<Option<T>>,
    release: impl Future<Output = ()>,
) {
    if how.woken() {
        release.await;
        cancel(how, probe, &handle);
        cancelled(how, handle).await;
    } else {
        cancel(how, probe, &handle);
        cancelled(how, handle).await;
        release.await;
    }
}

/// Lets the loop park once, so that the reactor and the timer wheel wake whoever is ready,
/// and returns before any task woken there has run. It must be awaited by the main future:
/// the loop polls the main future before the run queue, and this one's timer is already due,
/// so it wakes in the same park.
async fn turn_the_loop() {
    let mut timer = minirt::sleep(Duration::from_secs(3600));
    poll_fn(|cx| {
        assert!(Pin::new(&mut timer).poll(cx).is_pending());
        Poll::Ready(())
    })
    .await;
    timer.reset(a_moment_ago());
    timer.await;
}

/// A deadline already passed, even after rounding up to the wheel's next millisecond.
fn a_moment_ago() -> Instant {
    Instant::now() - Duration::from_millis(2)
}

/// Polls `future` once: its output if it is ready now.
async fn ready_now<F: Future>(future: F) -> Option<F::Output> {
    minirt::timeout(Duration::ZERO, future).await.ok()
}

/// Blocks until `fd` has something to read (bounded): the kernel has the connection or the
/// bytes, so the next park of the loop reports it.
fn wait_readable(fd: &impl AsFd) {
    let mut pollfd = libc::pollfd {
        fd: fd.as_fd().as_raw_fd(),
        events: libc::POLLIN,
        revents: 0,
    };
    // SAFETY: one valid pollfd.
    let ready = unsafe { libc::poll(&mut pollfd, 1, 10_000) };
    assert_eq!(ready, 1, "the fd did not become readable within 10 s");
}

/// Reads exactly `n` bytes.
async fn read_n(stream: &minirt::net::TcpStream, n: usize) -> Vec<u8> {
    let (mut reader, mut got) = (stream, vec![0u8; n]);
    let mut filled = 0;
    while filled < n {
        let read = minirt::io::read(&mut reader, &mut got[filled..])
            .await
            .unwrap();
        assert!(read > 0, "the peer closed early");
        filled += read;
    }
    got
}

/// Runs `scenario` once for every way of cancelling, each on a fresh runtime, and checks that
/// afterwards no task is left and no timer is armed.
fn every_way(name: &str, scenario: impl for<'r> Fn(How, &'r Runtime) -> LocalFuture<'r>) {
    let _watchdog = common::watchdog(Duration::from_secs(60));
    for how in EVERY_WAY {
        let rt = Runtime::new().unwrap();
        rt.block_on(scenario(how, &rt));
        assert_eq!(rt.alive_tasks(), 0, "{name}, {how:?}: tasks left");
        assert_eq!(
            rt.metrics().timers_armed,
            0,
            "{name}, {how:?}: timers left armed"
        );
    }
}

type LocalFuture<'r> = Pin<Box<dyn Future<Output = ()> + 'r>>;

/// Counts drops, to show a value is dropped exactly once, neither leaked nor lost twice.
#[derive(Debug)]
struct Counted(Rc<Cell<usize>>);

impl Drop for Counted {
    fn drop(&mut self) {
        self.0.set(self.0.get() + 1);
    }
}

/// Spawns the task to cancel and, queued behind it, a witness: two tasks awaiting the same
/// kind of point, made by `wait("task")` and `wait("witness")`, both parked when this returns.
/// The witness must be served once the cancelled task is out of the way.
async fn task_and_witness<F>(
    wait: impl Fn(&'static str) -> F,
) -> (
    Rc<Probe>,
    JoinHandle<Option<F::Output>>,
    JoinHandle<Option<F::Output>>,
)
where
    F: Future + 'static,
    F::Output: 'static,
{
    let (probe, task) = spawn_point(wait("task")).await;
    let (_, witness) = spawn_point(wait("witness")).await;
    (probe, task, witness)
}

#[test]
fn mutex_lock() {
    every_way("Mutex::lock", |how, _| {
        Box::pin(async move {
            let mutex = Rc::new(Mutex::new(Vec::new()));
            let held = mutex.try_lock().unwrap();
            let (probe, task, witness) = task_and_witness(|who| {
                let mutex = mutex.clone();
                async move { mutex.lock().await.push(who) }
            })
            .await;
            cancel_around(how, &probe, task, async { drop(held) }).await;
            assert!(witness.await.unwrap().is_some(), "{how:?}: not served");
            assert!(!mutex.is_locked(), "{how:?}: the lock is stuck");
            assert_eq!(*mutex.try_lock().unwrap(), ["witness"]);
        })
    });
}

#[test]
fn semaphore_acquire() {
    every_way("Semaphore::acquire", |how, _| {
        Box::pin(async move {
            let semaphore = Rc::new(Semaphore::new(2));
            let (held, kept) = (semaphore.try_acquire(), semaphore.try_acquire());
            let (probe, task, witness) = task_and_witness(|_| {
                let semaphore = semaphore.clone();
                async move { drop(semaphore.acquire().await) }
            })
            .await;
            cancel_around(how, &probe, task, async { drop(held) }).await;
            assert!(witness.await.unwrap().is_some(), "{how:?}: not served");
            drop(kept);
            let available = semaphore.available_permits();
            assert_eq!(available, 2, "{how:?}: a permit leaked");
        })
    });
}

#[test]
fn queue_put() {
    every_way("Queue::put", |how, _| {
        Box::pin(async move {
            let queue = Queue::bounded(1);
            queue.put_nowait("first").unwrap();
            let (probe, task, witness) = task_and_witness(|who| {
                let queue = queue.clone();
                async move { queue.put(who).await.unwrap() }
            })
            .await;
            // Taking the item frees the one place: promised to the task, then passed on.
            let release = async { assert_eq!(queue.get_nowait(), Ok("first")) };
            cancel_around(how, &probe, task, release).await;
            assert!(witness.await.unwrap().is_some(), "{how:?}: not served");
            assert_eq!(queue.get_nowait(), Ok("witness"));
            assert!(
                queue.is_empty(),
                "{how:?}: the cancelled put inserted its item"
            );
            // Two puts finished, so two items are unfinished, not three.
            assert!(queue.task_done().is_ok() && queue.task_done().is_ok());
            assert!(
                queue.task_done().is_err(),
                "{how:?}: an unfinished count leaked"
            );
            queue.put_nowait("again").unwrap();
        })
    });
}

#[test]
fn queue_get() {
    every_way("Queue::get", |how, _| {
        Box::pin(async move {
            let queue = Queue::new();
            let (probe, task, witness) = task_and_witness(|_| {
                let queue = queue.clone();
                async move { queue.get().await.unwrap() }
            })
            .await;
            // The item is promised to the task; cancelled, it must pass on, not vanish.
            let release = async { queue.put_nowait(7).unwrap() };
            cancel_around(how, &probe, task, release).await;
            assert_eq!(
                witness.await.unwrap(),
                Some(7),
                "{how:?}: the item was lost"
            );
            assert!(queue.is_empty());
            queue.put_nowait(8).unwrap();
            assert_eq!(queue.get_nowait(), Ok(8));
        })
    });
}

#[test]
fn queue_join() {
    every_way("Queue::join", |how, _| {
        Box::pin(async move {
            let queue = Queue::new();
            queue.put_nowait(1).unwrap();
            queue.get_nowait().unwrap(); // one item taken, not yet done
            let (probe, task, witness) = task_and_witness(|_| {
                let queue = queue.clone();
                async move { queue.join().await }
            })
            .await;
            cancel_around(how, &probe, task, async { queue.task_done().unwrap() }).await;
            assert!(witness.await.unwrap().is_some(), "{how:?}: not served");
            assert!(
                ready_now(queue.join()).await.is_some(),
                "{how:?}: join is stuck"
            );
            assert!(queue.task_done().is_err());
            queue.put_nowait(2).unwrap();
            assert!(
                ready_now(queue.join()).await.is_none(),
                "one unfinished again"
            );
        })
    });
}

#[test]
fn event_wait() {
    every_way("Event::wait", |how, _| {
        Box::pin(async move {
            let event = Rc::new(Event::new());
            let (probe, task, witness) = task_and_witness(|_| {
                let event = event.clone();
                async move { event.wait().await }
            })
            .await;
            cancel_around(how, &probe, task, async { event.set() }).await;
            assert!(witness.await.unwrap().is_some(), "{how:?}: not served");
            assert!(ready_now(event.wait()).await.is_some());
            event.clear();
            assert!(ready_now(event.wait()).await.is_none());
        })
    });
}

#[test]
fn oneshot_recv() {
    every_way("oneshot::Receiver", |how, _| {
        Box::pin(async move {
            let drops = Rc::new(Cell::new(0));
            let (tx, rx) = oneshot::channel::<Counted>();
            let (probe, task) = spawn_point(async move { drop(rx.await.unwrap()) }).await;
            // Sent before the cancel, the value is dropped with the receiver; after it, it
            // comes back to the sender. Either way exactly once.
            let release = async {
                match tx.set_result(Counted(drops.clone())) {
                    Ok(()) => assert!(how.woken()),
                    Err(value) => {
                        assert!(!how.woken());
                        drop(value);
                    }
                }
            };
            cancel_around(how, &probe, task, release).await;
            assert_eq!(drops.get(), 1, "{how:?}: not dropped exactly once");
        })
    });
}

#[test]
fn oneshot_closed() {
    every_way("oneshot::Sender::closed", |how, _| {
        Box::pin(async move {
            let (tx, mut rx) = oneshot::channel::<u8>();
            let kept = Rc::new(RefCell::new(None));
            let probe = Rc::new(Probe::default());
            let task = spawn_parked(&probe, {
                let (probe, kept) = (probe.clone(), kept.clone());
                async move {
                    let mut tx = tx;
                    let done = point(&probe, tx.closed()).await;
                    *kept.borrow_mut() = Some(tx); // only when the point was dropped
                    done
                }
            })
            .await;
            cancel_around(how, &probe, task, async { rx.close() }).await;
            assert!(rx.try_recv().unwrap_err().is_closed());
            let kept = kept.borrow_mut().take();
            assert_eq!(kept.is_some(), !how.aborts());
            if let Some(mut tx) = kept {
                // The sender outlived its dropped `closed()`, and still works.
                assert!(tx.is_closed());
                assert!(ready_now(tx.closed()).await.is_some());
                assert_eq!(tx.set_result(1), Err(1));
            }
        })
    });
}

/// Shares a `Sleep` between the task that waits on it and the test, which can move its
/// deadline into the past: the only way to make a timer fire now, deterministically.
async fn wait_shared(sleep: Rc<RefCell<minirt::Sleep>>) {
    poll_fn(|cx| Pin::new(&mut *sleep.borrow_mut()).poll(cx)).await
}

#[test]
fn sleep() {
    every_way("Sleep", |how, rt| {
        Box::pin(async move {
            let before = rt.metrics();
            let sleep = Rc::new(RefCell::new(minirt::sleep(Duration::from_secs(3600))));
            let alive = Rc::downgrade(&sleep); // the task holds the only strong reference
            let (probe, task) = spawn_point(wait_shared(sleep)).await;
            assert_eq!(rt.metrics().timers_armed, 1);
            let release = async {
                if how.woken() {
                    alive.upgrade().unwrap().borrow_mut().reset(a_moment_ago());
                    turn_the_loop().await;
                    // Both the task's timer and the loop-turning one fired in that park.
                    assert_eq!(rt.metrics().timers_fired, before.timers_fired + 2);
                }
            };
            cancel_around(how, &probe, task, release).await;
            assert!(alive.upgrade().is_none(), "{how:?}: the Sleep lives on");
            if !how.woken() {
                let cancelled = rt.metrics().timers_cancelled;
                assert_eq!(cancelled, before.timers_cancelled + 1, "disarmed on drop");
            }
        })
    });
}

#[test]
fn timeout() {
    every_way("timeout", |how, rt| {
        Box::pin(async move {
            let event = Rc::new(Event::new());
            let (probe, task) = spawn_point({
                let event = event.clone();
                async move { minirt::timeout(Duration::from_secs(3600), event.wait()).await }
            })
            .await;
            assert_eq!(rt.metrics().timers_armed, 1, "the timeout's timer is armed");
            // The inner future is released; the timeout's timer must go with the task. (The
            // timer firing first is `Sleep`'s case: `timeout` is built on it.)
            cancel_around(how, &probe, task, async { event.set() }).await;
            assert_eq!(rt.metrics().timers_armed, 0, "{how:?}: left armed");
            assert!(ready_now(event.wait()).await.is_some());
        })
    });
}

#[test]
fn join_handle() {
    every_way("JoinHandle", |how, rt| {
        Box::pin(async move {
            let drops = Rc::new(Cell::new(0));
            let (go, finishing) = (Rc::new(Event::new()), Rc::new(Event::new()));
            let child = minirt::spawn({
                let (go, finishing, drops) = (go.clone(), finishing.clone(), drops.clone());
                async move {
                    go.wait().await;
                    finishing.set(); // wakes the canceller, which queues before the parent
                    Counted(drops)
                }
            });
            let (probe, parent) = spawn_point(async move { drop(child.await.unwrap()) }).await;
            let parent = Rc::new(parent);
            if how.woken() {
                // The child completes, which wakes the parent; the canceller, woken just
                // before, runs first and cancels the parent before it is polled.
                let canceller = minirt::spawn({
                    let (finishing, probe, parent) =
                        (finishing.clone(), probe.clone(), parent.clone());
                    async move {
                        finishing.wait().await;
                        cancel(how, &probe, &parent);
                    }
                });
                go.set();
                canceller.await.unwrap();
            } else {
                cancel(how, &probe, &parent);
            }
            cancelled(how, Rc::into_inner(parent).unwrap()).await;
            // Awaited or detached, the child's output is dropped exactly once.
            go.set();
            while rt.alive_tasks() > 0 {
                minirt::yield_now().await;
            }
            assert_eq!(drops.get(), 1, "{how:?}: not dropped exactly once");
        })
    });
}

/// For a point the reactor releases, once `fd` is readable (the test just connected or
/// wrote): lets the loop wake the task parked on it, and returns before the task runs.
async fn let_the_reactor_wake(rt: &Runtime, fd: &impl AsFd) {
    let io_wakes = rt.metrics().wakes_io;
    wait_readable(fd);
    turn_the_loop().await;
    assert_eq!(
        rt.metrics().wakes_io,
        io_wakes + 1,
        "the reactor woke the task"
    );
}

#[test]
fn tcp_listener_accept() {
    every_way("TcpListener::accept", |how, rt| {
        Box::pin(async move {
            let listener = Rc::new(TcpListener::bind("127.0.0.1:0").unwrap());
            let addr = listener.local_addr().unwrap();
            let accept = || {
                let listener = listener.clone();
                async move { listener.accept().await.unwrap() }
            };
            let (probe, task) = spawn_point(accept()).await;
            let mut client = None;
            if how.woken() {
                client = Some(std::net::TcpStream::connect(addr).unwrap());
                let_the_reactor_wake(rt, &*listener).await;
            }
            cancel(how, &probe, &task);
            cancelled(how, task).await;
            // The next acceptor gets the connection: it was not lost. With no connection yet,
            // it waits, in the place the cancelled task left in the reactor.
            let next = if how.woken() {
                None
            } else {
                Some(spawn_point(accept()).await.1)
            };
            let mut client = client.unwrap_or_else(|| std::net::TcpStream::connect(addr).unwrap());
            let (mut server, peer) = match next {
                Some(next) => next.await.unwrap().unwrap(),
                None => accept().await,
            };
            assert_eq!(peer, client.local_addr().unwrap(), "{how:?}: lost");
            server.write_all(b"ok").await.unwrap();
            let mut got = [0u8; 2];
            client.read_exact(&mut got).unwrap();
            assert_eq!(&got, b"ok");
        })
    });
}

#[test]
fn tcp_stream_read() {
    every_way("TcpStream::read", |how, rt| {
        Box::pin(async move {
            let listener = TcpListener::bind("127.0.0.1:0").unwrap();
            let addr = listener.local_addr().unwrap();
            let mut client = std::net::TcpStream::connect(addr).unwrap();
            let server = Rc::new(listener.accept().await.unwrap().0);
            let read = || {
                let server = server.clone();
                async move { read_n(&server, 5).await }
            };
            let (probe, task) = spawn_point(read()).await;
            if how.woken() {
                client.write_all(b"hello").unwrap();
                let_the_reactor_wake(rt, &*server).await;
            }
            cancel(how, &probe, &task);
            cancelled(how, task).await;
            // The next reader gets every byte: none was lost. With nothing sent yet, it waits,
            // in the place the cancelled task left in the reactor.
            let got = if how.woken() {
                read().await
            } else {
                let (_, next) = spawn_point(read()).await;
                client.write_all(b"hello").unwrap();
                next.await.unwrap().unwrap()
            };
            assert_eq!(got, b"hello", "{how:?}: bytes were lost");
        })
    });
}

#[test]
fn condition_wait() {
    every_way("Condition::wait", |how, _| {
        Box::pin(async move {
            let shared = Rc::new((Mutex::new(Vec::new()), Condition::new()));
            let (probe, task, witness) = task_and_witness(|who| {
                let shared = shared.clone();
                async move {
                    let (log, cond) = &*shared;
                    cond.wait(log.lock().await).await.push(who);
                }
            })
            .await;
            let (log, cond) = &*shared;
            assert!(!log.is_locked(), "waiting unlocks");
            // One notification, meant for the task; cancelled, it must pass to the witness.
            cancel_around(how, &probe, task, async { cond.notify(1) }).await;
            if !how.woken() {
                cond.notify(1); // the task left before it was notified
            }
            assert!(witness.await.unwrap().is_some(), "{how:?}: not served");
            assert_eq!(cond.waiting(), 0);
            assert!(!log.is_locked(), "{how:?}: the lock is stuck");
            assert_eq!(*log.lock().await, ["witness"]);
        })
    });
}

/// The second `.await` inside a condition wait: notified, it waits to lock the mutex again.
#[test]
fn condition_wait_relocking() {
    every_way("Condition::wait (relocking)", |how, _| {
        Box::pin(async move {
            let shared = Rc::new((Mutex::new(Vec::new()), Condition::new()));
            let (probe, task, witness) = task_and_witness(|who| {
                let shared = shared.clone();
                async move {
                    let (log, cond) = &*shared;
                    cond.wait(log.lock().await).await.push(who);
                }
            })
            .await;
            let (log, cond) = &*shared;
            let held = log.lock().await;
            cond.notify(1);
            // The task runs, is out of the condition's line, and now waits for the mutex.
            let polls = probe.polls.get();
            while probe.polls.get() == polls {
                minirt::yield_now().await;
            }
            probe.parked_at.set(Some(probe.polls.get()));
            assert_eq!(
                cond.waiting(),
                1,
                "only the witness still waits to be notified"
            );
            // Releasing the mutex hands it to the task; cancelled, the lock passes on and so
            // does the notification it never used.
            cancel_around(how, &probe, task, async { drop(held) }).await;
            assert!(witness.await.unwrap().is_some(), "{how:?}: not served");
            assert!(!log.is_locked(), "{how:?}: the lock is stuck");
            assert_eq!(*log.lock().await, ["witness"]);
        })
    });
}

#[test]
fn barrier_wait() {
    every_way("Barrier::wait", |how, _| {
        Box::pin(async move {
            let barrier = Rc::new(Barrier::new(2));
            let (probe, task) = spawn_point({
                let barrier = barrier.clone();
                async move { barrier.wait().await }
            })
            .await;
            assert_eq!(barrier.n_waiting(), 1);
            // The test's arrival completes the round and releases the task.
            let release = async {
                if how.woken() {
                    assert_eq!(ready_now(barrier.wait()).await, Some(Ok(1)));
                }
            };
            cancel_around(how, &probe, task, release).await;
            // Either the round was complete, or the task left it: the next round starts empty,
            // and its indices are 0 and 1.
            assert_eq!(barrier.n_waiting(), 0, "{how:?}: a ghost waits");
            let (_, first) = spawn_point({
                let barrier = barrier.clone();
                async move { barrier.wait().await }
            })
            .await;
            assert_eq!(ready_now(barrier.wait()).await, Some(Ok(1)));
            assert_eq!(first.await.unwrap(), Some(Ok(0)));
        })
    });
}

/// A task waiting in `join_next` for a child that finishes: cancelled, the child's result
/// stays in the group for the next `join_next`.
#[test]
fn task_group_join_next() {
    every_way("TaskGroup::join_next", |how, _| {
        Box::pin(async move {
            let group = Rc::new(TaskGroup::new());
            let (go, finishing) = (Rc::new(Event::new()), Rc::new(Event::new()));
            group.spawn({
                let (go, finishing) = (go.clone(), finishing.clone());
                async move {
                    go.wait().await;
                    finishing.set(); // wakes the canceller, which queues before the joiner
                    7
                }
            });
            let (probe, joiner) = spawn_point({
                let group = group.clone();
                async move { group.join_next().await.map(Result::unwrap) }
            })
            .await;
            let joiner = Rc::new(joiner);
            if how.woken() {
                let canceller = minirt::spawn({
                    let (finishing, probe, joiner) =
                        (finishing.clone(), probe.clone(), joiner.clone());
                    async move {
                        finishing.wait().await;
                        cancel(how, &probe, &joiner);
                    }
                });
                go.set();
                canceller.await.unwrap();
            } else {
                cancel(how, &probe, &joiner);
            }
            cancelled(how, Rc::into_inner(joiner).unwrap()).await;
            go.set();
            let result = group.join_next().await.unwrap();
            assert_eq!(result.unwrap(), 7, "{how:?}: the result was lost");
            assert!(group.join_next().await.is_none());
        })
    });
}

/// A task waiting in `join_all`: cancelled, it aborts the children still running (asyncio
/// cancels a group's children when its body is cancelled), and loses nothing else.
#[test]
fn task_group_join_all() {
    every_way("TaskGroup::join_all", |how, _| {
        Box::pin(async move {
            let group = Rc::new(TaskGroup::new());
            let go = Rc::new(Event::new());
            group.spawn({
                let go = go.clone();
                async move {
                    go.wait().await;
                    1
                }
            });
            group.spawn(std::future::pending());
            let (probe, task) = spawn_point({
                let group = group.clone();
                async move { group.join_all().await.unwrap() }
            })
            .await;
            cancel_around(how, &probe, task, async { go.set() }).await;
            // The pending child was aborted with the join; the other one finished or was
            // aborted too, depending on which came first.
            let mut cancelled = 0;
            while let Some(result) = group.join_next().await {
                match result {
                    Ok(value) => assert_eq!(value, 1),
                    Err(e) => {
                        assert!(e.is_cancelled());
                        cancelled += 1;
                    }
                }
            }
            assert!(cancelled >= 1, "{how:?}: the pending child was not aborted");
            assert!(!group.is_failed());
        })
    });
}

/// A task waiting for the next output of an `as_completed` stream it shares: cancelled, the
/// output stays in the stream.
#[test]
fn as_completed_next() {
    every_way("AsCompleted::next", |how, _| {
        Box::pin(async move {
            let gate = Rc::new(Event::new());
            let wait = |value: u32| {
                let gate = gate.clone();
                async move {
                    gate.wait().await;
                    value
                }
            };
            let stream = Rc::new(RefCell::new(minirt::as_completed([wait(5)])));
            let (probe, task) = spawn_point({
                let stream = stream.clone();
                // A fresh `next()` each poll: it holds nothing between polls but the stream.
                async move { poll_fn(|cx| Pin::new(&mut stream.borrow_mut().next()).poll(cx)).await }
            })
            .await;
            cancel_around(how, &probe, task, async { gate.set() }).await;
            gate.set();
            let mut stream = Rc::into_inner(stream).unwrap().into_inner();
            assert_eq!(stream.next().await, Some(5), "{how:?}: the output was lost");
            assert_eq!(stream.next().await, None);
        })
    });
}
