//! Tests against a real Redis (`MTX_TEST_REDIS_URL`, default `redis://127.0.0.1:6379`). Each
//! test works under its own key prefix and deletes its keys when it ends, also on panic, so
//! tests run in parallel with each other and with other users of the same Redis.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use ::redis::AsyncCommands;

use super::*;
use crate::scheduler::conformance::{self, task};
use crate::testing::{RedisPrefix, redis_url};

const LONG_LEASE: Duration = Duration::from_secs(30);

fn limits(worker_size: u32, cluster_size: u32) -> Limits {
    Limits {
        worker_size,
        cluster_size,
    }
}

/// Hands out unique prefixes ([`RedisPrefix`]) and deletes their keys when dropped.
#[derive(Default)]
struct Prefixes(Mutex<Vec<RedisPrefix>>);

impl Prefixes {
    fn fresh(&self) -> String {
        let prefix = RedisPrefix::new();
        let name = prefix.prefix().to_owned();
        self.0.lock().expect("prefix list").push(prefix);
        name
    }
}

async fn scheduler(prefix: &str, limits: Limits) -> RedisScheduler {
    let s = RedisScheduler::connect(&redis_url(), prefix)
        .await
        .expect("Redis at MTX_TEST_REDIS_URL");
    s.initial_limits(limits).await.expect("initial limits");
    s
}

async fn admin() -> ::redis::aio::MultiplexedConnection {
    Client::open(redis_url())
        .expect("Redis URL")
        .get_multiplexed_async_connection()
        .await
        .expect("admin connection")
}

#[tokio::test]
async fn conformance_suite() {
    let prefixes = Prefixes::default();
    conformance::run_all(
        |l| {
            let prefix = prefixes.fresh();
            async move { scheduler(&prefix, l).await }
        },
        Duration::from_millis(200),
    )
    .await;
}

#[tokio::test]
async fn rejects_an_unsafe_prefix() {
    let err = RedisScheduler::connect(&redis_url(), "a}b")
        .await
        .expect_err("a brace would break the hash tag");
    assert!(matches!(err, SchedulerError::Config(_)), "{err}");
}

#[tokio::test]
async fn initial_limits_keep_an_operators_change() {
    let prefixes = Prefixes::default();
    let prefix = prefixes.fresh();
    let first = scheduler(&prefix, limits(2, 1)).await;
    first
        .set_limits(limits(7, 3))
        .await
        .expect("operator change");

    let restarted = RedisScheduler::connect(&redis_url(), &prefix)
        .await
        .expect("connect");
    let effective = restarted
        .initial_limits(limits(2, 1))
        .await
        .expect("initial limits");

    assert_eq!(effective, limits(7, 3));
    assert_eq!(restarted.limits().await.expect("limits"), limits(7, 3));
}

/// What the workers saw, checked at every start: the recorded interval of a task lies inside
/// its claim (recorded after the claim returned, ended before completing), so an overlap seen
/// here is a real one.
#[derive(Default)]
struct Observed {
    running_per_db: HashMap<DatabaseId, u32>,
    running_tenants: HashSet<TenantId>,
    completions: HashMap<TaskId, u32>,
    finished_per_tenant: HashMap<TenantId, Vec<TaskId>>,
    violations: Vec<String>,
}

impl Observed {
    fn start(&mut self, c: &Claim, limits: Limits) {
        let here = self
            .running_per_db
            .entry(c.task.database.clone())
            .or_insert(0);
        *here += 1;
        if *here > limits.worker_size {
            self.violations.push(format!(
                "{here} tasks at once on {}",
                c.task.database.as_str()
            ));
        }
        let databases = self.running_per_db.values().filter(|n| **n > 0).count();
        if databases > limits.cluster_size as usize {
            self.violations
                .push(format!("{databases} databases worked on at once"));
        }
        if !self.running_tenants.insert(c.task.tenant.clone()) {
            self.violations
                .push(format!("two tasks at once for tenant {}", c.task.tenant));
        }
    }

    fn end(&mut self, c: &Claim) {
        if let Some(n) = self.running_per_db.get_mut(&c.task.database) {
            *n -= 1;
        }
        self.running_tenants.remove(&c.task.tenant);
        self.finished_per_tenant
            .entry(c.task.tenant.clone())
            .or_default()
            .push(c.task.task);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn eight_processes_keep_the_limits_and_run_every_task_once() {
    // Arrange: 60 tenants × 5 operations over 2 databases, some in the provisioning lane.
    const TOTAL: usize = 300;
    let prefixes = Prefixes::default();
    let prefix = prefixes.fresh();
    let limits = limits(2, 1);
    let setup = scheduler(&prefix, limits).await;
    let mut tasks = Vec::new();
    let mut expected_order: HashMap<TenantId, Vec<TaskId>> = HashMap::new();
    for round in 0..5 {
        for t in 0..60 {
            let lane = if (t + round) % 5 == 0 {
                Lane::Provisioning
            } else {
                Lane::Bulk
            };
            let queued = task(
                JobId::new(),
                &format!("tenant{t}"),
                &format!("db{}", t % 2),
                lane,
            );
            expected_order
                .entry(queued.tenant.clone())
                .or_default()
                .push(queued.task);
            tasks.push(queued);
        }
    }
    setup.enqueue(&tasks).await.expect("enqueue");
    let observed = Arc::new(Mutex::new(Observed::default()));

    // Act: 8 workers, each with its own connections, as 8 processes would have.
    let mut workers = Vec::new();
    for w in 0..8 {
        let prefix = prefix.clone();
        let observed = Arc::clone(&observed);
        workers.push(tokio::spawn(async move {
            let s = scheduler(&prefix, limits).await;
            let name = format!("worker-{w}");
            loop {
                match s.claim(&name, LONG_LEASE).await.expect("claim") {
                    Some(c) => {
                        observed.lock().expect("observed").start(&c, limits);
                        let work = 1 + (c.task.task.0.as_u128() % 4) as u64;
                        tokio::time::sleep(Duration::from_millis(work)).await;
                        observed.lock().expect("observed").end(&c);
                        let accepted = s
                            .complete(&c.task.task, c.token, Completion::Done)
                            .await
                            .expect("complete");
                        *observed
                            .lock()
                            .expect("observed")
                            .completions
                            .entry(c.task.task)
                            .or_insert(0) += u32::from(accepted);
                    }
                    None => {
                        let done: u32 = observed
                            .lock()
                            .expect("observed")
                            .completions
                            .values()
                            .sum();
                        if done as usize >= TOTAL {
                            return;
                        }
                        s.wait_for_work(Duration::from_millis(50)).await;
                    }
                }
            }
        }));
    }
    let all = futures::future::join_all(workers);
    let results = tokio::time::timeout(Duration::from_secs(120), all)
        .await
        .expect("300 tasks must drain within 2 minutes");

    // Assert
    for r in results {
        r.expect("worker panicked");
    }
    let stats = setup.stats().await.expect("stats");
    let observed = observed.lock().expect("observed");
    assert!(
        observed.violations.is_empty(),
        "{} violations, the first: {:?}",
        observed.violations.len(),
        &observed.violations[..observed.violations.len().min(5)]
    );
    assert_eq!(observed.completions.len(), TOTAL);
    assert!(
        observed.completions.values().all(|n| *n == 1),
        "a task completed more than once"
    );
    assert_eq!(
        observed.finished_per_tenant, expected_order,
        "a tenant's tasks ran out of enqueue order"
    );
    assert_eq!(stats, QueueStats::default(), "the queue must be empty");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_thousand_tasks_enqueue_fast_and_drain() {
    const TOTAL: usize = 10_000;
    let prefixes = Prefixes::default();
    let prefix = prefixes.fresh();
    let s = Arc::new(scheduler(&prefix, limits(50, 4)).await);
    let job = JobId::new();
    let tasks: Vec<_> = (0..TOTAL)
        .map(|i| task(job, &format!("t{i}"), &format!("db{}", i % 4), Lane::Bulk))
        .collect();

    let started = Instant::now();
    s.enqueue(&tasks).await.expect("enqueue");
    let took = started.elapsed();
    s.enqueue(&tasks)
        .await
        .expect("enqueueing again is a no-op");

    eprintln!("enqueued {TOTAL} tasks in {took:?}");
    assert!(
        took < Duration::from_secs(10),
        "enqueueing {TOTAL} tasks took {took:?}"
    );
    assert_eq!(
        s.stats().await.expect("stats").queued_bulk,
        TOTAL as u64,
        "a re-enqueue duplicated tasks"
    );

    let started = Instant::now();
    let mut drains = Vec::new();
    for w in 0..4 {
        let s = Arc::clone(&s);
        drains.push(tokio::spawn(async move {
            let mut done = Vec::new();
            while let Some(c) = s
                .claim(&format!("drain-{w}"), LONG_LEASE)
                .await
                .expect("claim")
            {
                assert!(
                    s.complete(&c.task.task, c.token, Completion::Done)
                        .await
                        .expect("complete")
                );
                done.push(c.task.task);
            }
            done
        }));
    }
    let mut done = Vec::new();
    for d in futures::future::join_all(drains).await {
        done.extend(d.expect("drain worker"));
    }
    eprintln!("drained {TOTAL} tasks in {:?}", started.elapsed());

    let distinct: HashSet<_> = done.iter().collect();
    assert_eq!(done.len(), TOTAL, "every task is claimed once");
    assert_eq!(distinct.len(), TOTAL);
    assert_eq!(s.stats().await.expect("stats"), QueueStats::default());
}

#[tokio::test]
async fn poison_task_ends_after_max_attempts_and_frees_its_tenant() {
    let prefixes = Prefixes::default();
    let s = scheduler(&prefixes.fresh(), limits(2, 1)).await;
    let lease = Duration::from_millis(200);
    let mut poison = task(JobId::new(), "victim", "db1", Lane::Bulk);
    poison.max_attempts = 3;
    let behind = task(JobId::new(), "victim", "db1", Lane::Provisioning);
    s.enqueue(&[poison.clone(), behind.clone()])
        .await
        .expect("enqueue");

    // Every attempt kills its worker: the claim is never renewed nor completed.
    for attempt in 1..=3 {
        let c = s
            .claim(&format!("doomed-{attempt}"), lease)
            .await
            .expect("claim")
            .expect("the poison task is claimable again");
        assert_eq!((c.task.task, c.attempt), (poison.task, attempt));
        tokio::time::sleep(lease + Duration::from_millis(50)).await;
        let expired = s.reap().await.expect("reap");
        assert_eq!(
            expired,
            vec![Expired {
                task: poison.clone(),
                attempt,
                requeued: attempt < 3,
            }]
        );
    }

    let next = s
        .claim("survivor", LONG_LEASE)
        .await
        .expect("claim")
        .expect("the tenant's next task runs once the poison task is out");
    assert_eq!(next.task.task, behind.task);
    assert!(
        s.claim("survivor", LONG_LEASE)
            .await
            .expect("claim")
            .is_none()
    );
}

#[tokio::test]
async fn keeps_working_after_redis_lost_its_data() {
    let prefix = RedisPrefix::new();
    let s = scheduler(prefix.prefix(), limits(2, 1)).await;
    let a = task(JobId::new(), "a", "db1", Lane::Bulk);
    let b = task(JobId::new(), "b", "db1", Lane::Bulk);
    s.enqueue(&[a.clone(), b.clone()]).await.expect("enqueue");
    let before = s
        .claim("w", LONG_LEASE)
        .await
        .expect("claim")
        .expect("task");

    // A FLUSHALL would also wipe other users of the shared test Redis: delete this queue's keys.
    prefix.flush().expect("delete keys");

    assert_eq!(
        s.renew(&[(before.task.task, before.token)], LONG_LEASE)
            .await
            .expect("renew after data loss"),
        vec![LeaseState::Lost]
    );
    assert!(
        !s.complete(&before.task.task, before.token, Completion::Done)
            .await
            .expect("complete after data loss")
    );
    assert!(s.claim("w", LONG_LEASE).await.expect("claim").is_none());
    assert_eq!(s.limits().await.expect("limits"), limits(2, 1));

    // The reconciler re-enqueues what the control plane still has outstanding.
    let c = task(JobId::new(), "c", "db1", Lane::Bulk);
    s.enqueue(&[a.clone(), b.clone(), c])
        .await
        .expect("re-enqueue");
    let again = s
        .claim("w", LONG_LEASE)
        .await
        .expect("claim")
        .expect("task");
    assert_eq!((again.task.task, again.attempt), (before.task.task, 1));
    assert!(
        again.token > before.token,
        "fencing tokens must keep increasing across a data loss"
    );
    let second = s
        .claim("w", LONG_LEASE)
        .await
        .expect("claim")
        .expect("task");
    assert_eq!(second.task.task, b.task);
    assert!(
        s.claim("w", LONG_LEASE).await.expect("claim").is_none(),
        "workerSize 2, restored after the loss, must still apply"
    );
    let stored: Option<u32> = admin()
        .await
        .hget(s.key("config"), "worker_size")
        .await
        .expect("config");
    assert_eq!(stored, Some(2), "limits were not written back");
}

/// The ids of this scheduler's connections: its command connection answers `CLIENT ID`, its
/// wake-up subscription carries its name. Others share this Redis, so only these are killed.
async fn connection_ids(
    admin: &mut ::redis::aio::MultiplexedConnection,
    s: &RedisScheduler,
) -> Vec<u64> {
    let command: u64 = ::redis::cmd("CLIENT")
        .arg("ID")
        .query_async(&mut s.conn.clone())
        .await
        .expect("CLIENT ID");
    let list: String = ::redis::cmd("CLIENT")
        .arg("LIST")
        .query_async(admin)
        .await
        .expect("CLIENT LIST");
    let marker = format!(" name=mtx-{}-wake ", s.prefix());
    let mut ids: Vec<u64> = list
        .lines()
        .filter(|line| line.contains(&marker))
        .filter_map(|line| line.strip_prefix("id="))
        .filter_map(|rest| rest.split(' ').next())
        .filter_map(|id| id.parse().ok())
        .collect();
    ids.push(command);
    ids
}

async fn subscribers(admin: &mut ::redis::aio::MultiplexedConnection, channel: &str) -> u64 {
    let (_, n): (String, u64) = ::redis::cmd("PUBSUB")
        .arg("NUMSUB")
        .arg(channel)
        .query_async(admin)
        .await
        .expect("PUBSUB NUMSUB");
    n
}

async fn wait_for_subscriber(admin: &mut ::redis::aio::MultiplexedConnection, channel: &str) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while subscribers(admin, channel).await == 0 {
        assert!(
            Instant::now() < deadline,
            "the wake-up subscription did not come back"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn recovers_from_killed_connections() {
    let prefixes = Prefixes::default();
    let prefix = prefixes.fresh();
    let s = Arc::new(scheduler(&prefix, limits(2, 1)).await);
    let channel = s.key("wake");
    let mut admin = admin().await;
    s.wait_for_work(Duration::from_millis(1)).await;
    wait_for_subscriber(&mut admin, &channel).await;

    // Kill both of its connections (commands and pub/sub), as a Redis restart or a network
    // cut would, and only those: others share this Redis.
    let ids = connection_ids(&mut admin, &s).await;
    assert_eq!(
        ids.len(),
        2,
        "expected a command and a subscription connection"
    );
    for id in ids {
        let _: () = ::redis::cmd("CLIENT")
            .arg("KILL")
            .arg("ID")
            .arg(id)
            .query_async(&mut admin)
            .await
            .expect("CLIENT KILL");
    }

    // Calls fail as retryable at most for a while, then succeed on a new connection.
    let t = task(JobId::new(), "reconnected", "db1", Lane::Bulk);
    let mut failures = 0;
    loop {
        match s.enqueue(std::slice::from_ref(&t)).await {
            Ok(()) => break,
            Err(SchedulerError::Unavailable(_)) if failures < 50 => {
                failures += 1;
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            Err(e) => panic!("not recovered after {failures} retries: {e}"),
        }
    }
    let c = s
        .claim("w", LONG_LEASE)
        .await
        .expect("claim after reconnect")
        .expect("the task enqueued after reconnect");
    assert_eq!(c.task.task, t.task);

    eprintln!("recovered after {failures} failed calls");

    // The wake-up subscription comes back and delivers another process' enqueue. (The wake-up
    // every (re)subscription sends is over before the waiter starts.)
    wait_for_subscriber(&mut admin, &channel).await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    let waiter = {
        let s = Arc::clone(&s);
        tokio::spawn(async move {
            let started = Instant::now();
            s.wait_for_work(Duration::from_secs(20)).await;
            started.elapsed()
        })
    };
    tokio::time::sleep(Duration::from_millis(200)).await;
    let other = scheduler(&prefix, limits(2, 1)).await;
    other
        .enqueue(&[task(JobId::new(), "wake", "db1", Lane::Bulk)])
        .await
        .expect("enqueue from another process");
    let waited = waiter.await.expect("waiter");
    assert!(
        waited >= Duration::from_millis(150),
        "woken before the enqueue ({waited:?})"
    );
    assert!(
        waited < Duration::from_secs(5),
        "woken by the timeout ({waited:?}), not by the enqueue"
    );
}

#[test]
fn expiry_records_round_trip() {
    let t = task(JobId::new(), "t1", "db1", Lane::Provisioning);
    let record = format!("{} {} t1 db1 provisioning 2 1 1", t.task, t.job);
    assert_eq!(
        parse_expired(&record).expect("a valid record"),
        Expired {
            task: t,
            attempt: 1,
            requeued: true,
        }
    );
    assert!(matches!(
        parse_expired("too short"),
        Err(SchedulerError::Corrupt(_))
    ));
}

#[test]
fn durations_are_capped_for_lua() {
    assert_eq!(millis(Duration::from_millis(1500)), 1500);
    assert_eq!(millis(Duration::MAX), MAX_DURATION_MS);
}

/// The state [`recovers_from_losing_any_single_key`] damages: a task `a` running under a lease,
/// `c` queued behind it for the same tenant, a retry `p` waiting in the delayed set, and queued
/// tasks in both lanes on two databases. Returns the tasks and the running claim.
async fn busy_queue(s: &RedisScheduler) -> (Vec<QueuedTask>, Claim) {
    let job = JobId::new();
    let a = task(job, "ta", "db1", Lane::Bulk);
    let p = task(job, "tp", "db1", Lane::Provisioning);
    let rest = [
        task(job, "tb", "db1", Lane::Bulk),
        task(job, "ta", "db1", Lane::Bulk),
        task(job, "td", "db2", Lane::Bulk),
        task(job, "te", "db2", Lane::Provisioning),
    ];
    s.enqueue(std::slice::from_ref(&a)).await.expect("enqueue");
    let running = s.claim("w", LONG_LEASE).await.expect("claim").expect("a");
    s.enqueue(std::slice::from_ref(&p)).await.expect("enqueue");
    let retried = s.claim("w", LONG_LEASE).await.expect("claim").expect("p");
    let backoff = Duration::from_millis(300);
    assert!(
        s.complete(&p.task, retried.token, Completion::Retry { backoff })
            .await
            .expect("retry")
    );
    s.enqueue(&rest).await.expect("enqueue");
    let mut all = vec![a, p];
    all.extend(rest);
    (all, running)
}

/// Redis must run without eviction, but a key can still go (deleted by hand, a partial
/// restore): losing any one key of the queue, whatever it holds, must neither strand a task nor
/// leak a database slot, once the reconciler has re-enqueued what the control plane still has
/// outstanding and the maintenance loop has reaped.
#[tokio::test]
async fn recovers_from_losing_any_single_key() {
    let prefixes = Prefixes::default();
    let mut admin = admin().await;
    let keys: Vec<String> = {
        let prefix = prefixes.fresh();
        let s = scheduler(&prefix, limits(2, 2)).await;
        let (tasks, _) = busy_queue(&s).await;
        let keys: Vec<String> = admin.keys(format!("{{{prefix}}}*")).await.expect("KEYS");
        let mut roles: Vec<String> = keys
            .iter()
            .map(|k| role_of(&k[prefix.len() + 3..], &tasks))
            .collect();
        roles.sort();
        roles
    };
    assert!(
        keys.len() > 15,
        "the busy queue uses every kind of key: {keys:?}"
    );

    let mut failures = Vec::new();
    for lost in &keys {
        let prefix = prefixes.fresh();
        let s = scheduler(&prefix, limits(2, 2)).await;
        let (tasks, running) = busy_queue(&s).await;
        let deleted: u32 = admin
            .del(key_in_role(&prefix, lost, &tasks))
            .await
            .expect("DEL");
        assert_eq!(deleted, 1, "'{lost}' is not a key of this run");

        let mut done = HashSet::new();
        // The worker running `a` finishes it if its claim survived.
        if s.renew(&[(running.task.task, running.token)], LONG_LEASE)
            .await
            .expect("renew")
            == vec![LeaseState::Held]
        {
            assert!(
                s.complete(&running.task.task, running.token, Completion::Done)
                    .await
                    .expect("complete")
            );
            done.insert(running.task.task);
        }
        // A stale entry may stay in the delayed set until its backoff has passed: wait for it.
        let mut stats = QueueStats::default();
        for _round in 0..20 {
            // The reconciler re-enqueues everything the control plane has not seen finish, and
            // the maintenance loop reaps.
            let outstanding: Vec<QueuedTask> = tasks
                .iter()
                .filter(|t| !done.contains(&t.task))
                .cloned()
                .collect();
            s.enqueue(&outstanding).await.expect("re-enqueue");
            s.reap().await.expect("reap");
            while let Some(c) = s.claim("w2", LONG_LEASE).await.expect("claim") {
                assert!(
                    s.complete(&c.task.task, c.token, Completion::Done)
                        .await
                        .expect("complete")
                );
                done.insert(c.task.task);
            }
            stats = s.stats().await.expect("stats");
            if done.len() == tasks.len() && stats == QueueStats::default() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        if done.len() != tasks.len() || stats != QueueStats::default() {
            failures.push(format!(
                "'{lost}': {} of {} tasks ran, left {stats:?}",
                done.len(),
                tasks.len()
            ));
        }
    }
    assert!(failures.is_empty(), "after losing a key: {failures:#?}");
}

/// A key's name with a task id replaced by the task's position in `tasks` (`task:#1`), which
/// names the same role in every run of [`busy_queue`].
fn role_of(name: &str, tasks: &[QueuedTask]) -> String {
    match name.strip_prefix("task:") {
        Some(id) => match tasks.iter().position(|t| t.task.to_string() == id) {
            Some(i) => format!("task:#{i}"),
            None => name.to_owned(),
        },
        None => name.to_owned(),
    }
}

/// The key of `prefix` in the role `role` (see [`role_of`]).
fn key_in_role(prefix: &str, role: &str, tasks: &[QueuedTask]) -> String {
    let name = match role
        .strip_prefix("task:#")
        .and_then(|i| i.parse::<usize>().ok())
    {
        Some(i) => format!("task:{}", tasks[i].task),
        None => role.to_owned(),
    };
    format!("{{{prefix}}}:{name}")
}
