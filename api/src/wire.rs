//! The cds-mtxs JSON shapes of jobs, tasks and tenants.
//!
//! Fields beyond cds-mtxs' (timestamps, attempt, worker, duration) are additions a cds client
//! ignores; the fields cds-mtxs has keep its names and shapes.

use chrono::{DateTime, SecondsFormat, Utc};
use mtx_shared::callbacks::CallbackRecord;
use mtx_shared::control::TenantRecord;
use mtx_shared::jobs::{DEPLOYMENT_SERVICE, JobWithTasks, Task};
use serde_json::{Map, Value, json};

pub fn timestamp(t: &DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}

fn opt_timestamp(t: Option<&DateTime<Utc>>) -> Value {
    t.map_or(Value::Null, |t| Value::String(timestamp(t)))
}

/// The body of a 202 answer to an enqueue: the job with its tasks keyed by tenant.
pub fn enqueued_job(job: &JobWithTasks) -> Value {
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
                "op": t.op,
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
        "op": job.job.op,
        "args": job.job.args,
        "status": job.job.status,
        "tasks": tasks,
        "tenants": tenants,
    })
}

fn task_summary(t: &Task, with_database: bool) -> Value {
    let duration_ms = match (t.started_at, t.finished_at) {
        (Some(s), Some(f)) => json!((f - s).num_milliseconds()),
        _ => Value::Null,
    };
    let mut v = json!({
        "ID": t.id.to_string(),
        "status": t.status,
        "tenant": t.tenant,
    });
    if with_database {
        v["database"] = json!(t.database);
    }
    v["error"] = json!(t.error);
    v["attempt"] = json!(t.attempt);
    v["worker"] = json!(t.worker);
    v["createdAt"] = json!(timestamp(&t.created_at));
    v["startedAt"] = opt_timestamp(t.started_at.as_ref());
    v["finishedAt"] = opt_timestamp(t.finished_at.as_ref());
    v["durationMs"] = duration_ms;
    v
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
pub fn polled_job(job: &JobWithTasks, cb: Option<&CallbackRecord>) -> Value {
    let mut tenants = Map::new();
    for t in &job.tasks {
        let mut entry = json!({ "status": t.status });
        if let Some(e) = &t.error {
            entry["error"] = json!(e);
        }
        tenants.insert(t.tenant.to_string(), entry);
    }
    let mut v = json!({
        "ID": job.job.id.to_string(),
        "service": DEPLOYMENT_SERVICE,
        "op": job.job.op,
        "error": job.job.error,
        "status": job.job.status,
        "createdAt": timestamp(&job.job.created_at),
        "modifiedAt": timestamp(&job.job.modified_at),
        "tasks": job.tasks.iter().map(|t| task_summary(t, true)).collect::<Vec<_>>(),
        "tenants": tenants,
    });
    if let Some(cb) = cb {
        v["callback"] = callback(cb);
    }
    v
}

/// An entry of the `Jobs` list; `callback` when the job owes one.
pub fn listed_job(job: &JobWithTasks, cb: Option<&CallbackRecord>) -> Value {
    let mut v = json!({
        "ID": job.job.id.to_string(),
        "service": DEPLOYMENT_SERVICE,
        "op": job.job.op,
        "status": job.job.status,
        "error": job.job.error,
        "createdAt": timestamp(&job.job.created_at),
        "modifiedAt": timestamp(&job.job.modified_at),
        "tasks": job.tasks.iter().map(|t| task_summary(t, true)).collect::<Vec<_>>(),
    });
    if let Some(cb) = cb {
        v["callback"] = callback(cb);
    }
    v
}

/// `pollTask`.
pub fn polled_task(t: &Task) -> Value {
    let mut v = json!({
        "status": t.status,
        "op": t.op,
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
pub fn tenant(record: &TenantRecord) -> Value {
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
