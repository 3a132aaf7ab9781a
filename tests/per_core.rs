//! `ThreadPerCore` (issue 15): N threads, a runtime each, the same entry on each; a panic on one
//! stops the rest and nothing hangs; with `SO_REUSEPORT` every thread accepts and serves. The
//! tests without sockets run under Miri too (`.ci/miri`).
mod common;

use std::cell::Cell;
use std::io::{Read, Write};
use std::net::SocketAddr;
use std::rc::Rc;
use std::sync::Mutex;
use std::thread;
use std::time::Duration;

use common::watchdog;
use minirt::ThreadPerCore;
use minirt::net::TcpListener;
use minirt::sync::oneshot;

const HANG: Duration = Duration::from_secs(if cfg!(miri) { 600 } else { 60 });

#[test]
fn each_thread_runs_the_entry_with_its_index_on_a_thread_of_its_own() {
    let _watchdog = watchdog(HANG);
    let outputs = ThreadPerCore::new(3)
        .run(|shard| async move {
            // `Rc` is fine: the entry future is built on its own thread and stays there.
            let local = Rc::new(Cell::new(shard.index()));
            minirt::yield_now().await;
            (local.get(), shard.handles().len(), thread::current().id())
        })
        .unwrap();
    let outputs: Vec<_> = outputs.into_iter().map(Result::unwrap).collect();
    assert_eq!(
        outputs.iter().map(|o| (o.0, o.1)).collect::<Vec<_>>(),
        [(0, 3), (1, 3), (2, 3)]
    );
    let mut threads: Vec<_> = outputs.iter().map(|o| o.2).collect();
    threads.push(thread::current().id());
    threads.sort_by_key(|id| format!("{id:?}"));
    threads.dedup();
    assert_eq!(threads.len(), 4, "three threads of their own, not this one");
}

#[test]
fn threads_hand_work_to_each_other_through_their_handles() {
    let _watchdog = watchdog(HANG);
    let outputs = ThreadPerCore::new(2)
        .run(|shard| async move {
            let me = thread::current().id();
            let next = &shard.handles()[(shard.index() + 1) % 2];
            let ran_on = next
                .spawn_fn(|| async { thread::current().id() })
                .await
                .unwrap();
            (me, ran_on)
        })
        .unwrap();
    let (a, b) = (outputs[0].as_ref().unwrap(), outputs[1].as_ref().unwrap());
    assert_eq!(a.1, b.0, "thread 0's task ran on thread 1");
    assert_eq!(b.1, a.0, "thread 1's task ran on thread 0");
}

#[test]
fn a_panic_on_one_thread_is_reported_and_stops_the_rest() {
    let _watchdog = watchdog(HANG);
    let outputs = ThreadPerCore::new(3)
        .run(|shard| async move {
            if shard.index() == 1 {
                minirt::yield_now().await;
                panic!("shard 1 fails");
            }
            // The others would wait forever: only the stop ends them.
            std::future::pending::<()>().await;
        })
        .unwrap();
    assert!(outputs[0].as_ref().unwrap_err().is_cancelled());
    assert_eq!(
        outputs[1].as_ref().unwrap_err().to_string(),
        "task panicked: shard 1 fails"
    );
    assert!(outputs[2].as_ref().unwrap_err().is_cancelled());
}

#[test]
#[cfg_attr(miri, ignore = "Miri runs no the file system")]
fn a_runtime_that_cannot_be_built_fails_the_pool_without_hanging() {
    let _watchdog = watchdog(HANG);
    let dir = std::env::temp_dir().join("minirt-no-such-dir-for-per-core");
    let ran = Mutex::new(0);
    let result = ThreadPerCore::new(2)
        .runtime(minirt::Runtime::builder().trace(dir.join("trace.json")))
        .run(|_| async { *ran.lock().unwrap() += 1 });
    assert!(result.is_err());
    assert_eq!(*ran.lock().unwrap(), 0, "no entry ran");
}

#[test]
#[cfg_attr(miri, ignore = "Miri runs no /proc and sched_setaffinity")]
fn pinned_threads_run_each_on_one_cpu() {
    let _watchdog = watchdog(HANG);
    let outputs = ThreadPerCore::new(2)
        .pin_to_cpus(true)
        .run(|_| async {
            let cpus = std::fs::read_to_string("/proc/thread-self/status").unwrap();
            cpus.lines()
                .find(|l| l.starts_with("Cpus_allowed_list:"))
                .unwrap()
                .split(':')
                .nth(1)
                .unwrap()
                .trim()
                .to_string()
        })
        .unwrap();
    for output in outputs {
        let list = output.unwrap();
        assert!(
            list.parse::<usize>().is_ok(),
            "one CPU per thread, got {list:?}"
        );
    }
}

/// A port that was free a moment ago.
fn free_port() -> SocketAddr {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
}

#[test]
#[cfg_attr(miri, ignore = "Miri runs no sockets")]
fn every_thread_accepts_and_serves_on_a_reuse_port_listener() {
    const THREADS: usize = 2;
    const CONNECTIONS: usize = 64;
    let _watchdog = watchdog(HANG);
    let addr = free_port();
    let (ready_tx, ready_rx) = std::sync::mpsc::channel::<()>();
    let (done_tx, done_rx) = oneshot::channel::<Vec<u8>>();
    let done_rx = Mutex::new(Some(done_rx));
    let client = thread::spawn(move || {
        for _ in 0..THREADS {
            ready_rx.recv().unwrap();
        }
        // Each connection gets the index of the thread that served it.
        let served: Vec<u8> = (0..CONNECTIONS)
            .map(|_| {
                let mut stream = std::net::TcpStream::connect(addr).unwrap();
                stream.write_all(b"?").unwrap();
                let mut byte = [0];
                stream.read_exact(&mut byte).unwrap();
                byte[0]
            })
            .collect();
        done_tx.set_result(served).unwrap();
    });
    let outputs = ThreadPerCore::new(THREADS)
        .run(|shard| {
            let ready = ready_tx.clone();
            let done = done_rx.lock().unwrap().take();
            async move {
                let listener = TcpListener::bind_reuse_port(addr)?;
                ready.send(()).unwrap();
                let index = shard.index() as u8;
                let server = minirt::spawn(async move {
                    loop {
                        let (mut stream, _) = listener.accept().await?;
                        drop(minirt::spawn(async move {
                            let mut byte = [0];
                            if matches!(stream.read(&mut byte).await, Ok(1)) {
                                let _ = stream.write_all(&[index]).await;
                            }
                        }));
                    }
                    #[allow(unreachable_code)]
                    std::io::Result::Ok(())
                });
                match done {
                    // The thread that holds the client's result ends the test for all.
                    Some(done) => {
                        let served = done.await.unwrap();
                        shard.stop_all();
                        Ok(Some(served))
                    }
                    None => server.await.unwrap().map(|()| None),
                }
            }
        })
        .unwrap();
    client.join().unwrap();
    let mut served = None;
    for output in outputs {
        match output {
            Ok(result) => served = result.unwrap(),
            Err(e) => assert!(e.is_cancelled(), "{e}"),
        }
    }
    let mut served = served.expect("one thread returned the client's result");
    assert_eq!(served.len(), CONNECTIONS);
    served.sort_unstable();
    served.dedup();
    assert_eq!(
        served,
        [0, 1],
        "both threads accepted and served connections"
    );
}

#[test]
#[cfg_attr(miri, ignore = "Miri runs no sockets")]
fn reuse_port_listeners_share_a_port_and_plain_ones_cannot() {
    minirt::run(async {
        let first = TcpListener::bind_reuse_port(free_port()).unwrap();
        let addr = first.local_addr().unwrap();
        let second = TcpListener::bind_reuse_port(addr).unwrap();
        assert_eq!(second.local_addr().unwrap(), addr);
        assert!(
            TcpListener::bind(addr).is_err(),
            "no SO_REUSEPORT, no sharing"
        );
        let plain = TcpListener::bind("127.0.0.1:0").unwrap();
        assert!(TcpListener::bind_reuse_port(plain.local_addr().unwrap()).is_err());
    });
    assert!(
        TcpListener::bind_reuse_port(free_port()).is_err(),
        "outside a runtime"
    );
}
