//! Both control-plane stores pass one set of checks ([`checks`]), each run against a fresh
//! PostgreSQL database and against a fresh SQLite file; then a few checks that only concern one
//! implementation (start-up and schema versioning).

mod support;

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{DateTime, SubsecRound, Utc};
use serde_json::json;

use mtx_shared::control::postgres::PostgresControlStore;
use mtx_shared::control::sqlite::SqliteControlStore;
use mtx_shared::control::{
    CancelOutcome, ControlError, ControlStore, FinishOutcome, FinishedTask, TenantRecord,
};
use mtx_shared::tenant::StorageLocation;
use mtx_shared::vocab::{
    DatabaseId, Job, JobId, ModelHash, Op, Status, Task, TaskArgs, TaskId, TaskOutcome, TenantId,
};
use support::TempDir;

type Store = Arc<dyn ControlStore>;

async fn on_postgres<F, Fut>(check: F)
where
    F: FnOnce(Store) -> Fut,
    Fut: Future<Output = ()>,
{
    support::with_database(|url| async move {
        let store = PostgresControlStore::connect(&url, 10)
            .await
            .expect("connect and migrate the control plane");
        let pool = store.pool().clone();
        check(Arc::new(store)).await;
        pool.close().await;
    })
    .await;
}

async fn on_sqlite<F, Fut>(check: F)
where
    F: FnOnce(Store) -> Fut,
    Fut: Future<Output = ()>,
{
    let dir = TempDir::new();
    let store = SqliteControlStore::open(dir.path())
        .await
        .expect("open the control plane file");
    check(Arc::new(store)).await;
}

/// One test per check and implementation, so a failure names both.
macro_rules! conformance {
    ($($check:ident),* $(,)?) => {
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $check() {
                    super::on_postgres(super::checks::$check).await;
                }
            )*
        }
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $check() {
                    super::on_sqlite(super::checks::$check).await;
                }
            )*
        }
    };
}

conformance!(
    model_versions_are_stored_once,
    upsert_creates_then_deep_merges_keeping_created_at_and_location,
    non_object_bodies_are_stored_as_objects,
    tenants_are_listed_by_id_and_counted_per_database,
    tenant_model_is_recorded_and_tenants_deleted,
    a_job_reads_back_with_its_tasks_in_tenant_order,
    list_jobs_returns_the_newest_first_with_their_tasks,
    a_full_queue_refuses_and_writes_nothing,
    the_queue_limit_holds_under_concurrent_inserts,
    ten_thousand_tasks_insert_in_well_under_a_second,
    start_task_marks_task_and_job_running,
    start_task_reads_the_tenants_record,
    a_batch_of_finishes_records_tenant_models_and_ends_each_job_once,
    the_last_finish_ends_the_job_with_the_roll_up,
    a_stale_attempt_is_rejected,
    concurrent_finishes_end_the_job_exactly_once,
    requeue_puts_a_running_task_back_keeping_the_last_error,
    unfinished_tasks_are_listed_oldest_first,
    only_old_terminal_jobs_are_deleted,
    cancel_ends_queued_tasks_at_once_and_reports_running_ones,
    cancel_of_an_all_queued_job_ends_it_and_is_idempotent,
    cancel_of_an_unknown_job_is_none,
    a_heartbeat_touches_only_the_running_attempt,
);

fn tenant(id: &str) -> TenantId {
    TenantId::parse(id).expect("valid test tenant id")
}

fn database(id: &str) -> DatabaseId {
    DatabaseId::parse(id).expect("valid test database id")
}

fn pg_location(tenant: &str, db: &str) -> StorageLocation {
    StorageLocation::Postgres {
        database: database(db),
        schema: format!("tenant_{tenant}"),
    }
}

/// Now, at the stores' precision, so records compare equal after a round trip.
fn now() -> DateTime<Utc> {
    Utc::now().trunc_subsecs(3)
}

fn new_job(op: Op, created_at: DateTime<Utc>) -> Job {
    Job {
        id: JobId::new(),
        // Key order is part of what cds-mtxs echoes; "z" before "a" proves it survives.
        args: TaskArgs::from_stored(
            op,
            json!({"options": {"z": 1, "a": [1, 2]}, "data": {"z": true, "a": null}}),
        )
        .expect("valid arguments"),
        status: Status::Queued,
        error: None,
        created_at,
        modified_at: created_at,
    }
}

fn new_task(job: &Job, tenant_id: &str) -> Task {
    Task {
        id: TaskId::new(),
        job_id: job.id,
        tenant: tenant(tenant_id),
        args: job.args.clone(),
        status: Status::Queued,
        error: None,
        database: database("db1"),
        model: Some(ModelHash::of(tenant_id)),
        attempt: 0,
        worker: None,
        created_at: job.created_at,
        modified_at: job.created_at,
        started_at: None,
        finished_at: None,
    }
}

/// Inserts a job of `tenants.len()` tasks with a generous queue limit.
async fn insert(store: &Store, tenants: &[&str]) -> (Job, Vec<Task>) {
    let job = new_job(Op::Upgrade, now());
    let tasks: Vec<Task> = tenants.iter().map(|t| new_task(&job, t)).collect();
    store
        .insert_job(&job, &tasks, 1_000)
        .await
        .expect("insert a job");
    (job, tasks)
}

async fn job_status(store: &Store, id: &JobId) -> (Status, Option<String>) {
    let job = store
        .get_job(id)
        .await
        .expect("get_job")
        .expect("the job exists")
        .job;
    (job.status, job.error)
}

mod checks {
    use super::*;

    pub(crate) async fn cancel_ends_queued_tasks_at_once_and_reports_running_ones(store: Store) {
        let (job, tasks) = insert(&store, &["a", "b", "c"]).await;
        store
            .start_task(&tasks[0].id, "w1", 1)
            .await
            .expect("start");

        let outcome = store
            .cancel_job(&job.id)
            .await
            .expect("cancel")
            .expect("the job exists");

        let mut cancelled = outcome.cancelled.clone();
        cancelled.sort();
        let mut expected = vec![tasks[1].id, tasks[2].id];
        expected.sort();
        assert_eq!(cancelled, expected);
        assert_eq!(outcome.running, [tasks[0].id]);
        assert_eq!(outcome.status, Status::Running, "a task is still running");
        let read = store.get_job(&job.id).await.expect("get").expect("exists");
        let states: Vec<Status> = read.tasks.iter().map(|t| t.status).collect();
        assert_eq!(
            states,
            [Status::Running, Status::Cancelled, Status::Cancelled]
        );
        assert!(read.tasks[1].finished_at.is_some(), "cancelled at a time");
        assert_eq!(
            store
                .start_task(&tasks[1].id, "w2", 1)
                .await
                .expect("start"),
            None,
            "a cancelled task cannot start"
        );

        // The running task stops at its safe point and reports; that ends the job.
        let ended = store
            .finish_task(&tasks[0].id, 1, &TaskOutcome::Cancelled)
            .await
            .expect("finish");
        assert!(
            matches!(
                ended,
                FinishOutcome::JobEnded {
                    status: Status::Cancelled,
                    ..
                }
            ),
            "{ended:?}"
        );
    }

    pub(crate) async fn cancel_of_an_all_queued_job_ends_it_and_is_idempotent(store: Store) {
        let (job, tasks) = insert(&store, &["a", "b"]).await;

        let first = store
            .cancel_job(&job.id)
            .await
            .expect("cancel")
            .expect("exists");
        assert_eq!(first.cancelled.len(), 2);
        assert!(first.running.is_empty());
        assert_eq!(first.status, Status::Cancelled);
        let (status, error) = job_status(&store, &job.id).await;
        assert_eq!(status, Status::Cancelled);
        assert_eq!(error.as_deref(), Some("2 of 2 tasks cancelled"));
        assert!(
            store
                .unfinished_tasks()
                .await
                .expect("unfinished")
                .is_empty(),
            "nothing is left for the reconciler"
        );

        let again = store
            .cancel_job(&job.id)
            .await
            .expect("cancel again")
            .expect("exists");
        assert_eq!(
            again,
            CancelOutcome {
                cancelled: Vec::new(),
                running: Vec::new(),
                status: Status::Cancelled,
            }
        );
        assert_eq!(
            store
                .finish_task(&tasks[0].id, 0, &TaskOutcome::Finished)
                .await
                .expect("finish"),
            FinishOutcome::Stale,
            "a cancelled task's late result is not recorded"
        );
    }

    pub(crate) async fn cancel_of_an_unknown_job_is_none(store: Store) {
        insert(&store, &["a"]).await;
        assert_eq!(store.cancel_job(&JobId::new()).await.expect("cancel"), None);
    }

    pub(crate) async fn a_heartbeat_touches_only_the_running_attempt(store: Store) {
        let (_, tasks) = insert(&store, &["a"]).await;
        let id = tasks[0].id;
        assert!(
            !store.heartbeat_task(&id, 0).await.expect("heartbeat"),
            "a queued task has no heartbeat"
        );
        let started = store
            .start_task(&id, "w1", 1)
            .await
            .expect("start")
            .expect("started")
            .task;
        tokio::time::sleep(Duration::from_millis(20)).await;

        assert!(store.heartbeat_task(&id, 1).await.expect("heartbeat"));
        assert!(
            !store.heartbeat_task(&id, 2).await.expect("heartbeat"),
            "another attempt's heartbeat is refused"
        );

        let task = store.get_task(&id).await.expect("get").expect("exists");
        assert!(
            task.modified_at > started.modified_at,
            "{} > {}",
            task.modified_at,
            started.modified_at
        );
        assert_eq!(task.started_at, started.started_at, "the start is kept");
        assert_eq!(task.status, Status::Running);
    }

    pub(crate) async fn model_versions_are_stored_once(store: Store) {
        let hash = ModelHash::of("v1");
        store
            .put_model(&hash, r#"{"definitions":{}}"#)
            .await
            .expect("put");
        store
            .put_model(&hash, r#"{"other":"text"}"#)
            .await
            .expect("putting a known hash again is fine");
        assert_eq!(
            store.get_model(&hash).await.expect("get").as_deref(),
            Some(r#"{"definitions":{}}"#),
            "a known hash must be left as it is"
        );
        assert_eq!(
            store.get_model(&ModelHash::of("v2")).await.expect("get"),
            None
        );
    }

    pub(crate) async fn upsert_creates_then_deep_merges_keeping_created_at_and_location(
        store: Store,
    ) {
        let t1 = tenant("t1");
        let first = store
            .upsert_tenant(
                &t1,
                &json!({"subscribedTenantId": "t1", "subscribedSubdomain": "t1", "app": {"plan": "std", "seats": 5}}),
                &pg_location("t1", "db1"),
            )
            .await
            .expect("create");
        assert_eq!(first.created_at, first.modified_at);
        assert_eq!(first.model, None);
        tokio::time::sleep(Duration::from_millis(5)).await;

        let second = store
            .upsert_tenant(
                &t1,
                &json!({"subscribedSubdomain": "t1-renamed", "app": {"seats": 10}, "extra": "x"}),
                &pg_location("t1", "db2"),
            )
            .await
            .expect("re-subscribe");

        assert_eq!(
            serde_json::to_string(&second.metadata).expect("json"),
            r#"{"subscribedTenantId":"t1","subscribedSubdomain":"t1-renamed","app":{"plan":"std","seats":10},"extra":"x"}"#,
            "metadata must be deep-merged with its key order kept"
        );
        assert_eq!(
            second.created_at, first.created_at,
            "created_at must be kept"
        );
        assert!(
            second.modified_at > first.modified_at,
            "modified_at must move on"
        );
        assert_eq!(
            second.location,
            pg_location("t1", "db1"),
            "the location must be kept"
        );
        assert_eq!(
            store.get_tenant(&t1).await.expect("get"),
            Some(second),
            "get_tenant must read back what upsert returned"
        );
    }

    pub(crate) async fn non_object_bodies_are_stored_as_objects(store: Store) {
        let t5 = tenant("t5");
        let record = store
            .upsert_tenant(&t5, &json!([1, 2]), &pg_location("t5", "db1"))
            .await
            .expect("create");
        assert_eq!(record.metadata, json!({"0": 1, "1": 2}));
    }

    pub(crate) async fn tenants_are_listed_by_id_and_counted_per_database(store: Store) {
        assert!(store.list_tenants().await.expect("list").is_empty());
        for (id, db) in [("b", "db2"), ("a", "db1"), ("B", "db1"), ("a.1", "db1")] {
            store
                .upsert_tenant(&tenant(id), &json!({}), &pg_location(id, db))
                .await
                .expect("create");
        }
        let sqlite = StorageLocation::Sqlite {
            database: database("embedded"),
            path: "data/db-s.sqlite".into(),
        };
        let s = store
            .upsert_tenant(&tenant("s"), &json!({}), &sqlite)
            .await
            .expect("create");
        assert_eq!(s.location, sqlite, "a SQLite location must read back");

        let ids: Vec<String> = store
            .list_tenants()
            .await
            .expect("list")
            .into_iter()
            .map(|t| t.id.to_string())
            .collect();
        assert_eq!(ids, ["B", "a", "a.1", "b", "s"], "byte order of ids");

        let counts = store.tenants_per_database().await.expect("count");
        assert_eq!(counts.len(), 3, "{counts:?}");
        assert_eq!(counts.get(&database("db1")), Some(&3));
        assert_eq!(counts.get(&database("db2")), Some(&1));
        assert_eq!(counts.get(&database("embedded")), Some(&1));
    }

    pub(crate) async fn tenant_model_is_recorded_and_tenants_deleted(store: Store) {
        let t1 = tenant("t1");
        store
            .upsert_tenant(&t1, &json!({}), &pg_location("t1", "db1"))
            .await
            .expect("create");
        let v2 = ModelHash::of("v2");
        store.set_tenant_model(&t1, &v2).await.expect("set model");
        let record = store.get_tenant(&t1).await.expect("get").expect("exists");
        assert_eq!(record.model, Some(v2.clone()));

        store
            .set_tenant_model(&tenant("gone"), &v2)
            .await
            .expect("recording a model for an unknown tenant is a no-op");
        assert!(store.delete_tenant(&t1).await.expect("delete"));
        assert!(!store.delete_tenant(&t1).await.expect("delete again"));
        assert_eq!(store.get_tenant(&t1).await.expect("get"), None);
        assert!(
            store
                .tenants_per_database()
                .await
                .expect("count")
                .is_empty()
        );
    }

    pub(crate) async fn a_job_reads_back_with_its_tasks_in_tenant_order(store: Store) {
        let (job, tasks) = insert(&store, &["c", "a", "B"]).await;

        let read = store.get_job(&job.id).await.expect("get").expect("exists");
        assert_eq!(read.job, job);
        let mut expected = tasks.clone();
        expected.sort_by(|x, y| x.tenant.cmp(&y.tenant));
        assert_eq!(read.tasks, expected, "tasks in tenant order, unchanged");
        assert_eq!(
            serde_json::to_string(&read.job.args).expect("json"),
            r#"{"options":{"z":1,"a":[1,2]}}"#,
            "argument key order must survive"
        );

        assert_eq!(
            store.get_task(&tasks[0].id).await.expect("get task"),
            Some(tasks[0].clone())
        );
        assert_eq!(
            store.get_task(&TaskId::new()).await.expect("get task"),
            None
        );
        assert_eq!(store.get_job(&JobId::new()).await.expect("get job"), None);

        let empty = new_job(Op::Upgrade, now());
        store
            .insert_job(&empty, &[], 1_000)
            .await
            .expect("a job without tasks");
        let read = store
            .get_job(&empty.id)
            .await
            .expect("get")
            .expect("exists");
        assert!(read.tasks.is_empty());

        let other = new_job(Op::Upgrade, now());
        let stray = new_task(&job, "x");
        assert!(
            matches!(
                store.insert_job(&other, &[stray], 1_000).await,
                Err(ControlError::Corrupt(_))
            ),
            "a task of another job must be refused"
        );
        assert_eq!(store.get_job(&other.id).await.expect("get"), None);
    }

    pub(crate) async fn list_jobs_returns_the_newest_first_with_their_tasks(store: Store) {
        let base = now();
        let mut ids = Vec::new();
        for (i, tenants) in [vec!["a"], vec!["b", "a"], vec![], vec!["z", "y", "x"]]
            .into_iter()
            .enumerate()
        {
            let job = new_job(Op::Upgrade, base + chrono::Duration::seconds(i as i64));
            let tasks: Vec<Task> = tenants.iter().map(|t| new_task(&job, t)).collect();
            store.insert_job(&job, &tasks, 100).await.expect("insert");
            ids.push(job.id);
        }

        let listed = store.list_jobs(3).await.expect("list");

        let listed_ids: Vec<JobId> = listed.iter().map(|j| j.job.id).collect();
        assert_eq!(listed_ids, [ids[3], ids[2], ids[1]]);
        let tenants = |i: usize| -> Vec<String> {
            listed[i]
                .tasks
                .iter()
                .map(|t| t.tenant.to_string())
                .collect()
        };
        assert_eq!(tenants(0), ["x", "y", "z"]);
        assert!(tenants(1).is_empty());
        assert_eq!(tenants(2), ["a", "b"]);
        assert!(store.list_jobs(0).await.expect("list").is_empty());
    }

    pub(crate) async fn a_full_queue_refuses_and_writes_nothing(store: Store) {
        let first = new_job(Op::Subscribe, now());
        let first_task = new_task(&first, "t1");
        store
            .insert_job(&first, std::slice::from_ref(&first_task), 1)
            .await
            .expect("the first job fits");

        let second = new_job(Op::Subscribe, now());
        let second_task = new_task(&second, "t2");
        let refused = store
            .insert_job(&second, std::slice::from_ref(&second_task), 1)
            .await;
        assert!(
            matches!(refused, Err(ControlError::QueueFull)),
            "{refused:?}"
        );
        assert_eq!(store.get_job(&second.id).await.expect("get"), None);
        assert_eq!(store.get_task(&second_task.id).await.expect("get"), None);

        store
            .finish_task(&first_task.id, 0, &TaskOutcome::Finished)
            .await
            .expect("finish");
        store
            .insert_job(&second, &[second_task], 1)
            .await
            .expect("a finished job frees its place in the queue");
    }

    pub(crate) async fn the_queue_limit_holds_under_concurrent_inserts(store: Store) {
        let attempts: Vec<_> = (0..20)
            .map(|i| {
                let store = Arc::clone(&store);
                tokio::spawn(async move {
                    let job = new_job(Op::Upgrade, now());
                    let tasks: Vec<Task> = (0..3)
                        .map(|t| new_task(&job, &format!("j{i}-t{t}")))
                        .collect();
                    store.insert_job(&job, &tasks, 5).await
                })
            })
            .collect();
        let mut accepted = 0;
        for attempt in attempts {
            match attempt.await.expect("insert task panicked") {
                Ok(()) => accepted += 1,
                Err(ControlError::QueueFull) => {}
                Err(other) => panic!("unexpected error: {other}"),
            }
        }

        assert_eq!(accepted, 5, "exactly queue_limit jobs must be accepted");
        assert_eq!(store.list_jobs(100).await.expect("list").len(), 5);
        assert_eq!(
            store.unfinished_tasks().await.expect("unfinished").len(),
            15,
            "refused jobs must leave no tasks behind"
        );
    }

    pub(crate) async fn ten_thousand_tasks_insert_in_well_under_a_second(store: Store) {
        // The machine is shared with builds and other test runs, so one slow run proves little:
        // the best of up to three must be under the budget. Inserting row by row misses it every
        // time.
        let budget = Duration::from_secs(1);
        let mut best = Duration::MAX;
        for _ in 0..3 {
            let job = new_job(Op::Upgrade, now());
            let tasks: Vec<Task> = (0..10_000)
                .map(|i| new_task(&job, &format!("tenant-{i:05}")))
                .collect();

            let started = Instant::now();
            store.insert_job(&job, &tasks, 10).await.expect("insert");
            best = best.min(started.elapsed());

            let read = store.get_job(&job.id).await.expect("get").expect("exists");
            assert_eq!(read.tasks.len(), 10_000);
            assert_eq!(read.tasks[0], tasks[0]);
            assert_eq!(read.tasks[9_999], tasks[9_999]);
            if best < budget {
                break;
            }
        }
        assert!(
            best < budget,
            "inserting 10,000 tasks took at best {best:?}"
        );
    }

    pub(crate) async fn start_task_marks_task_and_job_running(store: Store) {
        let (job, tasks) = insert(&store, &["a", "b"]).await;

        let started = store
            .start_task(&tasks[0].id, "worker-1", 1)
            .await
            .expect("start")
            .expect("a queued task starts");
        assert_eq!(started.tenant, None, "tenant a is not subscribed");
        let started = started.task;

        assert_eq!(started.status, Status::Running);
        assert_eq!(started.worker.as_deref(), Some("worker-1"));
        assert_eq!(started.attempt, 1);
        assert!(started.started_at.is_some());
        assert_eq!(
            store.get_task(&tasks[0].id).await.expect("get"),
            Some(started)
        );
        assert_eq!(job_status(&store, &job.id).await.0, Status::Running);

        let again = store
            .start_task(&tasks[0].id, "worker-2", 2)
            .await
            .expect("start")
            .expect("a RUNNING task whose lease expired starts again")
            .task;
        assert_eq!(
            (again.worker.as_deref(), again.attempt),
            (Some("worker-2"), 2)
        );

        store
            .finish_task(&tasks[0].id, 2, &TaskOutcome::Finished)
            .await
            .expect("finish");
        assert_eq!(
            store
                .start_task(&tasks[0].id, "worker-3", 3)
                .await
                .expect("start")
                .map(|s| s.task),
            None,
            "a terminal task must not start"
        );
        assert_eq!(
            store
                .start_task(&TaskId::new(), "w", 1)
                .await
                .expect("start")
                .map(|s| s.task),
            None
        );
    }

    pub(crate) async fn start_task_reads_the_tenants_record(store: Store) {
        let t = tenant("a");
        let record = store
            .upsert_tenant(
                &t,
                &json!({"subscribedSubdomain": "a"}),
                &pg_location("a", "db1"),
            )
            .await
            .expect("subscribe");
        let v1 = ModelHash::of("v1");
        store.set_tenant_model(&t, &v1).await.expect("set model");
        let (_, tasks) = insert(&store, &["a"]).await;

        let started = store
            .start_task(&tasks[0].id, "w", 1)
            .await
            .expect("start")
            .expect("started");
        assert_eq!(
            started.tenant,
            Some(TenantRecord {
                model: Some(v1),
                ..record
            })
        );
    }

    pub(crate) async fn a_batch_of_finishes_records_tenant_models_and_ends_each_job_once(
        store: Store,
    ) {
        for t in ["a", "b", "c"] {
            store
                .upsert_tenant(&tenant(t), &json!({}), &pg_location(t, "db1"))
                .await
                .expect("subscribe");
        }
        let (first, first_tasks) = insert(&store, &["a", "b"]).await;
        let (second, second_tasks) = insert(&store, &["c"]).await;
        let stale = &second_tasks[0];
        for t in first_tasks.iter().chain([stale]) {
            store.start_task(&t.id, "w", 1).await.expect("start");
        }
        let v2 = ModelHash::of("v2");
        let ended_at = now() - chrono::Duration::seconds(5);
        let finished = |task: &Task, attempt, outcome, model: Option<&ModelHash>| FinishedTask {
            id: task.id,
            attempt,
            outcome,
            finished_at: ended_at,
            tenant_model: model.cloned(),
        };

        let outcomes = store
            .finish_tasks(&[
                finished(&first_tasks[0], 1, TaskOutcome::Finished, Some(&v2)),
                finished(stale, 7, TaskOutcome::Finished, Some(&v2)),
                finished(
                    &first_tasks[1],
                    1,
                    TaskOutcome::Failed {
                        error: "boom".into(),
                    },
                    None,
                ),
            ])
            .await
            .expect("finish a batch");

        let summary = "1 of 2 tasks failed; first: b: boom".to_owned();
        let ended = FinishOutcome::JobEnded {
            status: Status::Failed,
            error: Some(summary.clone()),
        };
        assert_eq!(outcomes.len(), 3, "{outcomes:?}");
        assert_eq!(outcomes[1], FinishOutcome::Stale, "attempt 7 never ran");
        assert!(
            (outcomes[0] == ended && outcomes[2] == FinishOutcome::Recorded)
                || (outcomes[0] == FinishOutcome::Recorded && outcomes[2] == ended),
            "exactly one of the job's tasks reports its end: {outcomes:?}"
        );
        assert_eq!(
            job_status(&store, &first.id).await,
            (Status::Failed, Some(summary))
        );
        assert_eq!(job_status(&store, &second.id).await.0, Status::Running);
        let model_of = |t: &'static str| {
            let store = store.clone();
            async move {
                store
                    .get_tenant(&tenant(t))
                    .await
                    .expect("get")
                    .expect("exists")
                    .model
            }
        };
        assert_eq!(model_of("a").await, Some(v2), "recorded with the outcome");
        let a = store
            .get_task(&first_tasks[0].id)
            .await
            .expect("get")
            .expect("exists");
        assert_eq!(
            a.finished_at,
            Some(ended_at),
            "the attempt's end, not the write's time"
        );
        assert_eq!(model_of("b").await, None, "no model given, none recorded");
        assert_eq!(model_of("c").await, None, "a stale attempt records nothing");
        assert_eq!(
            store.finish_tasks(&[]).await.expect("an empty batch"),
            Vec::new()
        );
    }

    pub(crate) async fn the_last_finish_ends_the_job_with_the_roll_up(store: Store) {
        let (job, tasks) = insert(&store, &["a", "b", "c"]).await;
        for t in &tasks {
            store.start_task(&t.id, "w", 1).await.expect("start");
        }

        let outcomes = [
            TaskOutcome::Finished,
            TaskOutcome::Failed {
                error: "boom".into(),
            },
            TaskOutcome::Timeout {
                error: "slow".into(),
            },
        ];
        let mut results = Vec::new();
        for (t, outcome) in tasks.iter().zip(&outcomes) {
            results.push(store.finish_task(&t.id, 1, outcome).await.expect("finish"));
        }

        assert_eq!(results[0], FinishOutcome::Recorded);
        assert_eq!(results[1], FinishOutcome::Recorded);
        let summary = "1 of 3 tasks failed; first: b: boom".to_owned();
        assert_eq!(
            results[2],
            FinishOutcome::JobEnded {
                status: Status::Failed,
                error: Some(summary.clone()),
            }
        );
        assert_eq!(
            job_status(&store, &job.id).await,
            (Status::Failed, Some(summary))
        );
        let b = store
            .get_task(&tasks[1].id)
            .await
            .expect("get")
            .expect("exists");
        assert_eq!(
            (b.status, b.error.as_deref()),
            (Status::Failed, Some("boom"))
        );
        assert!(b.finished_at.is_some());
    }

    pub(crate) async fn a_stale_attempt_is_rejected(store: Store) {
        let (job, tasks) = insert(&store, &["a"]).await;
        let id = tasks[0].id;
        store.start_task(&id, "w1", 1).await.expect("start");
        // The lease of attempt 1 expired and the task was claimed again.
        store.start_task(&id, "w2", 2).await.expect("restart");

        assert_eq!(
            store
                .finish_task(&id, 1, &TaskOutcome::Finished)
                .await
                .expect("finish"),
            FinishOutcome::Stale,
            "the old attempt must not record its outcome"
        );
        let task = store.get_task(&id).await.expect("get").expect("exists");
        assert_eq!((task.status, task.attempt), (Status::Running, 2));

        assert_eq!(
            store
                .finish_task(&id, 2, &TaskOutcome::Cancelled)
                .await
                .expect("finish"),
            FinishOutcome::JobEnded {
                status: Status::Cancelled,
                error: Some("1 of 1 task cancelled".into()),
            }
        );
        assert_eq!(
            store
                .finish_task(&id, 2, &TaskOutcome::Finished)
                .await
                .expect("finish"),
            FinishOutcome::Stale,
            "a terminal task must not change"
        );
        assert_eq!(job_status(&store, &job.id).await.0, Status::Cancelled);
        assert_eq!(
            store
                .finish_task(&TaskId::new(), 1, &TaskOutcome::Finished)
                .await
                .expect("finish"),
            FinishOutcome::Stale
        );
    }

    pub(crate) async fn concurrent_finishes_end_the_job_exactly_once(store: Store) {
        let names: Vec<String> = (0..50).map(|i| format!("t{i:02}")).collect();
        let refs: Vec<&str> = names.iter().map(String::as_str).collect();
        let (job, tasks) = insert(&store, &refs).await;
        for t in &tasks {
            store.start_task(&t.id, "w", 1).await.expect("start");
        }

        let finishes: Vec<_> = tasks
            .iter()
            .map(|t| {
                let store = Arc::clone(&store);
                let id = t.id;
                let outcome = if t.tenant.as_str() == "t07" {
                    TaskOutcome::Failed {
                        error: "boom".into(),
                    }
                } else {
                    TaskOutcome::Finished
                };
                tokio::spawn(async move { store.finish_task(&id, 1, &outcome).await })
            })
            .collect();
        let mut ended = Vec::new();
        for finish in finishes {
            match finish.await.expect("finish task panicked").expect("finish") {
                FinishOutcome::Recorded => {}
                FinishOutcome::JobEnded { status, error } => ended.push((status, error)),
                FinishOutcome::Stale => panic!("a current attempt was called stale"),
            }
        }

        let summary = Some("1 of 50 tasks failed; first: t07: boom".to_owned());
        assert_eq!(
            ended,
            [(Status::Failed, summary.clone())],
            "the job must end once"
        );
        assert_eq!(job_status(&store, &job.id).await, (Status::Failed, summary));
        assert!(
            store
                .unfinished_tasks()
                .await
                .expect("unfinished")
                .is_empty()
        );
    }

    pub(crate) async fn requeue_puts_a_running_task_back_keeping_the_last_error(store: Store) {
        let (_, tasks) = insert(&store, &["a"]).await;
        let id = tasks[0].id;
        store.start_task(&id, "w1", 1).await.expect("start");

        store
            .requeue_task(&id, 1, Some("connection reset"))
            .await
            .expect("requeue");
        let task = store.get_task(&id).await.expect("get").expect("exists");
        assert_eq!(
            (task.status, task.error.as_deref()),
            (Status::Queued, Some("connection reset"))
        );

        store.start_task(&id, "w2", 2).await.expect("start");
        store
            .requeue_task(&id, 1, Some("from a stale attempt"))
            .await
            .expect("requeue");
        assert_eq!(
            store
                .get_task(&id)
                .await
                .expect("get")
                .expect("exists")
                .status,
            Status::Running,
            "a stale attempt must not requeue"
        );
        store.requeue_task(&id, 2, None).await.expect("hand back");
        let task = store.get_task(&id).await.expect("get").expect("exists");
        assert_eq!(
            (task.status, task.error.as_deref()),
            (Status::Queued, Some("connection reset")),
            "a hand-back keeps the last error"
        );
    }

    pub(crate) async fn unfinished_tasks_are_listed_oldest_first(store: Store) {
        let base = now();
        let older = new_job(Op::Upgrade, base - chrono::Duration::seconds(10));
        let newer = new_job(Op::Subscribe, base);
        let newer_tasks = vec![new_task(&newer, "n")];
        let older_tasks = vec![new_task(&older, "o1"), new_task(&older, "o2")];
        store
            .insert_job(&newer, &newer_tasks, 10)
            .await
            .expect("insert");
        store
            .insert_job(&older, &older_tasks, 10)
            .await
            .expect("insert");
        store
            .start_task(&older_tasks[1].id, "w", 1)
            .await
            .expect("start");
        store
            .finish_task(&older_tasks[0].id, 0, &TaskOutcome::Cancelled)
            .await
            .expect("cancel a queued task");

        let unfinished: Vec<TaskId> = store
            .unfinished_tasks()
            .await
            .expect("unfinished")
            .into_iter()
            .map(|t| t.id)
            .collect();

        assert_eq!(unfinished, [older_tasks[1].id, newer_tasks[0].id]);
    }

    pub(crate) async fn only_old_terminal_jobs_are_deleted(store: Store) {
        let (old_done, old_done_tasks) = insert(&store, &["a"]).await;
        store
            .finish_task(&old_done_tasks[0].id, 0, &TaskOutcome::Finished)
            .await
            .expect("finish");
        let (old_running, old_running_tasks) = insert(&store, &["b"]).await;
        store
            .start_task(&old_running_tasks[0].id, "w", 1)
            .await
            .expect("start");
        tokio::time::sleep(Duration::from_millis(5)).await;
        let cutoff = Utc::now();
        tokio::time::sleep(Duration::from_millis(5)).await;
        let (new_done, new_done_tasks) = insert(&store, &["c"]).await;
        store
            .finish_task(&new_done_tasks[0].id, 0, &TaskOutcome::Finished)
            .await
            .expect("finish");

        assert_eq!(store.delete_jobs_before(cutoff).await.expect("delete"), 1);

        assert_eq!(store.get_job(&old_done.id).await.expect("get"), None);
        assert_eq!(
            store.get_task(&old_done_tasks[0].id).await.expect("get"),
            None,
            "tasks go with their job"
        );
        assert!(store.get_job(&old_running.id).await.expect("get").is_some());
        assert!(store.get_job(&new_done.id).await.expect("get").is_some());
    }
}

/// Several processes starting at once all migrate the same fresh database without error.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn postgres_concurrent_start_up_is_safe() {
    support::with_database(|url| async move {
        let starts: Vec<_> = (0..4)
            .map(|_| {
                let url = url.clone();
                tokio::spawn(async move { PostgresControlStore::connect(&url, 2).await })
            })
            .collect();
        for start in starts {
            let store = start
                .await
                .expect("start-up panicked")
                .expect("concurrent start-up must succeed");
            store.pool().close().await;
        }
    })
    .await;
}

/// Reopening keeps the data; a file from a newer build is refused instead of misread.
#[tokio::test]
async fn sqlite_reopens_its_file_and_refuses_a_newer_schema() {
    let dir = TempDir::new();
    let hash = ModelHash::of("v1");
    {
        let store = SqliteControlStore::open(dir.path()).await.expect("open");
        store.put_model(&hash, "{}").await.expect("put");
        assert_eq!(store.path(), dir.path().join("mtx-control.sqlite"));
    }
    let store = SqliteControlStore::open(dir.path()).await.expect("reopen");
    assert_eq!(
        store.get_model(&hash).await.expect("get").as_deref(),
        Some("{}")
    );

    let newer = TempDir::new();
    drop(SqliteControlStore::open(newer.path()).await.expect("open"));
    let url = format!(
        "sqlite://{}",
        newer.path().join("mtx-control.sqlite").display()
    );
    let mut conn = <sqlx::SqliteConnection as sqlx::Connection>::connect(&url)
        .await
        .expect("open the file directly");
    sqlx::raw_sql("PRAGMA user_version = 99")
        .execute(&mut conn)
        .await
        .expect("pretend a newer build wrote the file");
    drop(conn);
    let refused = SqliteControlStore::open(newer.path()).await;
    assert!(
        matches!(&refused, Err(ControlError::Corrupt(m)) if m.contains("99")),
        "{refused:?}"
    );
}

/// A data directory that does not exist yet is created.
#[tokio::test]
async fn sqlite_creates_a_missing_data_directory() {
    let dir = TempDir::new();
    let nested = dir.path().join("a").join("b");
    SqliteControlStore::open(&nested).await.expect("open");
    assert!(nested.join("mtx-control.sqlite").is_file());
}

/// A write abandoned at any await, its transaction's BEGIN included, leaves no transaction open
/// on the pooled connection: the next user's autocommit statements would run inside it and
/// never commit (the job end a stopping worker records, say), holding their locks meanwhile.
#[tokio::test]
async fn postgres_an_abandoned_write_leaves_no_transaction_open() {
    support::with_database(|url| async move {
        // One connection, so every statement runs on the one the abandoned write used.
        let store = PostgresControlStore::connect(&url, 1)
            .await
            .expect("connect and migrate the control plane");
        let location = pg_location("t", "db1");
        for polls in 0..200 {
            let t = tenant(&format!("t{polls}"));
            support::abandon_after(store.upsert_tenant(&t, &json!({}), &location), polls).await;
            let in_transaction = support::next_connection_in_transaction(store.pool())
                .await
                .expect("query");
            assert!(
                !in_transaction,
                "abandoned after {polls} polls, the write left its connection in a transaction"
            );
        }
        store.pool().close().await;
    })
    .await;
}

/// The schema the builds before `migrations/sqlite/` created in code, one step per
/// `PRAGMA user_version`, verbatim: a file they wrote must open with every row intact.
const USER_VERSION_SCHEMA: [&str; 2] = [
    r#"
CREATE TABLE model_versions (
    hash       TEXT PRIMARY KEY,
    csn        TEXT NOT NULL,
    created_at TEXT NOT NULL
) STRICT;

CREATE TABLE tenants (
    id          TEXT PRIMARY KEY,
    metadata    TEXT NOT NULL,
    location    TEXT NOT NULL,
    model       TEXT,
    created_at  TEXT NOT NULL,
    modified_at TEXT NOT NULL
) STRICT;

CREATE TABLE jobs (
    id          TEXT PRIMARY KEY,
    op          TEXT NOT NULL CHECK (op IN ('subscribe', 'unsubscribe', 'upgrade')),
    args        TEXT NOT NULL,
    status      TEXT NOT NULL
                CHECK (status IN ('QUEUED', 'RUNNING', 'FINISHED', 'FAILED', 'TIMEOUT', 'CANCELLED')),
    error       TEXT,
    created_at  TEXT NOT NULL,
    modified_at TEXT NOT NULL
) STRICT;

CREATE INDEX jobs_unfinished ON jobs (status) WHERE status IN ('QUEUED', 'RUNNING');
CREATE INDEX jobs_created ON jobs (created_at DESC, id DESC);
CREATE INDEX jobs_modified ON jobs (modified_at);

CREATE TABLE tasks (
    id          TEXT PRIMARY KEY,
    job_id      TEXT NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
    tenant      TEXT NOT NULL,
    op          TEXT NOT NULL CHECK (op IN ('subscribe', 'unsubscribe', 'upgrade')),
    args        TEXT NOT NULL,
    status      TEXT NOT NULL
                CHECK (status IN ('QUEUED', 'RUNNING', 'FINISHED', 'FAILED', 'TIMEOUT', 'CANCELLED')),
    error       TEXT,
    database_id TEXT NOT NULL,
    model       TEXT,
    attempt     INTEGER NOT NULL DEFAULT 0 CHECK (attempt >= 0),
    worker      TEXT,
    created_at  TEXT NOT NULL,
    modified_at TEXT NOT NULL,
    started_at  TEXT,
    finished_at TEXT
) STRICT;

CREATE INDEX tasks_job_tenant ON tasks (job_id, tenant);
CREATE INDEX tasks_job_unfinished ON tasks (job_id) WHERE status IN ('QUEUED', 'RUNNING');
CREATE INDEX tasks_unfinished ON tasks (created_at, id) WHERE status IN ('QUEUED', 'RUNNING');
"#,
    r#"
CREATE TABLE callbacks (
    job_id           TEXT PRIMARY KEY REFERENCES jobs (id) ON DELETE CASCADE,
    url              TEXT NOT NULL,
    subscription_url TEXT,
    state            TEXT NOT NULL CHECK (state IN ('PENDING', 'DELIVERED', 'EXPIRED')),
    attempts         INTEGER NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    next_attempt_at  TEXT NOT NULL,
    delivered_at     TEXT,
    created_at       TEXT NOT NULL
) STRICT;

CREATE INDEX callbacks_due ON callbacks (next_attempt_at) WHERE state = 'PENDING';

CREATE TABLE callback_attempts (
    job_id      TEXT NOT NULL REFERENCES callbacks (job_id) ON DELETE CASCADE,
    attempt     INTEGER NOT NULL CHECK (attempt >= 1),
    at          TEXT NOT NULL,
    http_status INTEGER,
    error       TEXT,
    PRIMARY KEY (job_id, attempt)
) STRICT;
"#,
];

/// What [`write_user_version_file`] puts in the file, to compare with what the store reads.
struct OldRows {
    model: ModelHash,
    tenant: TenantRecord,
    job: Job,
    task: Task,
}

/// Creates `mtx-control.sqlite` in `dir` as a build numbering its schema with `user_version`
/// alone did, at `version`, with a model version, a tenant, a finished job with its task and
/// (from version 2) the job's delivered callback, every value in the text form those builds
/// wrote.
async fn write_user_version_file(dir: &std::path::Path, version: usize) -> OldRows {
    let options = sqlx::sqlite::SqliteConnectOptions::new()
        .filename(dir.join("mtx-control.sqlite"))
        .create_if_missing(true);
    let mut conn = <sqlx::SqliteConnection as sqlx::Connection>::connect_with(&options)
        .await
        .expect("create the file");
    for step in &USER_VERSION_SCHEMA[..version] {
        sqlx::raw_sql(*step)
            .execute(&mut conn)
            .await
            .expect("the old schema");
    }
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
        "PRAGMA user_version = {version}"
    )))
    .execute(&mut conn)
    .await
    .expect("number the schema");

    let at = DateTime::parse_from_rfc3339("2026-11-18T11:07:53.489Z")
        .expect("a timestamp")
        .with_timezone(&Utc);
    let text = "2026-11-18T11:07:53.489Z";
    let model = ModelHash::of("old build");
    let location = StorageLocation::Sqlite {
        database: database("main"),
        path: dir.join("db-t1.sqlite"),
    };
    let tenant_record = TenantRecord {
        id: tenant("t1"),
        metadata: json!({"subscribedSubdomain": "t1-sub", "a": 1}),
        created_at: at,
        modified_at: at,
        location: location.clone(),
        model: Some(model.clone()),
    };
    let mut job = new_job(Op::Upgrade, at);
    job.status = Status::Finished;
    let mut task = new_task(&job, "t1");
    task.status = Status::Finished;
    task.attempt = 1;
    task.worker = Some("w1".to_owned());
    task.started_at = Some(at);
    task.finished_at = Some(at);
    let args = serde_json::to_string(&job.args).expect("args as JSON");

    let statements: Vec<(&str, Vec<String>)> = vec![
        (
            "INSERT INTO model_versions VALUES (?1, ?2, ?3)",
            vec![model.as_str().to_owned(), "{}".to_owned(), text.to_owned()],
        ),
        (
            "INSERT INTO tenants VALUES (?1, ?2, ?3, ?4, ?5, ?5)",
            vec![
                "t1".to_owned(),
                r#"{"subscribedSubdomain":"t1-sub","a":1}"#.to_owned(),
                serde_json::to_string(&location).expect("location as JSON"),
                model.as_str().to_owned(),
                text.to_owned(),
            ],
        ),
        (
            "INSERT INTO jobs VALUES (?1, 'upgrade', ?2, 'FINISHED', NULL, ?3, ?3)",
            vec![job.id.to_string(), args.clone(), text.to_owned()],
        ),
        (
            "INSERT INTO tasks VALUES (?1, ?2, 't1', 'upgrade', ?3, 'FINISHED', NULL, 'db1', ?4, \
             1, 'w1', ?5, ?5, ?5, ?5)",
            vec![
                task.id.to_string(),
                job.id.to_string(),
                args,
                ModelHash::of("t1").as_str().to_owned(),
                text.to_owned(),
            ],
        ),
    ];
    for (sql, binds) in statements {
        let mut query = sqlx::query(sql);
        for bind in binds {
            query = query.bind(bind);
        }
        query.execute(&mut conn).await.expect("an old row");
    }
    if version >= 2 {
        sqlx::query(
            "INSERT INTO callbacks VALUES (?1, '/callback', NULL, 'DELIVERED', 1, ?2, ?2, ?2)",
        )
        .bind(job.id.to_string())
        .bind(text)
        .execute(&mut conn)
        .await
        .expect("an old callback");
        sqlx::query("INSERT INTO callback_attempts VALUES (?1, 1, ?2, 200, NULL)")
            .bind(job.id.to_string())
            .bind(text)
            .execute(&mut conn)
            .await
            .expect("an old callback attempt");
    }
    drop(conn);
    OldRows {
        model,
        tenant: tenant_record,
        job,
        task,
    }
}

/// A file of the builds that numbered their schema with `PRAGMA user_version` opens with the
/// migration-based schema: every row reads back as it was written, and the store goes on.
#[tokio::test]
async fn sqlite_adopts_a_file_numbered_by_user_version() {
    let dir = TempDir::new();
    let old = write_user_version_file(dir.path(), 2).await;

    let store = SqliteControlStore::open(dir.path())
        .await
        .expect("adopt the old file");

    assert_eq!(
        store.get_model(&old.model).await.expect("model").as_deref(),
        Some("{}")
    );
    assert_eq!(
        store.get_tenant(&old.tenant.id).await.expect("tenant"),
        Some(old.tenant.clone())
    );
    let found = store
        .get_job(&old.job.id)
        .await
        .expect("job")
        .expect("the old job");
    assert_eq!(found.job, old.job);
    assert_eq!(found.tasks, [old.task]);
    let callbacks = store.callbacks_of(&[old.job.id]).await.expect("callbacks");
    let callback = &callbacks[&old.job.id];
    assert_eq!(callback.attempts, 1);
    assert_eq!(callback.history.len(), 1);
    assert_eq!(callback.history[0].http_status, Some(200));

    insert(&(Arc::new(store) as Store), &["t2"]).await;
    let reopened = SqliteControlStore::open(dir.path())
        .await
        .expect("reopen the adopted file");
    assert_eq!(
        reopened.get_tenant(&old.tenant.id).await.expect("tenant"),
        Some(old.tenant)
    );
    assert_eq!(reopened.list_jobs(10).await.expect("jobs").len(), 2);
}

/// A file from before the callbacks outbox (version 1) keeps its rows and gains the outbox.
#[tokio::test]
async fn sqlite_adopts_a_file_from_before_the_callback_outbox() {
    let dir = TempDir::new();
    let old = write_user_version_file(dir.path(), 1).await;

    let store = SqliteControlStore::open(dir.path())
        .await
        .expect("adopt the old file");

    assert_eq!(
        store.get_tenant(&old.tenant.id).await.expect("tenant"),
        Some(old.tenant)
    );
    assert_eq!(
        store
            .callbacks_of(&[old.job.id])
            .await
            .expect("the outbox exists now")
            .len(),
        0
    );
}
