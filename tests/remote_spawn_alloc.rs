//! What a spawn through a [`minirt::Handle`] allocates, counted by this file's global
//! allocator: its job (the boxed closure that carries the future across) and its completion
//! cell (an `Arc`), and nothing else once the runtime is warm: the task's cell is recycled, and
//! the inbox keeps its buffers between drains. A regression of either shows up here as a third
//! allocation per spawn. Without the `recycle` feature the task's cell is a third allocation of
//! its own, and only that.
//!
//! Only the allocations of the thread that runs the runtime count: the test harness's own
//! thread allocates now and then too (a loaded machine once made it 4 more in 2,000), and so
//! would a second test running beside this one.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::sync::atomic::{AtomicU64, Ordering};

struct Counting;

static ALLOCATIONS: AtomicU64 = AtomicU64::new(0);

thread_local! {
    /// Whether this thread's allocations count. Const-initialised with no destructor, so the
    /// allocator may read it without allocating.
    static COUNTED: Cell<bool> = const { Cell::new(false) };
}

fn count() {
    if COUNTED.try_with(Cell::get).unwrap_or(false) {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
    }
}

// SAFETY: every call is forwarded to `System` unchanged; the counter is all we add.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        count();
        // SAFETY: forwarded as is; the caller upholds `GlobalAlloc::alloc`'s contract.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: forwarded as is; the caller upholds `GlobalAlloc::dealloc`'s contract.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        count();
        // SAFETY: forwarded as is; the caller upholds `GlobalAlloc::realloc`'s contract.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

#[test]
fn a_warm_spawn_through_a_handle_allocates_only_its_job_and_completion_cell() {
    const SPAWNS: u64 = 1_000;
    COUNTED.with(|c| c.set(true)); // this thread runs the runtime, and spawns through it
    let rt = minirt::Runtime::new().unwrap();
    let handle = rt.handle();
    let allocations = rt.block_on(async move {
        // Warm up: the run queue, the owned-task list and the free lists of task blocks
        // grow to what this loop needs.
        for i in 0..64u64 {
            assert_eq!(handle.spawn(async move { i }).await.unwrap(), i);
        }
        let before = ALLOCATIONS.load(Ordering::Relaxed);
        for i in 0..SPAWNS {
            assert_eq!(handle.spawn(async move { i }).await.unwrap(), i);
        }
        ALLOCATIONS.load(Ordering::Relaxed) - before
    });
    if cfg!(feature = "recycle") {
        assert_eq!(
            allocations,
            2 * SPAWNS,
            "two allocations per spawn (the job, the completion cell), counted {allocations} for \
             {SPAWNS} spawns"
        );
    } else {
        assert_eq!(
            allocations,
            3 * SPAWNS,
            "three allocations per spawn (the job, the completion cell, the task's cell), \
             counted {allocations} for {SPAWNS} spawns"
        );
    }
}
