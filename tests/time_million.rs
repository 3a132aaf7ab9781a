//! A million timers through the runtime: armed then all cancelled (the common server case of
//! timeouts that never fire), and armed then all fired.
use std::future::Future;
use std::pin::Pin;
use std::task::Poll;
use std::time::Duration;

const TIMERS: usize = 1_000_000;

/// Polls every sleep once so that each takes its place in the wheel (or completes, if its
/// deadline passed while the others were being made). Returns how many are still pending.
async fn arm_all(sleeps: &mut [minirt::Sleep]) -> usize {
    std::future::poll_fn(|cx| {
        let mut pending = 0;
        for sleep in sleeps.iter_mut() {
            pending += usize::from(Pin::new(sleep).poll(cx).is_pending());
        }
        Poll::Ready(pending)
    })
    .await
}

#[test]
fn a_million_timers_armed_then_cancelled() {
    minirt::run(async {
        let mut sleeps: Vec<_> = (0..TIMERS)
            .map(|i| minirt::sleep(Duration::from_secs(60 + (i % 3600) as u64)))
            .collect();
        assert_eq!(arm_all(&mut sleeps).await, TIMERS, "every one is armed");
        drop(sleeps);
        // The wheel is empty again: a short sleep is the only timer, and fires on time.
        minirt::sleep(Duration::from_millis(1)).await;
    });
}

#[test]
fn a_million_timers_armed_then_fired() {
    minirt::run(async {
        let mut sleeps: Vec<_> = (0..TIMERS)
            .map(|i| minirt::sleep(Duration::from_millis(1 + (i % 50) as u64)))
            .collect();
        arm_all(&mut sleeps).await;
        // Wait for them all: each completes once its deadline has passed.
        std::future::poll_fn(|cx| {
            sleeps.retain_mut(|sleep| Pin::new(sleep).poll(cx).is_pending());
            if sleeps.is_empty() {
                Poll::Ready(())
            } else {
                Poll::Pending
            }
        })
        .await;
    });
}
