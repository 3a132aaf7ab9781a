//! A tokio-io codec on minirt through async-compat: `tokio_util::codec::Framed` with a
//! `LinesCodec`, over minirt sockets wrapped in `async_compat::Compat` (futures-io in, tokio-io
//! out). No tokio runtime is started: async-compat starts its own (a thread named
//! `async-compat/tokio-1`) only to run a future, or to drop a `Compat` that still holds its
//! value, so the test unwraps its streams with `into_inner` and checks that no such thread
//! exists. One test in this file: the check is on the whole process.
use async_compat::Compat;
use futures::{SinkExt as _, StreamExt as _};
use minirt::net::{TcpListener, TcpStream};
use tokio_util::codec::{Framed, LinesCodec};

/// Names of this process's threads.
fn thread_names() -> Vec<String> {
    std::fs::read_dir("/proc/self/task")
        .unwrap()
        .filter_map(|task| std::fs::read_to_string(task.ok()?.path().join("comm")).ok())
        .map(|name| name.trim().to_owned())
        .collect()
}

#[test]
fn a_tokio_lines_codec_over_compat_starts_no_tokio_runtime() {
    let lines = minirt::run(async {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        // The server answers each line with its length, then "bye" to "quit".
        let server = minirt::spawn(async move {
            let (stream, _) = listener.accept().await.unwrap();
            let mut framed =
                Framed::new(Compat::new(stream), LinesCodec::new_with_max_length(1024));
            while let Some(line) = framed.next().await {
                let line = line.unwrap();
                if line == "quit" {
                    framed.send("bye".to_owned()).await.unwrap();
                    break;
                }
                framed
                    .send(format!("{} {}", line.len(), line))
                    .await
                    .unwrap();
            }
            drop(framed.into_inner().into_inner());
        });
        let stream = TcpStream::connect(addr).await.unwrap();
        let mut framed = Framed::new(Compat::new(stream), LinesCodec::new_with_max_length(1024));
        let mut answers = Vec::new();
        for line in ["hello", "", "é ∑ minirt", "quit"] {
            framed.send(line.to_owned()).await.unwrap();
            answers.push(framed.next().await.unwrap().unwrap());
        }
        assert!(framed.next().await.is_none(), "the server closed after bye");
        drop(framed.into_inner().into_inner());
        server.await.unwrap();
        assert!(
            tokio::runtime::Handle::try_current().is_err(),
            "no tokio context here"
        );
        answers
    });
    assert_eq!(lines, ["5 hello", "0 ", "13 é ∑ minirt", "bye"]);
    let names = thread_names();
    assert!(
        !names.iter().any(|name| name.starts_with("async-compat")),
        "async-compat started its tokio runtime: threads {names:?}"
    );
}
