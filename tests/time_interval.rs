//! `Interval`: regular ticks, and each `MissedTickBehavior` after the owner missed ticks, on
//! the paused clock (issue 27): every tick is checked at its exact instant. (The real-clock
//! versions of the burst and skip tests failed on a loaded machine and passed on rerun.)
use std::pin::Pin;
use std::time::Duration;

use futures_core::Stream;
use minirt::Runtime;
use minirt::time::{self, MissedTickBehavior, interval, interval_at};

const PERIOD: Duration = Duration::from_millis(20);

fn paused() -> Runtime {
    Runtime::builder().start_paused(true).build().unwrap()
}

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// Ticks once, then is busy for 3.5 periods (missing the ticks at 20, 40 and 60 ms), then
/// ticks four more times: which instants `tick` returns, and when (on the runtime's clock)
/// each call completes, from the first tick.
fn after_a_stall(behavior: MissedTickBehavior) -> Vec<(Duration, Duration)> {
    paused().block_on(async move {
        let mut ticker = interval(PERIOD);
        ticker.set_missed_tick_behavior(behavior);
        let first = ticker.tick().await;
        minirt::sleep(ms(70)).await; // busy elsewhere
        let mut out = Vec::new();
        for _ in 0..4 {
            let scheduled = ticker.tick().await;
            out.push((scheduled - first, time::now() - first));
        }
        out
    })
}

#[test]
fn the_first_tick_is_immediate_and_ticks_are_a_period_apart() {
    paused().block_on(async {
        let start = time::now();
        let mut ticker = interval(PERIOD);
        assert_eq!(ticker.tick().await, start);
        for n in 1..=3u32 {
            let scheduled = ticker.tick().await;
            assert_eq!(scheduled - start, PERIOD * n, "ticks follow the schedule");
            assert_eq!(time::now(), scheduled, "each completes at its instant");
        }
    });
}

#[test]
fn burst_fires_missed_ticks_back_to_back() {
    assert_eq!(
        after_a_stall(MissedTickBehavior::Burst),
        [
            (ms(20), ms(70)),
            (ms(40), ms(70)),
            (ms(60), ms(70)),
            (ms(80), ms(80)),
        ],
        "the three missed ticks keep their instants and complete at once, then the schedule"
    );
}

#[test]
fn delay_restarts_the_schedule_from_the_late_tick() {
    assert_eq!(
        after_a_stall(MissedTickBehavior::Delay),
        [
            (ms(20), ms(70)),
            (ms(90), ms(90)),
            (ms(110), ms(110)),
            (ms(130), ms(130)),
        ],
        "one late tick, then a period after it, off the old grid"
    );
}

#[test]
fn skip_keeps_the_original_schedule_and_drops_missed_ticks() {
    assert_eq!(
        after_a_stall(MissedTickBehavior::Skip),
        [
            (ms(20), ms(70)),
            (ms(80), ms(80)),
            (ms(100), ms(100)),
            (ms(120), ms(120)),
        ],
        "one late tick, then the old grid"
    );
}

#[test]
fn a_tick_exactly_one_period_late_is_not_missed() {
    for behavior in [
        MissedTickBehavior::Burst,
        MissedTickBehavior::Delay,
        MissedTickBehavior::Skip,
    ] {
        let ticks = paused().block_on(async move {
            let mut ticker = interval(PERIOD);
            ticker.set_missed_tick_behavior(behavior);
            let first = ticker.tick().await;
            minirt::sleep(PERIOD * 2).await; // the tick at 20 ms is late by exactly a period
            let mut out = Vec::new();
            for _ in 0..2 {
                out.push(ticker.tick().await - first);
            }
            out
        });
        assert_eq!(ticks, [ms(20), ms(40)], "{behavior:?}");
    }
}

#[test]
fn skip_is_the_default() {
    assert_eq!(
        interval(PERIOD).missed_tick_behavior(),
        MissedTickBehavior::Skip
    );
}

#[test]
fn reset_restarts_the_schedule_a_period_from_now() {
    paused().block_on(async {
        let start = time::now();
        let mut ticker = interval(PERIOD);
        ticker.tick().await;
        minirt::sleep(ms(5)).await;
        ticker.reset();
        assert_eq!(ticker.tick().await - start, ms(25));
        assert_eq!(time::now() - start, ms(25));
    });
}

#[test]
fn an_interval_is_a_stream() {
    paused().block_on(async {
        let start = time::now() + ms(5);
        let mut ticker = interval_at(start, ms(5));
        let next = std::future::poll_fn(|cx| Pin::new(&mut ticker).poll_next(cx)).await;
        assert_eq!(next, Some(start));
        assert_eq!(time::now(), start);
    });
}

#[test]
#[should_panic(expected = "period must be above zero")]
fn a_zero_period_is_refused() {
    let _ = interval(Duration::ZERO);
}
