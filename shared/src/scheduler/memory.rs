//! The in-process scheduler of the embedded mode: the same state machine as the Redis scheduler,
//! under one mutex, with leases on the monotonic clock.

use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::sync::Mutex;
use std::time::Duration;

use async_trait::async_trait;
use tokio::sync::Notify;
use tokio::time::Instant;

use super::{
    Claim, Completion, Expired, FenceToken, LeaseState, Limits, PROVISIONING_BURST, QueueStats,
    QueuedTask, SCAN_DEPTH, Scheduler, SchedulerError,
};
use crate::vocab::{DatabaseId, Lane, TaskId, TenantId};

#[derive(Debug)]
enum State {
    Pending,
    Delayed {
        until: Instant,
    },
    Running {
        token: FenceToken,
        lease_until: Instant,
    },
}

#[derive(Debug)]
struct Entry {
    task: QueuedTask,
    state: State,
    attempts: u32,
    cancel_requested: bool,
    seq: u64,
}

#[derive(Debug, Default)]
struct Inner {
    entries: HashMap<TaskId, Entry>,
    /// Per lane, per database: pending task ids in enqueue order.
    pending: HashMap<(Lane, DatabaseId), VecDeque<TaskId>>,
    /// Per tenant: every task not yet done, in enqueue order (the head is the only one eligible).
    tenant_order: HashMap<TenantId, VecDeque<TaskId>>,
    /// Database → running count (absent at zero).
    running: BTreeMap<DatabaseId, u32>,
    /// The tasks that are not pending (running or delayed): the only ones whose lease or
    /// backoff can run out, so the only ones every claim looks at, however long the queue.
    unsettled: HashSet<TaskId>,
    fence: u64,
    seq: u64,
    provisioning_streak: u32,
    expired: Vec<Expired>,
}

/// The embedded mode's scheduler.
#[derive(Debug)]
pub struct MemoryScheduler {
    inner: Mutex<Inner>,
    limits: Mutex<Limits>,
    wake: Notify,
}

impl MemoryScheduler {
    pub fn new(limits: Limits) -> Self {
        Self {
            inner: Mutex::new(Inner::default()),
            limits: Mutex::new(limits),
            wake: Notify::new(),
        }
    }

    fn lock(&self) -> Result<std::sync::MutexGuard<'_, Inner>, SchedulerError> {
        self.inner
            .lock()
            .map_err(|_| SchedulerError::Corrupt("scheduler state poisoned".into()))
    }

    fn current_limits(&self) -> Result<Limits, SchedulerError> {
        self.limits
            .lock()
            .map(|l| *l)
            .map_err(|_| SchedulerError::Corrupt("limits poisoned".into()))
    }
}

impl Inner {
    fn push_pending(&mut self, id: TaskId, front: bool) {
        if let Some(entry) = self.entries.get(&id) {
            let key = (entry.task.lane, entry.task.database.clone());
            let queue = self.pending.entry(key).or_default();
            if front {
                queue.push_front(id);
            } else {
                queue.push_back(id);
            }
        }
    }

    fn remove_pending(&mut self, id: &TaskId, lane: Lane, db: &DatabaseId) {
        let key = (lane, db.clone());
        if let Some(queue) = self.pending.get_mut(&key) {
            // A claimed task is near the head: found after a few steps, not a whole scan.
            if let Some(at) = queue.iter().position(|t| t == id) {
                queue.remove(at);
            }
            if queue.is_empty() {
                self.pending.remove(&key);
            }
        }
    }

    fn release_slot(&mut self, db: &DatabaseId) {
        if let Some(count) = self.running.get_mut(db) {
            *count -= 1;
            if *count == 0 {
                self.running.remove(db);
            }
        }
    }

    /// Removes a task for good (done, cancelled, exhausted).
    fn forget(&mut self, id: &TaskId) {
        self.unsettled.remove(id);
        if let Some(entry) = self.entries.remove(id) {
            if let Some(order) = self.tenant_order.get_mut(&entry.task.tenant) {
                order.retain(|t| t != id);
                if order.is_empty() {
                    self.tenant_order.remove(&entry.task.tenant);
                }
            }
            if matches!(entry.state, State::Pending) {
                self.remove_pending(id, entry.task.lane, &entry.task.database);
            }
        }
    }

    fn reap(&mut self, now: Instant) {
        let overdue: Vec<TaskId> = self
            .unsettled
            .iter()
            .filter(|id| {
                self.entries.get(id).is_some_and(
                    |e| matches!(e.state, State::Running { lease_until, .. } if lease_until <= now),
                )
            })
            .copied()
            .collect();
        for id in overdue {
            let Some(entry) = self.entries.get_mut(&id) else {
                continue;
            };
            let db = entry.task.database.clone();
            let requeued = entry.attempts < entry.task.max_attempts && !entry.cancel_requested;
            let expired = Expired {
                task: entry.task.clone(),
                attempt: entry.attempts,
                requeued,
            };
            if requeued {
                entry.state = State::Pending;
                self.unsettled.remove(&id);
            }
            self.release_slot(&db);
            if requeued {
                // Back at the head: it was first in line when it was claimed.
                self.push_pending(id, true);
            } else {
                self.forget(&id);
            }
            self.expired.push(expired);
        }
    }

    fn promote_delayed(&mut self, now: Instant) {
        let due: Vec<TaskId> = self
            .unsettled
            .iter()
            .filter(|id| {
                self.entries
                    .get(id)
                    .is_some_and(|e| matches!(e.state, State::Delayed { until } if until <= now))
            })
            .copied()
            .collect();
        for id in due {
            if let Some(entry) = self.entries.get_mut(&id) {
                entry.state = State::Pending;
            }
            self.unsettled.remove(&id);
            self.push_pending(id, true);
        }
    }

    fn eligible(&self, id: &TaskId) -> bool {
        let Some(entry) = self.entries.get(id) else {
            return false;
        };
        self.tenant_order
            .get(&entry.task.tenant)
            .and_then(|order| order.front())
            == Some(id)
    }

    /// The first eligible task of `lane` on a database that has room, oldest database first.
    fn pick(&self, lane: Lane, limits: Limits) -> Option<TaskId> {
        let cluster_full = self.running.len() as u32 >= limits.cluster_size;
        let mut candidates: Vec<(u64, TaskId)> = Vec::new();
        for ((l, db), queue) in &self.pending {
            if *l != lane {
                continue;
            }
            let running_here = self.running.get(db).copied().unwrap_or(0);
            if running_here >= limits.worker_size {
                continue;
            }
            if running_here == 0 && cluster_full {
                continue;
            }
            if let Some(id) = queue.iter().take(SCAN_DEPTH).find(|id| self.eligible(id)) {
                let seq = self.entries.get(id).map(|e| e.seq).unwrap_or(u64::MAX);
                // Prefer databases already being worked on: it keeps the working set small.
                let active_bias = if running_here > 0 { 0 } else { 1u64 << 62 };
                candidates.push((active_bias | seq, *id));
            }
        }
        candidates.into_iter().min().map(|(_, id)| id)
    }
}

#[async_trait]
impl Scheduler for MemoryScheduler {
    async fn enqueue(&self, tasks: &[QueuedTask]) -> Result<(), SchedulerError> {
        {
            let mut inner = self.lock()?;
            for task in tasks {
                if inner.entries.contains_key(&task.task) {
                    continue;
                }
                inner.seq += 1;
                let seq = inner.seq;
                inner
                    .tenant_order
                    .entry(task.tenant.clone())
                    .or_default()
                    .push_back(task.task);
                inner.entries.insert(
                    task.task,
                    Entry {
                        task: task.clone(),
                        state: State::Pending,
                        attempts: 0,
                        cancel_requested: false,
                        seq,
                    },
                );
                inner.push_pending(task.task, false);
            }
        }
        self.wake.notify_waiters();
        Ok(())
    }

    async fn claim(&self, _worker: &str, lease: Duration) -> Result<Option<Claim>, SchedulerError> {
        let limits = self.current_limits()?;
        let now = Instant::now();
        let mut inner = self.lock()?;
        inner.reap(now);
        inner.promote_delayed(now);

        let bulk_first = inner.provisioning_streak >= PROVISIONING_BURST;
        let order = if bulk_first {
            [Lane::Bulk, Lane::Provisioning]
        } else {
            [Lane::Provisioning, Lane::Bulk]
        };
        let Some((lane, id)) = order
            .iter()
            .find_map(|lane| inner.pick(*lane, limits).map(|id| (*lane, id)))
        else {
            return Ok(None);
        };
        let bulk_waiting = inner.pending.keys().any(|(l, _)| *l == Lane::Bulk);
        inner.provisioning_streak = match lane {
            Lane::Provisioning if bulk_waiting => inner.provisioning_streak + 1,
            _ => 0,
        };

        inner.fence += 1;
        let token = FenceToken(inner.fence);
        let Some(entry) = inner.entries.get_mut(&id) else {
            return Err(SchedulerError::Corrupt(format!("picked unknown task {id}")));
        };
        entry.attempts += 1;
        entry.state = State::Running {
            token,
            lease_until: now + lease,
        };
        let claim = Claim {
            task: entry.task.clone(),
            token,
            attempt: entry.attempts,
        };
        let db = claim.task.database.clone();
        inner.remove_pending(&id, lane, &db);
        inner.unsettled.insert(id);
        *inner.running.entry(db).or_insert(0) += 1;
        Ok(Some(claim))
    }

    async fn renew(
        &self,
        claims: &[(TaskId, FenceToken)],
        lease: Duration,
    ) -> Result<Vec<LeaseState>, SchedulerError> {
        let now = Instant::now();
        let mut inner = self.lock()?;
        Ok(claims
            .iter()
            .map(|(id, token)| match inner.entries.get_mut(id) {
                Some(Entry {
                    state:
                        State::Running {
                            token: held,
                            lease_until,
                        },
                    cancel_requested,
                    ..
                }) if held == token && *lease_until > now => {
                    *lease_until = now + lease;
                    if *cancel_requested {
                        LeaseState::CancelRequested
                    } else {
                        LeaseState::Held
                    }
                }
                _ => LeaseState::Lost,
            })
            .collect())
    }

    async fn complete(
        &self,
        task: &TaskId,
        token: FenceToken,
        completion: Completion,
    ) -> Result<bool, SchedulerError> {
        {
            let mut inner = self.lock()?;
            let (db, attempts) = match inner.entries.get(task) {
                Some(Entry {
                    state: State::Running { token: held, .. },
                    task: queued,
                    attempts,
                    ..
                }) if *held == token => (queued.database.clone(), *attempts),
                _ => return Ok(false),
            };
            inner.release_slot(&db);
            match completion {
                Completion::Done => inner.forget(task),
                Completion::Retry { backoff } => {
                    if let Some(entry) = inner.entries.get_mut(task) {
                        entry.state = State::Delayed {
                            until: Instant::now() + backoff,
                        };
                    }
                }
                Completion::HandBack => {
                    if let Some(entry) = inner.entries.get_mut(task) {
                        entry.state = State::Pending;
                        entry.attempts = attempts.saturating_sub(1);
                    }
                    inner.unsettled.remove(task);
                    inner.push_pending(*task, true);
                }
            }
        }
        self.wake.notify_waiters();
        Ok(true)
    }

    async fn reap(&self) -> Result<Vec<Expired>, SchedulerError> {
        let mut inner = self.lock()?;
        inner.reap(Instant::now());
        let expired = std::mem::take(&mut inner.expired);
        drop(inner);
        if !expired.is_empty() {
            self.wake.notify_waiters();
        }
        Ok(expired)
    }

    async fn cancel(&self, tasks: &[TaskId]) -> Result<Vec<TaskId>, SchedulerError> {
        let mut inner = self.lock()?;
        let mut removed = Vec::new();
        for id in tasks {
            let running = match inner.entries.get_mut(id) {
                Some(entry) => {
                    entry.cancel_requested = true;
                    matches!(entry.state, State::Running { .. })
                }
                None => continue,
            };
            if !running {
                inner.forget(id);
                removed.push(*id);
            }
        }
        drop(inner);
        self.wake.notify_waiters();
        Ok(removed)
    }

    async fn limits(&self) -> Result<Limits, SchedulerError> {
        self.current_limits()
    }

    async fn set_limits(&self, limits: Limits) -> Result<(), SchedulerError> {
        *self
            .limits
            .lock()
            .map_err(|_| SchedulerError::Corrupt("limits poisoned".into()))? = limits;
        self.wake.notify_waiters();
        Ok(())
    }

    async fn stats(&self) -> Result<QueueStats, SchedulerError> {
        let inner = self.lock()?;
        let mut stats = QueueStats::default();
        for ((lane, _), queue) in &inner.pending {
            match lane {
                Lane::Provisioning => stats.queued_provisioning += queue.len() as u64,
                Lane::Bulk => stats.queued_bulk += queue.len() as u64,
            }
        }
        stats.delayed = inner
            .unsettled
            .iter()
            .filter(|id| {
                inner
                    .entries
                    .get(id)
                    .is_some_and(|e| matches!(e.state, State::Delayed { .. }))
            })
            .count() as u64;
        stats.running = inner
            .running
            .iter()
            .map(|(db, n)| (db.clone(), u64::from(*n)))
            .collect();
        Ok(stats)
    }

    async fn wait_for_work(&self, timeout: Duration) {
        let _ = tokio::time::timeout(timeout, self.wake.notified()).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scheduler::conformance;

    fn limits(worker_size: u32, cluster_size: u32) -> Limits {
        Limits {
            worker_size,
            cluster_size,
        }
    }

    // Paused time: the in-process scheduler reads tokio's clock, so the suite's waits for a lease
    // or a backoff to run out advance that clock instead of sleeping (Redis keeps its own clock,
    // and the Redis run of the suite waits in real time).
    #[tokio::test(start_paused = true)]
    async fn conformance_suite() {
        conformance::run_all(
            |l| async move { MemoryScheduler::new(l) },
            Duration::from_millis(200),
        )
        .await;
    }

    #[tokio::test]
    async fn empty_queue_claims_nothing() {
        let s = MemoryScheduler::new(limits(2, 1));
        assert_eq!(s.claim("w", Duration::from_secs(1)).await.ok(), Some(None));
    }
}
