//! The channel against a plain model, over random sequences of operations from both halves.
//!
//! A case is one interleaving of what the sender side (send, drop, poll or drop a `Closed`) and
//! the receiver side (poll, `try_recv`, close, drop) do, run on one thread, with three counting
//! wakers to poll with. After every step the channel must agree with the model on what the step
//! returned, on how often each waker was woken, on `is_closed`, and on how many sent values are
//! alive: so a value is dropped exactly once, when the last half goes. At the end no clone of any
//! waker is left. Races inside one operation are the threaded tests' job, and Miri's.

use std::pin::Pin;

use proptest::prelude::*;

use super::*;

#[derive(Debug, Clone, Copy)]
enum Op {
    Send(u8),
    DropSender,
    /// Polls the sender's `Closed` future with a waker, making one if there is none.
    PollClosed(usize),
    DropClosed,
    Poll(usize),
    TryRecv,
    Close,
    DropReceiver,
}

/// What a step returned. Values are compared by their number.
#[derive(Debug, PartialEq)]
enum Out {
    /// The op does not apply now (its half is gone, or the receiver already finished).
    Skipped,
    Done,
    Sent(Result<(), u8>),
    Polled(Poll<Result<u8, RecvError>>),
    Tried(Result<u8, TryRecvError>),
    ClosedPolled(Poll<()>),
}

/// What the channel should do: the old `Mutex<State>` channel's rules, as plain data.
struct Model {
    tx_alive: bool,
    rx_alive: bool,
    closed_future: bool,
    /// The sender sent, or went without sending, before the receiver closed.
    complete: bool,
    closed: bool,
    /// The value in the channel, until the receiver takes it or the last half drops it.
    value: Option<u8>,
    /// The receiver returned `Ready` after `complete`, or `try_recv` took the value.
    finished: bool,
    rx_waker: Option<usize>,
    tx_waker: Option<usize>,
    woken: [usize; 3],
}

impl Model {
    fn new() -> Self {
        Model {
            tx_alive: true,
            rx_alive: true,
            closed_future: false,
            complete: false,
            closed: false,
            value: None,
            finished: false,
            rx_waker: None,
            tx_waker: None,
            woken: [0; 3],
        }
    }

    fn apply(&mut self, op: Op) -> Out {
        let sender_free = self.tx_alive && !self.closed_future;
        let receiver_live = self.rx_alive && !self.finished;
        match op {
            Op::Send(v) if sender_free => {
                self.tx_alive = false;
                if self.closed {
                    return Out::Sent(Err(v));
                }
                self.value = Some(v);
                self.complete();
                Out::Sent(Ok(()))
            }
            Op::DropSender if sender_free => {
                self.tx_alive = false;
                if !self.closed {
                    self.complete();
                }
                Out::Done
            }
            Op::PollClosed(k) if self.tx_alive => {
                self.closed_future = true;
                if self.closed {
                    return Out::ClosedPolled(Poll::Ready(()));
                }
                self.tx_waker = Some(k);
                Out::ClosedPolled(Poll::Pending)
            }
            Op::DropClosed if self.closed_future => {
                self.closed_future = false;
                self.tx_waker = None;
                Out::Done
            }
            Op::Poll(k) if receiver_live => Out::Polled(if self.complete {
                self.finished = true;
                Poll::Ready(self.value.take().ok_or(RecvError(())))
            } else if self.closed {
                Poll::Ready(Err(RecvError(())))
            } else {
                self.rx_waker = Some(k);
                Poll::Pending
            }),
            Op::TryRecv if self.rx_alive => Out::Tried(match self.value.take() {
                Some(v) => {
                    self.finished = true;
                    Ok(v)
                }
                None if self.complete || self.closed || self.finished => Err(TryRecvError::Closed),
                None => Err(TryRecvError::Empty),
            }),
            Op::Close if self.rx_alive => {
                self.close();
                Out::Done
            }
            Op::DropReceiver if self.rx_alive => {
                if !self.finished {
                    self.close();
                }
                self.rx_alive = false;
                // A value still here was sent, so the sender is gone: the receiver was last.
                self.value = None;
                Out::Done
            }
            _ => Out::Skipped,
        }
    }

    fn complete(&mut self) {
        self.complete = true;
        if let Some(k) = self.rx_waker {
            self.woken[k] += 1;
        }
    }

    fn close(&mut self) {
        if !self.closed && !self.complete {
            if let Some(k) = self.tx_waker {
                self.woken[k] += 1;
            }
        }
        self.closed = true;
    }
}

/// One case: the channel's receiver, the wakers, and the model to check them against.
struct Case {
    model: Model,
    rx: Option<Pin<Box<Receiver<Tracked>>>>,
    wakers: [CountingWaker; 3],
    alive: Alive,
    step: usize,
}

impl Case {
    /// Runs `op` on the model and, if it applies, through `real` on the channel, and compares.
    fn step(&mut self, op: Op, real: impl FnOnce(&mut Self) -> Out) {
        self.step += 1;
        let expected = self.model.apply(op);
        if expected == Out::Skipped {
            return;
        }
        let got = real(self);
        assert_eq!(got, expected, "step {}: {op:?}", self.step);
        let woken = self.wakers.each_ref().map(CountingWaker::count);
        assert_eq!(
            woken, self.model.woken,
            "wakes after step {}: {op:?}",
            self.step
        );
        assert_eq!(
            self.alive.count(),
            usize::from(self.model.value.is_some()),
            "values alive after step {}: {op:?}",
            self.step
        );
    }

    /// The receiver's side of `op`, and `Send`/`DropSender` (which need the sender by value).
    fn op(&mut self, op: Op, tx: &mut Option<Sender<Tracked>>) {
        self.step(op, |case| match op {
            Op::Send(n) => {
                let sender = tx.take().expect("the model says the sender is here");
                Out::Sent(sender.set_result(case.alive.value(n)).map_err(|v| v.n))
            }
            Op::DropSender => {
                drop(tx.take());
                Out::Done
            }
            Op::Poll(k) => {
                let rx = case
                    .rx
                    .as_mut()
                    .expect("the model says the receiver is here");
                Out::Polled(case.wakers[k].poll(rx.as_mut()).map_ok(|v| v.n))
            }
            Op::TryRecv => Out::Tried(case.rx().try_recv().map(|v| v.n)),
            Op::Close => {
                case.rx().close();
                Out::Done
            }
            Op::DropReceiver => {
                case.rx = None;
                Out::Done
            }
            Op::PollClosed(_) | Op::DropClosed => unreachable!("handled with the future in `run`"),
        });
        if let Some(sender) = tx {
            assert_eq!(sender.is_closed(), self.model.closed, "step {}", self.step);
        }
    }

    fn rx(&mut self) -> &mut Receiver<Tracked> {
        self.rx
            .as_mut()
            .expect("the model says the receiver is here")
    }
}

fn run(ops: &[Op]) {
    let alive = Alive::default();
    let (tx, rx) = channel();
    let mut case = Case {
        model: Model::new(),
        rx: Some(Box::pin(rx)),
        wakers: Default::default(),
        alive: alive.clone(),
        step: 0,
    };
    let mut tx = Some(tx);
    let mut ops = ops.iter().copied().peekable();
    while let Some(op) = ops.next() {
        let (Op::PollClosed(k), Some(sender)) = (op, tx.as_mut()) else {
            if !matches!(op, Op::PollClosed(_) | Op::DropClosed) {
                case.op(op, &mut tx);
            }
            continue;
        };
        // A `Closed` future borrows the sender: keep it while the ops that follow leave the
        // sender alone, then drop it.
        let mut closed = Box::pin(sender.closed());
        case.step(op, |case| {
            Out::ClosedPolled(case.wakers[k].poll(closed.as_mut()))
        });
        while let Some(next) = ops.next_if(|op| !matches!(op, Op::Send(_) | Op::DropSender)) {
            match next {
                Op::PollClosed(k) => case.step(next, |case| {
                    Out::ClosedPolled(case.wakers[k].poll(closed.as_mut()))
                }),
                Op::DropClosed => break,
                // The receiver's ops: they do not need the sender.
                _ => case.op(next, &mut None),
            }
        }
        drop(closed);
        case.step(Op::DropClosed, |_| Out::Done);
    }
    drop(tx);
    drop(case.rx.take());
    assert_eq!(alive.count(), 0, "a value outlived the channel");
    for (k, waker) in case.wakers.iter().enumerate() {
        assert_eq!(
            waker.clones(),
            0,
            "waker {k} is still held after both halves are gone"
        );
    }
}

fn op() -> impl Strategy<Value = Op> {
    let waker = 0..3usize;
    prop_oneof![
        1 => any::<u8>().prop_map(Op::Send),
        1 => Just(Op::DropSender),
        1 => waker.clone().prop_map(Op::PollClosed),
        1 => Just(Op::DropClosed),
        2 => waker.prop_map(Op::Poll),
        1 => Just(Op::TryRecv),
        1 => Just(Op::Close),
        1 => Just(Op::DropReceiver),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: if cfg!(miri) { 8 } else { 1024 },
        failure_persistence: None,
        ..ProptestConfig::default()
    })]
    #[test]
    fn matches_the_model(ops in prop::collection::vec(op(), 0..24)) {
        run(&ops);
    }
}

/// The hand-picked interleavings the random ones must include, run on their own so that a
/// regression names itself.
#[test]
fn chosen_interleavings() {
    use Op::*;
    let cases: &[&[Op]] = &[
        &[Poll(0), Poll(1), Send(7), Poll(1)],
        &[Poll(0), Close, DropSender, Poll(0)],
        &[PollClosed(2), Poll(0), DropReceiver],
        &[PollClosed(2), PollClosed(1), Close, PollClosed(1), Send(3)],
        &[PollClosed(2), DropClosed, Close, Send(3)],
        &[Send(9), Close, TryRecv, TryRecv],
        &[Send(9), DropReceiver],
        &[Poll(0), DropSender, TryRecv, Poll(0)],
        &[Close, Close, Poll(1), DropReceiver, PollClosed(0)],
    ];
    for ops in cases {
        run(ops);
    }
}
