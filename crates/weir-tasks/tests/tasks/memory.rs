//! Scenarios on the memory broker with tokio's clock paused: delays,
//! backoffs, timeouts and shutdowns take no real time.

use std::time::{Duration, SystemTime};

use weir_memory::MemoryBroker;
use weir_tasks::{Duplicates, EventFilter, EventKind, Job, Priority, TaskError, TaskState, Tasks};

use crate::support::{WAIT, log, router, runs, start};

fn tasks() -> Tasks<MemoryBroker> {
    Tasks::new(MemoryBroker::new())
}

#[tokio::test(start_paused = true)]
async fn failed_attempts_are_retried_after_their_backoff_then_succeed() {
    let tasks = tasks();
    let log = log();
    let worker = start(&tasks, router(&log), |w| w).await;
    let t0 = tokio::time::Instant::now();
    let handle = tasks
        .enqueue(Job::new("flaky").args(3u32).retries(5))
        .await
        .expect("enqueue");
    let attempt: u32 = handle
        .wait_timeout(Duration::from_secs(600))
        .await
        .expect("success");
    assert_eq!(attempt, 3);
    let attempts: Vec<(u32, Duration)> = runs(&log, "flaky")
        .into_iter()
        .map(|(_, a, at)| (a, at - t0))
        .collect();
    assert_eq!(attempts.len(), 3, "{attempts:?}");
    // Backoff 10 s, then 50 s (min 10 s, multiplier 5), waited in the delayed store.
    let gap1 = attempts[1].1 - attempts[0].1;
    let gap2 = attempts[2].1 - attempts[1].1;
    assert!(
        gap1 >= Duration::from_secs(10) && gap1 < Duration::from_secs(11),
        "{gap1:?}"
    );
    assert!(
        gap2 >= Duration::from_secs(50) && gap2 < Duration::from_secs(51),
        "{gap2:?}"
    );
    let record = handle.record().await.expect("record").expect("kept");
    assert_eq!(record.errors, vec!["attempt 1 failed", "attempt 2 failed"]);
    let stats = worker.stop().await;
    assert_eq!((stats.failed, stats.retried, stats.succeeded), (2, 2, 1));
}

#[tokio::test(start_paused = true)]
async fn a_timed_out_attempt_is_a_failure_and_is_retried() {
    let tasks = tasks();
    let log = log();
    let worker = start(&tasks, router(&log), |w| w).await;
    let handle = tasks
        .enqueue(
            Job::new("sleep")
                .args(5_000u64)
                .timeout(Duration::from_secs(1))
                .retries(1),
        )
        .await
        .expect("enqueue");
    let err = handle
        .wait_timeout::<u64>(Duration::from_secs(120))
        .await
        .expect_err("every attempt times out");
    let TaskError::Failed {
        errors, attempts, ..
    } = err
    else {
        panic!("a failure, got {err:?}")
    };
    assert_eq!(attempts, 2);
    assert!(
        errors.iter().all(|e| e.contains("timed out after 1s")),
        "{errors:?}"
    );
    let stats = worker.stop().await;
    assert_eq!(
        (stats.failed, stats.retried, stats.dead_lettered),
        (2, 1, 1)
    );
}

#[tokio::test(start_paused = true)]
async fn a_unique_id_is_refused_while_its_job_is_unfinished() {
    let tasks = tasks();
    tasks.queue("default").declare().await.expect("declare");
    let first = tasks
        .enqueue(Job::new("add").args((1i64, 2i64)).id("invoice-7"))
        .await
        .expect("the first");
    let again = tasks
        .enqueue(Job::new("add").args((1i64, 2i64)).id("invoice-7"))
        .await;
    assert!(
        matches!(&again, Err(TaskError::Duplicate { id, .. }) if id.as_str() == "invoice-7"),
        "{again:?}"
    );
    let log = log();
    let worker = start(&tasks, router(&log), |w| w).await;
    assert_eq!(first.wait_timeout::<i64>(WAIT).await.expect("sum"), 3);
    // Ended: the id may be used again, and that is a new run.
    let second = tasks
        .enqueue(Job::new("add").args((5i64, 5i64)).id("invoice-7"))
        .await
        .expect("the id is free again");
    assert_eq!(second.wait_timeout::<i64>(WAIT).await.expect("sum"), 10);
    assert_eq!(runs(&log, "add").len(), 2);
    worker.stop().await;
}

#[tokio::test(start_paused = true)]
async fn a_duplicate_unique_job_can_be_ignored() {
    let tasks = Tasks::builder(MemoryBroker::new())
        .duplicates(Duplicates::Ignore)
        .auto_declare(true)
        .build();
    let first = tasks
        .enqueue(Job::new("add").args((1i64, 2i64)).id("once"))
        .await
        .expect("the first");
    let again = tasks
        .enqueue(Job::new("add").args((9i64, 9i64)).id("once"))
        .await
        .expect("ignored, not refused");
    assert_eq!(again.id(), first.id());
    let log = log();
    let worker = start(&tasks, router(&log), |w| w).await;
    assert_eq!(
        again
            .wait_timeout::<i64>(WAIT)
            .await
            .expect("the first's sum"),
        3
    );
    let stats = worker.stop().await;
    assert_eq!(stats.processed, 1);
}

#[tokio::test(start_paused = true)]
async fn delayed_and_scheduled_jobs_wait_for_their_time() {
    let tasks = tasks();
    let log = log();
    let worker = start(&tasks, router(&log), |w| w).await;
    let t0 = tokio::time::Instant::now();
    let delayed = tasks
        .enqueue(
            Job::new("add")
                .args((1i64, 1i64))
                .delay(Duration::from_secs(30)),
        )
        .await
        .expect("enqueue");
    let at = tasks
        .enqueue(
            Job::new("add")
                .args((2i64, 2i64))
                .run_at(SystemTime::now() + Duration::from_secs(90)),
        )
        .await
        .expect("enqueue");
    tokio::time::sleep(Duration::from_secs(29)).await;
    assert_eq!(delayed.state().await.expect("state"), TaskState::Queued);
    assert_eq!(delayed.wait_timeout::<i64>(WAIT).await.expect("sum"), 2);
    assert_eq!(
        at.wait_timeout::<i64>(Duration::from_secs(120))
            .await
            .expect("sum"),
        4
    );
    let times: Vec<Duration> = runs(&log, "add")
        .into_iter()
        .map(|(.., t)| t - t0)
        .collect();
    assert!(
        times[0] >= Duration::from_secs(30) && times[0] < Duration::from_secs(31),
        "{times:?}"
    );
    assert!(
        times[1] >= Duration::from_secs(90) && times[1] < Duration::from_secs(91),
        "{times:?}"
    );
    worker.stop().await;
}

#[tokio::test(start_paused = true)]
async fn high_priority_jobs_run_before_low_ones_under_load() {
    let tasks = tasks();
    tasks.queue("default").declare().await.expect("declare");
    let low = tasks
        .enqueue_many((0..20i64).map(|i| Job::new("add").args((i, 0i64)).priority(Priority::Low)))
        .await
        .expect("enqueue");
    let high = tasks
        .enqueue_many((0..20i64).map(|i| Job::new("add").args((i, 0i64)).priority(Priority::High)))
        .await
        .expect("enqueue");
    let high_ids: Vec<String> = high
        .iter()
        .map(|h| h.as_ref().expect("queued").id().to_string())
        .collect();
    let log = log();
    let worker = start(&tasks, router(&log), |w| {
        w.concurrency(1).messages_limit(40)
    })
    .await;
    let stats = worker.finished().await;
    assert_eq!(stats.succeeded, 40);
    let order: Vec<bool> = runs(&log, "add")
        .into_iter()
        .map(|(id, ..)| high_ids.contains(&id))
        .collect();
    let early_high = order[..14].iter().filter(|h| **h).count();
    // Weights 6 : 1 between high and low while both have work.
    assert!(
        early_high >= 11,
        "of the first 14 run, {early_high} were high: {order:?}"
    );
    drop(low);
}

#[tokio::test(start_paused = true)]
async fn graceful_shutdown_returns_unfinished_jobs_without_counting_a_retry() {
    let tasks = tasks();
    let log = log();
    let worker = start(&tasks, router(&log), |w| {
        w.graceful_shutdown_time(Duration::from_secs(2))
    })
    .await;
    let quick = tasks
        .enqueue(Job::new("sleep").args(1_000u64))
        .await
        .expect("enqueue");
    let slow = tasks
        .enqueue(Job::new("sleep").args(60_000u64).retries(0))
        .await
        .expect("enqueue");
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(slow.state().await.expect("state"), TaskState::Started);
    let stats = worker.stop().await;
    assert_eq!(
        (
            stats.succeeded,
            stats.interrupted,
            stats.failed,
            stats.retried
        ),
        (1, 1, 0, 0)
    );
    assert_eq!(
        quick.state().await.expect("state"),
        TaskState::Success,
        "finished within the grace"
    );
    tokio::task::yield_now().await;
    assert_eq!(
        slow.state().await.expect("state"),
        TaskState::Queued,
        "back in the queue"
    );
    // The next worker runs it, as the same first attempt.
    let next = start(&tasks, router(&log), |w| w).await;
    assert_eq!(
        slow.wait_timeout::<u64>(Duration::from_secs(120))
            .await
            .expect("done"),
        60_000
    );
    let record = slow.record().await.expect("record").expect("kept");
    assert_eq!((record.attempt, record.errors.len()), (1, 0));
    next.stop().await;
}

#[tokio::test(start_paused = true)]
async fn the_messages_limit_stops_the_worker_and_leaves_the_rest_queued() {
    let tasks = tasks();
    tasks.queue("default").declare().await.expect("declare");
    let handles: Vec<_> = tasks
        .enqueue_many((0..10i64).map(|i| Job::new("add").args((i, i))))
        .await
        .expect("enqueue")
        .into_iter()
        .map(|h| h.expect("queued"))
        .collect();
    let log = log();
    let stats = start(&tasks, router(&log), |w| w.concurrency(2).messages_limit(4))
        .await
        .finished()
        .await;
    assert_eq!((stats.processed, stats.succeeded), (4, 4));
    let stats = start(&tasks, router(&log), |w| w.messages_limit(6))
        .await
        .finished()
        .await;
    assert_eq!(
        stats.succeeded, 6,
        "the next worker takes the rest, none twice"
    );
    for h in handles {
        assert_eq!(h.state().await.expect("state"), TaskState::Success);
    }
    assert_eq!(runs(&log, "add").len(), 10);
}

#[tokio::test(start_paused = true)]
async fn a_child_job_records_its_parent() {
    let tasks = tasks();
    let log = log();
    let worker = start(&tasks, router(&log), |w| w).await;
    let parent = tasks
        .enqueue(Job::new("parent").args((3i64, 4i64)))
        .await
        .expect("enqueue");
    let child_id: weir_tasks::TaskId = parent.wait_timeout(WAIT).await.expect("the child's id");
    let child = tasks.handle(child_id);
    assert_eq!(child.wait_timeout::<i64>(WAIT).await.expect("sum"), 7);
    let record = child.record().await.expect("record").expect("kept");
    assert_eq!(record.parent.as_ref(), Some(parent.id()));
    worker.stop().await;
}

#[tokio::test(start_paused = true)]
async fn execute_runs_a_job_here_without_a_queue() {
    let tasks = tasks();
    let log = log();
    let router = router(&log);
    let handle = tasks
        .execute(
            &router,
            Job::new("add").args((5i64, 6i64)).queue("never-declared"),
        )
        .await
        .expect("run here");
    assert_eq!(handle.wait_timeout::<i64>(WAIT).await.expect("sum"), 11);
    let blocking = tasks
        .execute(&router, Job::new("checksum").args(vec![1u8, 2, 3]))
        .await
        .expect("run here");
    assert_eq!(blocking.wait_timeout::<u64>(WAIT).await.expect("sum"), 6);
    let failed = tasks.execute(&router, Job::new("fail")).await.expect("ran");
    assert_eq!(failed.state().await.expect("state"), TaskState::Failure);
    assert!(matches!(
        tasks.execute(&router, Job::new("nobody")).await,
        Err(TaskError::UnknownActor { actor }) if actor == "nobody"
    ));
}

#[tokio::test(start_paused = true)]
async fn a_blocking_actor_runs_on_the_blocking_pool() {
    let tasks = tasks();
    let log = log();
    let worker = start(&tasks, router(&log), |w| w).await;
    let handle = tasks
        .enqueue(Job::new("checksum").args(vec![10u8, 20, 30]))
        .await
        .expect("enqueue");
    assert_eq!(handle.wait_timeout::<u64>(WAIT).await.expect("sum"), 60);
    worker.stop().await;
}

#[tokio::test(start_paused = true)]
async fn enqueueing_to_an_undeclared_queue_names_it_unless_auto_declared() {
    let tasks = tasks();
    let err = tasks
        .enqueue(Job::new("add").queue("reports"))
        .await
        .expect_err("not declared");
    assert!(
        matches!(&err, TaskError::UndeclaredQueue { queue } if queue == "reports"),
        "{err:?}"
    );
    assert!(err.to_string().contains("`reports`"));
    let auto = Tasks::builder(tasks.broker().clone())
        .auto_declare(true)
        .build();
    auto.enqueue(Job::new("add").queue("reports"))
        .await
        .expect("declared on the way");
    assert!(tasks.queue("reports").is_declared().await.expect("look up"));
}

#[tokio::test(start_paused = true)]
async fn flushing_a_queue_drops_its_waiting_jobs() {
    let tasks = tasks();
    let queue = tasks.queue("default");
    queue.declare().await.expect("declare");
    for i in 0..3i64 {
        tasks
            .enqueue(Job::new("add").args((i, i)))
            .await
            .expect("enqueue");
    }
    queue.flush().await.expect("flush");
    let kept = tasks
        .enqueue(Job::new("add").args((7i64, 7i64)))
        .await
        .expect("enqueue");
    let log = log();
    let stats = start(&tasks, router(&log), |w| w.messages_limit(1))
        .await
        .finished()
        .await;
    assert_eq!(stats.succeeded, 1);
    assert_eq!(kept.wait_timeout::<i64>(WAIT).await.expect("sum"), 14);
    queue.delete().await.expect("delete");
    assert!(!queue.is_declared().await.expect("look up"));
}

#[tokio::test(start_paused = true)]
async fn events_can_be_filtered_by_kind_and_actor() {
    let tasks = tasks();
    let mut retries = tasks
        .subscribe(EventFilter::new().kind(EventKind::Retry).actor("fail"))
        .await
        .expect("subscribe");
    let log = log();
    let worker = start(&tasks, router(&log), |w| w).await;
    let _ = tasks
        .enqueue(Job::new("add").args((1i64, 1i64)))
        .await
        .expect("enqueue");
    let h = tasks
        .enqueue(Job::new("fail").retries(1))
        .await
        .expect("enqueue");
    let e = tokio::time::timeout(WAIT, retries.next())
        .await
        .expect("in time")
        .expect("event");
    assert_eq!(
        (e.kind, e.state, &e.id, e.error.as_deref()),
        (EventKind::Retry, TaskState::Retry, h.id(), Some("boom 1"))
    );
    worker.stop().await;
}

#[tokio::test(start_paused = true)]
async fn the_catalogue_lists_the_actors() {
    let log = log();
    let tasks = tasks();
    let worker = weir_tasks::Worker::builder(&tasks)
        .router(router(&log))
        .build();
    let catalogue = worker.catalogue();
    let add = catalogue.get("add").expect("registered");
    assert_eq!(add.doc.as_deref(), Some("Adds two numbers"));
    assert_eq!(
        catalogue.get("checksum").expect("registered").mode,
        weir_tasks::Mode::Blocking
    );
    assert_eq!(worker.queues(), vec!["default".to_owned()]);
}
