//! The conformance suite every [`Scheduler`] implementation must pass.
//!
//! Each check starts from a fresh scheduler built by the caller's factory, so the same checks run
//! against the in-process scheduler and against Redis. Checks panic with a message naming the
//! violated property.

use std::future::Future;
use std::time::Duration;

use super::{
    Completion, LeaseState, Limits, PROVISIONING_BURST, QueueStats, QueuedTask, Scheduler,
};
use crate::vocab::{DatabaseId, JobId, Lane, TaskId, TenantId};

const LONG_LEASE: Duration = Duration::from_secs(30);

/// Builds a queued task for tests.
pub(super) fn task(job: JobId, tenant: &str, db: &str, lane: Lane) -> QueuedTask {
    QueuedTask {
        task: TaskId::new(),
        job,
        tenant: TenantId::parse(tenant).expect("test tenant id"),
        database: DatabaseId::parse(db).expect("test database id"),
        lane,
        max_attempts: 2,
    }
}

/// Runs every check. `short_lease` is a lease short enough to wait out in a test. The checks wait
/// with `tokio::time::sleep`: a scheduler on tokio's clock runs them with paused time.
pub(super) async fn run_all<S, F, Fut>(make: F, short_lease: Duration)
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
    scan_skips_a_busy_tenant(&make(limits(5, 5)).await).await;
    bulk_is_not_starved_by_provisioning(&make(limits(20, 1)).await).await;
    idle_databases_wait_for_the_oldest_task(&make(limits(5, 2)).await).await;
    renewal_keeps_a_lease_alive(&make(limits(5, 5)).await, short_lease).await;
    expiry_found_by_claim_is_reported_by_reap(&make(limits(5, 5)).await, short_lease).await;
    cancel_requested_task_is_not_requeued_on_expiry(&make(limits(5, 5)).await, short_lease).await;
    retry_keeps_the_tenant_waiting(&make(limits(5, 5)).await).await;
    hand_back_does_not_count_the_attempt(&make(limits(5, 5)).await).await;
    cancel_removes_delayed_task_and_unblocks_tenant(&make(limits(5, 5)).await).await;
    stats_count_lanes_delayed_and_running(&make(limits(5, 5)).await).await;
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

async fn scan_skips_a_busy_tenant(s: &impl Scheduler) {
    let job = JobId::new();
    let a1 = task(job, "busy", "db1", Lane::Bulk);
    let a2 = task(job, "busy", "db1", Lane::Bulk);
    let b1 = task(job, "free", "db1", Lane::Bulk);
    s.enqueue(&[a1.clone(), a2.clone(), b1.clone()])
        .await
        .expect("enqueue");
    let first = claim(s).await.expect("claim");
    assert_eq!(first.task.task, a1.task);
    let second = claim(s)
        .await
        .expect("a task of another tenant must not wait");
    assert_eq!(
        second.task.task, b1.task,
        "the scan did not skip the busy tenant's second task"
    );
    assert!(
        claim(s).await.is_none(),
        "a tenant's second task ran beside its first"
    );
}

async fn bulk_is_not_starved_by_provisioning(s: &impl Scheduler) {
    let bulk = task(JobId::new(), "upgrade-me", "db1", Lane::Bulk);
    s.enqueue(std::slice::from_ref(&bulk))
        .await
        .expect("enqueue");
    let subscriptions: Vec<_> = (0..PROVISIONING_BURST + 3)
        .map(|i| task(JobId::new(), &format!("sub{i}"), "db1", Lane::Provisioning))
        .collect();
    s.enqueue(&subscriptions).await.expect("enqueue");
    let mut lanes = Vec::new();
    for _ in 0..=PROVISIONING_BURST {
        lanes.push(claim(s).await.expect("claim").task.lane);
    }
    let expected: Vec<Lane> = (0..PROVISIONING_BURST)
        .map(|_| Lane::Provisioning)
        .chain([Lane::Bulk])
        .collect();
    assert_eq!(
        lanes, expected,
        "after {PROVISIONING_BURST} provisioning claims the waiting bulk task must go first"
    );
    assert_eq!(
        claim(s).await.expect("claim").task.lane,
        Lane::Provisioning,
        "after the bulk task provisioning leads again"
    );
}

async fn idle_databases_wait_for_the_oldest_task(s: &impl Scheduler) {
    let job = JobId::new();
    let older = task(job, "o1", "db-b", Lane::Bulk);
    let newer = task(job, "n1", "db-a", Lane::Bulk);
    let more_b = task(job, "o2", "db-b", Lane::Bulk);
    s.enqueue(std::slice::from_ref(&older))
        .await
        .expect("enqueue");
    s.enqueue(std::slice::from_ref(&newer))
        .await
        .expect("enqueue");
    s.enqueue(std::slice::from_ref(&more_b))
        .await
        .expect("enqueue");
    let first = claim(s).await.expect("claim");
    assert_eq!(
        first.task.task, older.task,
        "the database with the oldest task must start first"
    );
    let second = claim(s).await.expect("claim");
    assert_eq!(
        second.task.task, more_b.task,
        "an active database with room goes before an idle one"
    );
}

async fn renewal_keeps_a_lease_alive(s: &impl Scheduler, short_lease: Duration) {
    let t = task(JobId::new(), "renewed", "db1", Lane::Bulk);
    s.enqueue(std::slice::from_ref(&t)).await.expect("enqueue");
    let c = s
        .claim("w", short_lease)
        .await
        .expect("claim")
        .expect("task");
    assert_eq!(
        s.renew(&[(c.task.task, c.token)], LONG_LEASE)
            .await
            .expect("renew"),
        vec![LeaseState::Held]
    );
    tokio::time::sleep(short_lease + Duration::from_millis(50)).await;
    assert!(
        s.reap().await.expect("reap").is_empty(),
        "a renewed lease expired"
    );
    assert!(
        s.complete(&c.task.task, c.token, Completion::Done)
            .await
            .expect("complete"),
        "the holder of a renewed lease could not complete"
    );
}

async fn expiry_found_by_claim_is_reported_by_reap(s: &impl Scheduler, short_lease: Duration) {
    let t = task(JobId::new(), "reported", "db1", Lane::Bulk);
    s.enqueue(std::slice::from_ref(&t)).await.expect("enqueue");
    let first = s
        .claim("w1", short_lease)
        .await
        .expect("claim")
        .expect("task");
    tokio::time::sleep(short_lease + Duration::from_millis(50)).await;
    let second = claim(s).await.expect("the claim must reap and re-claim");
    assert_eq!(second.task.task, t.task);
    assert_eq!(second.attempt, 2);
    let expired = s.reap().await.expect("reap");
    assert_eq!(
        expired,
        vec![super::Expired {
            task: t.clone(),
            attempt: first.attempt,
            requeued: true,
        }],
        "an expiry found by claim was not reported"
    );
    assert!(
        s.reap().await.expect("reap").is_empty(),
        "an expiry was reported twice"
    );
}

async fn cancel_requested_task_is_not_requeued_on_expiry(
    s: &impl Scheduler,
    short_lease: Duration,
) {
    let t = task(JobId::new(), "doomed", "db1", Lane::Bulk);
    s.enqueue(std::slice::from_ref(&t)).await.expect("enqueue");
    let c = s
        .claim("w", short_lease)
        .await
        .expect("claim")
        .expect("task");
    assert!(s.cancel(&[c.task.task]).await.expect("cancel").is_empty());
    tokio::time::sleep(short_lease + Duration::from_millis(50)).await;
    let expired = s.reap().await.expect("reap");
    assert_eq!(expired.len(), 1);
    assert!(
        !expired[0].requeued,
        "a task whose cancel was requested came back after its lease expired"
    );
    assert!(claim(s).await.is_none());
}

async fn retry_keeps_the_tenant_waiting(s: &impl Scheduler) {
    let first = task(JobId::new(), "patient", "db1", Lane::Bulk);
    let second = task(JobId::new(), "patient", "db1", Lane::Bulk);
    s.enqueue(&[first.clone(), second.clone()])
        .await
        .expect("enqueue");
    let c = claim(s).await.expect("claim");
    let backoff = Duration::from_millis(300);
    s.complete(&c.task.task, c.token, Completion::Retry { backoff })
        .await
        .expect("complete");
    assert!(
        claim(s).await.is_none(),
        "a tenant's later task overtook its task waiting for a retry"
    );
    tokio::time::sleep(backoff + Duration::from_millis(50)).await;
    let again = claim(s).await.expect("retry after backoff");
    assert_eq!(again.task.task, first.task);
}

async fn hand_back_does_not_count_the_attempt(s: &impl Scheduler) {
    let t = task(JobId::new(), "handed", "db1", Lane::Bulk);
    s.enqueue(std::slice::from_ref(&t)).await.expect("enqueue");
    let c = claim(s).await.expect("claim");
    assert!(
        s.complete(&c.task.task, c.token, Completion::HandBack)
            .await
            .expect("hand back")
    );
    assert!(
        s.stats().await.expect("stats").running.is_empty(),
        "a handed-back task kept its slot"
    );
    let again = claim(s)
        .await
        .expect("a handed-back task is claimable at once");
    assert_eq!(again.attempt, 1, "a hand-back counted as an attempt");
    assert!(again.token > c.token);
}

async fn cancel_removes_delayed_task_and_unblocks_tenant(s: &impl Scheduler) {
    let first = task(JobId::new(), "stuck", "db1", Lane::Bulk);
    let second = task(JobId::new(), "stuck", "db1", Lane::Provisioning);
    s.enqueue(&[first.clone(), second.clone()])
        .await
        .expect("enqueue");
    let c = claim(s).await.expect("claim");
    s.complete(
        &c.task.task,
        c.token,
        Completion::Retry {
            backoff: LONG_LEASE,
        },
    )
    .await
    .expect("complete");
    assert_eq!(
        s.cancel(&[first.task]).await.expect("cancel"),
        vec![first.task],
        "a task waiting for a retry must leave the queue when cancelled"
    );
    let next = claim(s).await.expect("the tenant's next task");
    assert_eq!(next.task.task, second.task);
    assert_eq!(s.stats().await.expect("stats").delayed, 0);
}

async fn stats_count_lanes_delayed_and_running(s: &impl Scheduler) {
    let job = JobId::new();
    let tasks = vec![
        task(job, "s1", "db1", Lane::Provisioning),
        task(job, "s2", "db1", Lane::Provisioning),
        task(job, "s3", "db2", Lane::Bulk),
        task(job, "s4", "db2", Lane::Bulk),
        task(job, "s5", "db1", Lane::Bulk),
    ];
    s.enqueue(&tasks).await.expect("enqueue");
    let running = claim(s).await.expect("claim");
    let delayed = claim(s).await.expect("claim");
    s.complete(
        &delayed.task.task,
        delayed.token,
        Completion::Retry {
            backoff: LONG_LEASE,
        },
    )
    .await
    .expect("complete");
    assert_eq!(
        s.stats().await.expect("stats"),
        QueueStats {
            queued_provisioning: 0,
            queued_bulk: 3,
            delayed: 1,
            running: vec![(running.task.database.clone(), 1)],
        }
    );
}
