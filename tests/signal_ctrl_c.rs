//! `ctrl_c()` resolves on SIGINT. The test sends SIGINT to its own process, so it lives alone
//! in this binary: no other test can be hit by it.
mod common;

use std::time::Duration;

fn send_sigint_to_this_process() {
    // SAFETY: `kill` takes no pointers; our own pid and SIGINT are valid arguments.
    assert_eq!(unsafe { libc::kill(libc::getpid(), libc::SIGINT) }, 0);
}

#[test]
fn ctrl_c_resolves_on_sigint_from_any_thread() {
    let _watchdog = common::watchdog(Duration::from_secs(60));
    minirt::run(async {
        // Listening starts here, so the signal cannot come too early.
        let ctrl_c = minirt::signal::ctrl_c();
        // From another thread, while the loop may be asleep in the poller.
        let sender = std::thread::spawn(send_sigint_to_this_process);
        ctrl_c.await.unwrap();
        sender.join().unwrap();

        // Again, twice before anyone looks, from the loop's own thread: one wake-up.
        let ctrl_c = minirt::signal::ctrl_c();
        let other = minirt::signal::ctrl_c();
        send_sigint_to_this_process();
        send_sigint_to_this_process();
        ctrl_c.await.unwrap();
        other.await.unwrap(); // every listener hears it
    });
    // Still alive: the signal did not end the process.
}

#[test]
fn ctrl_c_outside_a_runtime_is_an_error() {
    let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
    let mut ctrl_c = std::pin::pin!(minirt::signal::ctrl_c());
    match ctrl_c.as_mut().poll(&mut cx) {
        std::task::Poll::Ready(Err(e)) => assert!(e.to_string().contains("inside a runtime")),
        other => panic!("expected an error, got {other:?}"),
    }
}
