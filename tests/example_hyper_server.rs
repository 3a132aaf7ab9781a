//! Runs `examples/hyper_server` and asks it with real `curl`: HTTP/1.1, HTTP/2 with prior
//! knowledge (h2c), and HTTPS with a self-signed certificate made here by rcgen (h2 by ALPN,
//! and HTTP/1.1). Skipped, with a message, where `curl` is not installed. The header timeout
//! and the body limit are checked over plain TCP.
mod ecosystem_support;
mod example_support;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use example_support::Running;

const WAIT: Duration = Duration::from_secs(20);

fn start(args: &[&str]) -> (Running, String) {
    let mut server = example_support::start("hyper_server", args);
    let line = server.wait_for_line("listening on ", WAIT);
    let addr = line.trim_start_matches("listening on ").trim().to_owned();
    (server, addr)
}

fn have_curl() -> bool {
    let found = Command::new("curl").arg("--version").output().is_ok();
    if !found {
        eprintln!("example_hyper_server: curl is not installed; skipping the curl checks");
    }
    found
}

/// Runs curl with `args` (and a time limit), returning stdout; panics on failure.
fn curl(args: &[&str]) -> String {
    let Output {
        status,
        stdout,
        stderr,
    } = Command::new("curl")
        .args(["--silent", "--show-error", "--max-time", "20"])
        .args(args)
        .output()
        .expect("run curl");
    assert!(
        status.success(),
        "curl {args:?} failed: {}",
        String::from_utf8_lossy(&stderr)
    );
    String::from_utf8(stdout).unwrap()
}

/// A scratch directory of this test's own under cargo's tmp dir.
fn scratch(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!(
        "example_hyper_server-{name}-{}",
        std::process::id()
    ));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn pattern(len: usize) -> Vec<u8> {
    ecosystem_support::pattern(0x2545_f491, len)
}

#[test]
fn curl_gets_hello_over_http1_and_h2c_on_one_port() {
    if !have_curl() {
        return;
    }
    let (_server, addr) = start(&["--addr", "127.0.0.1:0"]);
    let url = format!("http://{addr}/");
    let format = ["--write-out", "|%{http_version} %{http_code}"];
    assert_eq!(
        curl(&[&url, format[0], format[1]]),
        "Hello, World\n|1.1 200"
    );
    assert_eq!(
        curl(&["--http2-prior-knowledge", &url, format[0], format[1]]),
        "Hello, World\n|2 200"
    );
    let missing = format!("http://{addr}/nowhere");
    assert_eq!(
        curl(&[&missing, format[0], format[1]]),
        "not found\n|1.1 404"
    );
}

#[test]
fn curl_gets_hello_over_tls_with_a_self_signed_certificate() {
    if !have_curl() {
        return;
    }
    let dir = scratch("tls");
    let pair = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
    let (cert, key) = (dir.join("cert.pem"), dir.join("key.pem"));
    std::fs::write(&cert, pair.cert.pem()).unwrap();
    std::fs::write(&key, pair.signing_key.serialize_pem()).unwrap();
    let (_server, addr) = start(&[
        "--addr",
        "127.0.0.1:0",
        "--tls",
        cert.to_str().unwrap(),
        key.to_str().unwrap(),
    ]);
    let port = addr.rsplit(':').next().unwrap();
    let url = format!("https://127.0.0.1:{port}/");
    let format = ["--write-out", "|%{http_version} %{http_code}"];
    // -k: curl does not check the certificate. h2 is chosen by ALPN.
    assert_eq!(
        curl(&["-k", &url, format[0], format[1]]),
        "Hello, World\n|2 200"
    );
    assert_eq!(
        curl(&["-k", "--http1.1", &url, format[0], format[1]]),
        "Hello, World\n|1.1 200"
    );
    // And with the certificate trusted, by its name: the server sends the pair it was given.
    let resolve = format!("localhost:{port}:127.0.0.1");
    let named = format!("https://localhost:{port}/");
    let cacert = cert.to_str().unwrap();
    assert_eq!(
        curl(&["--cacert", cacert, "--resolve", &resolve, &named]),
        "Hello, World\n"
    );
    // A body both ways over TLS and h2.
    let body = dir.join("body");
    let data = pattern(300_000);
    std::fs::write(&body, &data).unwrap();
    let echoed = dir.join("echoed");
    let upload = format!("@{}", body.display());
    let echo = format!("https://127.0.0.1:{port}/echo");
    curl(&[
        "-k",
        "--data-binary",
        &upload,
        "-o",
        echoed.to_str().unwrap(),
        &echo,
    ]);
    assert!(
        std::fs::read(&echoed).unwrap() == data,
        "the echo came back intact"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn curl_echoes_a_body_and_the_server_refuses_one_too_large() {
    if !have_curl() {
        return;
    }
    let dir = scratch("echo");
    let (_server, addr) = start(&["--addr", "127.0.0.1:0"]);
    let echo = format!("http://{addr}/echo");
    for (len, h2) in [(1 << 20, false), (1 << 20, true)] {
        let data = pattern(len);
        let (body, echoed) = (dir.join("body"), dir.join("echoed"));
        std::fs::write(&body, &data).unwrap();
        let upload = format!("@{}", body.display());
        let mut args = vec![
            "--data-binary",
            &upload,
            "-o",
            echoed.to_str().unwrap(),
            &echo,
        ];
        if h2 {
            args.push("--http2-prior-knowledge");
        }
        curl(&args);
        assert!(
            std::fs::read(&echoed).unwrap() == data,
            "1 MiB came back (h2: {h2})"
        );
    }
    let too_big = dir.join("too_big");
    std::fs::write(&too_big, pattern((1 << 20) + 1)).unwrap();
    let upload = format!("@{}", too_big.display());
    let code = curl(&[
        "--data-binary",
        &upload,
        "-o",
        "/dev/null",
        "-w",
        "%{http_code}",
        &echo,
    ]);
    assert_eq!(code, "413");
    let _ = std::fs::remove_dir_all(&dir);
}

/// Clients that stop halfway through a request head, or send nothing, or only the start of
/// HTTP/2's preface (before the protocol can be told), are cut off by the header timeout.
#[test]
fn a_client_that_stops_midway_through_a_head_is_cut_off() {
    let (_server, addr) = start(&["--addr", "127.0.0.1:0", "--header-timeout-secs", "1"]);
    let sent: [&[u8]; 3] = [b"GET / HTTP/1.1\r\nHost: x\r\n", b"", b"PRI * HTTP/2"];
    for sent in sent {
        let mut stream = TcpStream::connect(&addr).unwrap();
        stream.set_read_timeout(Some(WAIT)).unwrap();
        stream.write_all(sent).unwrap();
        let start = Instant::now();
        let mut reply = Vec::new();
        // A read error (the timeout) leaves `reply` as it was; the assertion below tells why.
        let _ = stream.read_to_end(&mut reply);
        let waited = start.elapsed();
        let sent = String::from_utf8_lossy(sent);
        assert!(
            waited < WAIT,
            "the server kept a client that sent {sent:?} for {waited:?}"
        );
        let reply = String::from_utf8_lossy(&reply);
        assert!(
            reply.is_empty() || reply.starts_with("HTTP/1.1 408"),
            "{reply:?}"
        );
    }

    // A client that sends its head in time is answered on the same server.
    let mut stream = TcpStream::connect(&addr).unwrap();
    stream.set_read_timeout(Some(WAIT)).unwrap();
    stream
        .write_all(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .unwrap();
    let mut reply = String::new();
    stream.read_to_string(&mut reply).unwrap();
    assert!(reply.starts_with("HTTP/1.1 200 OK\r\n"), "{reply:?}");
    assert!(reply.ends_with("\r\n\r\nHello, World\n"), "{reply:?}");
}

/// A client that opens a TLS connection and never says hello is cut off at the handshake
/// deadline, and the server goes on serving.
#[test]
fn a_tls_client_that_never_says_hello_is_cut_off() {
    let dir = scratch("silent");
    let pair = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
    let (cert, key) = (dir.join("cert.pem"), dir.join("key.pem"));
    std::fs::write(&cert, pair.cert.pem()).unwrap();
    std::fs::write(&key, pair.signing_key.serialize_pem()).unwrap();
    let (cert, key) = (cert.to_str().unwrap(), key.to_str().unwrap());
    let args = [
        "--addr",
        "127.0.0.1:0",
        "--tls",
        cert,
        key,
        "--handshake-timeout-secs",
        "1",
    ];
    let (_server, addr) = start(&args);
    let mut silent = TcpStream::connect(&addr).unwrap();
    silent.set_read_timeout(Some(WAIT)).unwrap();
    let start = Instant::now();
    let mut reply = Vec::new();
    let _ = silent.read_to_end(&mut reply);
    assert!(
        start.elapsed() < WAIT,
        "the silent client was never cut off"
    );
    assert!(reply.is_empty(), "{reply:?}");
    // The server goes on: a real TLS client is answered.
    if have_curl() {
        let port = addr.rsplit(':').next().unwrap();
        let url = format!("https://127.0.0.1:{port}/");
        assert_eq!(curl(&["-k", &url]), "Hello, World\n");
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// Past `--max-connections`, a new client waits; it is served once a place is free again.
#[test]
fn a_client_past_the_cap_waits_for_a_place() {
    let args = [
        "--addr",
        "127.0.0.1:0",
        "--max-connections",
        "1",
        "--header-timeout-secs",
        "1",
    ];
    let (_server, addr) = start(&args);
    let idle = TcpStream::connect(&addr).unwrap(); // holds the one place until its timeout
    let mut next = TcpStream::connect(&addr).unwrap();
    next.set_read_timeout(Some(WAIT)).unwrap();
    next.write_all(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .unwrap();
    let mut reply = String::new();
    next.read_to_string(&mut reply).unwrap();
    assert!(reply.ends_with("\r\n\r\nHello, World\n"), "{reply:?}");
    drop(idle);
}

#[test]
fn ctrl_c_stops_it() {
    let (server, _addr) = start(&["--addr", "127.0.0.1:0"]);
    server.interrupt();
    let (status, _) = server.wait_exit(WAIT);
    assert!(status.success(), "{status:?}");
}

#[test]
fn bad_arguments_are_refused_with_usage() {
    let path = example_support::example_path("hyper_server");
    for args in [
        &["--tls", "/nonexistent/cert.pem", "/nonexistent/key.pem"][..],
        &["--header-timeout-secs", "soon"][..],
        &["--frobnicate"][..],
    ] {
        let out = Command::new(&path).args(args).output().unwrap();
        assert!(!out.status.success(), "{args:?} was accepted");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.starts_with("hyper_server: "), "{args:?}: {stderr}");
    }
}
