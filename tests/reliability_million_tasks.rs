//! A million spawned tasks alive at once, half parked on timers and half on events, then all
//! completed: every one finishes, and memory comes back close to where it started, both the
//! process's resident set (VmRSS) and the heap bytes actually in use.
mod common;

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::{Cell, RefCell};
use std::future::poll_fn;
use std::pin::Pin;
use std::rc::Rc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use minirt::sync::Event;

const TASKS: usize = 1_000_000;
/// Tasks waiting on events share this many events, 500 waiters each. The events outlive the
/// tasks, as a server's long-lived primitives do.
const EVENTS: usize = 1_000;
/// Memory that may stay behind once every task is gone, while the runtime and the events are
/// still alive: the small buffers kept on purpose (up to 1,024 entries each in the run queue,
/// the owned-task list and the timer wheel: under 100 KiB) and the allocator's bookkeeping.
/// The peak is ~250 MiB, so this is under 1% of it.
const SLACK: usize = 2 << 20;

/// Counts the heap bytes in use, so that the test can tell memory minirt holds from memory
/// the allocator caches.
struct CountingAllocator;

static HEAP_IN_USE: AtomicUsize = AtomicUsize::new(0);

// SAFETY: every call is passed to `System` unchanged; only a counter is updated besides.
unsafe impl GlobalAlloc for CountingAllocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        HEAP_IN_USE.fetch_add(layout.size(), Ordering::Relaxed);
        // SAFETY: the caller's contract is `System`'s.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        HEAP_IN_USE.fetch_sub(layout.size(), Ordering::Relaxed);
        // SAFETY: as above.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        HEAP_IN_USE.fetch_add(new_size, Ordering::Relaxed);
        HEAP_IN_USE.fetch_sub(layout.size(), Ordering::Relaxed);
        // SAFETY: as above.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOCATOR: CountingAllocator = CountingAllocator;

/// This process's resident set size, in bytes, from `/proc/self/status`.
fn vm_rss() -> usize {
    let status = std::fs::read_to_string("/proc/self/status").expect("Linux /proc");
    let line = status
        .lines()
        .find(|l| l.starts_with("VmRSS:"))
        .expect("a VmRSS line");
    let kb: usize = line.split_whitespace().nth(1).unwrap().parse().unwrap();
    kb * 1024
}

/// Makes VmRSS follow the heap in use. glibc keeps freed memory for reuse: it raises its
/// mmap and trim thresholds (up to 32 and 64 MiB) after a large block is freed, and
/// `malloc_trim` does not return the top of a thread's arena. Fixed thresholds of 128 KiB,
/// its documented defaults, make `free` give memory back as it did before the burst.
fn pin_allocator_thresholds() {
    // SAFETY: `mallopt` only changes tunables; these values are glibc's own defaults.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 128 * 1024);
        libc::mallopt(libc::M_TRIM_THRESHOLD, 128 * 1024);
    }
}

/// Memory now: (VmRSS, heap bytes in use).
fn memory() -> (usize, usize) {
    // SAFETY: `malloc_trim` has no preconditions; it only releases free memory.
    unsafe { libc::malloc_trim(0) };
    (vm_rss(), HEAP_IN_USE.load(Ordering::Relaxed))
}

/// Shares a `Sleep` between the task that waits on it and the test, which releases the task
/// by moving the deadline to now with `Sleep::reset`: no wall-clock guess about how long
/// spawning a million tasks takes.
type SharedSleep = Rc<RefCell<minirt::Sleep>>;

async fn wait_shared(sleep: SharedSleep) {
    poll_fn(|cx| Pin::new(&mut *sleep.borrow_mut()).poll(cx)).await
}

fn mib(bytes: usize) -> f64 {
    bytes as f64 / (1 << 20) as f64
}

#[test]
fn a_million_parked_tasks_complete_and_give_their_memory_back() {
    let _watchdog = common::watchdog(Duration::from_secs(300));
    pin_allocator_thresholds();
    let rt = minirt::Runtime::new().unwrap();
    let events: Vec<Rc<Event>> = (0..EVENTS).map(|_| Rc::new(Event::new())).collect();
    let before = memory();
    let started = Instant::now();
    let (peak, peak_metrics) = rt.block_on(async {
        let far = Instant::now() + Duration::from_secs(3600);
        let mut sleeps: Vec<SharedSleep> = Vec::with_capacity(TASKS / 2);
        let polled = Rc::new(Cell::new(0usize));
        let finished = Rc::new(Cell::new(0usize));
        let all_finished = Rc::new(Event::new());
        for i in 0..TASKS {
            let (polled, finished, all_finished) =
                (polled.clone(), finished.clone(), all_finished.clone());
            let done = move || {
                finished.set(finished.get() + 1);
                if finished.get() == TASKS {
                    all_finished.set();
                }
            };
            // Detached: the handles would be the test's memory, not the runtime's.
            if i % 2 == 0 {
                let sleep = Rc::new(RefCell::new(minirt::time::sleep_until(far)));
                sleeps.push(sleep.clone());
                drop(minirt::spawn(async move {
                    polled.set(polled.get() + 1);
                    wait_shared(sleep).await;
                    done();
                }));
            } else {
                let event = events[(i / 2) % EVENTS].clone();
                drop(minirt::spawn(async move {
                    polled.set(polled.get() + 1);
                    event.wait().await;
                    done();
                }));
            }
        }
        // Every task reaches its wait; none can finish before the test releases it.
        while polled.get() < TASKS {
            minirt::yield_now().await;
        }
        minirt::yield_now().await; // the last ones polled have parked
        let peak = memory();
        let peak_metrics = rt.metrics();
        assert_eq!(finished.get(), 0);

        // Release: every event is set, and every timer is moved to fire within 64 ms,
        // spread over 64 ticks of the wheel.
        for event in &events {
            event.set();
        }
        let now = Instant::now();
        for (i, sleep) in sleeps.iter().enumerate() {
            sleep
                .borrow_mut()
                .reset(now + Duration::from_millis((i % 64) as u64));
        }
        all_finished.wait().await;
        assert_eq!(finished.get(), TASKS);
        (peak, peak_metrics)
    });
    assert_eq!(peak_metrics.tasks_alive, TASKS as u64, "all alive at once");
    assert_eq!(
        peak_metrics.timers_armed,
        (TASKS / 2) as u64,
        "half on timers"
    );
    let metrics = rt.metrics();
    assert_eq!(metrics.tasks_alive, 0);
    assert_eq!(metrics.tasks_completed, TASKS as u64);
    assert_eq!(metrics.timers_armed, 0);
    assert_eq!(metrics.timers_fired, (TASKS / 2) as u64);

    // The runtime and the events are still alive, as in a server after a burst.
    let after = memory();
    drop(rt);
    drop(events);
    let after_drop = memory();
    eprintln!(
        "{TASKS} tasks alive at once, completed in {:.1?}\n\
         VmRSS: before {:.1} MiB, peak {:.1} MiB ({} bytes/task), after {:.1} MiB, after \
         dropping the runtime {:.1} MiB\n\
         heap in use: before {:.1} MiB, peak {:.1} MiB ({} bytes/task), after {:.1} MiB, after \
         dropping the runtime {:.1} MiB",
        started.elapsed(),
        mib(before.0),
        mib(peak.0),
        (peak.0 - before.0) / TASKS,
        mib(after.0),
        mib(after_drop.0),
        mib(before.1),
        mib(peak.1),
        (peak.1 - before.1) / TASKS,
        mib(after.1),
        mib(after_drop.1),
    );
    assert!(
        after.1 <= before.1 + SLACK,
        "the runtime and the events still use {:.1} MiB more heap than before the burst",
        mib(after.1 - before.1)
    );
    assert!(
        after.0 <= before.0 + SLACK,
        "VmRSS stayed {:.1} MiB above where it started (slack {:.1} MiB)",
        mib(after.0.saturating_sub(before.0)),
        mib(SLACK)
    );
}
