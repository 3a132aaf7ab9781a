//! Ten thousand connections opened and closed leave no file descriptor behind.
mod common;

use std::time::Duration;

use minirt::net::{TcpListener, TcpStream};

const CONNECTIONS: usize = 10_000;
/// Connections open at once.
const BATCH: usize = 100;

#[test]
fn ten_thousand_connections_leave_the_fd_count_where_it_was() {
    let _watchdog = common::watchdog(Duration::from_secs(300));
    let rt = minirt::Runtime::new().unwrap();
    let listener = rt
        .block_on(async { TcpListener::bind("127.0.0.1:0") })
        .unwrap();
    let addr = listener.local_addr().unwrap();
    let listener = std::rc::Rc::new(listener);
    let before = common::open_fds();
    rt.block_on(async {
        for _ in 0..CONNECTIONS / BATCH {
            let l = listener.clone();
            let server = minirt::spawn(async move {
                let mut streams = Vec::new();
                for _ in 0..BATCH {
                    streams.push(l.accept().await.unwrap().0);
                }
                streams // dropped by the caller, after the clients
            });
            let clients: Vec<_> = (0..BATCH)
                .map(|_| minirt::spawn(async move { TcpStream::connect(addr).await.unwrap() }))
                .collect();
            let mut streams = Vec::new();
            for c in clients {
                streams.push(c.await.unwrap());
            }
            let peak = common::open_fds();
            assert!(peak >= before + BATCH, "the connections are really open");
            drop(server.await.unwrap());
            drop(streams);
        }
    });
    let after = common::open_fds();
    // A little slack for fds the test harness may open meanwhile.
    assert!(
        after <= before + 2,
        "{before} fds before, {after} after {CONNECTIONS} connections"
    );
    drop(listener);
    drop(rt);
}
