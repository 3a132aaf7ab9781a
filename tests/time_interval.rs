//! `Interval`: regular ticks, and each `MissedTickBehavior` after the loop was blocked.
use futures_core::Stream;
use minirt::time::{MissedTickBehavior, interval, interval_at};
use std::pin::Pin;
use std::time::{Duration, Instant};

const PERIOD: Duration = Duration::from_millis(20);
/// Block the loop for 3.5 periods, so 3 ticks are missed.
const BLOCK: Duration = Duration::from_millis(70);

/// Ticks once, blocks the thread, then reports the next three tick instants and when each
/// completed, relative to the first tick.
fn after_a_stall(behavior: MissedTickBehavior) -> Vec<(Duration, Duration)> {
    minirt::run(async move {
        let mut ticker = interval(PERIOD);
        ticker.set_missed_tick_behavior(behavior);
        let first = ticker.tick().await;
        std::thread::sleep(BLOCK); // a deliberately blocked loop
        let mut out = Vec::new();
        for _ in 0..3 {
            let scheduled = ticker.tick().await;
            out.push((scheduled - first, Instant::now() - first));
        }
        out
    })
}

#[test]
fn the_first_tick_is_immediate_and_ticks_are_a_period_apart() {
    minirt::run(async {
        let start = Instant::now();
        let mut ticker = interval(PERIOD);
        let first = ticker.tick().await;
        assert!(first <= Instant::now() && first >= start);
        for n in 1..=3u32 {
            let scheduled = ticker.tick().await;
            assert_eq!(scheduled - first, PERIOD * n, "ticks follow the schedule");
            assert!(Instant::now() >= scheduled, "a tick never completes early");
        }
    });
}

#[test]
fn burst_fires_missed_ticks_back_to_back() {
    let ticks = after_a_stall(MissedTickBehavior::Burst);
    // The three missed ticks keep their scheduled instants, and all complete at once, right
    // after the stall, well before a fourth period would pass.
    assert_eq!(
        ticks.iter().map(|t| t.0).collect::<Vec<_>>(),
        [PERIOD, PERIOD * 2, PERIOD * 3]
    );
    assert!(
        ticks[2].1 < BLOCK + PERIOD,
        "burst ticks came late: {ticks:?}"
    );
}

#[test]
fn delay_restarts_the_schedule_from_the_late_tick() {
    let ticks = after_a_stall(MissedTickBehavior::Delay);
    assert_eq!(ticks[0].0, PERIOD, "the missed tick fires once");
    // The schedule restarts a full period after the late tick (which completed after the
    // stall), not on the old grid (which would put it at 4 periods = 80 ms).
    assert!(ticks[1].0 >= BLOCK + PERIOD, "{ticks:?}");
    assert_ne!(ticks[1].0, PERIOD * 4);
    assert_eq!(ticks[2].0 - ticks[1].0, PERIOD);
    assert!(ticks[1].1 >= ticks[1].0, "a tick never completes early");
}

#[test]
fn skip_keeps_the_original_schedule_and_drops_missed_ticks() {
    let ticks = after_a_stall(MissedTickBehavior::Skip);
    assert_eq!(ticks[0].0, PERIOD, "the first missed tick fires once");
    // The next tick is the first one of the old schedule after the stall: 4 periods.
    assert_eq!(ticks[1].0, PERIOD * 4);
    assert_eq!(ticks[2].0, PERIOD * 5);
    assert!(ticks[1].1 >= PERIOD * 4);
}

#[test]
fn skip_is_the_default() {
    assert_eq!(
        interval(PERIOD).missed_tick_behavior(),
        MissedTickBehavior::Skip
    );
}

#[test]
fn an_interval_is_a_stream() {
    minirt::run(async {
        let start = Instant::now() + Duration::from_millis(5);
        let mut ticker = interval_at(start, Duration::from_millis(5));
        let next = std::future::poll_fn(|cx| Pin::new(&mut ticker).poll_next(cx)).await;
        assert_eq!(next, Some(start));
    });
}

#[test]
#[should_panic(expected = "period must be above zero")]
fn a_zero_period_is_refused() {
    let _ = interval(Duration::ZERO);
}
