//! Out of file descriptors: `accept` returns the error, the listener stays usable, and a
//! server loop that logs it and goes on accepts the waiting clients once fds are free.
//!
//! It lowers the process's fd limit, so it is the only test in its binary.
mod common;

use std::time::Duration;

use minirt::net::TcpListener;

const CLIENTS: usize = 3;

fn nofile_limit() -> libc::rlimit {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: a valid pointer to an `rlimit` for the call to fill.
    let rc = unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) };
    assert_eq!(rc, 0);
    limit
}

fn set_nofile_limit(limit: libc::rlimit) {
    // SAFETY: a valid pointer to an initialised `rlimit`.
    let rc = unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &limit) };
    assert_eq!(rc, 0);
}

/// Opens files until the process hits its fd limit, and returns them.
fn use_up_fds() -> Vec<std::fs::File> {
    let mut files = Vec::new();
    loop {
        match std::fs::File::open("/dev/null") {
            Ok(f) => files.push(f),
            Err(e) if e.raw_os_error() == Some(libc::EMFILE) => return files,
            Err(e) => panic!("unexpected error while using up fds: {e}"),
        }
    }
}

#[test]
fn a_server_loop_logs_emfile_and_goes_on() {
    let _watchdog = common::watchdog(Duration::from_secs(60));
    let original = nofile_limit();
    let (accepted, errors) = minirt::run(async {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        // The clients connect before the limit drops; they wait in the listener's backlog.
        let clients: Vec<_> = (0..CLIENTS)
            .map(|_| std::net::TcpStream::connect(addr).unwrap())
            .collect();
        // A little room above what is open now, then use it all up.
        set_nofile_limit(libc::rlimit {
            rlim_cur: (common::open_fds() + 16) as libc::rlim_t,
            ..original
        });
        let mut spare_fds = use_up_fds();

        // The server loop, as a real server would write it.
        let mut accepted = Vec::new();
        let mut errors = Vec::new();
        while accepted.len() < CLIENTS {
            match listener.accept().await {
                Ok((stream, peer)) => accepted.push((stream, peer)),
                Err(e) => {
                    eprintln!("accept failed: {e}"); // the log line
                    errors.push(e.raw_os_error());
                    // Here a server would pause a little; this test frees fds instead.
                    spare_fds.clear();
                    minirt::yield_now().await;
                }
            }
        }
        set_nofile_limit(original);
        drop(clients);
        (accepted.len(), errors)
    });
    assert_eq!(accepted, CLIENTS);
    assert_eq!(
        errors,
        [Some(libc::EMFILE)],
        "one failure, then fds were free"
    );
}
