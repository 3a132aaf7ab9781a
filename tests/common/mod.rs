//! Small test futures shared by the integration tests.
#![allow(dead_code)]

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};
use std::thread::ThreadId;

/// A future that stays pending until `Gate::open`, keeping its latest waker where a test (or
/// another thread) can take it, and counting its polls.
#[derive(Clone, Default)]
pub struct Gate {
    inner: Arc<GateInner>,
}

#[derive(Default)]
struct GateInner {
    open: AtomicBool,
    polls: AtomicUsize,
    waker: Mutex<Option<Waker>>,
}

impl Gate {
    pub fn new() -> Gate {
        Gate::default()
    }
    /// A future that completes once the gate is open.
    pub fn wait(&self) -> GateWait {
        GateWait { gate: self.clone() }
    }
    pub fn open(&self) {
        self.inner.open.store(true, Ordering::SeqCst);
        if let Some(w) = self.inner.waker.lock().unwrap().take() {
            w.wake();
        }
    }
    pub fn polls(&self) -> usize {
        self.inner.polls.load(Ordering::SeqCst)
    }
    /// A clone of the latest waker the future stored.
    pub fn waker(&self) -> Option<Waker> {
        self.inner.waker.lock().unwrap().clone()
    }
}

pub struct GateWait {
    gate: Gate,
}

impl Future for GateWait {
    type Output = ();
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let inner = &self.gate.inner;
        inner.polls.fetch_add(1, Ordering::SeqCst);
        *inner.waker.lock().unwrap() = Some(cx.waker().clone());
        // Re-check after storing the waker, so an `open` in between is not lost.
        if inner.open.load(Ordering::SeqCst) {
            Poll::Ready(())
        } else {
            Poll::Pending
        }
    }
}

/// Records the thread its `Drop` ran on.
pub struct DropRecorder {
    pub dropped_on: Arc<Mutex<Option<ThreadId>>>,
}

impl DropRecorder {
    pub fn new() -> (DropRecorder, Arc<Mutex<Option<ThreadId>>>) {
        let slot = Arc::new(Mutex::new(None));
        (
            DropRecorder {
                dropped_on: slot.clone(),
            },
            slot,
        )
    }
}

impl Drop for DropRecorder {
    fn drop(&mut self) {
        *self.dropped_on.lock().unwrap() = Some(std::thread::current().id());
    }
}
