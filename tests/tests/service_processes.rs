//! The word-count example service (`crates/weir/examples/word_count.rs`)
//! as a child process: a graceful stop on SIGTERM finishes the requests in
//! flight and exits 0; bad arguments and unusable brokers exit non-zero
//! with a message.

use std::net::SocketAddr;
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use weir::service::RequestClient;
use weir_redis::RedisBroker;
use weir_testkit::servers::free_port;
use weir_testkit::servers::redis::RedisServer;
use weir_testkit::unique_name;

fn word_count() -> Command {
    Command::new(env!("CARGO_BIN_EXE_word_count"))
}

/// The child, killed if the test fails before it exits.
struct Service(Child);

impl Drop for Service {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

impl Service {
    fn terminate(&self) {
        let status = Command::new("kill")
            .args(["-TERM", &self.0.id().to_string()])
            .status()
            .expect("kill runs");
        assert!(status.success(), "SIGTERM sent");
    }

    async fn exit_status(&mut self, within: Duration) -> ExitStatus {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            if let Some(status) = self.0.try_wait().expect("try_wait") {
                return status;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "the service did not exit within {within:?}"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

/// GETs `path`: the status and the whole response.
async fn get(addr: SocketAddr, path: &str) -> Option<(u16, String)> {
    let mut s = tokio::net::TcpStream::connect(addr).await.ok()?;
    s.write_all(format!("GET {path} HTTP/1.0\r\n\r\n").as_bytes())
        .await
        .ok()?;
    let mut raw = String::new();
    s.read_to_string(&mut raw).await.ok()?;
    Some((raw.split_whitespace().nth(1)?.parse().ok()?, raw))
}

async fn healthz(addr: SocketAddr) -> Option<u16> {
    get(addr, "/healthz").await.map(|(status, _)| status)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_finishes_the_requests_in_flight_and_exits_zero() {
    let server = RedisServer::start();
    let topic = unique_name("word-count");
    let metrics: SocketAddr = format!("127.0.0.1:{}", free_port())
        .parse()
        .expect("an address");
    let mut service = Service(
        word_count()
            .args(["--broker", &server.url(), "--topic", &topic])
            .args(["--config-topic", &unique_name("config")])
            .args(["--metrics-addr", &metrics.to_string()])
            .args([
                "--work-ms",
                "700",
                "--concurrency",
                "16",
                "--log-level",
                "warn",
            ])
            .stdout(Stdio::null())
            .spawn()
            .expect("the word-count example starts"),
    );
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while healthz(metrics).await != Some(200) {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the service never became healthy"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let broker = RedisBroker::connect_url(&server.url())
        .await
        .expect("redis answers");
    let client = RequestClient::<String, u64>::builder("process-test", topic.as_str())
        .timeout(Duration::from_secs(20))
        .connect(&broker)
        .await
        .expect("the client connects");
    let texts: Vec<String> = (1..=12).map(|n| vec!["word"; n].join(" ")).collect();
    let asking = tokio::spawn({
        let (client, texts) = (client.clone(), texts.clone());
        async move {
            let asks = texts.iter().map(|t| client.request(t));
            futures::future::join_all(asks).await
        }
    });
    // The handler takes 700 ms: the stop lands while all twelve run.
    tokio::time::sleep(Duration::from_millis(300)).await;
    service.terminate();
    let answers = asking.await.expect("the requests end");
    for (n, answer) in answers.into_iter().enumerate() {
        assert_eq!(
            answer.expect("answered before the service stopped"),
            n as u64 + 1
        );
    }
    let status = service.exit_status(Duration::from_secs(20)).await;
    assert_eq!(status.code(), Some(0), "a graceful stop exits 0: {status}");
    client.close().await;
}

fn run(args: &[&str]) -> Output {
    word_count()
        .args(args)
        .args(["--metrics-addr", &format!("127.0.0.1:{}", free_port())])
        .output()
        .expect("the word-count example runs")
}

#[test]
fn bad_arguments_exit_2_with_a_message() {
    let out = run(&["--concurrency", "0"]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("--concurrency"), "{err}");
    let out = run(&["--log-format", "xml"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--log-format"));
}

#[test]
fn an_unusable_broker_exits_1_with_a_message() {
    let out = run(&["--broker", "amqp://127.0.0.1:5672"]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("cannot use broker `amqp://127.0.0.1:5672`: unknown scheme"),
        "{err}"
    );
    // Nothing listens there: the connection is refused (the client retries
    // for its bounded connect time, about 10 s).
    let url = format!("redis://127.0.0.1:{}", free_port());
    let out = run(&["--broker", &url]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(&format!("connecting to {url} failed")),
        "{err}"
    );
    assert!(err.contains("unreachable"), "{err}");
}
