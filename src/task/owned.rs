//! The runtime's list of tasks whose future is still alive.
//!
//! An idle task is referenced only by wakers hidden inside sockets, timers and other tasks'
//! futures, so the runtime could not find it again at shutdown. This list keeps one reference
//! to every task from `spawn` until it completes, so that dropping the runtime can drop every
//! future it owns, on its own thread. It is a slab: a vector of slots plus a stack of free
//! slot numbers, so insert and remove are O(1) and cost 12 bytes per live task.

use super::raw::{RawTask, TaskRef};

/// How many slots an empty list keeps when it gives memory back (64 KiB with the free stack):
/// as many as the run queue keeps (`RUN_QUEUE_KEEP`, which says why this many).
const KEEP_SLOTS: usize = 4096;

#[derive(Default)]
pub(crate) struct OwnedTasks {
    slots: Vec<Option<TaskRef>>,
    free: Vec<u32>,
    len: usize,
}

impl OwnedTasks {
    /// Takes the owned reference of a new task and records its slot in the task's header.
    pub(crate) fn insert(&mut self, task: TaskRef) {
        let slot = match self.free.pop() {
            Some(slot) => slot,
            None => {
                let slot = u32::try_from(self.slots.len()).expect("more than 4 billion live tasks");
                self.slots.push(None);
                slot
            }
        };
        // SAFETY: the owned list lives on the home thread (the `owned_slot` invariant).
        unsafe { *task.raw().header().owned_slot.get() = slot };
        self.slots[slot as usize] = Some(task);
        self.len += 1;
    }

    /// Gives back the owned reference of a task that has completed.
    pub(crate) fn remove(&mut self, task: RawTask) -> TaskRef {
        // SAFETY: home thread (the `owned_slot` invariant).
        let slot = unsafe { *task.header().owned_slot.get() };
        let owned = self.slots[slot as usize]
            .take()
            .expect("a completed task was not in the owned list");
        debug_assert!(owned.raw() == task);
        self.free.push(slot);
        self.len -= 1;
        if self.len == 0 && self.slots.capacity() > KEEP_SLOTS {
            // Give memory back after a burst of tasks, but keep a small list so that a steady
            // trickle of short tasks does not allocate it again and again.
            self.slots = Vec::with_capacity(KEEP_SLOTS);
            self.free = Vec::with_capacity(KEEP_SLOTS);
            // And the task memory the burst left for reuse (`src/memory/mod.rs`).
            crate::memory::release();
        }
        owned
    }

    /// Removes and returns every task, for shutdown.
    pub(crate) fn drain(&mut self) -> Vec<TaskRef> {
        self.free.clear();
        self.len = 0;
        std::mem::take(&mut self.slots)
            .into_iter()
            .flatten()
            .collect()
    }

    pub(crate) fn len(&self) -> usize {
        self.len
    }
}
