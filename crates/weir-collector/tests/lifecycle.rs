//! Collector setup and teardown around a queue's life.

use std::sync::{Arc, Mutex};

use weir_collector::{
    BoxError, Collector, CollectorQueue, Context, Failure, Lifecycle, StartError,
};

type Journal = Arc<Mutex<Vec<String>>>;

fn note(journal: &Journal, line: String) -> Result<(), BoxError> {
    journal.lock().map_err(|_| "journal poisoned")?.push(line);
    Ok(())
}

/// The context: a name, and a journal shared by everyone in the test.
struct Ctx {
    name: &'static str,
    journal: Journal,
    fail_setup: bool,
}

struct Recorded;

impl Lifecycle<Ctx> for Recorded {
    async fn setup(&self, ctx: &Ctx) -> Result<(), BoxError> {
        note(&ctx.journal, format!("setup {}", ctx.name))?;
        if ctx.fail_setup {
            return Err("no database".into());
        }
        Ok(())
    }

    async fn teardown(&self, ctx: &Ctx) -> Result<(), BoxError> {
        note(&ctx.journal, format!("teardown {}", ctx.name))
    }
}

fn collector(name: &'static str, journal: &Journal, fail_setup: bool) -> Collector<u32, ()> {
    Collector::builder(name)
        .context(Ctx {
            name,
            journal: Arc::clone(journal),
            fail_setup,
        })
        .lifecycle(Recorded)
        .processor(|n: u32, ctx: Context<Ctx>| async move {
            note(&ctx.journal, format!("event {n} {}", ctx.name))
        })
}

fn lines(journal: &Journal) -> Vec<String> {
    journal.lock().map(|j| j.clone()).unwrap_or_default()
}

#[tokio::test]
async fn setup_and_teardown_run_once_each_in_order() {
    let journal = Journal::default();
    let queue = CollectorQueue::builder()
        .collector(collector("a", &journal, false))
        .collector(collector("b", &journal, false))
        .consumers(1, 1)
        .build()
        .expect("valid queue");
    let ((), report) = queue
        .run(|publisher| async move {
            for n in 0..2 {
                assert!(
                    publisher
                        .send(weir_collector::Event::new(n).to_keys(["a"]))
                        .await
                        .expect("sent")
                        .await
                        .all_ok()
                );
            }
        })
        .await
        .expect("starts");
    assert!(report.is_clean());
    assert_eq!(
        lines(&journal),
        [
            "setup a",
            "setup b",
            "event 0 a",
            "event 1 a",
            "teardown b",
            "teardown a"
        ]
    );
}

#[tokio::test]
async fn a_failed_setup_stops_the_start_and_undoes_earlier_setups() {
    let journal = Journal::default();
    let queue = CollectorQueue::builder()
        .collector(collector("a", &journal, false))
        .collector(collector("b", &journal, true))
        .collector(collector("c", &journal, false))
        .build()
        .expect("valid queue");
    let error = queue.start().await.expect_err("setup of b fails");
    let StartError::Setup { key, failure } = error else {
        panic!("unexpected error: {error}");
    };
    assert_eq!(&*key, "b");
    assert!(matches!(failure, Failure::Error(e) if e.to_string() == "no database"));
    assert_eq!(lines(&journal), ["setup a", "setup b", "teardown a"]);
}

#[tokio::test]
async fn the_scope_shuts_down_even_when_it_panics() {
    let journal = Journal::default();
    let queue = CollectorQueue::builder()
        .collector(collector("a", &journal, false))
        .build()
        .expect("valid queue");
    let outcome = tokio::spawn(async move {
        queue
            .run(|_publisher| async move {
                panic!("scope failed");
            })
            .await
            .map(|((), _report)| ())
    })
    .await;
    assert!(outcome.is_err_and(|e| e.is_panic()), "the panic is resumed");
    assert_eq!(lines(&journal), ["setup a", "teardown a"]);
}
