//! A task reading a socket that is always ready does not starve the others: the per-poll I/O
//! budget makes it yield now and then.
mod common;

use std::cell::Cell;
use std::io::Write;
use std::rc::Rc;
use std::time::Duration;

use minirt::net::TcpListener;

/// Reads of this many bytes: far less than the writer sends at once, so the socket is (almost)
/// always ready.
const READ_SIZE: usize = 64;
const READS: usize = 100_000;
/// The runtime's per-poll budget (`IO_BUDGET` in `src/runtime/mod.rs`).
const BUDGET: usize = 128;

#[test]
fn a_fire_hose_reader_lets_a_yielding_task_run() {
    let _watchdog = common::watchdog(Duration::from_secs(120));
    let hose = minirt::run(async {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        // The fire hose: a thread writing as fast as it can until the reader hangs up.
        let hose = std::thread::spawn(move || {
            let mut out = std::net::TcpStream::connect(addr).unwrap();
            let chunk = vec![b'z'; 64 * 1024];
            while out.write_all(&chunk).is_ok() {}
        });
        let (mut stream, _) = listener.accept().await.unwrap();

        let done = Rc::new(Cell::new(false));
        let turns = Rc::new(Cell::new(0usize));
        // Reads since the other task last ran.
        let in_a_row = Rc::new(Cell::new(0usize));
        let (d, t, r) = (done.clone(), turns.clone(), in_a_row.clone());
        let other = minirt::spawn(async move {
            while !d.get() {
                t.set(t.get() + 1);
                r.set(0);
                minirt::yield_now().await;
            }
        });
        let reader = minirt::spawn(async move {
            let mut buf = [0; READ_SIZE];
            let mut most_in_a_row = 0;
            for _ in 0..READS {
                assert_ne!(stream.read(&mut buf).await.unwrap(), 0);
                in_a_row.set(in_a_row.get() + 1);
                most_in_a_row = most_in_a_row.max(in_a_row.get());
            }
            done.set(true);
            most_in_a_row
        });
        let most_in_a_row = reader.await.unwrap();
        other.await.unwrap();
        // Each poll of the reader ends after at most BUDGET reads, and the other task runs
        // between two of them (the run queue is FIFO).
        assert!(
            most_in_a_row <= BUDGET,
            "the reader did {most_in_a_row} reads while the other task waited"
        );
        let turns = turns.get();
        assert!(
            turns >= READS / BUDGET,
            "the other task ran only {turns} times during {READS} reads"
        );
        hose
    });
    hose.join().unwrap(); // it stops once the reader's socket is closed
}
