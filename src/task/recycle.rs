//! Recycled task memory: each thread keeps the cells of finished tasks for the next spawns.
//!
//! Every task is one heap block (a header and its future, `raw.rs`). Spawning and finishing
//! tasks in bursts is what async programs do: a server accepts a wave of connections, a
//! fan-out spawns a thousand requests and joins them. glibc's `malloc` keeps a small cache of
//! freed blocks per thread and size (seven), and a burst overflows it at once: every further
//! `malloc` and `free` then walks its bins, sorts freed blocks and merges neighbours.
//! Measured with callgrind on `ping_pong_1k` (two tasks and two oneshots per round, a
//! thousand rounds at once), `malloc` and `free` were half of all instructions, about 350 per
//! block.
//!
//! So a finished task's block is not given back to the allocator but pushed on a free list of
//! its thread, one list per size class (16 bytes apart, up to [`MAX_SIZE`]), and the next
//! spawn of a task of that class pops it: a few instructions each way, and the block is still
//! in the cache from its last use. Bigger or over-aligned tasks go to the allocator directly.
//!
//! **Bounded.** A thread keeps at most [`LIMIT`] bytes (256 KiB) of free blocks; past that,
//! blocks go back to the allocator. After a burst bigger than the runtime keeps buffers for,
//! the runtime gives them all back ([`release`]), and the blocks are freed when the thread
//! exits.
//!
//! **Why per thread.** The last reference to a task can be dropped on any thread (a waker
//! held by another thread), so `dealloc` cannot count on reaching its runtime's state, and a
//! list shared between threads would need a lock. A thread-local list needs none. A block
//! freed on another thread simply joins that thread's list: every block comes from the global
//! allocator with its class's layout, so any thread may hand it out again, or free it with
//! that layout.
//!
//! # Invariant
//! Every pointer on a free list of class `c` points to an unused block allocated by the global
//! allocator with `class_layout(c)`, owned by the list alone.

use std::alloc::{self, Layout};
use std::cell::RefCell;
use std::marker::PhantomData;
use std::ptr::NonNull;
use std::sync::atomic::{AtomicUsize, Ordering};

/// Sizes of two neighbouring classes differ by this much; it is also every class's alignment.
const STEP: usize = 16;
/// The largest size class. A task cell is 56 bytes of header plus its future.
pub(crate) const MAX_SIZE: usize = 512;
/// Number of size classes.
const CLASSES: usize = MAX_SIZE / STEP;
/// Bytes of free blocks a thread may keep.
pub(crate) const LIMIT: usize = 256 * 1024;

/// One thread's free blocks.
struct FreeLists {
    lists: [Vec<NonNull<u8>>; CLASSES],
    /// Bytes held on all lists.
    bytes: usize,
}

impl Drop for FreeLists {
    fn drop(&mut self) {
        for (class, list) in self.lists.iter_mut().enumerate() {
            for block in list.drain(..) {
                // SAFETY: the module invariant: unused, from the global allocator, with this
                // layout, and owned by the list, which gives it up here.
                unsafe { alloc::dealloc(block.as_ptr(), class_layout(class)) }
            }
        }
    }
}

thread_local! {
    static FREE: RefCell<FreeLists> = const {
        RefCell::new(FreeLists { lists: [const { Vec::new() }; CLASSES], bytes: 0 })
    };
}

/// The layout every block of class `class` is allocated with.
fn class_layout(class: usize) -> Layout {
    // Cannot fail: a multiple of 16 below 1 KiB, aligned to 16.
    Layout::from_size_align((class + 1) * STEP, STEP).expect("a size class's layout")
}

/// The class that serves `layout`, or `None` if it is too big, over-aligned, or empty.
fn class_of(layout: Layout) -> Option<usize> {
    let fits = layout.size() > 0 && layout.size() <= MAX_SIZE && layout.align() <= STEP;
    fits.then(|| (layout.size() - 1) / STEP)
}

/// A block for `layout`: a recycled one of its class if the thread has one, else a new one.
/// Give it back with [`free`] and the same `layout`. Aborts on out-of-memory, as `Box` does.
pub(crate) fn alloc(layout: Layout) -> NonNull<u8> {
    let actual = match class_of(layout) {
        Some(class) => {
            // `try_with` fails only while the thread's locals are being destroyed.
            let recycled = FREE.try_with(|free| {
                let mut free = free.borrow_mut();
                let block = free.lists[class].pop()?;
                free.bytes -= class_layout(class).size();
                Some(block)
            });
            if let Ok(Some(block)) = recycled {
                return block;
            }
            class_layout(class)
        }
        None => layout,
    };
    assert!(actual.size() > 0, "a task cell is never zero-sized");
    // SAFETY: `actual` is not zero-sized (checked above).
    let block = unsafe { alloc::alloc(actual) };
    NonNull::new(block).unwrap_or_else(|| alloc::handle_alloc_error(actual))
}

/// Gives back a block from [`alloc`]: onto this thread's free list of its class, unless the
/// thread already keeps [`LIMIT`] bytes, in which case the allocator gets it.
///
/// # Safety
/// `block` came from [`alloc`] with this `layout` (on any thread), and is not used again.
pub(crate) unsafe fn free(block: NonNull<u8>, layout: Layout) {
    let Some(class) = class_of(layout) else {
        // SAFETY: `alloc` allocated it with `layout` itself (the caller's promise).
        unsafe { alloc::dealloc(block.as_ptr(), layout) };
        return;
    };
    let size = class_layout(class).size();
    let kept = FREE.try_with(|free| {
        let mut free = free.borrow_mut();
        if free.bytes + size > LIMIT {
            return false;
        }
        // The list now owns an unused block of its class (the module invariant).
        free.lists[class].push(block);
        free.bytes += size;
        true
    });
    if kept != Ok(true) {
        // SAFETY: `alloc` allocated every block of this class with `class_layout(class)`,
        // recycled or not; the caller gives it up.
        unsafe { alloc::dealloc(block.as_ptr(), class_layout(class)) };
    }
}

/// Gives every block this thread keeps back to the allocator. The runtime calls it when a
/// burst bigger than its own buffers keep for (4,096 tasks) has ended: the kept blocks are
/// then scattered over a heap that has just shrunk, and each would pin its page in memory
/// (`tests/reliability_million_tasks.rs` measures the resident size after a million tasks).
pub(crate) fn release() {
    let _ = FREE.try_with(|free| {
        let lists = std::mem::replace(
            &mut *free.borrow_mut(),
            FreeLists {
                lists: [const { Vec::new() }; CLASSES],
                bytes: 0,
            },
        );
        drop(lists); // `FreeLists::drop` frees the blocks
    });
}

/// `std::sync::Arc`'s job, on a recycled block: a value shared between threads, freed by
/// whichever owner drops the last reference. The oneshot keeps its shared state in one
/// (`src/sync/oneshot.rs`): a oneshot lives about as long as a task, and comes in the same
/// bursts. What it lacks next to `Arc` (weak references, `get_mut`) no user needs.
pub(crate) struct SharedBlock<T> {
    ptr: NonNull<Counted<T>>,
    /// Tells the drop checker that dropping a `SharedBlock` may drop a `T`.
    _owns: PhantomData<Counted<T>>,
}

/// The block: a count of owners, then the value.
struct Counted<T> {
    owners: AtomicUsize,
    value: T,
}

// SAFETY: as for `Arc<T>`: owners on several threads reach `&T` at once (so `T: Sync`), and
// the last one, on any thread, drops the `T` (so `T: Send`).
unsafe impl<T: Send + Sync> Send for SharedBlock<T> {}
// SAFETY: as above.
unsafe impl<T: Send + Sync> Sync for SharedBlock<T> {}

// A `SharedBlock` is a pointer: moving it never moves the value, as with `Arc`.
impl<T> Unpin for SharedBlock<T> {}

impl<T> SharedBlock<T> {
    /// Puts `value` in a (recycled) block with one owner.
    pub(crate) fn new(value: T) -> SharedBlock<T> {
        let ptr = alloc(Layout::new::<Counted<T>>()).cast::<Counted<T>>();
        let counted = Counted {
            owners: AtomicUsize::new(1),
            value,
        };
        // SAFETY: `alloc` returns an unused block with `Counted<T>`'s layout.
        unsafe { ptr.as_ptr().write(counted) };
        SharedBlock {
            ptr,
            _owns: PhantomData,
        }
    }

    fn counted(&self) -> &Counted<T> {
        // SAFETY: the block lives while an owner does, and `self` is one.
        unsafe { self.ptr.as_ref() }
    }
}

impl<T> Clone for SharedBlock<T> {
    fn clone(&self) -> Self {
        // `Relaxed`, as in `Arc`: a new owner comes from an existing one, which keeps the block
        // alive meanwhile, and nothing is published by counting.
        let before = self.counted().owners.fetch_add(1, Ordering::Relaxed);
        if before > isize::MAX as usize {
            // Only leaked clones can get here; going on would risk a wrapped count.
            std::process::abort();
        }
        SharedBlock {
            ptr: self.ptr,
            _owns: PhantomData,
        }
    }
}

impl<T> std::ops::Deref for SharedBlock<T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.counted().value
    }
}

impl<T> Drop for SharedBlock<T> {
    fn drop(&mut self) {
        // `Release` so that this owner's uses of the value come before its drop by the last
        // owner, which pairs with it with the `Acquire` fence (as `Arc` does).
        if self.counted().owners.fetch_sub(1, Ordering::Release) != 1 {
            return;
        }
        std::sync::atomic::fence(Ordering::Acquire);
        /// Gives the block back even if the value's `Drop` panics.
        struct Free(NonNull<u8>, Layout);
        impl Drop for Free {
            fn drop(&mut self) {
                // SAFETY: the block came from `alloc` with this layout, and is no longer used.
                unsafe { free(self.0, self.1) }
            }
        }
        let _free = Free(self.ptr.cast(), Layout::new::<Counted<T>>());
        // SAFETY: the last owner is the only one: nobody else can reach the value now.
        unsafe { std::ptr::drop_in_place(self.ptr.as_ptr()) };
    }
}

/// Bytes this thread keeps on its free lists (for tests).
#[cfg(test)]
fn kept_bytes() -> usize {
    FREE.with(|free| free.borrow().bytes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn layout(size: usize) -> Layout {
        Layout::from_size_align(size, 8).unwrap()
    }

    #[test]
    fn a_freed_block_is_handed_out_again_for_the_same_class() {
        let first = alloc(layout(100));
        // SAFETY: from `alloc` with this layout, and not used again.
        unsafe { free(first, layout(100)) };
        // 97 to 112 bytes share a class.
        let second = alloc(layout(112));
        assert_eq!(first, second);
        // SAFETY: as above.
        unsafe { free(second, layout(112)) };
    }

    #[test]
    fn big_and_over_aligned_blocks_bypass_the_lists() {
        let before = kept_bytes();
        let big = alloc(layout(MAX_SIZE + 1));
        let aligned = Layout::from_size_align(64, 64).unwrap();
        let over_aligned = alloc(aligned);
        assert_eq!(over_aligned.as_ptr() as usize % 64, 0);
        // SAFETY: from `alloc` with these layouts, not used again.
        unsafe {
            free(big, layout(MAX_SIZE + 1));
            free(over_aligned, aligned);
        }
        assert_eq!(kept_bytes(), before);
    }

    #[test]
    fn a_thread_keeps_at_most_the_limit() {
        // Run on a fresh thread, whose lists start empty whatever other tests did.
        std::thread::spawn(|| {
            let blocks: Vec<_> = (0..LIMIT / 512 + 100).map(|_| alloc(layout(512))).collect();
            for block in blocks {
                // SAFETY: from `alloc` with this layout, not used again.
                unsafe { free(block, layout(512)) };
            }
            assert_eq!(kept_bytes(), LIMIT);
        })
        .join()
        .unwrap();
    }

    #[test]
    fn release_gives_every_kept_block_back() {
        std::thread::spawn(|| {
            let block = alloc(layout(64));
            // SAFETY: from `alloc` with this layout, not used again.
            unsafe { free(block, layout(64)) };
            assert_eq!(kept_bytes(), 64);
            release();
            assert_eq!(kept_bytes(), 0);
        })
        .join()
        .unwrap();
    }

    #[test]
    fn a_shared_block_drops_its_value_once_with_its_last_owner() {
        let value = std::sync::Arc::new(());
        let first = SharedBlock::new(value.clone());
        let second = first.clone();
        let third = std::thread::spawn(move || {
            let third = second.clone();
            drop(second);
            third
        })
        .join()
        .unwrap();
        drop(first);
        assert_eq!(std::sync::Arc::strong_count(&value), 2, "an owner is left");
        drop(third);
        assert_eq!(std::sync::Arc::strong_count(&value), 1, "dropped once");
    }

    proptest! {
        #![proptest_config(ProptestConfig {
            cases: if cfg!(miri) { 4 } else { 256 },
            failure_persistence: None,
            ..ProptestConfig::default()
        })]

        /// Against a model: per class, a stack of the blocks freed and not yet handed out
        /// again, within the byte limit. `alloc` pops the stack of its class, else returns a
        /// block nobody holds; `free` pushes if the limit allows.
        #[test]
        fn the_lists_behave_as_bounded_stacks_per_class(
            ops in proptest::collection::vec((any::<bool>(), 1usize..=600, any::<prop::sample::Index>()), 1..200)
        ) {
            std::thread::spawn(move || {
                let mut held: Vec<(NonNull<u8>, Layout)> = Vec::new();
                let mut model: Vec<Vec<NonNull<u8>>> = vec![Vec::new(); CLASSES];
                let mut model_bytes = 0;
                for (is_alloc, size, pick) in ops {
                    if is_alloc || held.is_empty() {
                        let layout = layout(size);
                        let block = alloc(layout);
                        if let Some(class) = class_of(layout) {
                            match model[class].pop() {
                                Some(expected) => {
                                    assert_eq!(block, expected);
                                    model_bytes -= class_layout(class).size();
                                }
                                None => assert!(held.iter().all(|&(b, _)| b != block)),
                            }
                        }
                        held.push((block, layout));
                    } else {
                        let (block, layout) = held.swap_remove(pick.index(held.len()));
                        if let Some(class) = class_of(layout) {
                            let size = class_layout(class).size();
                            if model_bytes + size <= LIMIT {
                                model[class].push(block);
                                model_bytes += size;
                            }
                        }
                        // SAFETY: from `alloc` with this layout, not used again.
                        unsafe { free(block, layout) };
                    }
                    assert_eq!(kept_bytes(), model_bytes);
                }
                for (block, layout) in held {
                    // SAFETY: as above.
                    unsafe { free(block, layout) };
                }
            })
            .join()
            .unwrap();
        }
    }
}
