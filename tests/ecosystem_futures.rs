//! `futures::select!` on minirt's own futures, with no `.fuse()`: `Sleep`,
//! `oneshot::Receiver` and `RemoteJoinHandle` are `FusedFuture`s, and `Interval` is a
//! `FusedStream`. A select loop that has seen one finish does not poll it again.
use std::time::Duration;

use futures::StreamExt as _;
use minirt::sync::oneshot;

fn paused() -> minirt::Runtime {
    minirt::Runtime::builder()
        .start_paused(true)
        .build()
        .unwrap()
}

#[test]
fn select_on_a_sleep_without_fuse() {
    paused().block_on(async {
        let start = minirt::time::now();
        let mut short = minirt::sleep(Duration::from_secs(1));
        let mut long = minirt::sleep(Duration::from_secs(5));
        let mut order = Vec::new();
        // `select!` in a loop: the finished sleep is skipped (`is_terminated`), not polled
        // again, and `complete` runs once both are done.
        loop {
            futures::select! {
                () = short => order.push(("short", minirt::time::now() - start)),
                () = long => order.push(("long", minirt::time::now() - start)),
                complete => break,
            }
        }
        assert_eq!(
            order,
            [
                ("short", Duration::from_secs(1)),
                ("long", Duration::from_secs(5))
            ]
        );
    });
}

#[test]
fn select_on_a_oneshot_and_a_sleep_the_timeout_pattern() {
    paused().block_on(async {
        let (tx, mut rx) = oneshot::channel::<&str>();
        let mut deadline = minirt::sleep(Duration::from_secs(10));
        let _sender = minirt::spawn(async move {
            minirt::sleep(Duration::from_secs(3)).await;
            tx.set_result("answer").unwrap();
        });
        let got = futures::select! {
            value = rx => value.unwrap(),
            () = deadline => "timed out",
        };
        assert_eq!(got, "answer");
        use futures::future::FusedFuture as _;
        assert!(
            rx.is_terminated(),
            "the receiver is done once it gave its value"
        );
        assert!(!deadline.is_terminated(), "the deadline has not fired");
        (&mut deadline).await;
        assert!(deadline.is_terminated());
    });
}

#[test]
fn select_on_a_remote_join_handle_and_an_interval() {
    paused().block_on(async {
        let handle = minirt::Handle::current();
        let mut remote = std::thread::spawn(move || {
            handle.spawn(async {
                minirt::sleep(Duration::from_millis(2500)).await;
                "from the thread"
            })
        })
        .join()
        .unwrap();
        let mut ticks = minirt::time::interval(Duration::from_secs(1));
        let mut seen = 0;
        let answer = loop {
            futures::select! {
                _ = ticks.select_next_some() => seen += 1,
                result = remote => break result.unwrap(),
            }
        };
        assert_eq!(answer, "from the thread");
        // Ticks at 0 s (at once), 1 s and 2 s came before the answer at 2.5 s.
        assert_eq!(seen, 3);
        use futures::future::FusedFuture as _;
        use futures::stream::FusedStream as _;
        assert!(remote.is_terminated());
        assert!(!ticks.is_terminated(), "an interval never ends");
    });
}
