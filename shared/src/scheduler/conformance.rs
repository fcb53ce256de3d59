//! The conformance suite every [`Scheduler`] implementation must pass.
//!
//! Each check starts from a fresh scheduler built by the caller's factory, so the same checks run
//! against the in-process scheduler and against Redis. Checks panic with a message naming the
//! violated property.

use std::future::Future;
use std::time::Duration;

use super::{Completion, LeaseState, Limits, QueuedTask, Scheduler};
use crate::jobs::{JobId, Lane, TaskId};
use crate::tenant::{DatabaseId, TenantId};

const LONG_LEASE: Duration = Duration::from_secs(30);

/// Builds a queued task for tests.
pub fn task(job: JobId, tenant: &str, db: &str, lane: Lane) -> QueuedTask {
    QueuedTask {
        task: TaskId::new(),
        job,
        tenant: TenantId::parse(tenant).expect("test tenant id"),
        database: DatabaseId::parse(db).expect("test database id"),
        lane,
        max_attempts: 2,
    }
}

/// Runs every check. `short_lease` is a lease short enough to wait out in a test.
pub async fn run_all<S, F, Fut>(make: F, short_lease: Duration)
where
    S: Scheduler,
    F: Fn(Limits) -> Fut,
    Fut: Future<Output = S>,
{
    worker_size_limits_running_tasks_per_database(&make(limits(2, 5)).await).await;
    cluster_size_limits_databases_at_once(&make(limits(5, 1)).await).await;
    one_task_per_tenant_in_enqueue_order(&make(limits(5, 5)).await).await;
    provisioning_goes_before_bulk(&make(limits(1, 1)).await).await;
    enqueue_is_idempotent(&make(limits(5, 5)).await).await;
    stale_completion_is_rejected(&make(limits(5, 5)).await, short_lease).await;
    expired_lease_is_requeued_then_exhausted(&make(limits(5, 5)).await, short_lease).await;
    retry_waits_for_backoff(&make(limits(5, 5)).await).await;
    cancel_removes_queued_and_flags_running(&make(limits(5, 5)).await).await;
    limits_change_at_runtime(&make(limits(1, 1)).await).await;
}

fn limits(worker_size: u32, cluster_size: u32) -> Limits {
    Limits {
        worker_size,
        cluster_size,
    }
}

async fn claim(s: &impl Scheduler) -> Option<super::Claim> {
    s.claim("test-worker", LONG_LEASE)
        .await
        .expect("claim must not fail")
}

async fn worker_size_limits_running_tasks_per_database(s: &impl Scheduler) {
    let job = JobId::new();
    let tasks: Vec<_> = (0..4)
        .map(|i| task(job, &format!("t{i}"), "db1", Lane::Bulk))
        .collect();
    s.enqueue(&tasks).await.expect("enqueue");
    let a = claim(s).await.expect("first claim");
    let _b = claim(s).await.expect("second claim");
    assert!(
        claim(s).await.is_none(),
        "workerSize 2 allowed a third task on db1"
    );
    assert!(
        s.complete(&a.task.task, a.token, Completion::Done)
            .await
            .expect("complete")
    );
    assert!(claim(s).await.is_some(), "a freed slot was not reused");
}

async fn cluster_size_limits_databases_at_once(s: &impl Scheduler) {
    let job = JobId::new();
    let tasks = vec![
        task(job, "a1", "db1", Lane::Bulk),
        task(job, "a2", "db1", Lane::Bulk),
        task(job, "b1", "db2", Lane::Bulk),
    ];
    s.enqueue(&tasks).await.expect("enqueue");
    let first = claim(s).await.expect("claim");
    let second = claim(s).await.expect("claim");
    assert_eq!(
        first.task.database, second.task.database,
        "clusterSize 1 let a second database start"
    );
    assert!(claim(s).await.is_none(), "clusterSize 1 let db2 start");
    for c in [first, second] {
        s.complete(&c.task.task, c.token, Completion::Done)
            .await
            .expect("complete");
    }
    let third = claim(s).await.expect("db2 must start once db1 is idle");
    assert_eq!(third.task.database.as_str(), "db2");
}

async fn one_task_per_tenant_in_enqueue_order(s: &impl Scheduler) {
    let first = task(JobId::new(), "same", "db1", Lane::Bulk);
    let second = task(JobId::new(), "same", "db1", Lane::Provisioning);
    s.enqueue(std::slice::from_ref(&first))
        .await
        .expect("enqueue");
    s.enqueue(std::slice::from_ref(&second))
        .await
        .expect("enqueue");
    let c = claim(s).await.expect("claim");
    assert_eq!(
        c.task.task, first.task,
        "tenant order not preserved across lanes"
    );
    assert!(
        claim(s).await.is_none(),
        "two tasks ran at once for one tenant"
    );
    s.complete(&c.task.task, c.token, Completion::Done)
        .await
        .expect("complete");
    let c2 = claim(s).await.expect("second task after first completed");
    assert_eq!(c2.task.task, second.task);
}

async fn provisioning_goes_before_bulk(s: &impl Scheduler) {
    let bulk: Vec<_> = (0..3)
        .map(|i| task(JobId::new(), &format!("u{i}"), "db1", Lane::Bulk))
        .collect();
    s.enqueue(&bulk).await.expect("enqueue");
    let sub = task(JobId::new(), "newcomer", "db1", Lane::Provisioning);
    s.enqueue(std::slice::from_ref(&sub))
        .await
        .expect("enqueue");
    let c = claim(s).await.expect("claim");
    assert_eq!(
        c.task.task, sub.task,
        "a subscription waited behind a bulk upgrade"
    );
}

async fn enqueue_is_idempotent(s: &impl Scheduler) {
    let t = task(JobId::new(), "idem", "db1", Lane::Bulk);
    s.enqueue(std::slice::from_ref(&t)).await.expect("enqueue");
    let c = claim(s).await.expect("claim");
    s.enqueue(std::slice::from_ref(&t))
        .await
        .expect("re-enqueue");
    assert!(
        claim(s).await.is_none(),
        "re-enqueueing a running task duplicated it"
    );
    s.complete(&c.task.task, c.token, Completion::Done)
        .await
        .expect("complete");
}

async fn stale_completion_is_rejected(s: &impl Scheduler, short_lease: Duration) {
    let t = task(JobId::new(), "fenced", "db1", Lane::Bulk);
    s.enqueue(std::slice::from_ref(&t)).await.expect("enqueue");
    let old = s
        .claim("w1", short_lease)
        .await
        .expect("claim")
        .expect("task");
    tokio::time::sleep(short_lease + Duration::from_millis(50)).await;
    s.reap().await.expect("reap");
    let new = s
        .claim("w2", LONG_LEASE)
        .await
        .expect("claim")
        .expect("re-claim after expiry");
    assert!(new.token > old.token, "fencing tokens must increase");
    assert_eq!(new.attempt, 2);
    assert_eq!(
        s.renew(&[(old.task.task, old.token)], LONG_LEASE)
            .await
            .expect("renew"),
        vec![LeaseState::Lost]
    );
    assert!(
        !s.complete(&old.task.task, old.token, Completion::Done)
            .await
            .expect("complete"),
        "a stale worker's completion was accepted"
    );
    assert!(
        s.complete(&new.task.task, new.token, Completion::Done)
            .await
            .expect("complete")
    );
}

async fn expired_lease_is_requeued_then_exhausted(s: &impl Scheduler, short_lease: Duration) {
    let t = task(JobId::new(), "poison", "db1", Lane::Bulk);
    s.enqueue(std::slice::from_ref(&t)).await.expect("enqueue");
    for attempt in 1..=2 {
        let c = s
            .claim("w", short_lease)
            .await
            .expect("claim")
            .expect("task");
        assert_eq!(c.attempt, attempt);
        tokio::time::sleep(short_lease + Duration::from_millis(50)).await;
        let expired = s.reap().await.expect("reap");
        assert_eq!(expired.len(), 1, "lease expiry not reported");
        assert_eq!(expired[0].requeued, attempt < 2, "attempt {attempt}");
    }
    assert!(
        claim(s).await.is_none(),
        "an exhausted task was claimed again"
    );
    assert!(
        s.stats().await.expect("stats").running.is_empty(),
        "slot leaked"
    );
}

async fn retry_waits_for_backoff(s: &impl Scheduler) {
    let t = task(JobId::new(), "retry", "db1", Lane::Bulk);
    s.enqueue(std::slice::from_ref(&t)).await.expect("enqueue");
    let c = claim(s).await.expect("claim");
    let backoff = Duration::from_millis(300);
    s.complete(&c.task.task, c.token, Completion::Retry { backoff })
        .await
        .expect("complete");
    assert!(claim(s).await.is_none(), "retried before its backoff");
    tokio::time::sleep(backoff + Duration::from_millis(50)).await;
    let again = claim(s).await.expect("retry after backoff");
    assert_eq!(again.attempt, 2);
    s.complete(&again.task.task, again.token, Completion::Done)
        .await
        .expect("complete");
}

async fn cancel_removes_queued_and_flags_running(s: &impl Scheduler) {
    let job = JobId::new();
    let running = task(job, "c1", "db1", Lane::Bulk);
    let queued = task(job, "c2", "db1", Lane::Bulk);
    s.enqueue(&[running.clone(), queued.clone()])
        .await
        .expect("enqueue");
    let c = claim(s).await.expect("claim");
    assert_eq!(c.task.task, running.task);
    let removed = s
        .cancel(&[running.task, queued.task])
        .await
        .expect("cancel");
    assert_eq!(
        removed,
        vec![queued.task],
        "only the queued task leaves the queue at once"
    );
    assert_eq!(
        s.renew(&[(c.task.task, c.token)], LONG_LEASE)
            .await
            .expect("renew"),
        vec![LeaseState::CancelRequested]
    );
    s.complete(&c.task.task, c.token, Completion::Done)
        .await
        .expect("complete");
    assert!(claim(s).await.is_none(), "a cancelled task was claimed");
}

async fn limits_change_at_runtime(s: &impl Scheduler) {
    let tasks: Vec<_> = (0..3)
        .map(|i| task(JobId::new(), &format!("l{i}"), "db1", Lane::Bulk))
        .collect();
    s.enqueue(&tasks).await.expect("enqueue");
    assert!(claim(s).await.is_some());
    assert!(claim(s).await.is_none());
    s.set_limits(limits(3, 1)).await.expect("set limits");
    assert!(claim(s).await.is_some(), "raised workerSize not applied");
    assert!(claim(s).await.is_some());
}
