//! Where the memory of a task and of a oneshot comes from: one seam, two ways behind it.
//!
//! The task core (`src/task/raw.rs`) asks [`alloc`] for a block that fits its cell, and gives
//! it back with [`free`] when the last reference goes, on whatever thread that is. The oneshot
//! keeps its shared state in a [`SharedBlock`], an `Arc` in all but name. Nothing else in the
//! crate knows where a block came from.
//!
//! - With the `recycle` cargo feature (on by default), blocks of up to 512 bytes come from
//!   per-thread free lists (`recycle.rs`): a spawn takes the block of a finished task instead
//!   of calling `malloc`, and `SharedBlock` counts its owners on such a block
//!   (`shared_block.rs`).
//! - Without it, every block is one call to the global allocator, as a `Box` would be, and
//!   `SharedBlock` is `std::sync::Arc`.
//!
//! Both ways keep the same promise, and CI runs the library's tests on each
//! (`cargo test --no-default-features` turns the recycler off). What the recycler buys, in
//! instructions, allocations and wall time, is in `docs/why-fast.md` ("What the recycler
//! buys"). async-task's `alloc` and `dealloc` in its `raw.rs` are the same seam, with `Box`'s
//! allocator always behind it.

use std::alloc::Layout;
use std::ptr::NonNull;

#[cfg(feature = "recycle")]
mod recycle;
#[cfg(feature = "recycle")]
mod shared_block;

#[cfg(feature = "recycle")]
pub(crate) use shared_block::SharedBlock;
#[cfg(not(feature = "recycle"))]
pub(crate) use std::sync::Arc as SharedBlock;

/// A block that fits `layout`, for the caller alone, uninitialised. Give it back with [`free`]
/// and the same `layout`. `layout` is never zero-sized (a task cell holds its header). Aborts
/// on out-of-memory, as `Box` does.
#[inline]
pub(crate) fn alloc(layout: Layout) -> NonNull<u8> {
    #[cfg(feature = "recycle")]
    {
        recycle::alloc(layout)
    }
    #[cfg(not(feature = "recycle"))]
    {
        assert!(layout.size() > 0, "a block is never zero-sized");
        // SAFETY: `layout` is not zero-sized (checked above).
        let block = unsafe { std::alloc::alloc(layout) };
        NonNull::new(block).unwrap_or_else(|| std::alloc::handle_alloc_error(layout))
    }
}

/// Gives back a block from [`alloc`]. Safe to call on any thread, whichever thread made it.
///
/// # Safety
/// `block` came from [`alloc`] with this `layout`, and is not used again.
#[inline]
pub(crate) unsafe fn free(block: NonNull<u8>, layout: Layout) {
    #[cfg(feature = "recycle")]
    // SAFETY: forwarded from the caller.
    unsafe {
        recycle::free(block, layout)
    }
    #[cfg(not(feature = "recycle"))]
    // SAFETY: `alloc` made it with the global allocator and this layout (the caller's promise).
    unsafe {
        std::alloc::dealloc(block.as_ptr(), layout)
    }
}

/// Gives back whatever this thread keeps for later blocks. The runtime calls it after a burst
/// of tasks bigger than its own buffers keep for, so that the burst's memory can go back to
/// the system (`src/task/owned.rs`). Without the recycler there is nothing to give back.
#[inline]
pub(crate) fn release() {
    #[cfg(feature = "recycle")]
    recycle::release();
}
