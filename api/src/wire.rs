//! The cds-mtxs JSON shapes of jobs, tasks and tenants.
//!
//! Fields beyond cds-mtxs' (timestamps, attempt, worker, duration) are additions a cds client
//! ignores; the fields cds-mtxs has keep its names and shapes.

use chrono::{DateTime, SecondsFormat, Utc};
use mtx_shared::control::TenantRecord;
use mtx_shared::vocab::{
    CallbackRecord, DEPLOYMENT_SERVICE, DatabaseId, JobWithTasks, Status, Task, TaskId, TenantId,
};
use serde::Serialize;
use serde::ser::{SerializeMap, Serializer};
use serde_json::{Map, Value, json};

pub(crate) fn timestamp(t: &DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}

fn opt_timestamp(t: Option<&DateTime<Utc>>) -> Value {
    t.map_or(Value::Null, |t| Value::String(timestamp(t)))
}

/// The body of a 202 answer to an enqueue: the job with its tasks keyed by tenant.
pub(crate) fn enqueued_job(job: &JobWithTasks) -> Value {
    let mut tasks = Map::new();
    let mut tenants = Map::new();
    for t in &job.tasks {
        tasks.insert(
            t.tenant.to_string(),
            json!({
                "job_ID": job.job.id.to_string(),
                "ID": t.id.to_string(),
                "tenant": t.tenant,
                "service": DEPLOYMENT_SERVICE,
                "op": t.op(),
                "args": t.args,
                "database": t.database,
                "status": t.status,
            }),
        );
        tenants.insert(
            t.tenant.to_string(),
            json!({
                "ID": t.id.to_string(),
                "service": DEPLOYMENT_SERVICE,
                "args": t.args,
                "database": t.database,
                "status": t.status,
            }),
        );
    }
    json!({
        "ID": job.job.id.to_string(),
        "service": DEPLOYMENT_SERVICE,
        "op": job.job.op(),
        "args": job.job.args,
        "status": job.job.status,
        "tasks": tasks,
        "tenants": tenants,
    })
}

/// A task in the `tasks` list of a job: written straight to the output, since a job of
/// thousands of tenants is polled every few hundred milliseconds while it runs.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct TaskSummary<'a> {
    #[serde(rename = "ID")]
    id: &'a TaskId,
    status: Status,
    tenant: &'a TenantId,
    database: &'a DatabaseId,
    error: Option<&'a str>,
    attempt: u32,
    worker: Option<&'a str>,
    created_at: String,
    started_at: Option<String>,
    finished_at: Option<String>,
    duration_ms: Option<i64>,
}

impl<'a> From<&'a Task> for TaskSummary<'a> {
    fn from(t: &'a Task) -> Self {
        Self {
            id: &t.id,
            status: t.status,
            tenant: &t.tenant,
            database: &t.database,
            error: t.error.as_deref(),
            attempt: t.attempt,
            worker: t.worker.as_deref(),
            created_at: timestamp(&t.created_at),
            started_at: t.started_at.as_ref().map(timestamp),
            finished_at: t.finished_at.as_ref().map(timestamp),
            duration_ms: t
                .started_at
                .zip(t.finished_at)
                .map(|(s, f)| (f - s).num_milliseconds()),
        }
    }
}

/// A tenant's entry in the `tenants` map of a polled job.
#[derive(Serialize)]
struct TenantStatus<'a> {
    status: Status,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<&'a str>,
}

/// The `tenants` map of a polled job, in task order.
struct TenantStatuses<'a>(&'a [Task]);

impl Serialize for TenantStatuses<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(self.0.len()))?;
        for t in self.0 {
            map.serialize_entry(
                &t.tenant,
                &TenantStatus {
                    status: t.status,
                    error: t.error.as_deref(),
                },
            )?;
        }
        map.end()
    }
}

/// A job as `pollJob` (with the `tenants` map) and the `Jobs` list (without it) show it,
/// each with cds-mtxs' order of keys.
pub(crate) struct JobView<'a> {
    job: &'a JobWithTasks,
    with_tenants: bool,
    callback: Option<Value>,
}

impl Serialize for JobView<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let job = &self.job.job;
        let mut map = serializer.serialize_map(None)?;
        map.serialize_entry("ID", &job.id)?;
        map.serialize_entry("service", DEPLOYMENT_SERVICE)?;
        map.serialize_entry("op", &job.op())?;
        if self.with_tenants {
            map.serialize_entry("error", &job.error)?;
            map.serialize_entry("status", &job.status)?;
        } else {
            map.serialize_entry("status", &job.status)?;
            map.serialize_entry("error", &job.error)?;
        }
        map.serialize_entry("createdAt", &timestamp(&job.created_at))?;
        map.serialize_entry("modifiedAt", &timestamp(&job.modified_at))?;
        let tasks: Vec<TaskSummary<'_>> = self.job.tasks.iter().map(TaskSummary::from).collect();
        map.serialize_entry("tasks", &tasks)?;
        if self.with_tenants {
            map.serialize_entry("tenants", &TenantStatuses(&self.job.tasks))?;
        }
        if let Some(callback) = &self.callback {
            map.serialize_entry("callback", callback)?;
        }
        map.end()
    }
}

/// The status callback a job owes, with every attempt (an addition to cds-mtxs' shape). The
/// target URL is not shown: it is the registry's business.
fn callback(cb: &CallbackRecord) -> Value {
    json!({
        "status": cb.state,
        "attempts": cb.attempts,
        "nextAttemptAt": timestamp(&cb.next_attempt_at),
        "deliveredAt": opt_timestamp(cb.delivered_at.as_ref()),
        "history": cb.history.iter().map(|a| json!({
            "attempt": a.number,
            "at": timestamp(&a.at),
            "httpStatus": a.http_status,
            "error": a.error,
        })).collect::<Vec<_>>(),
    })
}

/// `pollJob`: the job, its tasks as a list, and a status per tenant; `callback` when the job
/// owes one.
pub(crate) fn polled_job<'a>(job: &'a JobWithTasks, cb: Option<&CallbackRecord>) -> JobView<'a> {
    JobView {
        job,
        with_tenants: true,
        callback: cb.map(callback),
    }
}

/// An entry of the `Jobs` list; `callback` when the job owes one.
pub(crate) fn listed_job<'a>(job: &'a JobWithTasks, cb: Option<&CallbackRecord>) -> JobView<'a> {
    JobView {
        job,
        with_tenants: false,
        callback: cb.map(callback),
    }
}

/// `pollTask`.
pub(crate) fn polled_task(t: &Task) -> Value {
    let mut v = json!({
        "status": t.status,
        "op": t.op(),
        "service": DEPLOYMENT_SERVICE,
    });
    if let Some(e) = &t.error {
        v["error"] = json!(e);
    }
    v["tenant"] = json!(t.tenant);
    v["job_ID"] = json!(t.job_id.to_string());
    v["attempt"] = json!(t.attempt);
    v
}

/// A subscribed tenant: `subscribedTenantId`, the stored metadata, `createdAt`, `modifiedAt`.
pub(crate) fn tenant(record: &TenantRecord) -> Value {
    let mut out = Map::new();
    out.insert("subscribedTenantId".into(), json!(record.id));
    if let Some(meta) = record.metadata.as_object() {
        for (k, v) in meta {
            if k != "subscribedTenantId" && k != "createdAt" && k != "modifiedAt" {
                out.insert(k.clone(), v.clone());
            }
        }
    }
    out.insert("createdAt".into(), json!(timestamp(&record.created_at)));
    out.insert("modifiedAt".into(), json!(timestamp(&record.modified_at)));
    Value::Object(out)
}
