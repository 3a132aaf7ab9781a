//! `SharedBlock`: `Arc`'s counting on a block from the seam ([`alloc`] and [`free`]), so that a
//! oneshot's shared state is recycled like a task's cell: oneshots come and go in the same
//! bursts as tasks (a request and its reply). Compiled with the `recycle` feature only;
//! without it, `SharedBlock` is `std::sync::Arc` itself (`mod.rs`).

use std::alloc::Layout;
use std::marker::PhantomData;
use std::ptr::NonNull;
use std::sync::atomic::{AtomicUsize, Ordering};

use super::{alloc, free};

/// `std::sync::Arc`'s job, on a block from [`alloc`]: a value shared between threads, freed
/// by whichever owner drops the last reference. What it lacks next to `Arc` (weak references,
/// `get_mut`) no user needs.
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
        // ThreadSanitizer does not model fences, so under it the same edge is made with a
        // load, as `Arc` does: the load reads the count our `fetch_sub` wrote, which continues
        // the release sequence of every earlier owner's (`build.rs` sets `minirt_tsan`).
        #[cfg(not(minirt_tsan))]
        std::sync::atomic::fence(Ordering::Acquire);
        #[cfg(minirt_tsan)]
        self.counted().owners.load(Ordering::Acquire);
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::memory::recycle::chunks_here;
    use crate::memory::release;

    #[test]
    fn a_shared_block_whose_value_panics_in_drop_still_gives_its_block_back() {
        struct PanicsInDrop;
        impl Drop for PanicsInDrop {
            fn drop(&mut self) {
                panic!("a value whose drop panics");
            }
        }
        std::thread::spawn(|| {
            let shared = SharedBlock::new(PanicsInDrop);
            let dropped = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| drop(shared)));
            assert!(dropped.is_err(), "the panic goes on to the owner");
            release();
            assert_eq!(
                chunks_here(),
                0,
                "the block went back, and its chunk with it"
            );
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
}
