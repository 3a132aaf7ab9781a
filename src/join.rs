//! Combinators over futures and tasks: `yield_now` for now; `join_all`, `try_join_all` and
//! `wait` arrive with the sync primitives.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

/// Lets every other ready task run once before this one continues. This is asyncio's
/// `await asyncio.sleep(0)`.
///
/// The first poll wakes its own task (which goes to the back of the FIFO run queue) and
/// returns `Pending`; the second returns `Ready`.
///
/// ```
/// use std::{cell::RefCell, rc::Rc};
///
/// let order = minirt::run(async {
///     let order = Rc::new(RefCell::new(Vec::new()));
///     let o = order.clone();
///     let other = minirt::spawn(async move { o.borrow_mut().push("other") });
///     minirt::yield_now().await;
///     order.borrow_mut().push("main");
///     other.await.unwrap();
///     order.take()
/// });
/// assert_eq!(order, ["other", "main"]);
/// ```
#[doc(alias = "sleep(0)")]
pub fn yield_now() -> YieldNow {
    YieldNow { yielded: false }
}

/// The future returned by [`yield_now`].
#[derive(Debug)]
#[must_use = "futures do nothing unless you `.await` them"]
pub struct YieldNow {
    yielded: bool,
}

impl Future for YieldNow {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if self.yielded {
            return Poll::Ready(());
        }
        self.yielded = true;
        cx.waker().wake_by_ref();
        Poll::Pending
    }
}
