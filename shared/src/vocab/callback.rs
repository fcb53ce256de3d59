//! The status callbacks a job owes the SaaS registry, as the control plane records them.

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Utc};
use serde::Serialize;

use super::job::{JobId, Op, Status};

/// What an enqueue records about the callback its job owes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewCallback {
    /// The absolute target URL, already checked to be on the registry's origin.
    pub url: String,
    /// The application URL sent as `subscriptionUrl` (subscribe only).
    pub subscription_url: Option<String>,
}

/// Where a callback stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum CallbackState {
    /// Waiting for its job to end, or for its next attempt.
    Pending,
    /// The registry accepted it (2xx); nothing more is sent.
    Delivered,
    /// The deadline passed (or the target became invalid) without a successful attempt.
    Expired,
}

impl CallbackState {
    pub fn as_str(self) -> &'static str {
        match self {
            CallbackState::Pending => "PENDING",
            CallbackState::Delivered => "DELIVERED",
            CallbackState::Expired => "EXPIRED",
        }
    }
}

impl fmt::Display for CallbackState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for CallbackState {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "PENDING" => Ok(CallbackState::Pending),
            "DELIVERED" => Ok(CallbackState::Delivered),
            "EXPIRED" => Ok(CallbackState::Expired),
            other => Err(format!("unknown callback state '{other}'")),
        }
    }
}

/// One delivery attempt, as recorded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallbackAttempt {
    /// 1 for the first attempt.
    pub number: u32,
    pub at: DateTime<Utc>,
    /// The registry's HTTP status, when it answered.
    pub http_status: Option<u16>,
    /// What went wrong, when it did.
    pub error: Option<String>,
}

/// A job's callback with its attempts, for `pollJob` and `Jobs`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallbackRecord {
    pub job_id: JobId,
    pub url: String,
    pub subscription_url: Option<String>,
    pub state: CallbackState,
    /// Attempts so far (claims, including one in flight).
    pub attempts: u32,
    pub next_attempt_at: DateTime<Utc>,
    pub delivered_at: Option<DateTime<Utc>>,
    /// Every recorded attempt, oldest first.
    pub history: Vec<CallbackAttempt>,
}

/// A claimed callback whose job has ended: everything needed to send one attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DueCallback {
    pub job_id: JobId,
    pub op: Op,
    pub url: String,
    pub subscription_url: Option<String>,
    /// The job's terminal status and error summary.
    pub job_status: Status,
    pub job_error: Option<String>,
    /// When the job ended (the deadline counts from here).
    pub ended_at: DateTime<Utc>,
    /// The number of this attempt (1 for the first); recording is fenced by it.
    pub attempt: u32,
}

/// What happens after an attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NextStep {
    Delivered,
    RetryAt(DateTime<Utc>),
    /// The deadline has passed: the callback is given up (EXPIRED).
    GiveUp,
}
