//! The status-callback outbox of both control stores, against real PostgreSQL and SQLite: a
//! callback is recorded with its job, becomes due only when the job ends, is claimed by one
//! process at a time, and every attempt is kept.

use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use mtx_shared::control::postgres::PostgresControlStore;
use mtx_shared::control::sqlite::SqliteControlStore;
use mtx_shared::control::{ControlStore, FinishOutcome};
use mtx_shared::testing::{ScratchDatabase, TempDir};
use mtx_shared::vocab::{
    CallbackAttempt, CallbackState, DatabaseId, Job, JobId, NewCallback, NextStep, Op, Status,
    Task, TaskArgs, TaskId, TaskOutcome, TenantId,
};

const LEASE: Duration = Duration::from_secs(60);

/// A store on a fresh PostgreSQL database or SQLite directory, removed when dropped.
struct Scratch {
    store: Arc<dyn ControlStore>,
    // Declared after `store`: the store's connections close before its storage goes.
    _database: Option<ScratchDatabase>,
    _dir: Option<TempDir>,
}

impl Scratch {
    async fn postgres() -> Self {
        let database = ScratchDatabase::create()
            .await
            .expect("the test PostgreSQL server is reachable");
        let store = PostgresControlStore::connect(database.url(), 4)
            .await
            .expect("connect and migrate");
        Self {
            store: Arc::new(store),
            _database: Some(database),
            _dir: None,
        }
    }

    async fn sqlite() -> Self {
        let dir = TempDir::new();
        let store = SqliteControlStore::open(dir.path())
            .await
            .expect("open the control file");
        Self {
            store: Arc::new(store),
            _database: None,
            _dir: Some(dir),
        }
    }
}

/// Inserts a one-task subscribe job with a callback; returns the job and its task.
async fn job_with_callback(store: &dyn ControlStore, tenant: &str) -> (JobId, TaskId) {
    let now = Utc::now();
    let job = Job {
        id: JobId::new(),
        args: TaskArgs::Subscribe {
            metadata: serde_json::json!({}),
        },
        status: Status::Queued,
        error: None,
        created_at: now,
        modified_at: now,
    };
    let task = Task {
        id: TaskId::new(),
        job_id: job.id,
        tenant: TenantId::parse(tenant).expect("valid tenant"),
        args: job.args.clone(),
        status: Status::Queued,
        error: None,
        database: DatabaseId::parse("main").expect("valid database id"),
        model: None,
        attempt: 0,
        worker: None,
        created_at: now,
        modified_at: now,
        started_at: None,
        finished_at: None,
    };
    let callback = NewCallback {
        url: format!("http://127.0.0.1:9/cb/{tenant}"),
        subscription_url: Some(format!("https://{tenant}.app.example")),
    };
    store
        .insert_job_with_callback(&job, std::slice::from_ref(&task), 100, Some(&callback))
        .await
        .expect("insert job with callback");
    (job.id, task.id)
}

async fn end_job(store: &dyn ControlStore, task: &TaskId, outcome: TaskOutcome) {
    store
        .start_task(task, "w1", 1)
        .await
        .expect("start")
        .expect("task exists");
    let ended = store.finish_task(task, 1, &outcome).await.expect("finish");
    assert!(matches!(ended, FinishOutcome::JobEnded { .. }), "{ended:?}");
}

fn attempt(number: u32, status: Option<u16>, error: Option<&str>) -> CallbackAttempt {
    CallbackAttempt {
        number,
        at: Utc::now(),
        http_status: status,
        error: error.map(str::to_owned),
    }
}

async fn callback_becomes_due_only_when_its_job_ends(store: &dyn ControlStore) {
    let (job, task) = job_with_callback(store, "t1").await;
    assert!(
        store
            .claim_due_callbacks(10, LEASE)
            .await
            .expect("claim")
            .is_empty(),
        "job still queued"
    );
    let record = store.callbacks_of(&[job]).await.expect("read")[&job].clone();
    assert_eq!((record.state, record.attempts), (CallbackState::Pending, 0));
    assert_eq!(
        record.subscription_url.as_deref(),
        Some("https://t1.app.example")
    );

    end_job(
        store,
        &task,
        TaskOutcome::Failed {
            error: "boom".into(),
        },
    )
    .await;
    let due = store.claim_due_callbacks(10, LEASE).await.expect("claim");
    assert_eq!(due.len(), 1);
    let due = &due[0];
    assert_eq!(
        (due.job_id, due.attempt, due.op, due.job_status),
        (job, 1, Op::Subscribe, Status::Failed)
    );
    assert!(
        due.job_error.as_deref().is_some_and(|e| e.contains("boom")),
        "{due:?}"
    );
    assert_eq!(due.url, "http://127.0.0.1:9/cb/t1");
    assert!(
        store
            .claim_due_callbacks(10, LEASE)
            .await
            .expect("claim")
            .is_empty(),
        "a claimed callback is not claimed again while its lease runs"
    );

    // Handed back unsent (shutdown): due again at once, and the attempt is not counted.
    store
        .release_callback_claim(&job, 1)
        .await
        .expect("release");
    let again = store.claim_due_callbacks(10, LEASE).await.expect("claim");
    assert_eq!(again.iter().map(|d| d.attempt).collect::<Vec<_>>(), vec![1]);
    // A stale hand-back (not the latest claim) changes nothing.
    store
        .release_callback_claim(&job, 7)
        .await
        .expect("stale release is a no-op");
    assert_eq!(
        store.callbacks_of(&[job]).await.expect("read")[&job].attempts,
        1
    );
}

async fn attempts_are_recorded_and_retries_come_due_again(store: &dyn ControlStore) {
    let (job, task) = job_with_callback(store, "t2").await;
    end_job(store, &task, TaskOutcome::Finished).await;
    let first = store.claim_due_callbacks(10, LEASE).await.expect("claim");
    assert_eq!(first.len(), 1);
    let changed = store
        .record_callback_attempt(
            &job,
            &attempt(1, Some(503), Some("the registry answered 503")),
            NextStep::RetryAt(Utc::now()),
        )
        .await
        .expect("record");
    assert!(changed);
    let second = store.claim_due_callbacks(10, LEASE).await.expect("claim");
    assert_eq!(
        second.iter().map(|d| d.attempt).collect::<Vec<_>>(),
        vec![2]
    );

    // A late report of attempt 1 changes nothing: attempt 2 owns the callback now.
    let stale = store
        .record_callback_attempt(&job, &attempt(1, Some(200), None), NextStep::Delivered)
        .await
        .expect("record");
    assert!(!stale);
    let delivered = store
        .record_callback_attempt(&job, &attempt(2, Some(200), None), NextStep::Delivered)
        .await
        .expect("record");
    assert!(delivered);
    assert!(
        store
            .claim_due_callbacks(10, LEASE)
            .await
            .expect("claim")
            .is_empty(),
        "delivered is final"
    );

    let record = store.callbacks_of(&[job]).await.expect("read")[&job].clone();
    assert_eq!(record.state, CallbackState::Delivered);
    assert!(record.delivered_at.is_some());
    let history: Vec<_> = record
        .history
        .iter()
        .map(|a| (a.number, a.http_status))
        .collect();
    assert_eq!(history, vec![(1, Some(503)), (2, Some(200))]);
    assert_eq!(
        record.history[0].error.as_deref(),
        Some("the registry answered 503")
    );
}

async fn given_up_callbacks_expire(store: &dyn ControlStore) {
    let (job, task) = job_with_callback(store, "t3").await;
    end_job(store, &task, TaskOutcome::Finished).await;
    assert_eq!(
        store
            .claim_due_callbacks(10, LEASE)
            .await
            .expect("claim")
            .len(),
        1
    );
    store
        .record_callback_attempt(
            &job,
            &attempt(1, None, Some("connection refused")),
            NextStep::GiveUp,
        )
        .await
        .expect("record");
    let record = store.callbacks_of(&[job]).await.expect("read")[&job].clone();
    assert_eq!(
        (record.state, record.delivered_at),
        (CallbackState::Expired, None)
    );
    assert!(
        store
            .claim_due_callbacks(10, LEASE)
            .await
            .expect("claim")
            .is_empty()
    );
}

async fn concurrent_claims_never_overlap(store: Arc<dyn ControlStore>) {
    let mut jobs = Vec::new();
    for i in 0..12 {
        let (job, task) = job_with_callback(store.as_ref(), &format!("c{i}")).await;
        end_job(store.as_ref(), &task, TaskOutcome::Finished).await;
        jobs.push(job);
    }
    let claims = futures::future::join_all((0..4).map(|_| {
        let store = store.clone();
        async move { store.claim_due_callbacks(5, LEASE).await.expect("claim") }
    }))
    .await;
    let mut claimed: Vec<JobId> = claims.iter().flatten().map(|d| d.job_id).collect();
    let total = claimed.len();
    claimed.sort();
    claimed.dedup();
    assert_eq!(claimed.len(), total, "a callback was claimed twice");
    assert_eq!(total, 12, "every due callback is claimed by someone");
}

async fn jobs_without_callbacks_have_none_and_deletion_cascades(store: &dyn ControlStore) {
    let now = Utc::now();
    let plain = Job {
        id: JobId::new(),
        args: TaskArgs::Upgrade {
            options: serde_json::Map::new(),
        },
        status: Status::Queued,
        error: None,
        created_at: now,
        modified_at: now,
    };
    store
        .insert_job(&plain, &[], 100)
        .await
        .expect("insert plain job");
    let (job, task) = job_with_callback(store, "t4").await;
    end_job(store, &task, TaskOutcome::Finished).await;
    store.claim_due_callbacks(10, LEASE).await.expect("claim");
    store
        .record_callback_attempt(&job, &attempt(1, Some(204), None), NextStep::Delivered)
        .await
        .expect("record");
    let found = store.callbacks_of(&[plain.id, job]).await.expect("read");
    assert!(!found.contains_key(&plain.id));
    assert!(found.contains_key(&job));

    let deleted = store
        .delete_jobs_before(Utc::now() + chrono::Duration::seconds(5))
        .await
        .expect("delete");
    assert!(deleted >= 1);
    assert!(store.callbacks_of(&[job]).await.expect("read").is_empty());
}

macro_rules! both_stores {
    ($name:ident) => {
        mod $name {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                let s = super::Scratch::postgres().await;
                super::$name(&*s.store).await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                let s = super::Scratch::sqlite().await;
                super::$name(&*s.store).await;
            }
        }
    };
}

both_stores!(callback_becomes_due_only_when_its_job_ends);
both_stores!(attempts_are_recorded_and_retries_come_due_again);
both_stores!(given_up_callbacks_expire);
both_stores!(jobs_without_callbacks_have_none_and_deletion_cascades);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_concurrent_claims_never_overlap() {
    let s = Scratch::postgres().await;
    concurrent_claims_never_overlap(s.store.clone()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_concurrent_claims_never_overlap() {
    let s = Scratch::sqlite().await;
    concurrent_claims_never_overlap(s.store.clone()).await;
}
