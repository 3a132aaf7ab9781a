//! Dropping the runtime while everything is in flight: tasks parked reading sockets and
//! accepting, timers armed (sleeps, a timeout, an interval), blocking jobs running, a task
//! awaiting a blocking job, and a stream that outlives the runtime. No panic, every fd and
//! every thread comes back, and under valgrind (`.ci/valgrind` runs this binary) no leak and
//! no invalid access. With `shutdown_timeout` and a job that does not return, that job's
//! thread is the one straggler left, as the docs describe, and it exits once released.
//!
//! One test function: it counts the process's threads and fds, so nothing may run beside it.
mod common;

use std::rc::Rc;
use std::sync::mpsc;
use std::time::Duration;

use minirt::net::{TcpListener, TcpStream};

const READERS: usize = 4;
const SLEEPERS: usize = 4;

/// Builds a runtime with everything in flight, and returns it with a stream that must outlive
/// it (its reader task is parked on it). `stuck`, if given, is a job that never returns until
/// the test sends to it. The other blocking jobs return when the runtime cancels their tasks.
fn busy_runtime(stuck: Option<mpsc::Receiver<()>>) -> (minirt::Runtime, Rc<TcpStream>) {
    let rt = minirt::Runtime::builder()
        .max_blocking_threads(4)
        .build()
        .unwrap();
    let outliving = rt.block_on(async {
        let listener = Rc::new(TcpListener::bind("127.0.0.1:0").unwrap());
        let addr = listener.local_addr().unwrap();
        let mut parked = Vec::new();
        // Readers, each owning both ends of a connection nobody writes to.
        for _ in 0..READERS {
            let client = TcpStream::connect(addr).await.unwrap();
            let (mut server, _) = listener.accept().await.unwrap();
            parked.push(minirt::spawn(async move {
                let _client = client;
                let mut buf = [0u8; 64];
                let _ = server.read(&mut buf).await;
            }));
        }
        // A reader whose stream is shared with the test and outlives the runtime.
        let outliving = Rc::new(TcpStream::connect(addr).await.unwrap());
        let (server_end, _) = listener.accept().await.unwrap();
        parked.push(minirt::spawn({
            let stream = outliving.clone();
            async move {
                let _server_end = server_end;
                let mut buf = [0u8; 64];
                let _ = minirt::io::read(&mut &*stream, &mut buf).await;
            }
        }));
        // An acceptor, with nothing to accept.
        parked.push(minirt::spawn({
            let listener = listener.clone();
            async move {
                let _ = listener.accept().await;
            }
        }));
        // Timers: sleeps, a timeout around a read, an interval.
        for i in 0..SLEEPERS {
            parked.push(minirt::spawn(minirt::sleep(Duration::from_secs(
                60 + i as u64,
            ))));
        }
        parked.push(minirt::spawn(async {
            let _ = minirt::timeout(Duration::from_secs(60), std::future::pending::<()>()).await;
        }));
        parked.push(minirt::spawn(async {
            let mut interval = minirt::time::interval(Duration::from_secs(30));
            loop {
                interval.tick().await;
            }
        }));
        // Blocking jobs that run until their task is dropped: each task holds the sending
        // half of the channel its job waits on, so cancelling the task ends the job.
        for _ in 0..2 {
            let (guard, dropped) = mpsc::channel::<()>();
            let (started_tx, started) = minirt::sync::oneshot::channel();
            let job = minirt::spawn_blocking(move || {
                started_tx.set_result(()).unwrap();
                let _ = dropped.recv();
            });
            started.await.unwrap();
            parked.push(minirt::spawn(async move {
                let _guard = guard;
                let _ = job.await;
            }));
        }
        if let Some(stuck) = stuck {
            let (started_tx, started) = minirt::sync::oneshot::channel();
            drop(minirt::spawn_blocking(move || {
                started_tx.set_result(()).unwrap();
                let _ = stuck.recv();
            }));
            started.await.unwrap();
        }
        // Let every task reach its wait.
        minirt::yield_now().await;
        minirt::yield_now().await;
        assert!(parked.iter().all(|task| !task.is_finished()));
        for task in parked {
            drop(task); // detached: the runtime alone owns them now
        }
        outliving
    });
    (rt, outliving)
}

#[test]
fn dropping_a_busy_runtime_leaves_nothing_behind() {
    let _watchdog = common::watchdog(Duration::from_secs(300));
    let (threads_before, fds_before) = (common::thread_names().len(), common::open_fds());

    // Dropped: every task is cancelled on this thread, which ends the jobs they held, and
    // the pool's threads exit.
    let (rt, outliving) = busy_runtime(None);
    let m = rt.metrics();
    // Readers, the outliving reader, the acceptor, sleepers, the timeout and the interval,
    // and two blocking jobs with the two tasks that hold them.
    let tasks = READERS + 1 + 1 + SLEEPERS + 2 + 2 * 2;
    assert_eq!(m.tasks_alive, tasks as u64);
    assert_eq!(m.timers_armed, (SLEEPERS + 2) as u64);
    assert_eq!(m.blocking_threads, 2);
    let (threads_busy, fds_busy) = (common::thread_names().len(), common::open_fds());
    drop(rt);
    // `drop` joins the pool's threads. A joined thread can still be listed in /proc for a
    // moment: `pthread_join` returns when the exiting thread clears its id, a little before
    // the kernel removes it from the list (seen once in a full test run on a loaded machine).
    common::wait_until("joined pool threads to leave /proc", || {
        common::pool_threads() == 0
    });
    assert_eq!(common::thread_names().len(), threads_before);
    // The stream outlived its runtime; its reader was dropped with the runtime.
    assert_eq!(Rc::strong_count(&outliving), 1);
    drop(outliving);
    let fds_after = common::open_fds();
    assert_eq!(fds_after, fds_before, "fds left open");

    // Shut down with a bound while one job never returns: its thread is left detached.
    let (release, stuck) = mpsc::channel();
    let (rt, outliving) = busy_runtime(Some(stuck));
    drop(outliving);
    let took = common::shutdown_leaving_one_straggler(rt, threads_before, release);
    assert_eq!(common::open_fds(), fds_before);
    eprintln!(
        "busy runtime: {threads_busy} threads and {fds_busy} fds; {threads_before} threads and \
         {fds_before} fds before and after drop; shutdown_timeout(100 ms) returned in \
         {took:.1?} with one straggler, gone once released"
    );
}
