//! Jobs and their tasks: ids, operations, states, and the records the control plane keeps.

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::args::TaskArgs;
use super::model_hash::ModelHash;
use super::tenant::{DatabaseId, TenantId};

/// The service name cds-mtxs reports on every job and task.
pub const DEPLOYMENT_SERVICE: &str = "cds.xt.DeploymentService";

macro_rules! uuid_id {
    ($name:ident, $what:literal) => {
        #[doc = concat!("Identifies one ", $what, " (a UUID; v7, so ids sort by creation time).")]
        #[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(pub Uuid);

        impl $name {
            pub fn new() -> Self {
                Self(Uuid::now_v7())
            }

            /// Parses the textual form a client sends (hyphenated or simple UUID).
            pub fn parse(raw: &str) -> Result<Self, uuid::Error> {
                Uuid::parse_str(raw).map(Self)
            }
        }

        impl Default for $name {
            fn default() -> Self {
                Self::new()
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                fmt::Display::fmt(&self.0.hyphenated(), f)
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, concat!(stringify!($name), "({})"), self.0.hyphenated())
            }
        }
    };
}

uuid_id!(JobId, "job");
uuid_id!(TaskId, "task");

/// A tenant operation. The wire names are cds-mtxs' (`subscribe`, `unsubscribe`, `upgrade`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Op {
    Subscribe,
    Unsubscribe,
    Upgrade,
}

impl Op {
    pub fn as_str(self) -> &'static str {
        match self {
            Op::Subscribe => "subscribe",
            Op::Unsubscribe => "unsubscribe",
            Op::Upgrade => "upgrade",
        }
    }

    /// Provisioning (subscribe/unsubscribe) is what a SaaS registry waits on; it goes ahead of
    /// bulk upgrades in the queue.
    pub fn lane(self) -> Lane {
        match self {
            Op::Subscribe | Op::Unsubscribe => Lane::Provisioning,
            Op::Upgrade => Lane::Bulk,
        }
    }
}

impl fmt::Display for Op {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Op {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "subscribe" => Ok(Op::Subscribe),
            "unsubscribe" => Ok(Op::Unsubscribe),
            "upgrade" => Ok(Op::Upgrade),
            other => Err(format!("unknown operation '{other}'")),
        }
    }
}

/// Queue lanes: provisioning work is claimed before bulk work, and bulk work is still
/// guaranteed a share so it never starves.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Lane {
    Provisioning,
    Bulk,
}

/// The state of a task, and (aggregated) of a job. Wire names are cds-mtxs'.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum Status {
    Queued,
    Running,
    Finished,
    Failed,
    Timeout,
    Cancelled,
}

impl Status {
    /// Every state, in lifecycle order.
    pub const ALL: [Status; 6] = [
        Status::Queued,
        Status::Running,
        Status::Finished,
        Status::Failed,
        Status::Timeout,
        Status::Cancelled,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Status::Queued => "QUEUED",
            Status::Running => "RUNNING",
            Status::Finished => "FINISHED",
            Status::Failed => "FAILED",
            Status::Timeout => "TIMEOUT",
            Status::Cancelled => "CANCELLED",
        }
    }

    /// Whether nothing more will happen to a task in this state.
    pub fn is_terminal(self) -> bool {
        matches!(
            self,
            Status::Finished | Status::Failed | Status::Timeout | Status::Cancelled
        )
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Status {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "QUEUED" => Ok(Status::Queued),
            "RUNNING" => Ok(Status::Running),
            "FINISHED" => Ok(Status::Finished),
            "FAILED" => Ok(Status::Failed),
            "TIMEOUT" => Ok(Status::Timeout),
            "CANCELLED" => Ok(Status::Cancelled),
            other => Err(format!("unknown status '{other}'")),
        }
    }
}

/// A job as the control plane records it.
#[derive(Debug, Clone, PartialEq)]
pub struct Job {
    pub id: JobId,
    /// The operation and its arguments ([`Job::op`]).
    pub args: TaskArgs,
    pub status: Status,
    /// Summary of what failed ("2 of 200 tasks failed: …"), set when the job ends unsuccessfully.
    pub error: Option<String>,
    pub created_at: DateTime<Utc>,
    pub modified_at: DateTime<Utc>,
}

/// One tenant's part of a job.
#[derive(Debug, Clone, PartialEq)]
pub struct Task {
    pub id: TaskId,
    pub job_id: JobId,
    pub tenant: TenantId,
    /// The operation and its arguments (the job's; [`Task::op`]).
    pub args: TaskArgs,
    pub status: Status,
    pub error: Option<String>,
    /// The database the task works on (limits apply per database).
    pub database: DatabaseId,
    /// The model version the task deploys (`None` for unsubscribe).
    pub model: Option<ModelHash>,
    pub attempt: u32,
    pub worker: Option<String>,
    pub created_at: DateTime<Utc>,
    pub modified_at: DateTime<Utc>,
    pub started_at: Option<DateTime<Utc>>,
    pub finished_at: Option<DateTime<Utc>>,
}

impl Job {
    pub fn op(&self) -> Op {
        self.args.op()
    }
}

impl Task {
    pub fn op(&self) -> Op {
        self.args.op()
    }
}

/// A job with its tasks (ordered by tenant).
#[derive(Debug, Clone, PartialEq)]
pub struct JobWithTasks {
    pub job: Job,
    pub tasks: Vec<Task>,
}

/// How a task attempt ended, as the runner reports it to the control plane.
#[derive(Debug, Clone, PartialEq)]
pub enum TaskOutcome {
    Finished,
    Failed { error: String },
    Timeout { error: String },
    Cancelled,
}

impl TaskOutcome {
    pub fn status(&self) -> Status {
        match self {
            TaskOutcome::Finished => Status::Finished,
            TaskOutcome::Failed { .. } => Status::Failed,
            TaskOutcome::Timeout { .. } => Status::Timeout,
            TaskOutcome::Cancelled => Status::Cancelled,
        }
    }

    pub fn error(&self) -> Option<&str> {
        match self {
            TaskOutcome::Failed { error } | TaskOutcome::Timeout { error } => Some(error),
            TaskOutcome::Finished | TaskOutcome::Cancelled => None,
        }
    }
}

/// The job-level status once every task is terminal, and the error summary that goes with it.
///
/// FINISHED when every task finished; otherwise the most telling non-success state (FAILED over
/// TIMEOUT over CANCELLED) with a summary such as "2 of 200 tasks failed: t7: …".
pub fn roll_up(tasks: &[(TenantId, Status, Option<String>)]) -> (Status, Option<String>) {
    let total = tasks.len();
    let count = |s: Status| tasks.iter().filter(|(_, st, _)| *st == s).count();
    let failed = count(Status::Failed);
    let timeout = count(Status::Timeout);
    let cancelled = count(Status::Cancelled);
    let first_error = tasks
        .iter()
        .find(|(_, st, _)| matches!(st, Status::Failed | Status::Timeout))
        .map(|(tenant, _, err)| format!("{tenant}: {}", err.as_deref().unwrap_or("no message")));
    let summary = |n: usize, what: &str| {
        let noun = if total == 1 { "task" } else { "tasks" };
        match &first_error {
            Some(first) => format!("{n} of {total} {noun} {what}; first: {first}"),
            None => format!("{n} of {total} {noun} {what}"),
        }
    };
    if failed > 0 {
        (Status::Failed, Some(summary(failed, "failed")))
    } else if timeout > 0 {
        (Status::Timeout, Some(summary(timeout, "timed out")))
    } else if cancelled > 0 {
        (Status::Cancelled, Some(summary(cancelled, "cancelled")))
    } else {
        (Status::Finished, None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(id: &str) -> TenantId {
        TenantId::parse(id).expect("valid tenant id")
    }

    #[test]
    fn roll_up_finished_when_all_finished() {
        let tasks = vec![
            (t("a"), Status::Finished, None),
            (t("b"), Status::Finished, None),
        ];
        assert_eq!(roll_up(&tasks), (Status::Finished, None));
    }

    #[test]
    fn roll_up_names_failure_count_and_first_error() {
        let tasks = vec![
            (t("a"), Status::Finished, None),
            (t("b"), Status::Failed, Some("boom".into())),
            (t("c"), Status::Timeout, Some("slow".into())),
        ];
        let (status, error) = roll_up(&tasks);
        assert_eq!(status, Status::Failed);
        assert_eq!(
            error.as_deref(),
            Some("1 of 3 tasks failed; first: b: boom")
        );
    }

    #[test]
    fn status_round_trips_wire_names() {
        for s in Status::ALL {
            assert_eq!(s.as_str().parse::<Status>(), Ok(s));
            assert_eq!(
                serde_json::to_value(s).ok(),
                Some(serde_json::json!(s.as_str()))
            );
        }
    }
}
