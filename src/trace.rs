//! Watching the runtime work: slow-poll warnings, a lost-wakeup hint, and a scheduling trace
//! you can open as a timeline.
//!
//! **Slow polls.** asyncio's debug mode warns when a callback holds the loop too long. With
//! `Builder::slow_poll_threshold` or `MINIRT_SLOW_POLL_MS=N`, each task poll is timed, and one
//! that takes longer prints a line to stderr naming the task (its spawn location, or the name
//! given to `spawn_named`) and the time. A slow poll is a task doing blocking work on the loop:
//! move it to `spawn_blocking`.
//!
//! **Lost wakeups.** In debug builds, after a task returns `Pending` the runtime checks its
//! reference count. If nobody kept a clone of the waker (no socket, timer, lock or channel holds
//! one) and nobody woke it during the poll, nothing can ever wake it: only `abort` can end it.
//! That is almost always a leaf future that forgot to store `cx.waker()`. The runtime says so
//! once per task, with its spawn location. (A deliberate `std::future::pending()` is reported
//! too; it is the one honest case.)
//!
//! **The trace.** With `Builder::trace(path)` or `MINIRT_TRACE=path.json`, the runtime records
//! spawns, each poll (begin and end), each wake with its source and the waking thread, each
//! park in the poller (timeout and events returned), timer fires with their lateness, and
//! blocking jobs on their pool threads. The record is Chrome's Trace Event Format: open it in
//! <https://ui.perfetto.dev> or `chrome://tracing`. Each task is a track, named by its spawn
//! location; the loop and each pool thread have tracks of their own. Events collect in a
//! fixed-size buffer that is written out when full and when the runtime is dropped. With
//! tracing off, each recording site costs one branch. `docs/observing.md` walks through one.

use std::cell::{Cell, RefCell};
use std::collections::{HashMap, HashSet};
use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::panic::Location;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use crate::metrics::WakeSource;
use crate::time::Clock;

/// Events kept in memory before they are written to the trace file.
const TRACE_BUFFER_EVENTS: usize = 64 * 1024;

/// The track of the loop itself (parks, timer fires, the main future).
const LOOP_TRACK: u64 = 0;

/// Pool thread `n` draws on track `POOL_TRACKS + n`.
const POOL_TRACKS: u64 = 1_000_000;

/// A task's identity inside the trace: its header's address while it is alive.
pub(crate) type TaskAddr = usize;

/// The runtime's observers. Only the runtime's thread touches it.
pub(crate) struct Observer {
    pub(crate) slow_poll: Option<Duration>,
    pub(crate) trace: Option<RefCell<Recorder>>,
    /// Names given with `spawn_named`, by task.
    names: RefCell<HashMap<TaskAddr, Box<str>>>,
    /// Tasks already reported by the lost-wakeup hint.
    reported_lost: RefCell<HashSet<TaskAddr>>,
    /// Set once `names` or `reported_lost` holds anything: only then must a completing task
    /// be looked up there. Keeps the common path to one branch.
    bookkeeping: Cell<bool>,
}

impl Observer {
    pub(crate) fn new(slow_poll: Option<Duration>, trace: Option<Recorder>) -> Observer {
        Observer {
            slow_poll,
            trace: trace.map(RefCell::new),
            names: RefCell::default(),
            reported_lost: RefCell::default(),
            bookkeeping: Cell::new(false),
        }
    }

    /// True when polls must be timed.
    #[inline]
    pub(crate) fn times_polls(&self) -> bool {
        self.slow_poll.is_some() || self.trace.is_some()
    }

    pub(crate) fn name(&self, task: TaskAddr, name: &str) {
        self.names.borrow_mut().insert(task, name.into());
        self.bookkeeping.set(true);
    }

    /// How to call a task in messages: its name, else where it was spawned.
    fn describe(&self, task: TaskAddr, location: &Location<'_>) -> String {
        match self.names.borrow().get(&task) {
            Some(name) => format!("{name:?} (spawned at {location})"),
            None => format!("spawned at {location}"),
        }
    }

    #[inline]
    pub(crate) fn on_spawn(&self, task: TaskAddr, location: &'static Location<'static>) {
        if self.trace.is_some() {
            self.record_spawn(task, location);
        }
    }

    #[cold]
    #[inline(never)]
    fn record_spawn(&self, task: TaskAddr, location: &'static Location<'static>) {
        if let Some(trace) = &self.trace {
            let name = self.names.borrow().get(&task).cloned();
            trace.borrow_mut().spawn(task, location, name.as_deref());
        }
    }

    /// A poll is about to begin, and polls are timed: returns when, in real time (for the
    /// slow-poll warning), and notes the trace's own timestamp for it.
    pub(crate) fn watch_poll(&self) -> Instant {
        if let Some(trace) = &self.trace {
            let mut trace = trace.borrow_mut();
            trace.poll_began = trace.stamp();
        }
        Instant::now()
    }

    /// A timestamp on the trace's clock, when a trace is recording.
    pub(crate) fn trace_stamp(&self) -> Option<Instant> {
        self.trace.as_ref().map(|trace| trace.borrow_mut().stamp())
    }

    /// After a poll that began at `began` (when polls are timed, see `watch_poll`).
    pub(crate) fn on_poll(
        &self,
        task: TaskAddr,
        location: &'static Location<'static>,
        began: Instant,
    ) {
        let took = began.elapsed();
        if let Some(threshold) = self.slow_poll
            && took > threshold
        {
            eprintln!(
                "minirt: slow poll: task {} took {took:.1?} (threshold {threshold:?}); \
                 blocking work belongs in spawn_blocking",
                self.describe(task, location)
            );
        }
        if let Some(trace) = &self.trace {
            trace.borrow_mut().poll(task);
        }
    }

    /// The lost-wakeup hint (debug builds): `keeps_waker` is false when no clone of the
    /// task's waker exists and nobody woke it during the poll.
    pub(crate) fn on_pending(&self, task: TaskAddr, location: &Location<'_>, keeps_waker: bool) {
        if keeps_waker || !self.reported_lost.borrow_mut().insert(task) {
            return;
        }
        self.bookkeeping.set(true);
        eprintln!(
            "minirt: task {} returned Pending but kept no waker, so nothing can wake it \
             (only abort can end it). A leaf future probably forgot to store cx.waker().",
            self.describe(task, location)
        );
    }

    #[inline]
    pub(crate) fn on_complete(&self, task: TaskAddr) {
        if self.trace.is_some() || self.bookkeeping.get() {
            self.forget(task);
        }
    }

    #[cold]
    #[inline(never)]
    fn forget(&self, task: TaskAddr) {
        if let Some(trace) = &self.trace {
            trace.borrow_mut().complete(task);
        }
        self.names.borrow_mut().remove(&task);
        self.reported_lost.borrow_mut().remove(&task);
    }

    #[inline]
    pub(crate) fn on_wake(&self, task: TaskAddr, source: WakeSource, from: Option<&str>) {
        if self.trace.is_some() {
            self.record_wake(task, source, from);
        }
    }

    #[cold]
    #[inline(never)]
    fn record_wake(&self, task: TaskAddr, source: WakeSource, from: Option<&str>) {
        if let Some(trace) = &self.trace {
            trace.borrow_mut().wake(task, source, from);
        }
    }
}

/// One trace event, in memory.
enum Event {
    Spawn {
        task: u64,
        at: Instant,
    },
    Poll {
        task: u64,
        began: Instant,
        took: Duration,
    },
    Wake {
        task: u64,
        at: Instant,
        source: WakeSource,
        from: Option<Box<str>>,
    },
    Park {
        began: Instant,
        took: Duration,
        timeout: Option<Duration>,
        events: usize,
    },
    TimerFired {
        at: Instant,
        late_ms: u64,
    },
    Complete {
        task: u64,
        at: Instant,
    },
    Blocking {
        thread: u64,
        began: Instant,
        took: Duration,
    },
}

/// What pool threads record; they share it with the runtime under a lock.
#[derive(Default)]
pub(crate) struct PoolTrace {
    jobs: Mutex<Vec<(u64, Instant, Duration)>>,
}

impl PoolTrace {
    pub(crate) fn job(&self, thread: u64, began: Instant, took: Duration) {
        let mut jobs = self.jobs.lock().unwrap_or_else(PoisonError::into_inner);
        if jobs.len() < TRACE_BUFFER_EVENTS {
            jobs.push((thread, began, took));
        }
    }
}

/// Collects events and writes them as Chrome Trace Event Format JSON.
///
/// Timestamps come from the runtime's clock. In paused time, which stands still between
/// timers, each event is stamped at least a microsecond after the one before it, so that
/// the events of one instant show on the timeline, in the order they happened, and a run
/// replayed with the same seed gives the same trace, timestamps included. (The blocking
/// pool's jobs run on real threads and keep real timestamps.)
pub(crate) struct Recorder {
    origin: Instant,
    clock: Arc<Clock>,
    /// The last timestamp handed out.
    last: Instant,
    /// The timestamp of the poll under way (polls do not nest).
    poll_began: Instant,
    path: PathBuf,
    out: Option<BufWriter<File>>,
    events: Vec<Event>,
    /// Task addresses to trace ids, for live tasks. Ids are never reused, addresses are.
    ids: HashMap<TaskAddr, u64>,
    next_id: u64,
    /// Track names: (track, name), written as metadata at the end.
    tracks: Vec<(u64, String)>,
    pub(crate) pool: Arc<PoolTrace>,
    pool_threads: HashSet<u64>,
    first_event_written: Cell<bool>,
}

impl Recorder {
    /// Starts a trace that will be written to `path`.
    ///
    /// # Errors
    /// When the file cannot be created.
    pub(crate) fn create(path: PathBuf, clock: Arc<Clock>) -> io::Result<Recorder> {
        let mut out = BufWriter::new(File::create(&path)?);
        out.write_all(b"{\"displayTimeUnit\":\"ms\",\"traceEvents\":[\n")?;
        Ok(Recorder {
            origin: clock.origin(),
            last: clock.origin(),
            poll_began: clock.origin(),
            clock,
            path,
            out: Some(out),
            events: Vec::with_capacity(1024),
            ids: HashMap::new(),
            next_id: 1,
            tracks: vec![(LOOP_TRACK, "minirt loop".to_string())],
            pool: Arc::default(),
            pool_threads: HashSet::new(),
            first_event_written: Cell::new(false),
        })
    }

    /// The timestamp of an event happening now (see the type's docs for paused time).
    pub(crate) fn stamp(&mut self) -> Instant {
        let floor = match self.clock.is_paused() {
            true => self.last + Duration::from_micros(1),
            false => self.last,
        };
        self.last = self.clock.now().max(floor);
        self.last
    }

    fn push(&mut self, event: Event) {
        self.events.push(event);
        if self.events.len() >= TRACE_BUFFER_EVENTS {
            self.flush_events();
        }
    }

    fn id(&mut self, task: TaskAddr) -> u64 {
        *self.ids.entry(task).or_insert_with(|| {
            let id = self.next_id;
            self.next_id += 1;
            id
        })
    }

    fn spawn(&mut self, task: TaskAddr, location: &Location<'_>, name: Option<&str>) {
        let id = self.next_id;
        self.next_id += 1;
        self.ids.insert(task, id);
        let label = match name {
            Some(name) => format!("task {id}: {name} ({location})"),
            None => format!("task {id}: {location}"),
        };
        self.tracks.push((id, label));
        let at = self.stamp();
        self.push(Event::Spawn { task: id, at });
    }

    /// The poll that began at `poll_began` ends now.
    fn poll(&mut self, task: TaskAddr) {
        let task = self.id(task);
        let began = self.poll_began;
        let took = self.stamp() - began;
        self.push(Event::Poll { task, began, took });
    }

    fn wake(&mut self, task: TaskAddr, source: WakeSource, from: Option<&str>) {
        let task = self.id(task);
        let at = self.stamp();
        self.push(Event::Wake {
            task,
            at,
            source,
            from: from.map(Into::into),
        });
    }

    fn complete(&mut self, task: TaskAddr) {
        if let Some(task) = self.ids.remove(&task) {
            let at = self.stamp();
            self.push(Event::Complete { task, at });
        }
    }

    /// A wait in the poller that began at `began` (a stamp) ends now.
    pub(crate) fn park(&mut self, began: Instant, timeout: Option<Duration>, events: usize) {
        let took = self.stamp() - began;
        self.push(Event::Park {
            began,
            took,
            timeout,
            events,
        });
    }

    pub(crate) fn timer_fired(&mut self, late_ms: u64) {
        let at = self.stamp();
        self.push(Event::TimerFired { at, late_ms });
    }

    fn micros(&self, at: Instant) -> f64 {
        at.saturating_duration_since(self.origin).as_secs_f64() * 1e6
    }

    /// Writes the buffered events (and the pool threads' jobs) to the file.
    fn flush_events(&mut self) {
        let jobs = std::mem::take(
            &mut *self
                .pool
                .jobs
                .lock()
                .unwrap_or_else(PoisonError::into_inner),
        );
        for (thread, began, took) in jobs {
            if self.pool_threads.insert(thread) {
                let track = POOL_TRACKS + thread;
                self.tracks
                    .push((track, format!("minirt-blocking-{thread}")));
            }
            self.events.push(Event::Blocking {
                thread,
                began,
                took,
            });
        }
        let events = std::mem::take(&mut self.events);
        let lines: Vec<String> = events.iter().map(|e| self.to_json(e)).collect();
        self.write_lines(&lines);
        self.events = events;
        self.events.clear();
    }

    fn write_lines(&mut self, lines: &[String]) {
        let Some(out) = &mut self.out else { return };
        let mut result = Ok(());
        for line in lines {
            let sep = if self.first_event_written.replace(true) {
                ",\n"
            } else {
                ""
            };
            result = result.and_then(|()| write!(out, "{sep}{line}"));
        }
        if let Err(error) = result {
            eprintln!(
                "minirt: cannot write the trace {}: {error}",
                self.path.display()
            );
            self.out = None;
        }
    }

    fn to_json(&self, event: &Event) -> String {
        let ts = |at| self.micros(at);
        match event {
            Event::Spawn { task, at } => instant("spawn", *task, ts(*at), String::new()),
            Event::Poll { task, began, took } => format!(
                "{},\n{}",
                phase("poll", "B", *task, ts(*began)),
                phase("poll", "E", *task, ts(*began) + took.as_secs_f64() * 1e6)
            ),
            Event::Wake {
                task,
                at,
                source,
                from,
            } => {
                let from = from.as_deref().unwrap_or("the runtime's thread");
                let args = format!(
                    r#""source":"{}","from_thread":"{}""#,
                    source.name(),
                    escape(from)
                );
                instant("wake", *task, ts(*at), args)
            }
            Event::Park {
                began,
                took,
                timeout,
                events,
            } => {
                let timeout = timeout.map_or("null".to_string(), |t| {
                    format!("{:.3}", t.as_secs_f64() * 1e3)
                });
                let args = format!(r#""timeout_ms":{timeout},"events":{events}"#);
                complete_event("park", LOOP_TRACK, ts(*began), *took, args)
            }
            Event::TimerFired { at, late_ms } => instant(
                "timer fired",
                LOOP_TRACK,
                ts(*at),
                format!(r#""late_ms":{late_ms}"#),
            ),
            Event::Complete { task, at } => instant("end", *task, ts(*at), String::new()),
            Event::Blocking {
                thread,
                began,
                took,
            } => complete_event(
                "blocking job",
                POOL_TRACKS + thread,
                ts(*began),
                *took,
                String::new(),
            ),
        }
    }

    /// Writes what is left, the track names, and closes the JSON.
    pub(crate) fn finish(&mut self) {
        self.flush_events();
        let mut meta = vec![format!(
            r#"{{"name":"process_name","ph":"M","pid":1,"tid":0,"ts":0,"args":{{"name":"minirt"}}}}"#
        )];
        for (track, name) in &self.tracks {
            meta.push(format!(
                r#"{{"name":"thread_name","ph":"M","pid":1,"tid":{track},"ts":0,"args":{{"name":"{}"}}}}"#,
                escape(name)
            ));
        }
        self.write_lines(&meta);
        if let Some(mut out) = self.out.take()
            && let Err(error) = out.write_all(b"\n]}\n").and_then(|()| out.flush())
        {
            eprintln!(
                "minirt: cannot write the trace {}: {error}",
                self.path.display()
            );
        }
    }
}

fn phase(name: &str, ph: &str, track: u64, ts: f64) -> String {
    format!(r#"{{"name":"{name}","ph":"{ph}","pid":1,"tid":{track},"ts":{ts:.3}}}"#)
}

fn instant(name: &str, track: u64, ts: f64, args: String) -> String {
    format!(
        r#"{{"name":"{name}","ph":"i","s":"t","pid":1,"tid":{track},"ts":{ts:.3},"args":{{{args}}}}}"#
    )
}

fn complete_event(name: &str, track: u64, ts: f64, took: Duration, args: String) -> String {
    let dur = took.as_secs_f64() * 1e6;
    format!(
        r#"{{"name":"{name}","ph":"X","pid":1,"tid":{track},"ts":{ts:.3},"dur":{dur:.3},"args":{{{args}}}}}"#
    )
}

/// Escapes a string for a JSON string literal.
fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escape_makes_valid_json_strings() {
        assert_eq!(escape(r#"a"b\c"#), r#"a\"b\\c"#);
        assert_eq!(escape("line\nbreak"), "line\\u000abreak");
        assert_eq!(escape("src/main.rs:3:5"), "src/main.rs:3:5");
    }
}
