//! A property over random job mixes on memory, on tokio's paused clock:
//! jobs of random durations, failures, retries and priorities, workers
//! that join at random times and workers that crash (their task aborted:
//! no graceful shutdown, no commit). Every job ends in exactly the final
//! state its failures and retries call for, none is lost, and none runs
//! more than its attempts plus the crashes.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use proptest::prelude::*;
use tokio::task::JoinHandle;
use weir_memory::MemoryBroker;
use weir_tasks::{Context, Job, Priority, RetryPolicy, Router, TaskState, Tasks, Worker};

use crate::support::dead_letters;

#[derive(Clone, Debug)]
struct Spec {
    work_ms: u64,
    /// The first attempt that succeeds.
    succeed_at: u32,
    retries: u32,
    priority: Priority,
}

impl Spec {
    fn succeeds(&self) -> bool {
        self.succeed_at <= self.retries + 1
    }

    fn attempts(&self) -> usize {
        self.succeed_at.min(self.retries + 1) as usize
    }
}

#[derive(Clone, Debug)]
enum Event {
    /// A worker of this concurrency joins.
    Join(usize),
    /// The n-th running worker (modulo how many run) dies.
    Crash(usize),
}

fn spec() -> impl Strategy<Value = Spec> {
    (
        0u64..200,
        1u32..4,
        0u32..3,
        prop_oneof![
            Just(Priority::High),
            Just(Priority::Medium),
            Just(Priority::Low)
        ],
    )
        .prop_map(|(work_ms, succeed_at, retries, priority)| Spec {
            work_ms,
            succeed_at,
            retries,
            priority,
        })
}

fn event() -> impl Strategy<Value = (u64, Event)> {
    (
        0u64..600,
        prop_oneof![
            (1usize..4).prop_map(Event::Join),
            (0usize..4).prop_map(Event::Crash)
        ],
    )
}

/// Runs per task id.
type Runs = Arc<Mutex<BTreeMap<String, usize>>>;

fn router(runs: &Runs) -> Router {
    let mut r = Router::new();
    let runs = Arc::clone(runs);
    r.actor(
        "job",
        move |(work_ms, succeed_at): (u64, u32), ctx: Context| {
            *runs
                .lock()
                .expect("runs")
                .entry(ctx.id().to_string())
                .or_default() += 1;
            async move {
                tokio::time::sleep(Duration::from_millis(work_ms)).await;
                if ctx.attempt() < succeed_at {
                    Err(format!("attempt {} fails", ctx.attempt()))
                } else {
                    Ok(ctx.attempt())
                }
            }
        },
    )
    .retry_policy(RetryPolicy::fixed(Duration::from_millis(30)));
    r
}

fn start(tasks: &Tasks<MemoryBroker>, runs: &Runs, concurrency: usize) -> JoinHandle<()> {
    let worker = Worker::builder(tasks)
        .router(router(runs))
        .concurrency(concurrency)
        .handle_signals([])
        .delay_poll_interval(Duration::from_millis(50))
        .build();
    tokio::spawn(async move {
        worker.run().await.expect("the worker runs");
    })
}

async fn scenario(specs: Vec<Spec>, mut events: Vec<(u64, Event)>) -> Result<(), TestCaseError> {
    let tasks = Tasks::new(MemoryBroker::new());
    tasks.queue("default").declare().await.expect("declare");
    let jobs = specs.iter().map(|s| {
        Job::new("job")
            .retries(s.retries)
            .priority(s.priority)
            .args((s.work_ms, s.succeed_at))
    });
    let handles: Vec<_> = tasks
        .enqueue_many(jobs)
        .await
        .expect("enqueue")
        .into_iter()
        .map(|h| h.expect("enqueued"))
        .collect();

    let runs: Runs = Arc::default();
    let mut workers = vec![start(&tasks, &runs, 2)];
    let mut crashes = 0;
    events.sort_by_key(|(at, _)| *at);
    let t0 = tokio::time::Instant::now();
    for (at, event) in events {
        tokio::time::sleep_until(t0 + Duration::from_millis(at)).await;
        match event {
            Event::Join(concurrency) => workers.push(start(&tasks, &runs, concurrency)),
            Event::Crash(n) if !workers.is_empty() => {
                let w = workers.remove(n % workers.len());
                w.abort();
                let _ = w.await;
                crashes += 1;
            }
            Event::Crash(_) => {}
        }
    }
    if workers.is_empty() {
        workers.push(start(&tasks, &runs, 2));
    }

    // Every job ends.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(600);
    let records = loop {
        let mut records = Vec::new();
        for h in &handles {
            records.push(h.record().await.expect("record"));
        }
        if records
            .iter()
            .flatten()
            .filter(|r| r.state.is_final())
            .count()
            == handles.len()
        {
            break records;
        }
        for w in &workers {
            prop_assert!(!w.is_finished(), "a worker stopped");
        }
        prop_assert!(
            tokio::time::Instant::now() < deadline,
            "jobs never ended: {:?}",
            records
                .iter()
                .map(|r| r.as_ref().map(|r| r.state))
                .collect::<Vec<_>>()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };

    let runs = runs.lock().expect("runs").clone();
    let mut failed = BTreeSet::new();
    for ((spec, h), record) in specs.iter().zip(&handles).zip(records) {
        let record = record.expect("a record");
        let want = if spec.succeeds() {
            TaskState::Success
        } else {
            failed.insert(h.id().to_string());
            TaskState::Failure
        };
        prop_assert_eq!(record.state, want, "{:?}", spec);
        if spec.succeeds() {
            let result: u32 = h.wait().await.expect("its result");
            prop_assert_eq!(result, spec.succeed_at);
        }
        let n = runs.get(h.id().as_str()).copied().unwrap_or(0);
        prop_assert!(
            n >= spec.attempts() && n <= spec.attempts() + crashes,
            "{:?} ran {} times with {} crashes",
            spec,
            n,
            crashes
        );
    }
    // The failed jobs, and only they, are dead letters.
    let dead: BTreeSet<String> = dead_letters(tasks.broker(), "default", failed.len())
        .await
        .into_iter()
        .map(|(job, _)| job.id.to_string())
        .collect();
    prop_assert_eq!(dead, failed);
    for w in workers {
        w.abort();
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]

    #[test]
    fn every_job_ends_in_one_final_state_through_joins_and_crashes(
        specs in proptest::collection::vec(spec(), 1..25),
        events in proptest::collection::vec(event(), 0..6),
    ) {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .start_paused(true)
            .build()
            .expect("a runtime");
        rt.block_on(scenario(specs, events))?;
    }
}
