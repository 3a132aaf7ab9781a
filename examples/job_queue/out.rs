//! Output that never blocks the loop, never grows without bound, and never holds up an exit.
//!
//! Lines go into `minirt::io::stdout()` and `stderr()`: a bounded buffer each (64 KiB), which
//! a writer thread of minirt's empties. Nothing here waits for room: a line that finds the
//! buffer full (stdout is a pipe nobody reads, or a terminal paused with Ctrl-S) is dropped
//! and counted, so a stalled reader can neither stall a worker nor make it queue lines in
//! memory. Writing errors (a closed pipe, `/dev/full`) are not worth stopping the work for:
//! the line is counted as dropped too.
//!
//! The end of the program waits for the reader, but only for [`EXIT_WAIT`]: see
//! [`Out::finish`] (inside the runtime) and [`exit`] (outside it, and for every exit path).

use std::cell::Cell;
use std::io::ErrorKind;
use std::rc::Rc;
use std::time::Duration;

/// How long the end of the program waits for stdout's and stderr's readers.
pub const EXIT_WAIT: Duration = Duration::from_secs(2);

/// A handle to the process's output. Cheap to clone.
#[derive(Clone, Default)]
pub struct Out {
    /// Lines that found no room, or a stream that fails.
    dropped: Rc<Cell<u64>>,
}

impl Out {
    pub fn new() -> Out {
        Out::default()
    }

    /// A line on stdout.
    pub fn say(&self, line: impl Into<String>) {
        let line = line.into() + "\n";
        self.count(minirt::io::stdout().try_write_all(line.as_bytes()).is_err());
    }

    /// A line on stderr, after the program's name.
    pub fn warn(&self, line: impl Into<String>) {
        let line = format!("job_queue: {}\n", line.into());
        self.count(minirt::io::stderr().try_write_all(line.as_bytes()).is_err());
    }

    /// Text on stderr as it is (a progress line that ends in `\r`). Dropped without a count
    /// when there is no room: the next one says the same, only newer.
    pub fn progress(&self, text: String) {
        let _ = minirt::io::stderr().try_write_all(text.as_bytes());
    }

    fn count(&self, dropped: bool) {
        if dropped {
            self.dropped.set(self.dropped.get() + 1);
        }
    }

    /// The end of a run: says how many lines were dropped, then waits for both streams to be
    /// written out, for [`EXIT_WAIT`] at most.
    pub async fn finish(&self) {
        let dropped = self.dropped.get();
        if dropped > 0 {
            let note = format!(
                "job_queue: {dropped} line(s) of output dropped (not read in time, or the stream failed)\n"
            );
            let _ = minirt::io::stderr().try_write_all(note.as_bytes());
        }
        let both = async {
            let _ = minirt::io::stdout().flush().await;
            let _ = minirt::io::stderr().flush().await;
        };
        let _ = minirt::timeout(EXIT_WAIT, both).await;
    }
}

/// Ends the process with `code`, after handing `stdout` and `stderr` (each may be empty) to
/// the writer threads and waiting for them for [`EXIT_WAIT`] at most. Every exit of the
/// program goes through here, inside the runtime or outside: a full, closed or unread stream
/// costs at most that wait, never a panic or a hang.
pub fn exit(code: i32, stdout: &str, stderr: &str) -> ! {
    exit_within(EXIT_WAIT, code, stdout, stderr)
}

/// [`exit`], waiting `wait` at most (a cold stop on a second Ctrl-C must be quick).
pub fn exit_within(wait: Duration, code: i32, stdout: &str, stderr: &str) -> ! {
    let write = |text: &str, stream: u8| match stream {
        1 => minirt::io::stdout().try_write_all(text.as_bytes()),
        _ => minirt::io::stderr().try_write_all(text.as_bytes()),
    };
    for (text, stream) in [(stdout, 1), (stderr, 2)] {
        if text.is_empty() {
            continue;
        }
        if let Err(e) = write(text, stream) {
            if e.kind() == ErrorKind::WouldBlock {
                // Earlier lines fill the buffer: give the reader a moment, then try once more.
                minirt::io::flush_stdio(wait);
                let _ = write(text, stream);
            }
        }
    }
    minirt::io::flush_stdio(wait);
    std::process::exit(code)
}
