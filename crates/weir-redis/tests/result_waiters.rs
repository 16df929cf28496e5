//! Waiting for results: every waiter of a broker shares one pub/sub
//! connection, one announcement wakes the waiters of every id a pipeline
//! stored, and an id given up and watched again at once still wakes.

use std::time::Duration;

use bytes::Bytes;
use weir_core::capability::ResultStore;
use weir_redis::{RedisBroker, RedisConfig};
use weir_testkit::servers::redis::RedisServer;

/// The server's `INFO section`.
async fn info(url: &str, section: &str) -> String {
    let client = redis::Client::open(url).expect("client");
    let mut conn = client
        .get_multiplexed_async_connection()
        .await
        .expect("connect");
    redis::cmd("INFO")
        .arg(section)
        .query_async(&mut conn)
        .await
        .expect("info")
}

async fn connected_clients(url: &str) -> u64 {
    info(url, "clients")
        .await
        .lines()
        .find_map(|l| l.strip_prefix("connected_clients:"))
        .and_then(|n| n.trim().parse().ok())
        .expect("connected_clients")
}

/// How many `PUBLISH` commands the server has run.
async fn publishes(url: &str) -> u64 {
    info(url, "commandstats")
        .await
        .lines()
        .find_map(|l| l.strip_prefix("cmdstat_publish:calls="))
        .and_then(|rest| rest.split(',').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_waiters_share_one_connection_and_all_get_their_result() {
    let server = RedisServer::start();
    let config = RedisConfig::builder(server.url()).build().expect("config");
    let broker = RedisBroker::connect(config).await.expect("connect");
    let before = connected_clients(&server.url()).await;
    let waiters: Vec<_> = (0..200)
        .map(|i| {
            let b = broker.clone();
            tokio::spawn(async move {
                b.wait_result(&format!("job-{i}"), Duration::from_secs(10))
                    .await
                    .expect("wait")
            })
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let during = connected_clients(&server.url()).await;
    assert!(
        during <= before + 2,
        "200 waiters opened {} connections",
        during - before
    );
    let entries: Vec<(String, Bytes)> = (0..200)
        .map(|i| (format!("job-{i}"), Bytes::from(format!("r{i}"))))
        .collect();
    let before = publishes(&server.url()).await;
    broker
        .put_results(&entries, Duration::from_secs(60))
        .await
        .expect("put");
    assert_eq!(
        publishes(&server.url()).await - before,
        1,
        "one announcement for the whole pipeline"
    );
    for (i, w) in waiters.into_iter().enumerate() {
        let got = tokio::time::timeout(Duration::from_secs(5), w)
            .await
            .expect("woken by the announcement, not by the timeout")
            .expect("waiter");
        assert_eq!(got, Some(Bytes::from(format!("r{i}"))));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_id_watched_again_right_after_it_was_given_up_still_wakes() {
    let server = RedisServer::start();
    let config = RedisConfig::builder(server.url()).build().expect("config");
    let broker = RedisBroker::connect(config).await.expect("connect");
    for round in 0..20 {
        let id = format!("again-{round}");
        // A first waiter gives up at once, a second starts right after.
        let none = broker
            .wait_result(&id, Duration::from_millis(1))
            .await
            .expect("wait");
        assert_eq!(none, None);
        let waiter = {
            let (b, id) = (broker.clone(), id.clone());
            tokio::spawn(async move { b.wait_result(&id, Duration::from_secs(10)).await })
        };
        tokio::time::sleep(Duration::from_millis(20)).await;
        broker
            .put_result(&id, Bytes::from("done"), Duration::from_secs(60))
            .await
            .expect("put");
        let got = tokio::time::timeout(Duration::from_secs(3), waiter)
            .await
            .expect("woken by the announcement, not by the timeout")
            .expect("waiter")
            .expect("wait");
        assert_eq!(got, Some(Bytes::from("done")));
    }
}
