//! The distributed scheduler: leases in Redis, shared by every `mtx-worker` and `mtx-api`
//! process of the production mode.
//!
//! # Layout
//! - this file: [`RedisScheduler`], which turns each [`Scheduler`] call into one script call (or a
//!   pipeline of them) and parses the replies into domain types;
//! - `lua/common.lua`: key names and the state transitions shared by the scripts (queue, release,
//!   forget, reap, promote); `lua/<operation>.lua`: one script per operation;
//! - `redis/tests.rs`: the conformance suite and the distributed checks against a real Redis.
//!
//! # Why our own scripts, not a queue library
//! apalis-redis 1.0 was measured for this project and rejected (design record `queue.md`): more
//! than 7,999 due tasks crash every worker (an unbounded Lua `unpack`), each task start costs
//! O(backlog) (`LREM` on the in-flight list), `max_attempts` is ignored, a Redis restart kills
//! the worker, and there are no global limits or per-key mutual exclusion at all. Those limits
//! need an atomic scheduler in Redis whatever the framework, and once it exists it *is* the queue.
//! So each operation of [`Scheduler`] is one Lua script (`scheduler/lua/`), atomic on the Redis
//! thread, sharing a prelude of helpers (`common.lua`).
//!
//! # Key space
//! Every key starts with the hash tag `{<prefix>}` (default `mtx`), so all keys live in one Redis
//! Cluster slot, which multi-key scripts require. The base key `{<prefix>}` is passed as `KEYS[1]`
//! and the scripts derive the others from it.
//!
//! | key | type | holds |
//! |---|---|---|
//! | `task:<id>` | HASH | job, tenant, db, lane, max, attempts, seq, state (`pending`/`delayed`/`running`), token, worker, cancel |
//! | `tenant:<tenant>` | LIST | the tenant's unfinished tasks in enqueue order, across lanes; only the head may run |
//! | `pending:<lane>:<db>` | ZSET | queued tasks of one lane and database, scored by enqueue sequence |
//! | `ready:<lane>` | ZSET | databases with queued tasks in the lane, scored by their oldest one |
//! | `dbrun` | HASH | database → running tasks (field gone at 0; `HLEN` = databases worked on) |
//! | `leases` | ZSET | running task → lease expiry, in ms of Redis `TIME` |
//! | `delayed` | ZSET | task waiting for a retry → when it may run again |
//! | `expired` | LIST | expiries found by `claim`, kept for `reap` to report |
//! | `seq`, `fence` | STRING | enqueue sequence; fencing-token counter |
//! | `streak` | STRING | provisioning claims in a row while bulk work waited |
//! | `config` | HASH | `worker_size`, `cluster_size`, changeable at runtime |
//! | `wake` | channel | published on enqueue and limit changes, and on completion, cancel and reap while tasks are queued |
//!
//! # How the scripts stay cheap
//! * Pending sets are ZSETs keyed by enqueue sequence, not lists: a claim reads the first members
//!   and removes the chosen one by member, so it costs O(active databases + scan depth), never
//!   O(backlog) (apalis' `LREM` on a 46,000-element list took 1 ms per task start). A task that
//!   comes back (expired lease, retry, hand-back) keeps its sequence and so its place in line.
//! * Per-tenant order is a short list per tenant; a queued task is eligible only at its head, so
//!   one task per tenant runs, in enqueue order, even across lanes. The claim's scan skips
//!   ineligible tasks, up to [`SCAN_DEPTH`] per database and four times that per claim.
//! * Every loop is bounded (reaping 100 leases and promoting 100 retries per call, scanning in
//!   chunks), no script `unpack`s a caller-sized table, and callers send at most 1,000 tasks per
//!   script call; enqueue pipelines ten such calls per round trip (10,000 tasks: about 0.2 s).
//! * All time comparisons use `redis.call('TIME')` inside the script, so worker clocks never
//!   matter (Redis 7 replicates script effects, so reading the clock is allowed).
//!
//! # Failure behaviour
//! * Transport errors become [`SchedulerError::Unavailable`]; the [`ConnectionManager`]
//!   reconnects in the background and the caller retries with backoff. Responses time out after
//!   [`RESPONSE_TIMEOUT`] instead of hanging.
//! * If Redis loses its data, `enqueue` accepts the tasks again (the control plane's reconciler
//!   re-enqueues them); the limits fall back to this process' [`RedisScheduler::initial_limits`]
//!   and are written back; the fencing counter is re-seeded from the clock in microseconds, so
//!   later tokens are still larger than any token handed out before and a worker from before the
//!   loss can never renew or complete a new claim. Such a worker learns it at its next renewal
//!   ([`LeaseState::Lost`]); until then a re-enqueued copy of its task may start beside it, which
//!   the task runner's per-tenant Postgres advisory lock serialises (the design's backstop).
//! * Wake-ups go over a dedicated subscription connection (named `mtx-<prefix>-wake` in
//!   `CLIENT LIST`) that is re-established when it drops; a lost message only costs latency, as
//!   [`Scheduler::wait_for_work`] falls back to its timeout.
//! * Redis must run with `maxmemory-policy noeviction` and AOF persistence. Still, losing any
//!   one key (deleted by hand, a partial restore, a flush racing the workers) strands no task
//!   and leaks no slot once the reconciler has re-enqueued: `enqueue` puts a known task back
//!   where its state says it is if it is missing from there (pending set, ready set, delayed
//!   set, leases, tenant order), `claim` drops tenant heads and pending members whose task is
//!   gone, and `reap` recomputes the per-database running counts from the leases, O(running
//!   tasks). Checked key by key by `recovers_from_losing_any_single_key`.

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, LazyLock, OnceLock};
use std::time::Duration;

use ::redis::aio::ConnectionManager;
use ::redis::{
    AsyncCommands, Client, ErrorKind, IntoConnectionInfo, RedisError, Script, ServerErrorKind,
};
use async_trait::async_trait;
use tokio::sync::Notify;

use super::{
    Claim, Completion, Expired, FenceToken, LeaseState, Limits, PROVISIONING_BURST, QueueStats,
    QueuedTask, SCAN_DEPTH, Scheduler, SchedulerError,
};
use crate::vocab::{DatabaseId, JobId, Lane, TaskId, TenantId};

/// How long one command may take before the call fails with [`SchedulerError::Unavailable`].
/// Generous: a 1,000-task enqueue chunk is one script call, and a stalled Redis must not look
/// like a fast failure loop.
pub const RESPONSE_TIMEOUT: Duration = Duration::from_secs(10);
/// How long establishing a connection may take.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// Tasks per script call (enqueue), claims per renewal call, ids per cancel call.
const CHUNK: usize = 1000;
/// Enqueue script calls sent in one pipelined round trip.
const CHUNKS_PER_PIPELINE: usize = 10;
/// Reap calls per [`Scheduler::reap`], each bounded; what remains is reported next time.
const MAX_REAP_ROUNDS: usize = 50;
/// Leases and backoffs are capped so the millisecond arithmetic stays exact in Lua's doubles.
const MAX_DURATION_MS: u64 = 30 * 24 * 3600 * 1000;
/// Pub/sub reconnect backoff.
const WAKE_RETRY_MIN: Duration = Duration::from_millis(100);
const WAKE_RETRY_MAX: Duration = Duration::from_secs(5);

/// The default hash tag of every key, used by the binaries.
pub const DEFAULT_PREFIX: &str = "mtx";

/// Limits used while none are stored in Redis and [`RedisScheduler::initial_limits`] was not
/// called: cds-mtxs' defaults (`workerSize` 1, `clusterSize` 3).
pub const FALLBACK_LIMITS: Limits = Limits {
    worker_size: 1,
    cluster_size: 3,
};

const COMMON: &str = include_str!("lua/common.lua");

/// The scripts, each prefixed with the shared helpers. `Script` hashes its source once and runs
/// it with `EVALSHA`, loading it again after a Redis restart (`NOSCRIPT`).
struct Scripts {
    enqueue: Script,
    claim: Script,
    renew: Script,
    complete: Script,
    reap: Script,
    cancel: Script,
    stats: Script,
}

static SCRIPTS: LazyLock<Scripts> = LazyLock::new(|| {
    let script = |body: &str| Script::new(&format!("{COMMON}\n{body}"));
    Scripts {
        enqueue: script(include_str!("lua/enqueue.lua")),
        claim: script(include_str!("lua/claim.lua")),
        renew: script(include_str!("lua/renew.lua")),
        complete: script(include_str!("lua/complete.lua")),
        reap: script(include_str!("lua/reap.lua")),
        cancel: script(include_str!("lua/cancel.lua")),
        stats: script(include_str!("lua/stats.lua")),
    }
});

/// The production scheduler: the queue state lives in Redis and every process sees the same
/// limits, leases and order. Cheap to share behind an `Arc`; each instance holds one multiplexed
/// connection (reconnecting) and, once [`Scheduler::wait_for_work`] is used, one pub/sub
/// connection.
pub struct RedisScheduler {
    conn: ConnectionManager,
    /// The same server, speaking RESP3, for the wake-up subscription.
    wake_client: Client,
    prefix: String,
    /// `{prefix}`: `KEYS[1]` of every script.
    base: String,
    /// Limits applied while Redis holds none (first start, data loss).
    fallback_worker_size: AtomicU32,
    fallback_cluster_size: AtomicU32,
    wake: Arc<Notify>,
    listener: OnceLock<Listener>,
}

impl std::fmt::Debug for RedisScheduler {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisScheduler")
            .field("prefix", &self.prefix)
            .field("fallback_limits", &self.fallback_limits())
            .finish_non_exhaustive()
    }
}

/// The background task relaying wake-ups; stopped when the scheduler is dropped.
struct Listener(tokio::task::AbortHandle);

impl Drop for Listener {
    fn drop(&mut self) {
        self.0.abort();
    }
}

impl RedisScheduler {
    /// Connects to Redis at `url` (`redis://host:port[/db]`) and uses `{prefix}` as the hash tag
    /// of every key, so several queues can share one Redis.
    ///
    /// `prefix` must pass [`check_prefix`] ([`SchedulerError::Config`] otherwise). An
    /// unreachable Redis gives [`SchedulerError::Unavailable`]; the caller may retry. Needs
    /// Redis 6 or later (RESP3 for the wake-up subscription, `ZADD LT`).
    pub async fn connect(url: &str, prefix: &str) -> Result<Self, SchedulerError> {
        validate_prefix(prefix)?;
        let info = url
            .into_connection_info()
            .map_err(|e| SchedulerError::Config(format!("invalid Redis URL: {e}")))?;
        let client = Client::open(info.clone())
            .map_err(|e| SchedulerError::Config(format!("invalid Redis URL: {e}")))?;
        let resp3 = info
            .redis_settings()
            .clone()
            .set_protocol(::redis::ProtocolVersion::RESP3);
        let wake_client = Client::open(info.set_redis_settings(resp3))
            .map_err(|e| SchedulerError::Config(format!("invalid Redis URL: {e}")))?;
        let config = ::redis::aio::ConnectionManagerConfig::new()
            .set_response_timeout(Some(RESPONSE_TIMEOUT))
            .set_connection_timeout(Some(CONNECT_TIMEOUT))
            .set_max_delay(Duration::from_secs(2));
        let conn = client
            .get_connection_manager_with_config(config)
            .await
            .map_err(transport)?;
        Ok(Self {
            conn,
            wake_client,
            prefix: prefix.to_owned(),
            base: format!("{{{prefix}}}"),
            fallback_worker_size: AtomicU32::new(FALLBACK_LIMITS.worker_size),
            fallback_cluster_size: AtomicU32::new(FALLBACK_LIMITS.cluster_size),
            wake: Arc::new(Notify::new()),
            listener: OnceLock::new(),
        })
    }

    /// Makes `limits` this process' configured limits: they are stored in Redis unless limits
    /// are stored already (an operator's runtime change is never overwritten, `HSETNX`), and
    /// they apply again whenever Redis has lost its copy. Returns the limits in effect.
    pub async fn initial_limits(&self, limits: Limits) -> Result<Limits, SchedulerError> {
        self.fallback_worker_size
            .store(limits.worker_size, Ordering::Relaxed);
        self.fallback_cluster_size
            .store(limits.cluster_size, Ordering::Relaxed);
        let key = self.key("config");
        let (_, _, stored): ((), (), (Option<u32>, Option<u32>)) = ::redis::pipe()
            .hset_nx(&key, "worker_size", limits.worker_size)
            .hset_nx(&key, "cluster_size", limits.cluster_size)
            .hmget(&key, &["worker_size", "cluster_size"])
            .query_async(&mut self.conn.clone())
            .await
            .map_err(transport)?;
        Ok(self.or_fallback(stored))
    }

    /// The hash tag of this scheduler's keys (without braces).
    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    fn key(&self, name: &str) -> String {
        format!("{}:{name}", self.base)
    }

    fn fallback_limits(&self) -> Limits {
        Limits {
            worker_size: self.fallback_worker_size.load(Ordering::Relaxed),
            cluster_size: self.fallback_cluster_size.load(Ordering::Relaxed),
        }
    }

    fn or_fallback(&self, (worker_size, cluster_size): (Option<u32>, Option<u32>)) -> Limits {
        let fallback = self.fallback_limits();
        Limits {
            worker_size: worker_size.unwrap_or(fallback.worker_size),
            cluster_size: cluster_size.unwrap_or(fallback.cluster_size),
        }
    }

    /// Starts relaying wake-ups from the pub/sub channel, once per scheduler.
    fn ensure_listener(&self) {
        self.listener.get_or_init(|| {
            let task = tokio::spawn(relay_wakeups(
                self.wake_client.clone(),
                self.key("wake"),
                format!("mtx-{}-wake", self.prefix),
                Arc::clone(&self.wake),
            ));
            Listener(task.abort_handle())
        });
    }
}

/// Keeps a subscription to the wake-up channel and turns each message into a local wake-up.
/// Reconnects with backoff whenever the connection drops; wakes everybody after (re)subscribing
/// since messages published in between are lost.
///
/// The subscription is a RESP3 connection with a push channel rather than a RESP2 pub/sub
/// connection: it can still run commands, so it names itself (`CLIENT SETNAME`) for operators
/// (and tests) to find it in `CLIENT LIST`, and the library reports its loss as a push.
async fn relay_wakeups(client: Client, channel: String, name: String, wake: Arc<Notify>) {
    let mut backoff = WAKE_RETRY_MIN;
    loop {
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
        let config = ::redis::AsyncConnectionConfig::new()
            .set_connection_timeout(Some(CONNECT_TIMEOUT))
            .set_response_timeout(Some(RESPONSE_TIMEOUT))
            .set_push_sender(tx);
        let subscribed = async {
            let mut conn = client
                .get_multiplexed_async_connection_with_config(&config)
                .await?;
            ::redis::cmd("CLIENT")
                .arg("SETNAME")
                .arg(&name)
                .exec_async(&mut conn)
                .await?;
            conn.subscribe(&channel).await?;
            Ok::<_, RedisError>(conn)
        };
        match subscribed.await {
            Ok(_conn) => {
                backoff = WAKE_RETRY_MIN;
                wake.notify_waiters();
                while let Some(push) = rx.recv().await {
                    match push.kind {
                        ::redis::PushKind::Message => wake.notify_waiters(),
                        ::redis::PushKind::Disconnection => break,
                        _ => {}
                    }
                }
                tracing::debug!(channel, "wake-up subscription lost, reconnecting");
            }
            Err(e) => {
                tracing::warn!(channel, error = %e, "wake-up subscription failed, retrying");
            }
        }
        tokio::time::sleep(backoff).await;
        backoff = (backoff * 2).min(WAKE_RETRY_MAX);
    }
}

/// The longest key prefix: the hash tag is repeated in every key, and a short one keeps keys
/// small.
pub const MAX_PREFIX_LEN: usize = 64;

/// The rule for a key prefix, which the configuration applies too: 1 to [`MAX_PREFIX_LEN`] of
/// `[A-Za-z0-9_.-]`, so it cannot close the `{…}` hash tag or collide with key separators.
pub fn check_prefix(prefix: &str) -> Result<(), String> {
    let valid = (1..=MAX_PREFIX_LEN).contains(&prefix.len())
        && prefix
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'));
    if valid {
        Ok(())
    } else {
        Err(format!(
            "must be 1 to {MAX_PREFIX_LEN} characters of [A-Za-z0-9_.-], got '{prefix}'"
        ))
    }
}

fn validate_prefix(prefix: &str) -> Result<(), SchedulerError> {
    check_prefix(prefix)
        .map_err(|message| SchedulerError::Config(format!("Redis key prefix {message}")))
}

/// Transport and server trouble is retryable; a reply we cannot read, or a failing script,
/// means the data or the scripts are wrong.
fn transport(e: RedisError) -> SchedulerError {
    let script_failed = e.kind() == ErrorKind::Server(ServerErrorKind::ResponseError)
        && e.detail().is_some_and(|d| d.contains("script"));
    if script_failed || matches!(e.kind(), ErrorKind::Parse | ErrorKind::UnexpectedReturnType) {
        SchedulerError::Corrupt(e.to_string())
    } else {
        SchedulerError::Unavailable(e.to_string())
    }
}

fn corrupt(what: impl std::fmt::Display) -> SchedulerError {
    SchedulerError::Corrupt(what.to_string())
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).map_or(MAX_DURATION_MS, |ms| ms.min(MAX_DURATION_MS))
}

fn lane_name(lane: Lane) -> &'static str {
    match lane {
        Lane::Provisioning => "provisioning",
        Lane::Bulk => "bulk",
    }
}

fn parse_lane(raw: &str) -> Result<Lane, SchedulerError> {
    match raw {
        "provisioning" => Ok(Lane::Provisioning),
        "bulk" => Ok(Lane::Bulk),
        other => Err(corrupt(format_args!("unknown lane '{other}'"))),
    }
}

fn parse_number<T: std::str::FromStr>(raw: &str, what: &str) -> Result<T, SchedulerError> {
    raw.parse()
        .map_err(|_| corrupt(format_args!("{what} '{raw}' is not a number")))
}

/// Reads `task job tenant db lane max_attempts` as the scripts store them.
fn parse_task(fields: &[&str]) -> Result<QueuedTask, SchedulerError> {
    let [task, job, tenant, db, lane, max, ..] = fields else {
        return Err(corrupt(format_args!("task record too short: {fields:?}")));
    };
    Ok(QueuedTask {
        task: TaskId::parse(task).map_err(|e| corrupt(format_args!("task id '{task}': {e}")))?,
        job: JobId::parse(job).map_err(|e| corrupt(format_args!("job id '{job}': {e}")))?,
        tenant: TenantId::parse(tenant)
            .map_err(|e| corrupt(format_args!("tenant '{tenant}': {e}")))?,
        database: DatabaseId::parse(db).map_err(corrupt)?,
        lane: parse_lane(lane)?,
        max_attempts: parse_number(max, "max_attempts")?,
    })
}

/// Reads a claim reply: the task record, then token and attempt.
fn parse_claim(reply: &[String]) -> Result<Claim, SchedulerError> {
    let fields: Vec<&str> = reply.iter().map(String::as_str).collect();
    let [.., token, attempt] = fields.as_slice() else {
        return Err(corrupt("empty claim reply"));
    };
    if fields.len() != 8 {
        return Err(corrupt(format_args!(
            "claim reply has {} fields",
            fields.len()
        )));
    }
    Ok(Claim {
        task: parse_task(&fields)?,
        token: FenceToken(parse_number(token, "fencing token")?),
        attempt: parse_number(attempt, "attempt")?,
    })
}

/// Reads an expiry record: `task job tenant db lane max_attempts attempt requeued`.
fn parse_expired(record: &str) -> Result<Expired, SchedulerError> {
    let fields: Vec<&str> = record.split(' ').collect();
    let [.., attempt, requeued] = fields.as_slice() else {
        return Err(corrupt("empty expiry record"));
    };
    if fields.len() != 8 {
        return Err(corrupt(format_args!("expiry record '{record}'")));
    }
    Ok(Expired {
        task: parse_task(&fields)?,
        attempt: parse_number(attempt, "attempt")?,
        requeued: *requeued == "1",
    })
}

#[async_trait]
impl Scheduler for RedisScheduler {
    async fn enqueue(&self, tasks: &[QueuedTask]) -> Result<(), SchedulerError> {
        let scripts = &*SCRIPTS;
        let mut conn = self.conn.clone();
        for group in tasks.chunks(CHUNK * CHUNKS_PER_PIPELINE) {
            let mut pipe = ::redis::pipe();
            // Loading first makes the pipelined EVALSHAs safe after a Redis restart.
            pipe.load_script(&scripts.enqueue).ignore();
            for chunk in group.chunks(CHUNK) {
                let mut call = scripts.enqueue.key(&self.base);
                for t in chunk {
                    call.arg(t.task.to_string())
                        .arg(t.job.to_string())
                        .arg(t.tenant.as_str())
                        .arg(t.database.as_str())
                        .arg(lane_name(t.lane))
                        .arg(t.max_attempts);
                }
                pipe.invoke_script(&call).ignore();
            }
            pipe.exec_async(&mut conn).await.map_err(transport)?;
        }
        self.wake.notify_waiters();
        Ok(())
    }

    async fn claim(&self, worker: &str, lease: Duration) -> Result<Option<Claim>, SchedulerError> {
        let fallback = self.fallback_limits();
        let reply: Option<Vec<String>> = SCRIPTS
            .claim
            .key(&self.base)
            .arg(worker)
            .arg(millis(lease))
            .arg(fallback.worker_size)
            .arg(fallback.cluster_size)
            .arg(SCAN_DEPTH)
            .arg(PROVISIONING_BURST)
            .invoke_async(&mut self.conn.clone())
            .await
            .map_err(transport)?;
        reply.as_deref().map(parse_claim).transpose()
    }

    async fn renew(
        &self,
        claims: &[(TaskId, FenceToken)],
        lease: Duration,
    ) -> Result<Vec<LeaseState>, SchedulerError> {
        let mut conn = self.conn.clone();
        let mut states = Vec::with_capacity(claims.len());
        for chunk in claims.chunks(CHUNK) {
            let mut call = SCRIPTS.renew.key(&self.base);
            call.arg(millis(lease));
            for (task, token) in chunk {
                call.arg(task.to_string()).arg(token.0);
            }
            let reply: Vec<i64> = call.invoke_async(&mut conn).await.map_err(transport)?;
            if reply.len() != chunk.len() {
                return Err(corrupt("renewal reply does not match the claims"));
            }
            states.extend(reply.into_iter().map(|state| match state {
                1 => LeaseState::Held,
                2 => LeaseState::CancelRequested,
                _ => LeaseState::Lost,
            }));
        }
        Ok(states)
    }

    async fn complete(
        &self,
        task: &TaskId,
        token: FenceToken,
        completion: Completion,
    ) -> Result<bool, SchedulerError> {
        let (outcome, backoff) = match completion {
            Completion::Done => ("done", 0),
            Completion::Retry { backoff } => ("retry", millis(backoff)),
            Completion::HandBack => ("handback", 0),
        };
        let accepted: i64 = SCRIPTS
            .complete
            .key(&self.base)
            .arg(task.to_string())
            .arg(token.0)
            .arg(outcome)
            .arg(backoff)
            .invoke_async(&mut self.conn.clone())
            .await
            .map_err(transport)?;
        if accepted == 1 {
            self.wake.notify_waiters();
        }
        Ok(accepted == 1)
    }

    async fn reap(&self) -> Result<Vec<Expired>, SchedulerError> {
        let mut conn = self.conn.clone();
        let mut expired = Vec::new();
        for _ in 0..MAX_REAP_ROUNDS {
            let reply: Vec<String> = SCRIPTS
                .reap
                .key(&self.base)
                .invoke_async(&mut conn)
                .await
                .map_err(transport)?;
            let Some((more, records)) = reply.split_first() else {
                return Err(corrupt("empty reap reply"));
            };
            for record in records {
                expired.push(parse_expired(record)?);
            }
            if more != "1" {
                break;
            }
        }
        if !expired.is_empty() {
            self.wake.notify_waiters();
        }
        Ok(expired)
    }

    async fn cancel(&self, tasks: &[TaskId]) -> Result<Vec<TaskId>, SchedulerError> {
        let mut conn = self.conn.clone();
        let mut removed = Vec::new();
        for chunk in tasks.chunks(CHUNK) {
            let mut call = SCRIPTS.cancel.key(&self.base);
            for task in chunk {
                call.arg(task.to_string());
            }
            let reply: Vec<String> = call.invoke_async(&mut conn).await.map_err(transport)?;
            for id in reply {
                removed.push(
                    TaskId::parse(&id).map_err(|e| corrupt(format_args!("task id '{id}': {e}")))?,
                );
            }
        }
        self.wake.notify_waiters();
        Ok(removed)
    }

    async fn limits(&self) -> Result<Limits, SchedulerError> {
        let stored: (Option<u32>, Option<u32>) = self
            .conn
            .clone()
            .hmget(self.key("config"), &["worker_size", "cluster_size"])
            .await
            .map_err(transport)?;
        Ok(self.or_fallback(stored))
    }

    async fn set_limits(&self, limits: Limits) -> Result<(), SchedulerError> {
        ::redis::pipe()
            .hset_multiple(
                self.key("config"),
                &[
                    ("worker_size", limits.worker_size),
                    ("cluster_size", limits.cluster_size),
                ],
            )
            .ignore()
            .publish(self.key("wake"), "limits")
            .ignore()
            .exec_async(&mut self.conn.clone())
            .await
            .map_err(transport)?;
        self.wake.notify_waiters();
        Ok(())
    }

    async fn stats(&self) -> Result<QueueStats, SchedulerError> {
        let (queued_provisioning, queued_bulk, delayed, running): (u64, u64, u64, Vec<String>) =
            SCRIPTS
                .stats
                .key(&self.base)
                .invoke_async(&mut self.conn.clone())
                .await
                .map_err(transport)?;
        let mut running = running
            .chunks(2)
            .map(|pair| match pair {
                [db, n] => Ok((
                    DatabaseId::parse(db).map_err(corrupt)?,
                    parse_number(n, "running")?,
                )),
                _ => Err(corrupt("odd running-count reply")),
            })
            .collect::<Result<Vec<_>, _>>()?;
        running.sort();
        Ok(QueueStats {
            queued_provisioning,
            queued_bulk,
            delayed,
            running,
        })
    }

    async fn wait_for_work(&self, timeout: Duration) {
        self.ensure_listener();
        let _ = tokio::time::timeout(timeout, self.wake.notified()).await;
    }
}

#[cfg(test)]
mod tests;
