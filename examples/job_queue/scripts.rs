//! The keys job_queue keeps on the broker, and the Lua scripts that change them atomically.
//!
//! Keys (all under `jq:`):
//!
//! | key | type | what |
//! |---|---|---|
//! | `jq:queue` | list | messages waiting: `submit` pushes on the left, workers take from the right |
//! | `jq:processing:W:S` | list | the message slot `S` of worker `W` has taken and not finished |
//! | `jq:alive:W` | string | `W`'s heartbeat, set every second with a 5 s expiry |
//! | `jq:workers` | hash | every worker that may have processing lists, and its slot count |
//! | `jq:reaped` | hash | each worker found dead, and when (the broker's clock): forgotten [`FORGET_AFTER`] later |
//! | `jq:result:ID` | string | the job's result (JSON), written once, kept for an hour |
//! | `jq:done:B` | list | `ID ok` or `ID failed` for each result of batch `B`, read by `submit` |
//! | `jq:pushed:B:C` | string | chunk `C` of batch `B` is queued (so a resent chunk is not queued twice) |
//! | `jq:dead` | list | a record (JSON) for each message set aside, with its bytes in hex |
//! | `jq:dead:oversize` | list | messages over the size cap, moved as they were, never read |
//!
//! # Why scripts
//!
//! A worker's last step with a message (store its result, queue its next attempt, or set it
//! aside) must happen once, whatever happens to the connection. A reply lost with a dropped
//! connection leaves the worker not knowing whether its command ran; it sends it again. So
//! each of these scripts first takes the message off the slot's processing list (`LREM`) and
//! does nothing more if it was not there: the first run did the work, or a reaper gave the
//! message to another worker, which will do it. The removal and the work happen in one
//! script, which Redis runs atomically (and, with AOF, persists as one transaction), so a
//! crash of either side leaves all of it or none.

/// The queue of waiting messages.
pub const QUEUE: &str = "jq:queue";
/// Every worker that may have processing lists, with its slot count.
pub const WORKERS: &str = "jq:workers";
/// Workers found dead, and since when, until they are forgotten.
pub const REAPED: &str = "jq:reaped";
/// How long a dead worker stays registered after its first reap, in seconds of the broker's
/// clock: longer than any pop it sent before it died may still take to land on its list (a
/// blocking pop waits 1 s, a command 5 s), so that the reapers of the rounds in between (every
/// 2 s) move such a late message back too. Forgotten at once, a worker's registration could
/// be gone when a pop it had sent put a message on its list, where no reaper would look.
pub const FORGET_AFTER: u64 = 8;
/// Records of messages set aside.
pub const DEAD: &str = "jq:dead";
/// Messages too big to read, as they were.
pub const OVERSIZE: &str = "jq:dead:oversize";
/// How long results, a batch's done list and its chunk markers are kept, in seconds.
pub const RESULT_TTL: &str = "3600";

/// Slot `slot`'s processing list: each slot has its own, so that after a lost connection it
/// knows that what is on it is its own job in hand, to be done again.
pub fn processing_key(worker: &[u8], slot: usize) -> Vec<u8> {
    let mut key = b"jq:processing:".to_vec();
    key.extend_from_slice(worker);
    key.extend_from_slice(format!(":{slot}").as_bytes());
    key
}

/// A worker's heartbeat key.
pub fn alive_key(worker: &[u8]) -> Vec<u8> {
    [b"jq:alive:", worker].concat()
}

/// Stores a result once and tells the batch. `KEYS`: the slot's list, the result, the done
/// list. `ARGV`: the message, the result, the done entry, the TTL, and the call as a result
/// of it holds it (`"job":"add[1,2]"`).
///
/// Answers `stored`; `again` when a result of the same call was there (the job ran twice: a
/// worker was taken for dead, or the message was queued twice), the first one standing;
/// `conflict` when the id's result is of another call (the message goes back on the list, for
/// the worker to set aside); `gone` when the message was no longer on the list.
pub const FINISH: &str = r#"
if redis.call('LREM', KEYS[1], 1, ARGV[1]) == 0 then return 'gone' end
local fresh = redis.call('SET', KEYS[2], ARGV[2], 'NX', 'EX', ARGV[4])
if not fresh then
  local stored = redis.pcall('GET', KEYS[2])
  if type(stored) ~= 'string' or not string.find(stored, ARGV[5], 1, true) then
    redis.call('RPUSH', KEYS[1], ARGV[1])
    return 'conflict'
  end
end
redis.pcall('RPUSH', KEYS[3], ARGV[3])
redis.pcall('EXPIRE', KEYS[3], ARGV[4])
if fresh then return 'stored' end
return 'again'
"#;

/// Replaces the message on the slot's list by another value pushed onto a list: its next
/// attempt onto the queue, or its dead-letter record onto `jq:dead`. `KEYS`: the slot's list,
/// the target list. `ARGV`: the message, the value. Answers 1, or 0 if the message was gone.
pub const MOVE_ON: &str = r#"
if redis.call('LREM', KEYS[1], 1, ARGV[1]) == 0 then return 0 end
redis.call('LPUSH', KEYS[2], ARGV[2])
return 1
"#;

/// Moves a message too big to read from one end of the slot's list to `jq:dead:oversize`,
/// unread, and records it on `jq:dead`. `KEYS`: the slot's list, `jq:dead:oversize`,
/// `jq:dead`. `ARGV`: the end (`LEFT` or `RIGHT`), the record. Answers 1, or 0 if the list
/// was empty. (A plain `LMOVE` would answer with the message itself: too big to read.)
pub const SET_ASIDE_UNREAD: &str = r#"
if not redis.call('LMOVE', KEYS[1], KEYS[2], ARGV[1], 'LEFT') then return 0 end
redis.call('LPUSH', KEYS[3], ARGV[2])
return 1
"#;

/// Reaps a worker whose heartbeat has expired: moves everything on its processing lists back
/// to the queue (to the end taken next), notes when it was first found dead, and forgets it
/// [`FORGET_AFTER`] seconds later (until then each reap moves what a late pop of its may have
/// put on its lists). The heartbeat is checked in the same script, so a worker that comes back
/// at that moment is not reaped, and is no longer taken for dead. `KEYS`: its heartbeat,
/// `jq:workers`, the queue, `jq:reaped`, then its processing lists. `ARGV`: its id, then
/// [`FORGET_AFTER`]. Answers `[moved, first]`: how many messages went back, and 1 if this is the
/// first reap of that death (0 after); or `-1` if the worker is alive.
///
/// A key that is not a list (`WRONGTYPE`) holds no message: it is passed over. Any other
/// error of a move is the answer, and the worker stays registered, for a later reap: a broker
/// at `maxmemory` refuses a script's first write (`OOM`), though not the `HDEL`, which frees
/// memory; forgetting the worker then would leave its jobs on its lists for ever.
pub const REAP: &str = r#"
if redis.call('EXISTS', KEYS[1]) == 1 then
  redis.call('HDEL', KEYS[4], ARGV[1])
  return -1
end
local moved = 0
for i = 5, #KEYS do
  while true do
    local message = redis.pcall('LMOVE', KEYS[i], KEYS[3], 'RIGHT', 'RIGHT')
    if type(message) == 'table' and message.err then
      if not string.find(message.err, 'WRONGTYPE', 1, true) then return message end
      break
    end
    if type(message) ~= 'string' then break end
    moved = moved + 1
  end
end
local now = tonumber(redis.call('TIME')[1])
local since = tonumber(redis.call('HGET', KEYS[4], ARGV[1]))
if not since then
  redis.call('HSET', KEYS[4], ARGV[1], now)
  return {moved, 1}
end
if now - since >= tonumber(ARGV[2]) then
  redis.call('HDEL', KEYS[2], ARGV[1])
  redis.call('HDEL', KEYS[4], ARGV[1])
end
return {moved, 0}
"#;

/// Queues one chunk of a batch, once: a chunk sent again after a lost reply finds its marker
/// and is not queued twice. `KEYS`: the chunk's marker, the queue. `ARGV`: the TTL, then the
/// messages. Answers how many were queued now (0 the second time).
pub const PUSH_ONCE: &str = r#"
if not redis.call('SET', KEYS[1], '1', 'NX', 'EX', ARGV[1]) then return 0 end
redis.call('LPUSH', KEYS[2], unpack(ARGV, 2))
return #ARGV - 1
"#;
