//! futures-rustls on minirt's sockets: a TLS 1.3 echo of 1 MiB, the server's certificate made
//! here by rcgen and trusted by the client as its only root, read and written at once on split
//! halves. No adapter: minirt's `TcpStream` is a futures-io stream, which is what
//! futures-rustls takes.
mod ecosystem_support;
use std::sync::Arc;

use futures::io::{AsyncReadExt as _, AsyncWriteExt as _};
use futures_rustls::rustls::pki_types::{PrivateKeyDer, PrivatePkcs8KeyDer, ServerName};
use futures_rustls::rustls::{ClientConfig, RootCertStore, ServerConfig};
use futures_rustls::{TlsAcceptor, TlsConnector};
use minirt::net::{TcpListener, TcpStream};

fn pattern(len: usize) -> Vec<u8> {
    ecosystem_support::pattern(0x1234_5679, len)
}

/// A server and a client configuration that trust each other: a self-signed certificate for
/// `localhost`, and a client whose only root is that certificate.
fn configs() -> (Arc<ServerConfig>, Arc<ClientConfig>) {
    let pair = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
    let cert = pair.cert.der().clone();
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(pair.signing_key.serialize_der()));
    let server = ServerConfig::builder()
        .with_no_client_auth()
        .with_single_cert(vec![cert.clone()], key)
        .unwrap();
    let mut roots = RootCertStore::empty();
    roots.add(cert).unwrap();
    let client = ClientConfig::builder()
        .with_root_certificates(roots)
        .with_no_client_auth();
    (Arc::new(server), Arc::new(client))
}

#[test]
fn a_mebibyte_echoed_over_tls() {
    let (server_config, client_config) = configs();
    let data = pattern(1 << 20);
    let (back, version) = minirt::run(async move {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let acceptor = TlsAcceptor::from(server_config);
        // The server echoes until the client closes: its halves copy from one to the other.
        let server = minirt::spawn(async move {
            let (stream, _) = listener.accept().await.unwrap();
            let tls = acceptor.accept(stream).await.unwrap();
            let (reader, mut writer) = tls.split();
            let copied = futures::io::copy(reader, &mut writer).await.unwrap();
            writer.close().await.unwrap();
            copied
        });
        let stream = TcpStream::connect(addr).await.unwrap();
        let name = ServerName::try_from("localhost").unwrap();
        let tls = TlsConnector::from(client_config)
            .connect(name, stream)
            .await
            .unwrap();
        let version = tls.get_ref().1.protocol_version();
        let (mut reader, mut writer) = tls.split();
        // Write and read at once, as two tasks: neither side's buffers need hold it all.
        let writing = minirt::spawn(async move {
            writer.write_all(&data).await.unwrap();
            writer.close().await.unwrap();
        });
        let mut back = Vec::new();
        reader.read_to_end(&mut back).await.unwrap();
        writing.await.unwrap();
        assert_eq!(server.await.unwrap(), 1 << 20, "the server saw every byte");
        (back, version)
    });
    assert!(back == pattern(1 << 20), "the echo came back intact");
    assert_eq!(
        version,
        Some(futures_rustls::rustls::ProtocolVersion::TLSv1_3)
    );
}

#[test]
fn a_client_that_does_not_trust_the_certificate_is_refused() {
    let (server_config, _) = configs();
    let (_, stranger) = configs(); // trusts another self-signed certificate only
    minirt::run(async move {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let acceptor = TlsAcceptor::from(server_config);
        let server = minirt::spawn(async move {
            let (stream, _) = listener.accept().await.unwrap();
            acceptor.accept(stream).await.is_err()
        });
        let stream = TcpStream::connect(addr).await.unwrap();
        let name = ServerName::try_from("localhost").unwrap();
        let error = TlsConnector::from(stranger)
            .connect(name, stream)
            .await
            .unwrap_err();
        assert!(error.to_string().contains("certificate"), "{error}");
        assert!(server.await.unwrap(), "the server saw the handshake fail");
    });
}
