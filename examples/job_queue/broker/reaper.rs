//! The reaper: every few seconds, each worker looks for dead ones, and gives their jobs in
//! hand back to the queue. A worker is dead when its heartbeat key has expired; its
//! processing lists are moved back by one script ([`scripts::REAP`]), which checks the
//! heartbeat again itself, so that a worker that comes back at that moment is not reaped. The
//! messages are moved, never read: a poison message on a dead worker's list goes back to the
//! queue like any other, for a slot to set aside. A dead worker stays registered for
//! [`scripts::FORGET_AFTER`] seconds after its first reap, and each round in between moves
//! what a pop it sent before it died may still have put on its lists: forgotten at once, such
//! a message would sit where no reaper looks.

use std::rc::Rc;
use std::time::Duration;

use super::super::resp::Frame;
use super::super::scripts::{self, QUEUE, REAPED, WORKERS};
use super::super::wire::{Fault, cmd};
use super::{MAX_SLOTS, Worker};

/// How often each worker looks for dead ones...
const REAP_EVERY: Duration = Duration::from_secs(2);
/// ...and how many entries of `jq:workers` it looks at each time, at most.
const REAP_BATCH: usize = 500;

/// Every few seconds: any worker in `jq:workers` whose heartbeat has expired is dead, and its
/// processing lists go back to the queue ([`scripts::REAP`]). A fault of the broker's that is
/// not an outage (a `jq:workers` that is not a hash) is told and tried again next time: the
/// reaper ends only with the worker, or with a broker whose replies cannot be read.
pub(super) async fn reaper(worker: Rc<Worker>) {
    let mut every = minirt::time::interval(REAP_EVERY);
    let mut cursor = b"0".to_vec();
    loop {
        every.tick().await;
        match reap_some(&worker, &mut cursor).await {
            Ok(()) => {}
            Err(fault @ Fault::Unreadable(..)) => return worker.fail(fault.to_string()),
            Err(fault) => {
                worker
                    .out
                    .warn(format!("reaper: {fault}; trying again in {REAP_EVERY:?}"));
                cursor = b"0".to_vec();
            }
        }
    }
}

/// Looks at up to [`REAP_BATCH`] entries of `jq:workers` from `cursor` (`HSCAN`), and reaps
/// each dead worker among them.
async fn reap_some(worker: &Worker, cursor: &mut Vec<u8>) -> Result<(), Fault> {
    let broker = &worker.broker;
    let mut seen = 0;
    while seen < REAP_BATCH {
        let mut scan = cmd(&["HSCAN", WORKERS]);
        scan.push(cursor.clone());
        scan.extend(cmd(&["COUNT", "100"]));
        let mut reply = broker.array(broker.run_one(scan).await?)?;
        let (Some(entries), Some(next), None) = (reply.pop(), reply.pop(), reply.pop()) else {
            return Err(broker.malformed("an HSCAN reply that is not [cursor, entries]"));
        };
        let entries = broker.array(entries)?;
        *cursor = broker.bulk(next)?.unwrap_or_else(|| b"0".to_vec());
        // HSCAN answers field, value, field, value...: each worker and its slot count.
        let mut pairs = entries.into_iter();
        while let (Some(other), Some(slots)) = (pairs.next(), pairs.next()) {
            seen += 1;
            let other = broker.bulk(other)?.unwrap_or_default();
            if other == worker.id.as_bytes() {
                continue;
            }
            // A count that does not parse (the entry is not a worker's): reap no list, forget it.
            let slots = broker.bulk(slots)?.unwrap_or_default();
            let slots = std::str::from_utf8(&slots)
                .ok()
                .and_then(|s| s.parse().ok());
            reap(worker, &other, slots.unwrap_or(0).min(MAX_SLOTS)).await?;
        }
        if cursor.as_slice() == b"0" {
            break;
        }
    }
    Ok(())
}

async fn reap(worker: &Worker, other: &[u8], slots: usize) -> Result<(), Fault> {
    let alive = scripts::alive_key(other);
    let lists: Vec<Vec<u8>> = (0..slots)
        .map(|n| scripts::processing_key(other, n))
        .collect();
    let mut keys: Vec<&[u8]> = vec![
        &alive,
        WORKERS.as_bytes(),
        QUEUE.as_bytes(),
        REAPED.as_bytes(),
    ];
    keys.extend(lists.iter().map(Vec::as_slice));
    let forget_after = scripts::FORGET_AFTER.to_string();
    let reply = worker
        .broker
        .eval(scripts::REAP, &keys, &[other, forget_after.as_bytes()])
        .await?;
    let broker = &worker.broker;
    // -1: alive. Else [moved, first reap of this death].
    let (moved, first) = match reply {
        Frame::Integer(_) => return Ok(()),
        frame => match broker.array(frame)?.as_slice() {
            [Frame::Integer(moved), Frame::Integer(first)] => (*moved, *first == 1),
            _ => return Err(broker.malformed("a REAP reply that is not [moved, first]")),
        },
    };
    let moved = u64::try_from(moved).unwrap_or(0);
    worker.counts.reaped.set(worker.counts.reaped.get() + moved);
    if first || moved > 0 {
        worker.out.say(format!(
            "worker {} missed its heartbeat: reaped {moved} job(s) back to the queue",
            String::from_utf8_lossy(other)
        ));
    }
    Ok(())
}
