//! async-tungstenite on minirt's sockets, which are futures-io streams as it wants: a
//! websocket echo of text, binary, ping and close frames, checked by value, and a server that
//! routes by the handshake's path. (Not through hyper: a hyper upgrade needs `Send` I/O; see
//! `docs/ecosystem.md`.)
use async_tungstenite::WebSocketStream;
use async_tungstenite::tungstenite::client::IntoClientRequest as _;
use async_tungstenite::tungstenite::handshake::server::{ErrorResponse, Request, Response};
use async_tungstenite::tungstenite::http::StatusCode;
use async_tungstenite::tungstenite::{Bytes, Error as WsError, Message};
use futures::StreamExt as _;
use minirt::net::{TcpListener, TcpStream};

/// Sends every message back until the peer closes.
async fn echo<S>(mut ws: WebSocketStream<S>)
where
    S: futures::io::AsyncRead + futures::io::AsyncWrite + Unpin,
{
    while let Some(message) = ws.next().await {
        match message.unwrap() {
            message @ (Message::Text(_) | Message::Binary(_)) => ws.send(message).await.unwrap(),
            Message::Close(_) => break,
            _ => {}
        }
    }
}

/// The client's side: sends text and binary messages, and checks what comes back.
async fn talk<S>(mut ws: WebSocketStream<S>)
where
    S: futures::io::AsyncRead + futures::io::AsyncWrite + Unpin,
{
    let big: Vec<u8> = (0..200_000u32).map(|i| (i * 7 % 251) as u8).collect();
    let sent = [
        Message::text("hello, minirt"),
        Message::binary(big),
        Message::text("é ü ∑"),
    ];
    for message in &sent {
        ws.send(message.clone()).await.unwrap();
        // A ping in between is answered by the server's library, and skipped by ours.
        ws.send(Message::Ping(Bytes::from_static(b"are you there")))
            .await
            .unwrap();
    }
    let mut got = Vec::new();
    while got.len() < sent.len() {
        match ws.next().await.unwrap().unwrap() {
            Message::Pong(payload) => assert_eq!(&payload[..], b"are you there"),
            message => got.push(message),
        }
    }
    assert_eq!(got, sent);
    ws.close(None).await.unwrap();
}

#[test]
fn a_websocket_echo_over_a_minirt_socket() {
    minirt::run(async {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let server = minirt::spawn(async move {
            let (stream, _) = listener.accept().await.unwrap();
            echo(async_tungstenite::accept_async(stream).await.unwrap()).await;
        });
        let stream = TcpStream::connect(addr).await.unwrap();
        let url = format!("ws://{addr}/echo");
        let (ws, response) = async_tungstenite::client_async(url, stream).await.unwrap();
        assert_eq!(response.status(), StatusCode::SWITCHING_PROTOCOLS);
        talk(ws).await;
        server.await.unwrap();
    });
}

/// The server looks at the handshake request (its path and a header) before it accepts, as
/// a server that routes websockets by path would, and refuses the wrong path with a 404.
#[test]
fn the_server_sees_the_request_and_refuses_a_wrong_path() {
    minirt::run(async {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let server = minirt::spawn(async move {
            for _ in 0..2 {
                let (stream, _) = listener.accept().await.unwrap();
                let check = |request: &Request, response: Response| {
                    if request.uri().path() == "/echo" {
                        assert_eq!(request.headers()["x-who"], "minirt test");
                        Ok(response)
                    } else {
                        let mut refusal = ErrorResponse::new(Some("no such path".to_owned()));
                        *refusal.status_mut() = StatusCode::NOT_FOUND;
                        Err(refusal)
                    }
                };
                if let Ok(ws) = async_tungstenite::accept_hdr_async(stream, check).await {
                    echo(ws).await;
                }
            }
        });
        let request = |path: &str| {
            let mut request = format!("ws://{addr}{path}").into_client_request().unwrap();
            request
                .headers_mut()
                .insert("x-who", "minirt test".parse().unwrap());
            request
        };
        let stream = TcpStream::connect(addr).await.unwrap();
        let refused = async_tungstenite::client_async(request("/elsewhere"), stream).await;
        match refused {
            Err(WsError::Http(response)) => assert_eq!(response.status(), StatusCode::NOT_FOUND),
            other => panic!("the wrong path was not refused: {other:?}"),
        }
        let stream = TcpStream::connect(addr).await.unwrap();
        let (ws, _) = async_tungstenite::client_async(request("/echo"), stream)
            .await
            .unwrap();
        talk(ws).await;
        server.await.unwrap();
    });
}
