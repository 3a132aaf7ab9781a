//! tokio-postgres on minirt: a minirt socket made into a tokio-io stream by
//! `tokio_util::compat`, handed to `Config::connect_raw`, and the connection driven as a minirt
//! task. No tokio runtime is started: tokio-postgres only needs tokio's I/O traits.
//!
//! Needs a PostgreSQL server: `MINIRT_TEST_PG_URL` (`bash .ci/postgres` prints one, and
//! `.ci/run` sets it). Without it the tests say so and pass, as `example_log_collector`'s do.
use std::io::Write as _;
use std::net::{IpAddr, SocketAddr};

use minirt::net::TcpStream;
use tokio_postgres::NoTls;
use tokio_postgres::config::Host;
use tokio_util::compat::FuturesAsyncReadCompatExt as _;

/// The server's URL, or `None` (and a note on stderr) when there is none to test against.
fn server_url(test: &str) -> Option<String> {
    match std::env::var("MINIRT_TEST_PG_URL") {
        Ok(url) if !url.is_empty() => Some(url),
        _ => {
            let reason = format!(
                "{test}: skipped: MINIRT_TEST_PG_URL is not set, so there is no PostgreSQL \
                 server to test against (`.ci/postgres` starts one)\n"
            );
            let _ = std::io::stderr().write_all(reason.as_bytes());
            None
        }
    }
}

/// Connects as the URL says, over a minirt socket (an IP address: no DNS on the loop).
async fn connect(url: &str) -> tokio_postgres::Client {
    let config: tokio_postgres::Config = url.parse().unwrap();
    let ip = match &config.get_hosts()[0] {
        Host::Tcp(host) if host == "localhost" => IpAddr::from([127, 0, 0, 1]),
        Host::Tcp(host) => host
            .parse()
            .expect("the test wants an IP address in the URL"),
        Host::Unix(_) => panic!("the test wants a TCP URL"),
    };
    let port = config.get_ports().first().copied().unwrap_or(5432);
    let stream = TcpStream::connect(SocketAddr::new(ip, port)).await.unwrap();
    let (client, connection) = config.connect_raw(stream.compat(), NoTls).await.unwrap();
    drop(minirt::spawn(async move {
        if let Err(e) = connection.await {
            panic!("the connection failed: {e}");
        }
    }));
    client
}

#[test]
fn queries_with_parameters_a_transaction_and_pipelining() {
    let Some(url) = server_url("queries_with_parameters_a_transaction_and_pipelining") else {
        return;
    };
    minirt::run(async move {
        let mut client = connect(&url).await;
        client
            .batch_execute(
                "CREATE TEMPORARY TABLE eco (id INT PRIMARY KEY, name TEXT, score FLOAT8)",
            )
            .await
            .unwrap();
        let insert = client
            .prepare("INSERT INTO eco (id, name, score) VALUES ($1, $2, $3)")
            .await
            .unwrap();
        for id in 0..20i32 {
            let name = format!("row-{id}-é");
            let score = f64::from(id) * 1.5;
            client
                .execute(&insert, &[&id, &name, &score])
                .await
                .unwrap();
        }
        // A transaction rolled back leaves nothing behind.
        let transaction = client.transaction().await.unwrap();
        transaction
            .execute("DELETE FROM eco WHERE id < 10", &[])
            .await
            .unwrap();
        transaction.rollback().await.unwrap();
        // Twenty queries at once on one connection: tokio-postgres pipelines them.
        let client = &client;
        let lookups = (0..20i32).map(|id| async move {
            let row = client
                .query_one("SELECT name, score FROM eco WHERE id = $1", &[&id])
                .await
                .unwrap();
            (id, row.get::<_, String>(0), row.get::<_, f64>(1))
        });
        for (id, name, score) in minirt::join_all(lookups).await {
            assert_eq!(name, format!("row-{id}-é"));
            assert_eq!(score, f64::from(id) * 1.5);
        }
        let total: i64 = client
            .query_one("SELECT count(*) FROM eco", &[])
            .await
            .unwrap()
            .get(0);
        assert_eq!(total, 20);
        // An error is an error value, and the connection goes on.
        let error = client
            .query("SELECT * FROM nowhere", &[])
            .await
            .unwrap_err();
        let message = error
            .as_db_error()
            .expect("an error from the server")
            .message();
        assert!(message.contains("\"nowhere\" does not exist"), "{message}");
        let one: i32 = client.query_one("SELECT 1", &[]).await.unwrap().get(0);
        assert_eq!(one, 1);
    });
}
