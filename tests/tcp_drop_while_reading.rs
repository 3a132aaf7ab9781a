//! Dropping a stream while a task waits to read it: no panic, and the fd leaves the poller.
mod common;

use std::os::fd::{AsFd, AsRawFd};
use std::time::Duration;

fn registered(fd: i32) -> bool {
    common::epoll_registrations().iter().any(|&(f, _)| f == fd)
}

#[test]
fn aborting_a_blocked_reader_deregisters_its_stream() {
    let _watchdog = common::watchdog(Duration::from_secs(60));
    minirt::run(async {
        let (_listener, client, mut stream) = common::connected_pair().await;
        let fd = stream.as_fd().as_raw_fd();
        assert!(registered(fd));
        let reader = minirt::spawn(async move {
            let mut buf = [0; 16];
            stream.read(&mut buf).await // never ready: the client sends nothing
        });
        minirt::yield_now().await; // the reader runs, finds nothing, and waits
        let armed = common::epoll_registrations()
            .into_iter()
            .any(|(f, events)| f == fd && events & 1 != 0);
        assert!(armed, "the waiting reader armed its fd for reading");

        reader.abort(); // drops the future, and the stream in it
        let error = reader.await.unwrap_err();
        assert!(error.is_cancelled());
        assert!(!registered(fd), "the fd was deleted from the poller");
        drop(client);
    });
}
