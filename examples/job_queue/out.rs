//! Output that never blocks the loop: lines go on a queue, and one task writes them on the
//! blocking pool. A reader of stdout or stderr that stops reading stalls only that task, not
//! the workers (which then queue lines in memory until it reads again).

use std::io::Write;

use minirt::JoinHandle;
use minirt::sync::Queue;

#[derive(Clone, Copy)]
enum Stream {
    Stdout,
    Stderr,
}

/// A handle to the writer task. Cheap to clone.
#[derive(Clone)]
pub struct Out {
    queue: Queue<(Stream, String)>,
}

impl Out {
    /// Starts the writer task; [`close`](Self::close) flushes and ends it.
    pub fn start() -> (Out, JoinHandle<()>) {
        let queue = Queue::new();
        let writer = minirt::spawn(write_all(queue.clone()));
        (Out { queue }, writer)
    }

    /// A line on stdout.
    pub fn say(&self, line: impl Into<String>) {
        self.put(Stream::Stdout, line.into() + "\n");
    }

    /// A line on stderr, after the program's name.
    pub fn warn(&self, line: impl Into<String>) {
        self.put(Stream::Stderr, format!("job_queue: {}\n", line.into()));
    }

    /// Text on stderr as it is (a progress line that ends in `\r`).
    pub fn progress(&self, text: String) {
        self.put(Stream::Stderr, text);
    }

    fn put(&self, stream: Stream, text: String) {
        // Fails only after `close`, when nothing is left to say.
        let _ = self.queue.put_nowait((stream, text));
    }

    /// Writes what is queued, then ends the writer task.
    pub async fn close(&self, writer: JoinHandle<()>) {
        self.queue.shutdown();
        let _ = writer.await;
    }
}

async fn write_all(queue: Queue<(Stream, String)>) {
    while let Ok(first) = queue.get().await {
        // Everything queued by now goes in one trip to the pool.
        let (mut stdout, mut stderr) = (String::new(), String::new());
        let mut next = Some(first);
        while let Some((stream, text)) = next {
            match stream {
                Stream::Stdout => stdout.push_str(&text),
                Stream::Stderr => stderr.push_str(&text),
            }
            next = queue.get_nowait().ok();
        }
        let _ = minirt::spawn_blocking(move || {
            // A closed stdout or stderr is not worth stopping the work for.
            let _ = std::io::stdout().lock().write_all(stdout.as_bytes());
            let _ = std::io::stdout().flush();
            let _ = std::io::stderr().lock().write_all(stderr.as_bytes());
        })
        .await;
    }
}
