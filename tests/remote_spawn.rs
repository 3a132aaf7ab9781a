//! Spawning from other threads through a `Handle` (issue 15): the spawn reaches a parked loop at
//! once, the future is polled and dropped only on the runtime's thread, and a
//! `RemoteJoinHandle` never hangs on a runtime that is gone. These tests need no sockets, and
//! Miri runs them (`.ci/miri`), which checks the thread rule itself.
mod common;

use std::cell::Cell;
use std::future::{Future, pending};
use std::rc::Rc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Barrier, mpsc};
use std::thread::{self, ThreadId};
use std::time::Duration;

use common::{DropRecorder, watchdog};
use minirt::sync::oneshot;
use minirt::{Handle, RemoteJoinHandle, Runtime};

/// Far longer than any of these tests takes, even under Miri; only a hang reaches it.
const HANG: Duration = Duration::from_secs(if cfg!(miri) { 600 } else { 60 });

/// A runtime on a thread of its own, parked in `block_on` until told to stop.
struct RuntimeThread {
    handle: Handle,
    id: ThreadId,
    stop: Option<oneshot::Sender<()>>,
    thread: Option<thread::JoinHandle<()>>,
}

impl RuntimeThread {
    /// `setup` runs inside the runtime first (to arm a timer, say).
    fn start(setup: impl FnOnce() + Send + 'static) -> RuntimeThread {
        let (stop, stopped) = oneshot::channel::<()>();
        let (tx, rx) = mpsc::channel();
        let thread = thread::spawn(move || {
            let rt = Runtime::new().unwrap();
            tx.send((rt.handle(), thread::current().id())).unwrap();
            rt.block_on(async move {
                setup();
                let _ = stopped.await;
            });
        });
        let (handle, id) = rx.recv().unwrap();
        RuntimeThread {
            handle,
            id,
            stop: Some(stop),
            thread: Some(thread),
        }
    }
}

impl Drop for RuntimeThread {
    fn drop(&mut self) {
        let _ = self.stop.take().unwrap().set_result(());
        let result = self.thread.take().unwrap().join();
        if !thread::panicking() {
            result.unwrap();
        }
    }
}

#[test]
fn handle_is_send_sync_clone_and_remote_join_handle_is_send() {
    fn send_sync_clone<T: Send + Sync + Clone + 'static>() {}
    fn send<T: Send>() {}
    send_sync_clone::<Handle>();
    send::<RemoteJoinHandle<String>>();
}

#[test]
fn four_threads_spawn_at_once_and_every_task_runs_once() {
    const THREADS: usize = 4;
    const PER_THREAD: usize = if cfg!(miri) { 5 } else { 250 };
    let _watchdog = watchdog(HANG);
    let rt = Runtime::new().unwrap();
    let ran = Arc::new(AtomicUsize::new(0));
    let barrier = Arc::new(Barrier::new(THREADS));
    let mut done = Vec::new();
    let threads: Vec<_> = (0..THREADS)
        .map(|t| {
            let (handle, ran, barrier) = (rt.handle(), ran.clone(), barrier.clone());
            let (tx, rx) = oneshot::channel::<usize>();
            done.push(rx);
            thread::spawn(move || {
                barrier.wait();
                let tasks: Vec<_> = (0..PER_THREAD)
                    .map(|i| {
                        let ran = ran.clone();
                        handle.spawn(async move {
                            ran.fetch_add(1, Ordering::SeqCst);
                            t * PER_THREAD + i
                        })
                    })
                    .collect();
                let sum = tasks.into_iter().map(|task| task.join().unwrap()).sum();
                tx.set_result(sum).unwrap();
            })
        })
        .collect();
    let total: usize = rt.block_on(async {
        let mut total = 0;
        for rx in done {
            total += rx.await.unwrap();
        }
        total
    });
    for thread in threads {
        thread.join().unwrap();
    }
    let n = THREADS * PER_THREAD;
    assert_eq!(total, n * (n - 1) / 2, "every task's own output came back");
    assert_eq!(ran.load(Ordering::SeqCst), n, "every task ran exactly once");
    assert_eq!(rt.metrics().tasks_spawned, n as u64);
    assert_eq!(rt.alive_tasks(), 0);
}

#[test]
fn join_from_a_plain_thread_wakes_a_parked_runtime_at_once() {
    // The runtime parks with no work and one timer an hour away: without the inbox's notify,
    // the spawn would wait for that timer, and the watchdog would end the test.
    let _watchdog = watchdog(HANG);
    let rt = RuntimeThread::start(|| {
        drop(minirt::spawn(minirt::sleep(Duration::from_secs(3600))));
    });
    for i in 0..3 {
        let id = rt.handle.spawn(async { thread::current().id() }).join();
        assert_eq!(id.unwrap(), rt.id, "spawn {i} ran on the runtime's thread");
    }
}

#[test]
fn spawn_fn_builds_a_not_send_future_on_the_home_thread_and_drops_it_there() {
    let _watchdog = watchdog(HANG);
    let rt = RuntimeThread::start(|| {});
    let (recorder, dropped_on) = DropRecorder::new();
    let remote = rt.handle.spawn_fn(move || {
        let made_on = thread::current().id();
        // `Rc` and `Cell` make this future `!Send`: it could not be passed to `spawn`.
        let count = Rc::new(Cell::new(0));
        async move {
            let _recorder = recorder;
            count.set(count.get() + 1);
            minirt::yield_now().await;
            (made_on, thread::current().id(), count.get())
        }
    });
    let (made_on, polled_on, count) = remote.join().unwrap();
    assert_eq!((made_on, polled_on, count), (rt.id, rt.id, 1));
    assert_eq!(
        *dropped_on.lock().unwrap(),
        Some(rt.id),
        "the future was dropped before the result was handed over, on its home thread"
    );
}

#[test]
fn abort_from_another_thread_drops_the_future_at_home() {
    let _watchdog = watchdog(HANG);
    let rt = Runtime::new().unwrap();
    let home = thread::current().id();
    let (recorder, dropped_on) = DropRecorder::new();
    let remote = rt.handle().spawn(async move {
        let _recorder = recorder;
        pending::<()>().await;
    });
    // Let the task start and park, so that the abort has to wake it.
    rt.block_on(minirt::yield_now());
    assert!(!remote.is_finished());
    let (tx, rx) = oneshot::channel();
    let aborter = thread::spawn(move || {
        remote.abort();
        remote.abort(); // twice is harmless
        tx.set_result(remote.join()).unwrap();
    });
    let result = rt.block_on(rx).unwrap();
    aborter.join().unwrap();
    assert!(result.unwrap_err().is_cancelled());
    assert_eq!(*dropped_on.lock().unwrap(), Some(home));
    assert_eq!(rt.alive_tasks(), 0);
}

#[test]
fn abort_after_the_task_finished_keeps_the_output() {
    let rt = Runtime::new().unwrap();
    let remote = rt.handle().spawn(async { 7 });
    // Two turns: the first runs the spawn job, the second the task.
    rt.block_on(async {
        minirt::yield_now().await;
        minirt::yield_now().await;
    });
    assert!(remote.is_finished());
    remote.abort();
    assert_eq!(remote.join().unwrap(), 7);
}

#[test]
fn a_dropped_runtime_cancels_queued_running_and_later_spawns() {
    let _watchdog = watchdog(HANG);
    let rt = Runtime::new().unwrap();
    let handle = rt.handle();
    let home = thread::current().id();
    // One task started and parked, one still queued as a job in the inbox.
    let (running_recorder, running_dropped_on) = DropRecorder::new();
    let running = handle.spawn(async move {
        let _r = running_recorder;
        pending::<()>().await;
    });
    rt.block_on(minirt::yield_now());
    let (queued_recorder, queued_dropped_on) = DropRecorder::new();
    let queued = handle.spawn(async move {
        let _r = queued_recorder;
    });
    assert!(!handle.is_closed());
    drop(rt);
    assert!(handle.is_closed());
    assert!(running.join().unwrap_err().is_cancelled());
    assert!(queued.join().unwrap_err().is_cancelled());
    assert_eq!(*running_dropped_on.lock().unwrap(), Some(home));
    assert_eq!(*queued_dropped_on.lock().unwrap(), Some(home));
    // Later spawns, from this thread and from another: cancelled at once.
    assert!(handle.spawn(async {}).join().unwrap_err().is_cancelled());
    let other = handle.clone();
    let late = thread::spawn(move || other.spawn_fn(|| async { 1 }).join())
        .join()
        .unwrap();
    assert!(late.unwrap_err().is_cancelled());
}

#[test]
fn a_runtime_that_closes_while_a_thread_spawns_cancels_without_hanging() {
    const SPAWNS: usize = if cfg!(miri) { 10 } else { 1000 };
    let _watchdog = watchdog(HANG);
    let rt = Runtime::new().unwrap();
    let handle = rt.handle();
    let spawner = thread::spawn(move || {
        let mut results = (0, 0);
        for i in 0..SPAWNS {
            match handle.spawn(async move { i }).join() {
                Ok(_) => results.0 += 1,
                Err(e) => {
                    assert!(e.is_cancelled());
                    results.1 += 1;
                }
            }
        }
        results
    });
    // Run a little, then drop the runtime while the spawner is still going.
    rt.block_on(async {
        for _ in 0..5 {
            minirt::yield_now().await;
        }
    });
    drop(rt);
    let (ok, cancelled) = spawner.join().unwrap();
    assert_eq!(ok + cancelled, SPAWNS);
}

#[test]
fn a_remote_join_handle_is_awaited_on_another_runtime() {
    let _watchdog = watchdog(HANG);
    let a = RuntimeThread::start(|| {});
    let b = Runtime::new().unwrap();
    let (ran_on, a_id) = b.block_on(async {
        // `Sleep` is `!Send`, like every minirt timer and socket: build it over there.
        let remote = a.handle.spawn_fn(|| async {
            minirt::sleep(Duration::from_millis(1)).await;
            thread::current().id()
        });
        (remote.await.unwrap(), a.id)
    });
    assert_eq!(ran_on, a_id);
    assert_ne!(ran_on, thread::current().id());
}

#[test]
fn panics_come_back_as_is_panic() {
    let rt = Runtime::new().unwrap();
    let handle = rt.handle();
    let in_future = handle.spawn(async {
        panic!("remote boom");
    });
    let in_make = handle.spawn_fn(|| -> std::future::Ready<()> { panic!("make boom") });
    let after = handle.spawn(async { 1 });
    let (a, b, c) = rt.block_on(async { (in_future.await, in_make.await, after.await) });
    assert_eq!(a.unwrap_err().to_string(), "task panicked: remote boom");
    assert_eq!(b.unwrap_err().to_string(), "task panicked: make boom");
    assert_eq!(c.unwrap(), 1, "the loop goes on after a remote task panics");
}

#[test]
fn a_detached_task_runs_and_its_output_is_dropped_at_home() {
    let rt = Runtime::new().unwrap();
    let home = thread::current().id();
    let (recorder, dropped_on) = DropRecorder::new();
    let ran = Arc::new(AtomicUsize::new(0));
    let ran2 = ran.clone();
    let remote = rt.handle().spawn(async move {
        minirt::yield_now().await;
        ran2.fetch_add(1, Ordering::SeqCst);
        recorder
    });
    let other = thread::spawn(move || drop(remote));
    other.join().unwrap();
    rt.block_on(async {
        for _ in 0..3 {
            minirt::yield_now().await;
        }
    });
    assert_eq!(ran.load(Ordering::SeqCst), 1);
    assert_eq!(*dropped_on.lock().unwrap(), Some(home));
}

#[test]
fn a_spawn_waits_for_the_next_block_on() {
    let rt = Runtime::new().unwrap();
    let remote = rt.handle().spawn(async { 5 });
    assert!(!remote.is_finished(), "nothing runs outside block_on");
    assert_eq!(rt.block_on(remote).unwrap(), 5);
}

/// A future whose output type is spelled out, for `spawn_fn` in a generic context.
fn boxed(n: u32) -> std::pin::Pin<Box<dyn Future<Output = u32>>> {
    Box::pin(async move { n })
}

#[test]
fn handles_can_be_cloned_and_used_from_inside_the_runtime_too() {
    let rt = Runtime::new().unwrap();
    let handle = rt.handle();
    let sum = rt.block_on(async move {
        let a = handle.clone().spawn_fn(|| boxed(2));
        let b = handle.spawn_fn(|| boxed(3));
        a.await.unwrap() + b.await.unwrap()
    });
    assert_eq!(sum, 5);
}

/// A future whose `Drop` panics: user code the shutdown runs while it drops queued jobs.
struct PanicOnDrop;

impl Drop for PanicOnDrop {
    fn drop(&mut self) {
        panic!("PanicOnDrop dropped");
    }
}

#[test]
fn a_queued_job_whose_drop_panics_does_not_stop_the_shutdown() {
    let rt = Runtime::new().unwrap();
    let handle = rt.handle();
    let bomb = PanicOnDrop;
    let first = handle.spawn(async move {
        let _bomb = bomb;
    });
    let (recorder, dropped_on) = DropRecorder::new();
    let second = handle.spawn(async move {
        let _r = recorder;
    });
    let dropped = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| drop(rt)));
    assert!(
        dropped.is_err(),
        "the panic is raised once the runtime is shut down"
    );
    assert!(first.join().unwrap_err().is_cancelled());
    assert!(second.join().unwrap_err().is_cancelled());
    assert_eq!(*dropped_on.lock().unwrap(), Some(thread::current().id()));
    assert!(
        handle.spawn(async {}).join().unwrap_err().is_cancelled(),
        "later spawns are cancelled"
    );
}

/// Spawns a local task from its `Drop` when dropped on the runtime's thread (that is, by the
/// runtime's shutdown), and counts the futures it spawned that were dropped.
struct SpawnsOnDrop {
    home: ThreadId,
    spawned: Arc<AtomicUsize>,
    dropped: Arc<AtomicUsize>,
}

/// A future that never ends and counts its drop.
struct CountsDrop(Arc<AtomicUsize>);

impl Drop for CountsDrop {
    fn drop(&mut self) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

impl Drop for SpawnsOnDrop {
    fn drop(&mut self) {
        if thread::current().id() != self.home {
            return; // refused spawns are dropped on the spawning thread: no runtime there
        }
        self.spawned.fetch_add(1, Ordering::SeqCst);
        let guard = CountsDrop(self.dropped.clone());
        drop(minirt::spawn(async move {
            let _guard = guard;
            pending::<()>().await;
        }));
    }
}

/// Issue 24, bug 10: a job that arrives while the runtime shuts down, and whose `Drop` spawns
/// a task, must not leave that task behind. The shutdown used to leave its cancel loop, then
/// close the inbox and drop the jobs found there, while a task spawned by those drops was never
/// cancelled: its future was leaked (and `dealloc` said "a task was freed with its future or
/// output still inside"). Racy by nature, so tried many times.
#[test]
fn a_job_dropped_by_the_closing_runtime_cannot_leave_a_task_behind() {
    const ROUNDS: usize = if cfg!(miri) { 3 } else { 50 };
    let _watchdog = watchdog(HANG);
    let spawned = Arc::new(AtomicUsize::new(0));
    let dropped = Arc::new(AtomicUsize::new(0));
    for _ in 0..ROUNDS {
        let rt = Runtime::new().unwrap();
        let handle = rt.handle();
        let home = thread::current().id();
        let (spawned2, dropped2) = (spawned.clone(), dropped.clone());
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let stop2 = stop.clone();
        let sent = Arc::new(AtomicUsize::new(0));
        let sent2 = sent.clone();
        let spawner = thread::spawn(move || {
            while !stop2.load(Ordering::SeqCst) {
                sent2.fetch_add(1, Ordering::SeqCst);
                let bomb = SpawnsOnDrop {
                    home,
                    spawned: spawned2.clone(),
                    dropped: dropped2.clone(),
                };
                drop(handle.spawn_fn(move || {
                    let _bomb = bomb;
                    async {}
                }));
            }
        });
        // Drop the runtime while jobs are streaming in.
        while sent.load(Ordering::SeqCst) < 20 {
            thread::yield_now();
        }
        rt.block_on(minirt::yield_now());
        drop(rt);
        stop.store(true, Ordering::SeqCst);
        spawner.join().unwrap();
    }
    assert_eq!(
        dropped.load(Ordering::SeqCst),
        spawned.load(Ordering::SeqCst),
        "every future spawned during a shutdown is dropped by it"
    );
}
