//! The recycler: each thread keeps the blocks of finished tasks and oneshots for the next ones.
//!
//! Compiled with the `recycle` feature (on by default) and reached only through the seam in
//! `mod.rs`. A freed block goes on a free list of its thread, one list per size class (16
//! bytes apart, up to [`MAX_SIZE`]), and the next block of that class pops it: a few
//! instructions each way, and the block is still in the cache from its last use. Bigger or
//! over-aligned blocks go to the global allocator. Why: tasks come and go in bursts that
//! overflow `malloc`'s small per-thread cache (`docs/why-fast.md`, "What the recycler buys").
//!
//! **Chunks.** New blocks are carved in order from a 64 KiB chunk per class, so blocks made
//! together lie together, on a few pages, however fragmented the heap is (`benches/README.md`,
//! "Round three", measures the TLB misses this saves). A chunk is aligned to its size, so a
//! block finds its chunk by clearing the low bits of its address, and the chunk's header counts
//! the blocks not yet given back. A block goes back to its chunk, from any thread, when a free
//! list has no room for it or lets go of it; whoever gives back a chunk's last block frees the
//! chunk.
//!
//! **Bounded.** A thread keeps at most [`LIMIT`] bytes of free blocks (and the lists' own
//! vectors), plus what is left to carve of one chunk per class it uses. When the lists are
//! full, the classes taken from longest ago give way first (`FreeLists::put`), so the room
//! follows what the program makes now, not what it made once. A thread keeps blocks only of
//! the classes it takes: one that only frees them (a plain thread dropping the last waker of a
//! task) gives every block straight back. The runtime calls [`release`] after a burst bigger
//! than its own buffers, and the rest goes back when the thread exits. A long-lived block pins
//! its chunk, as in any slab allocator.
//!
//! **Per thread**, because the last reference to a task can be dropped on any thread, where
//! the runtime's state is out of reach and a shared list would need a lock. A block freed on
//! another thread joins that thread's list; a chunk's count is atomic.
//!
//! # Invariant
//! Every block of class `c` lies in a chunk of [`CHUNK`] bytes, aligned to [`CHUNK`], allocated
//! by the global allocator with `chunk_layout()`, whose blocks are all of class `c`. The chunk's
//! `live` counts its blocks that are in use, on a free list, or not yet carved. A free list
//! owns the blocks on it, and a carving owns its chunk's blocks not yet carved. Whoever takes
//! `live` to zero frees the chunk, and nothing touches it after.

use std::alloc::{self, Layout};
use std::cell::RefCell;
use std::num::NonZeroUsize;
use std::ptr::NonNull;
use std::sync::atomic::{AtomicUsize, Ordering};

/// Sizes of two neighbouring classes differ by this much; it is also every class's alignment.
const STEP: usize = 16;
/// The largest size class. A task cell is 56 bytes of header plus its future.
pub(crate) const MAX_SIZE: usize = 512;
/// Number of size classes.
const CLASSES: usize = MAX_SIZE / STEP;
/// Bytes of free blocks a thread may keep: a burst of a few thousand tasks and their channels
/// fits, so the next burst carves no new chunks (`benches/README.md`, "`ping_pong_1k`").
pub(crate) const LIMIT: usize = 1024 * 1024;
/// Bytes in a chunk, and its alignment.
pub(crate) const CHUNK: usize = 64 * 1024;
/// Where a chunk's first block starts: after the header, at a multiple of [`STEP`].
const FIRST_BLOCK: usize = STEP;

/// The start of a chunk.
#[repr(C)]
struct ChunkHeader {
    /// The chunk's blocks not given back yet (see the module invariant).
    live: AtomicUsize,
}

/// The chunk a thread is carving new blocks of one class from.
struct Carving {
    chunk: NonNull<u8>,
    /// Blocks carved so far.
    next: usize,
}

/// One thread's free blocks, and its chunks being carved.
struct FreeLists {
    lists: [Vec<NonNull<u8>>; CLASSES],
    carving: [Option<Carving>; CLASSES],
    /// Bytes held on all lists.
    bytes: usize,
    /// The most bytes the lists may hold: [`LIMIT`] (smaller in tests).
    limit: usize,
    /// Counts `take`s: the clock of `last_take`.
    takes: u64,
    /// When each class last handed out a block, by `takes`; 0 if it never has on this
    /// thread. The class taken longest ago is the first to give its blocks back when the
    /// lists are full. A class never taken here keeps no blocks at all: a thread that only
    /// frees them (one that drops the last waker of a task, or the `RemoteJoinHandle` of a
    /// remote spawn, say) would never use them, and would pin their chunks until it exits.
    last_take: [u64; CLASSES],
}

impl FreeLists {
    const EMPTY: FreeLists = FreeLists {
        lists: [const { Vec::new() }; CLASSES],
        carving: [const { None }; CLASSES],
        bytes: 0,
        limit: LIMIT,
        takes: 0,
        last_take: [0; CLASSES],
    };

    /// A block of `class`: the last one freed here, else the next one carved.
    fn take(&mut self, class: usize) -> NonNull<u8> {
        self.takes += 1;
        self.last_take[class] = self.takes;
        if let Some(block) = self.lists[class].pop() {
            self.bytes -= class_size(class);
            return block;
        }
        let carving = self.carving[class].get_or_insert_with(|| Carving {
            chunk: new_chunk(class),
            next: 0,
        });
        let block = block_at(carving.chunk, class, carving.next);
        carving.next += 1;
        if carving.next == blocks_per_chunk(class) {
            // Every block is carved: the chunk is the blocks' business now.
            self.carving[class] = None;
        }
        block
    }

    /// Keeps `block` of `class` for a later `take`, if there is room or room can be made;
    /// returns false if the caller must give it back to its chunk.
    ///
    /// When the lists are full, blocks of the classes taken from longest ago give way, the
    /// stalest class first and only as many as the new block needs, as long as they were
    /// taken before `class` was: a program's earlier phase (a burst of tasks of another size)
    /// does not keep the room its current work needs, or every block of the current class
    /// would be carved from a new chunk (`benches/README.md`, "A full free list kept the wrong
    /// class"). Whole lists giving way at once would churn the other way: two classes in use
    /// together, each filling its share, would empty each other's lists.
    fn put(&mut self, class: usize, block: NonNull<u8>) -> bool {
        let size = class_size(class);
        let own = self.last_take[class];
        if own == 0 {
            return false;
        }
        if self.bytes + size > self.limit {
            // At the limit with only this class kept (one burst of one kind of task, the
            // common case), nothing can give way: skip the search.
            let only_own = self.lists[class].len() * size == self.bytes;
            if only_own || !self.make_room(size, own) {
                return false;
            }
        }
        // The list now owns the block (the module invariant).
        self.lists[class].push(block);
        self.bytes += size;
        true
    }

    /// Gives back blocks of the classes taken before `own`, stalest first, until `size` more
    /// bytes fit. Gives back nothing, and returns false, if they cannot make that much room.
    fn make_room(&mut self, size: usize, own: u64) -> bool {
        let room: usize = (0..CLASSES)
            .filter(|&c| self.gives_way(c, own))
            .map(|c| self.lists[c].len() * class_size(c))
            .sum();
        if self.bytes - room + size > self.limit {
            return false;
        }
        while self.bytes + size > self.limit {
            let stalest = (0..CLASSES)
                .filter(|&c| self.gives_way(c, own))
                .min_by_key(|&c| self.last_take[c])
                .expect("the staler lists hold enough (counted above)");
            while self.bytes + size > self.limit {
                let Some(old) = self.lists[stalest].pop() else {
                    break;
                };
                self.bytes -= class_size(stalest);
                // SAFETY: the list owned the block (the module invariant) and gives it up.
                unsafe { give_back(chunk_of(old), 1) };
            }
        }
        true
    }

    /// Whether class `c` holds blocks and was taken from before the class stamped `own`.
    fn gives_way(&self, c: usize, own: u64) -> bool {
        !self.lists[c].is_empty() && self.last_take[c] < own
    }
}

impl Drop for FreeLists {
    fn drop(&mut self) {
        for (class, list) in self.lists.iter_mut().enumerate() {
            for block in list.drain(..) {
                // SAFETY: the list owns the block (the module invariant) and gives it up.
                unsafe { give_back(chunk_of(block), 1) };
            }
            if let Some(carving) = self.carving[class].take() {
                let left = blocks_per_chunk(class) - carving.next;
                // SAFETY: the carving owns the blocks not carved yet, and gives them up.
                unsafe { give_back(carving.chunk.cast(), left) };
            }
        }
    }
}

thread_local! {
    static FREE: RefCell<FreeLists> = const { RefCell::new(FreeLists::EMPTY) };
}

/// The size of every block of class `class`.
fn class_size(class: usize) -> usize {
    (class + 1) * STEP
}

/// The class that serves `layout`, or `None` if it is too big, over-aligned, or empty.
fn class_of(layout: Layout) -> Option<usize> {
    let fits = layout.size() > 0 && layout.size() <= MAX_SIZE && layout.align() <= STEP;
    fits.then(|| (layout.size() - 1) / STEP)
}

/// How many blocks of `class` a chunk holds.
fn blocks_per_chunk(class: usize) -> usize {
    (CHUNK - FIRST_BLOCK) / class_size(class)
}

fn chunk_layout() -> Layout {
    // Cannot fail: a power of two, aligned to itself.
    Layout::from_size_align(CHUNK, CHUNK).expect("the chunk layout")
}

/// A new chunk for `class`, every block counted live (the caller carves them).
fn new_chunk(class: usize) -> NonNull<u8> {
    // SAFETY: the layout is not zero-sized.
    let chunk = unsafe { alloc::alloc(chunk_layout()) };
    let Some(chunk) = NonNull::new(chunk) else {
        alloc::handle_alloc_error(chunk_layout())
    };
    let header = ChunkHeader {
        live: AtomicUsize::new(blocks_per_chunk(class)),
    };
    // SAFETY: a fresh allocation, aligned to `CHUNK`, so to the header too.
    unsafe { chunk.cast::<ChunkHeader>().as_ptr().write(header) };
    #[cfg(test)]
    CHUNKS_HERE.with(|n| n.set(n.get() + 1));
    #[cfg(test)]
    CHUNKS_MADE_HERE.with(|n| n.set(n.get() + 1));
    chunk
}

/// Block `index` of a chunk of `class`.
fn block_at(chunk: NonNull<u8>, class: usize, index: usize) -> NonNull<u8> {
    debug_assert!(index < blocks_per_chunk(class));
    // SAFETY: inside the chunk: `FIRST_BLOCK + (index + 1) * size <= CHUNK`.
    unsafe { chunk.add(FIRST_BLOCK + index * class_size(class)) }
}

/// The chunk `block` was carved from.
fn chunk_of(block: NonNull<u8>) -> NonNull<ChunkHeader> {
    // A chunk is aligned to its size: clear the low bits. `map_addr` keeps the block's
    // provenance, which is the chunk's (blocks are carved from the chunk's pointer).
    block
        .map_addr(|addr| {
            NonZeroUsize::new(addr.get() & !(CHUNK - 1)).expect("a chunk is never at address 0")
        })
        .cast()
}

/// Gives `blocks` blocks back to `chunk`, and frees it if they were the last.
///
/// # Safety
/// The caller owns `blocks` of the chunk's live blocks (module invariant) and uses none again.
unsafe fn give_back(chunk: NonNull<ChunkHeader>, blocks: usize) {
    // SAFETY: the chunk is alive while the caller's blocks are counted in it.
    let live = unsafe { &chunk.as_ref().live };
    // `AcqRel`: every owner's uses of its blocks come before its decrement, and the one that
    // reaches zero sees them all before it frees the chunk (as `Arc` does for its value).
    if live.fetch_sub(blocks, Ordering::AcqRel) == blocks {
        #[cfg(test)]
        CHUNKS_HERE.with(|n| n.set(n.get() - 1));
        // SAFETY: nothing is counted in the chunk any more, so nobody can reach it; it was
        // allocated with this layout (module invariant).
        unsafe { alloc::dealloc(chunk.as_ptr().cast(), chunk_layout()) };
    }
}

/// A block for `layout`: a recycled one of its class if the thread has one, else a new one.
/// Give it back with [`free`] and the same `layout`. Aborts on out-of-memory, as `Box` does.
pub(crate) fn alloc(layout: Layout) -> NonNull<u8> {
    let Some(class) = class_of(layout) else {
        assert!(layout.size() > 0, "a task cell is never zero-sized");
        // SAFETY: `layout` is not zero-sized (checked above).
        let block = unsafe { alloc::alloc(layout) };
        return NonNull::new(block).unwrap_or_else(|| alloc::handle_alloc_error(layout));
    };
    // `try_with` fails while the thread's locals are being destroyed, or after: then the block gets
    // a chunk of its own, its other blocks given back at once.
    FREE.try_with(|free| free.borrow_mut().take(class))
        .unwrap_or_else(|_| {
            let chunk = new_chunk(class);
            // SAFETY: the chunk is ours; we give back all its blocks but the first, which
            // the caller owns from here.
            unsafe { give_back(chunk.cast(), blocks_per_chunk(class) - 1) };
            block_at(chunk, class, 0)
        })
}

/// Gives back a block from [`alloc`]: onto this thread's free list of its class, unless the
/// thread never takes blocks of that class, or keeps [`LIMIT`] bytes and the staler classes
/// cannot make room (`FreeLists::put`), in which case it goes back to its chunk.
///
/// # Safety
/// `block` came from [`alloc`] with this `layout` (on any thread), and is not used again.
pub(crate) unsafe fn free(block: NonNull<u8>, layout: Layout) {
    let Some(class) = class_of(layout) else {
        // SAFETY: `alloc` allocated it with `layout` itself (the caller's promise).
        unsafe { alloc::dealloc(block.as_ptr(), layout) };
        return;
    };
    let kept = FREE.try_with(|free| free.borrow_mut().put(class, block));
    if kept != Ok(true) {
        // SAFETY: the caller gives the block up; it is counted live in its chunk.
        unsafe { give_back(chunk_of(block), 1) };
    }
}

/// Gives every block this thread keeps, and its chunks being carved, back to their chunks.
/// The runtime calls it when a burst bigger than its own buffers keep for (4,096 tasks) has
/// ended, so that the burst's chunks can be freed (`tests/reliability_million_tasks.rs`
/// measures the resident size after a million tasks).
pub(crate) fn release() {
    let _ = FREE.try_with(|free| {
        let mut free = free.borrow_mut();
        let limit = free.limit;
        let old = std::mem::replace(&mut *free, FreeLists::EMPTY);
        free.limit = limit;
        drop(free);
        drop(old); // `FreeLists::drop` gives everything back
    });
}

#[cfg(test)]
thread_local! {
    /// Chunks allocated minus chunks freed, on this thread (for tests).
    static CHUNKS_HERE: std::cell::Cell<isize> = const { std::cell::Cell::new(0) };
    /// Chunks allocated on this thread, ever (for tests).
    static CHUNKS_MADE_HERE: std::cell::Cell<usize> = const { std::cell::Cell::new(0) };
}

/// Chunks made on this thread and not freed yet (for tests).
#[cfg(test)]
pub(super) fn chunks_here() -> isize {
    CHUNKS_HERE.with(std::cell::Cell::get)
}

/// Bytes this thread keeps on its free lists (for tests).
#[cfg(test)]
fn kept_bytes() -> usize {
    FREE.with(|free| free.borrow().bytes)
}

/// Lowers this thread's limit, so that a test reaches it with a few blocks.
#[cfg(test)]
fn set_limit(limit: usize) {
    FREE.with(|free| free.borrow_mut().limit = limit);
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
    fn a_burst_of_one_class_does_not_keep_the_room_another_class_needs() {
        std::thread::spawn(|| {
            let burst: Vec<_> = (0..LIMIT / 512).map(|_| alloc(layout(512))).collect();
            for block in burst {
                // SAFETY: from `alloc` with this layout, not used again.
                unsafe { free(block, layout(512)) };
            }
            assert_eq!(kept_bytes(), LIMIT, "the burst fills the lists");
            // Now the program works with small blocks: they must be kept, or every one is
            // carved anew.
            let small = alloc(layout(64));
            // SAFETY: as above.
            unsafe { free(small, layout(64)) };
            assert_eq!(
                kept_bytes(),
                LIMIT - 512 + 64,
                "one block of the stale class made room, and only one"
            );
            let again = alloc(layout(64));
            assert_eq!(
                again, small,
                "the small block was kept and is handed out again"
            );
            // SAFETY: as above.
            unsafe { free(again, layout(64)) };
        })
        .join()
        .unwrap();
    }

    #[test]
    fn a_class_never_taken_on_this_thread_keeps_nothing_here() {
        // Blocks made on one thread and freed on another that allocates other classes (a
        // `RemoteJoinHandle`'s cell, dropped by the runtime's thread, say): kept there, they
        // would never be used, and would pin the first thread's chunks.
        let made_elsewhere: Vec<_> = std::thread::spawn(|| {
            (0..10)
                .map(|_| alloc(layout(96)).as_ptr() as usize)
                .collect()
        })
        .join()
        .unwrap();
        std::thread::spawn(move || {
            let own = alloc(layout(32));
            for addr in made_elsewhere {
                let block = NonNull::new(addr as *mut u8).unwrap();
                // SAFETY: from `alloc` with this layout on the other thread, not used again.
                unsafe { free(block, layout(96)) };
            }
            assert_eq!(kept_bytes(), 0, "the 96-byte class was never taken here");
            // SAFETY: from `alloc` with this layout, not used again.
            unsafe { free(own, layout(32)) };
            assert_eq!(kept_bytes(), 32, "the 32-byte class was");
        })
        .join()
        .unwrap();
    }

    #[test]
    fn two_classes_in_use_together_give_way_only_as_much_as_needed() {
        std::thread::spawn(|| {
            set_limit(64 * 1024);
            let made = || CHUNKS_MADE_HERE.with(std::cell::Cell::get);
            let mut after_first_round = None;
            for _ in 0..20 {
                // Each round takes 56 KiB of big blocks and 16 KiB of small ones: 8 KiB more
                // than the lists may keep.
                let big: Vec<_> = (0..112).map(|_| alloc(layout(512))).collect();
                let small: Vec<_> = (0..256).map(|_| alloc(layout(64))).collect();
                for block in big {
                    // SAFETY: from `alloc` with this layout, not used again.
                    unsafe { free(block, layout(512)) };
                }
                for block in small {
                    // SAFETY: as above.
                    unsafe { free(block, layout(64)) };
                }
                assert!(kept_bytes() <= 64 * 1024);
                after_first_round.get_or_insert(made());
            }
            // 16 big blocks give way per round (8 KiB), and are carved anew the next: 19
            // rounds carve about 300, under 3 chunks of 127. Whole lists giving way would
            // carve all 112 every round: about 17 chunks.
            let later = made() - after_first_round.unwrap();
            assert!(later <= 4, "{later} chunks made after the first round");
        })
        .join()
        .unwrap();
    }

    #[test]
    fn a_stale_class_being_freed_does_not_push_out_the_class_in_use() {
        std::thread::spawn(|| {
            set_limit(1024);
            let old: Vec<_> = (0..4).map(|_| alloc(layout(256))).collect();
            let hot: Vec<_> = (0..16).map(|_| alloc(layout(64))).collect();
            for block in hot {
                // SAFETY: from `alloc` with this layout, not used again.
                unsafe { free(block, layout(64)) };
            }
            for block in old {
                // SAFETY: as above.
                unsafe { free(block, layout(256)) };
            }
            // 16 x 64 bytes fill the limit; the 256-byte class was taken from before the
            // 64-byte one, so its blocks go back rather than push the 64-byte ones out.
            assert_eq!(kept_bytes(), 1024);
            let reused = alloc(layout(64));
            // SAFETY: as above.
            unsafe { free(reused, layout(64)) };
            assert_eq!(kept_bytes(), 1024);
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
    fn blocks_spawned_together_lie_together() {
        std::thread::spawn(|| {
            let blocks: Vec<_> = (0..10).map(|_| alloc(layout(96))).collect();
            for pair in blocks.windows(2) {
                assert_eq!(pair[1].as_ptr() as usize - pair[0].as_ptr() as usize, 96);
            }
            for block in blocks {
                // SAFETY: from `alloc` with this layout, not used again.
                unsafe { free(block, layout(96)) };
            }
        })
        .join()
        .unwrap();
    }

    #[test]
    fn a_chunk_is_freed_once_every_block_is_back() {
        std::thread::spawn(|| {
            let per_chunk = blocks_per_chunk(class_of(layout(64)).unwrap());
            // Three chunks' worth, more than the free lists keep: some go straight back.
            let blocks: Vec<_> = (0..3 * per_chunk).map(|_| alloc(layout(64))).collect();
            assert_eq!(chunks_here(), 3);
            for block in blocks {
                // SAFETY: from `alloc` with this layout, not used again.
                unsafe { free(block, layout(64)) };
            }
            release();
            assert_eq!(chunks_here(), 0, "every chunk freed");
        })
        .join()
        .unwrap();
    }

    #[test]
    fn a_chunk_made_on_one_thread_is_freed_by_the_thread_that_gives_back_its_last_block() {
        let (made_here, blocks) = std::thread::spawn(|| {
            let blocks: Vec<_> = (0..100)
                .map(|_| alloc(layout(48)).as_ptr() as usize)
                .collect();
            release(); // the rest of the chunk being carved goes back
            (chunks_here(), blocks)
        })
        .join()
        .unwrap();
        assert_eq!(made_here, 1, "100 blocks of 48 bytes fit in one chunk");
        let (before_release, after_release) = std::thread::spawn(move || {
            // A thread that takes 48-byte blocks too, so that it keeps those it frees (its own
            // chunk: 1).
            let own = alloc(layout(48));
            // SAFETY: from `alloc` with this layout, not used again.
            unsafe { free(own, layout(48)) };
            for block in blocks {
                let block = NonNull::new(block as *mut u8).unwrap();
                // SAFETY: from `alloc` with this layout (on the other thread), not used again.
                unsafe { free(block, layout(48)) };
            }
            let before = chunks_here(); // on this thread's list: the chunk is still live
            release();
            (before, chunks_here())
        })
        .join()
        .unwrap();
        assert_eq!(before_release, 1, "only its own chunk so far");
        assert_eq!(
            after_release, -1,
            "its own chunk and the other thread's, freed here"
        );
    }

    #[test]
    fn a_thread_that_only_frees_keeps_nothing() {
        let blocks = std::thread::spawn(|| {
            let blocks: Vec<_> = (0..10)
                .map(|_| alloc(layout(32)).as_ptr() as usize)
                .collect();
            release();
            blocks
        })
        .join()
        .unwrap();
        std::thread::spawn(move || {
            for block in blocks {
                let block = NonNull::new(block as *mut u8).unwrap();
                // SAFETY: from `alloc` with this layout (on the other thread), not used again.
                unsafe { free(block, layout(32)) };
            }
            assert_eq!(kept_bytes(), 0);
            assert_eq!(chunks_here(), -1, "the chunk was freed with its last block");
        })
        .join()
        .unwrap();
    }

    proptest! {
        #![proptest_config(ProptestConfig {
            cases: if cfg!(miri) { 4 } else { 256 },
            failure_persistence: None,
            ..ProptestConfig::default()
        })]

        /// Against a model: per class, a stack of the blocks freed and not yet handed out
        /// again, within a byte limit (lowered, so that it is reached). `alloc` pops the stack
        /// of its class, else returns a block nobody holds; `free` pushes if the limit allows,
        /// after popping blocks off the stacks of the classes taken from longest ago (staler
        /// than its own) until there is room, if they hold enough. At the end, with every
        /// block freed and the lists released, every chunk made is freed.
        #[test]
        fn the_lists_behave_as_bounded_stacks_per_class(
            ops in proptest::collection::vec((any::<bool>(), 1usize..=600, any::<prop::sample::Index>()), 1..200)
        ) {
            std::thread::spawn(move || {
                const SMALL_LIMIT: usize = 2048;
                set_limit(SMALL_LIMIT);
                let mut held: Vec<(NonNull<u8>, Layout)> = Vec::new();
                let mut model: Vec<Vec<NonNull<u8>>> = vec![Vec::new(); CLASSES];
                let mut model_bytes = 0;
                let mut takes = 0u64;
                let mut last_take = [0u64; CLASSES];
                for (is_alloc, size, pick) in ops {
                    if is_alloc || held.is_empty() {
                        let layout = layout(size);
                        let block = alloc(layout);
                        if let Some(class) = class_of(layout) {
                            takes += 1;
                            last_take[class] = takes;
                            match model[class].pop() {
                                Some(expected) => {
                                    assert_eq!(block, expected);
                                    model_bytes -= class_size(class);
                                }
                                None => assert!(held.iter().all(|&(b, _)| b != block)),
                            }
                        }
                        held.push((block, layout));
                    } else {
                        let (block, layout) = held.swap_remove(pick.index(held.len()));
                        if let Some(class) = class_of(layout) {
                            let size = class_size(class);
                            let staler: Vec<usize> = (0..CLASSES)
                                .filter(|&c| last_take[c] < last_take[class])
                                .collect();
                            let room: usize =
                                staler.iter().map(|&c| model[c].len() * class_size(c)).sum();
                            if model_bytes + size > SMALL_LIMIT && model_bytes - room + size <= SMALL_LIMIT {
                                let mut by_age = staler;
                                by_age.sort_by_key(|&c| last_take[c]);
                                for c in by_age {
                                    while model_bytes + size > SMALL_LIMIT && model[c].pop().is_some() {
                                        model_bytes -= class_size(c);
                                    }
                                }
                            }
                            if model_bytes + size <= SMALL_LIMIT {
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
                assert!(kept_bytes() <= SMALL_LIMIT);
                release();
                assert_eq!(chunks_here(), 0, "every chunk made is freed");
            })
            .join()
            .unwrap();
        }
    }
}
