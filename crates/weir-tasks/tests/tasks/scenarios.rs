//! Job scenarios generic over the broker: each runs on memory (paused
//! clock), on a real redis-server and on Kafka.

use weir_tasks::{EventFilter, EventKind, Job, TaskBroker, TaskError, TaskState, Tasks};

use crate::support::{
    Order, Receipt, WAIT, copy_queued_jobs, dead_letters, log, router, runs, start,
};

/// A job enqueued before a worker starts is run, and its handle gets the result.
pub async fn enqueued_job_runs_and_its_result_is_awaited<B: TaskBroker>(tasks: Tasks<B>) {
    tasks.queue("default").declare().await.expect("declare");
    let handle = tasks
        .enqueue(Job::new("add").args((2i64, 40i64)))
        .await
        .expect("enqueue");
    assert_eq!(handle.state().await.expect("state"), TaskState::Queued);
    let log = log();
    let worker = start(&tasks, router(&log), |w| w).await;
    let sum: i64 = handle.wait_timeout(WAIT).await.expect("the result");
    assert_eq!(sum, 42);
    let record = handle.record().await.expect("record").expect("kept");
    assert_eq!(record.state, TaskState::Success);
    assert_eq!(record.attempt, 1);
    assert!(record.started_at.is_some() && record.finished_at.is_some());
    assert!(record.worker.is_some());
    let stats = worker.stop().await;
    assert_eq!((stats.processed, stats.succeeded), (1, 1));
}

/// Structured arguments and results keep every field through the queue.
pub async fn typed_args_and_results_round_trip<B: TaskBroker>(tasks: Tasks<B>) {
    let log = log();
    let worker = start(&tasks, router(&log), |w| w).await;
    let order = Order {
        id: 7,
        items: vec!["tea".into(), "scones".into()],
        note: Some("no sugar".into()),
    };
    let receipt: Receipt = tasks
        .enqueue(Job::new("receipt").args(order.clone()))
        .await
        .expect("enqueue (the worker declared the queue)")
        .wait_timeout(WAIT)
        .await
        .expect("the receipt");
    assert_eq!(receipt, Receipt { order: 7, count: 2 });
    worker.stop().await;
}

/// The last failed attempt sends the job to the dead-letter topic with
/// every attempt's error; its handle reports the failure.
pub async fn exhausted_retries_dead_letter_the_job_with_all_errors<B: TaskBroker>(tasks: Tasks<B>) {
    let log = log();
    let worker = start(&tasks, router(&log), |w| w).await;
    let handle = tasks
        .enqueue(Job::new("fail").retries(2))
        .await
        .expect("enqueue");
    let err = handle
        .wait_timeout::<()>(WAIT)
        .await
        .expect_err("it never succeeds");
    let TaskError::Failed {
        attempts, errors, ..
    } = err
    else {
        panic!("a failure, got {err:?}")
    };
    assert_eq!(attempts, 3);
    assert_eq!(errors, vec!["boom 1", "boom 2", "boom 3"]);
    assert_eq!(handle.state().await.expect("state"), TaskState::Failure);
    let dead = dead_letters(tasks.broker(), "default", 1).await;
    let (job, payload) = &dead[0];
    assert_eq!(&job.id, handle.id());
    assert_eq!(job.errors, vec!["boom 1", "boom 2", "boom 3"]);
    let reason = job.dead_reason.as_deref().expect("a reason");
    assert!(
        reason.contains("`fail`") && reason.contains(handle.id().as_str()),
        "{reason}"
    );
    assert!(
        payload
            .headers
            .get(weir_tasks::HEADER_DEAD_REASON)
            .is_some()
    );
    let stats = worker.stop().await;
    assert_eq!(
        (
            stats.processed,
            stats.failed,
            stats.retried,
            stats.dead_lettered
        ),
        (3, 3, 2, 1)
    );
}

/// An unknown actor and arguments that do not decode dead-letter their
/// jobs with a reason naming actor, task and cause; the worker goes on.
pub async fn bad_jobs_are_dead_lettered_and_the_worker_goes_on<B: TaskBroker>(tasks: Tasks<B>) {
    let log = log();
    let worker = start(&tasks, router(&log), |w| w).await;
    let unknown = tasks.enqueue(Job::new("nobody")).await.expect("enqueue");
    let bad_args = tasks
        .enqueue(Job::new("add").args("not two numbers"))
        .await
        .expect("enqueue");
    let unencodable = tasks
        .enqueue(Job::new("unencodable"))
        .await
        .expect("enqueue");
    let good = tasks
        .enqueue(Job::new("add").args((1i64, 1i64)))
        .await
        .expect("enqueue");
    assert_eq!(
        good.wait_timeout::<i64>(WAIT)
            .await
            .expect("the worker goes on"),
        2
    );
    for (handle, words) in [
        (&unknown, ["no actor", "`nobody`"]),
        (&bad_args, ["do not decode", "`add`"]),
        (&unencodable, ["does not encode", "`unencodable`"]),
    ] {
        let err = handle
            .wait_timeout::<()>(WAIT)
            .await
            .expect_err("dead-lettered");
        let text = err.to_string();
        let TaskError::Failed { error, .. } = err else {
            panic!("a failure, got {text}")
        };
        for w in words.iter().chain([&handle.id().as_str()]) {
            assert!(error.contains(w), "`{w}` in {error}");
        }
    }
    let dead = dead_letters(tasks.broker(), "default", 3).await;
    let mut ids: Vec<_> = dead.iter().map(|(j, _)| j.id.clone()).collect();
    ids.sort();
    let mut want = vec![
        unknown.id().clone(),
        bad_args.id().clone(),
        unencodable.id().clone(),
    ];
    want.sort();
    assert_eq!(ids, want);
    let stats = worker.stop().await;
    assert_eq!((stats.succeeded, stats.dead_lettered), (1, 3));
}

/// Events come for every step; a filter keeps only the named kinds and actors.
pub async fn events_are_published_and_filtered<B: TaskBroker>(tasks: Tasks<B>) {
    tasks.queue("default").declare().await.expect("declare");
    let mut all = tasks
        .subscribe(EventFilter::new())
        .await
        .expect("subscribe");
    let mut done_add = tasks
        .subscribe(EventFilter::new().name("done").actor("add"))
        .await
        .expect("subscribe");
    let log = log();
    let worker = start(&tasks, router(&log), |w| w).await;
    let failing = tasks.enqueue(Job::new("fail")).await.expect("enqueue");
    let _ = failing.wait_timeout::<()>(WAIT).await;
    let add = tasks
        .enqueue(Job::new("add").args((1i64, 2i64)))
        .await
        .expect("enqueue");
    let _ = add.wait_timeout::<i64>(WAIT).await.expect("sum");
    let only = tokio::time::timeout(WAIT, done_add.next())
        .await
        .expect("in time")
        .expect("an event");
    assert_eq!(
        (only.kind, &only.id, only.state),
        (EventKind::Done, add.id(), TaskState::Success)
    );
    let mut kinds = Vec::new();
    while kinds.len() < 6 {
        let e = tokio::time::timeout(WAIT, all.next())
            .await
            .expect("in time")
            .expect("an event");
        kinds.push((e.actor.clone(), e.kind));
    }
    assert_eq!(
        kinds,
        vec![
            ("fail".to_owned(), EventKind::Queued),
            ("fail".to_owned(), EventKind::Started),
            ("fail".to_owned(), EventKind::Done),
            ("add".to_owned(), EventKind::Queued),
            ("add".to_owned(), EventKind::Started),
            ("add".to_owned(), EventKind::Done),
        ]
    );
    worker.stop().await;
}

/// A handle made from the id alone (as another process would) follows the task.
pub async fn a_handle_from_the_id_alone_follows_the_task<B: TaskBroker>(tasks: Tasks<B>) {
    let log = log();
    let worker = start(&tasks, router(&log), |w| w).await;
    let id = tasks
        .enqueue(Job::new("add").args((20i64, 22i64)))
        .await
        .expect("enqueue")
        .id()
        .clone();
    let other = Tasks::new(tasks.broker().clone());
    let handle = other.handle(id.as_str());
    assert_eq!(
        handle.wait_timeout::<i64>(WAIT).await.expect("the result"),
        42
    );
    assert_eq!(handle.state().await.expect("state"), TaskState::Success);
    let unknown = other.handle("never-enqueued");
    assert!(matches!(
        unknown.state().await,
        Err(TaskError::UnknownTask { .. })
    ));
    assert_eq!(runs(&log, "add").len(), 1);
    worker.stop().await;
}

/// Many jobs enqueued in one call all run: in a first call, and in a
/// second one (on memory and Redis, it sends the jobs with their records
/// at once, as the client reached the queue before). Each has its record
/// and its `queued` event before a worker starts.
pub async fn jobs_enqueued_in_bulk_all_run<B: TaskBroker>(tasks: Tasks<B>) {
    tasks.queue("default").declare().await.expect("declare");
    let mut queued = tasks
        .subscribe(EventFilter::new().name("queued"))
        .await
        .expect("subscribe");
    let mut handles = Vec::new();
    for call in 0..2i64 {
        let jobs = (0..25i64).map(|i| Job::new("add").args((call * 25 + i, 1i64)));
        for h in tasks.enqueue_many(jobs).await.expect("a producer") {
            handles.push(h.expect("enqueued"));
        }
    }
    let mut announced = std::collections::HashSet::new();
    while announced.len() < handles.len() {
        let e = tokio::time::timeout(WAIT, queued.next())
            .await
            .expect("every job's event in time")
            .expect("an event");
        assert_eq!(e.kind, EventKind::Queued);
        announced.insert(e.id);
    }
    for h in &handles {
        assert!(announced.contains(h.id()), "{} announced", h.id());
        assert_eq!(h.state().await.expect("a record"), TaskState::Queued);
    }
    let log = log();
    let worker = start(&tasks, router(&log), |w| w.concurrency(8)).await;
    for (i, h) in handles.into_iter().enumerate() {
        let sum: i64 = h.wait_timeout(WAIT).await.expect("the result");
        assert_eq!(sum, i as i64 + 1);
    }
    let stats = worker.stop().await;
    assert_eq!(stats.succeeded, 50);
}

/// An actor's global limit holds across workers: two workers of four slots
/// each never run more than two of its jobs at once between them, and
/// every job runs.
pub async fn an_actors_global_limit_holds_across_workers<B: TaskBroker>(tasks: Tasks<B>) {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::Duration;

    let running = Arc::new(AtomicUsize::new(0));
    let most = Arc::new(AtomicUsize::new(0));
    let limited = || {
        let (running, most) = (running.clone(), most.clone());
        let mut r = weir_tasks::Router::new();
        r.actor("scarce", move |i: u32, _: weir_tasks::Context| {
            let (running, most) = (running.clone(), most.clone());
            async move {
                let now = running.fetch_add(1, Ordering::SeqCst) + 1;
                most.fetch_max(now, Ordering::SeqCst);
                tokio::time::sleep(Duration::from_millis(30)).await;
                running.fetch_sub(1, Ordering::SeqCst);
                Ok::<_, String>(i)
            }
        })
        .global_concurrency(2);
        r
    };
    let a = start(&tasks, limited(), |w| w.concurrency(4)).await;
    let b = start(&tasks, limited(), |w| w.concurrency(4)).await;
    let handles = tasks
        .enqueue_many((0..12u32).map(|i| Job::new("scarce").args(i)))
        .await
        .expect("a producer");
    for (i, h) in handles.into_iter().enumerate() {
        let got: u32 = h
            .expect("enqueued")
            .wait_timeout(WAIT)
            .await
            .expect("the result");
        assert_eq!(got as usize, i);
    }
    let (sa, sb) = (a.stop().await, b.stop().await);
    assert_eq!(sa.succeeded + sb.succeeded, 12, "{sa:?} {sb:?}");
    assert_eq!(
        most.load(Ordering::SeqCst),
        2,
        "at most two at once, and two did run together"
    );
}

/// Jobs on a node's local queue run on that node's workers only, while
/// another node's worker, listing the same local queue name, runs none.
pub async fn a_local_queue_is_served_by_its_node_only<B: TaskBroker>(tasks: Tasks<B>) {
    let here = Tasks::builder(tasks.broker().clone())
        .node_id("here")
        .build();
    let there = Tasks::builder(tasks.broker().clone())
        .node_id("there")
        .build();
    let log = log();
    let local = here.local_queue("cache");
    assert_eq!(local.name(), "cache@here");
    local.declare().await.expect("declare");
    there.local_queue("cache").declare().await.expect("declare");
    // A group each: what keeps the other node's worker off this node's
    // queue is the queue's name, not the group (and two members with
    // different subscriptions rebalance slowly on some Kafka brokers).
    let mine = start(&here, router(&log), |w| {
        w.local_queue("cache").id("w-here").group("node-here")
    })
    .await;
    let other = start(&there, router(&log), |w| {
        w.local_queue("cache").id("w-there").group("node-there")
    })
    .await;
    let handles = here
        .enqueue_many((0..10i64).map(|i| Job::new("add").args((i, 1i64)).queue("cache@here")))
        .await
        .expect("a producer");
    for h in handles {
        let h = h.expect("enqueued");
        let _: i64 = h.wait_timeout(WAIT).await.expect("the result");
        let record = h.record().await.expect("record").expect("kept");
        assert_eq!(record.worker.as_deref(), Some("w-here"));
    }
    let (a, b) = (mine.stop().await, other.stop().await);
    assert_eq!((a.succeeded, b.processed), (10, 0), "{a:?} {b:?}");
}

/// A queue counts its jobs by where they are: waiting (by priority),
/// scheduled for later, dead; and names itself when it is not declared.
pub async fn a_queue_counts_its_jobs<B: TaskBroker>(tasks: Tasks<B>) {
    use std::time::Duration;
    use weir_tasks::Priority;

    let queue = tasks.queue("default");
    queue.declare().await.expect("declare");
    let empty = queue.counts().await.expect("counts");
    assert_eq!(
        (empty.waiting, empty.scheduled, empty.dead),
        (0, Some(0), 0)
    );
    let mut now = Vec::new();
    for i in 0..3i64 {
        now.push(
            tasks
                .enqueue(Job::new("add").args((i, 1i64)))
                .await
                .expect("enqueue"),
        );
    }
    now.push(
        tasks
            .enqueue(Job::new("add").args((9i64, 1i64)).priority(Priority::High))
            .await
            .expect("enqueue"),
    );
    now.push(
        tasks
            .enqueue(Job::new("nobody").args(1))
            .await
            .expect("enqueue"),
    );
    for _ in 0..2 {
        tasks
            .enqueue(
                Job::new("add")
                    .args((0i64, 0i64))
                    .delay(Duration::from_secs(3600)),
            )
            .await
            .expect("enqueue");
    }
    let before = queue.counts().await.expect("counts");
    assert_eq!(before.waiting, 5, "{before:?}");
    assert_eq!(before.waiting_by_priority, vec![1, 4, 0], "{before:?}");
    assert_eq!((before.scheduled, before.dead), (Some(2), 0), "{before:?}");
    assert_eq!(queue.len().await.expect("len"), 7);

    let log = log();
    let worker = start(&tasks, router(&log), |w| w).await;
    for h in now {
        let _ = h.wait_timeout::<i64>(WAIT).await;
    }
    worker.stop().await;
    let after = queue.counts().await.expect("counts");
    assert_eq!(
        (after.waiting, after.scheduled, after.dead),
        (0, Some(2), 1),
        "{after:?}"
    );
    let err = tasks
        .queue("never-declared")
        .counts()
        .await
        .expect_err("not declared");
    assert!(
        matches!(&err, TaskError::UndeclaredQueue { queue } if queue == "never-declared"),
        "{err:?}"
    );
}

/// A job revoked before any worker took it does not run, and its handle
/// reports the revoke (on Kafka too, which keeps no unique ids to free).
pub async fn a_revoked_job_does_not_run<B: TaskBroker>(tasks: Tasks<B>) {
    tasks.queue("default").declare().await.expect("declare");
    let handle = tasks
        .enqueue(Job::new("add").args((1i64, 1i64)))
        .await
        .expect("enqueue");
    assert!(handle.revoke().await.expect("revoke"));
    let log = log();
    let stats = start(&tasks, router(&log), |w| w.messages_limit(1))
        .await
        .finished()
        .await;
    assert_eq!((stats.revoked, stats.processed), (1, 0));
    assert!(matches!(
        handle.wait_timeout::<i64>(WAIT).await,
        Err(TaskError::Revoked { .. })
    ));
    assert!(runs(&log, "add").is_empty());
}

/// A job whose message comes twice in a row (a retry scheduled again after
/// a crash, a delayed message moved twice) runs once: the copy finds the
/// outcome the worker wrote a moment before, stored or not yet.
pub async fn a_job_delivered_twice_in_a_row_runs_once<B: TaskBroker>(tasks: Tasks<B>) {
    tasks.queue("default").declare().await.expect("declare");
    let handle = tasks
        .enqueue(Job::new("add").args((20i64, 22i64)))
        .await
        .expect("enqueue");
    copy_queued_jobs(tasks.broker(), &tasks.queue("default").topics(), 1).await;
    let log = log();
    let stats = start(&tasks, router(&log), |w| w.messages_limit(2))
        .await
        .finished()
        .await;
    assert_eq!(handle.wait_timeout::<i64>(WAIT).await.expect("done"), 42);
    assert_eq!(runs(&log, "add").len(), 1, "{:?}", runs(&log, "add"));
    assert_eq!((stats.processed, stats.succeeded), (1, 1));
}
