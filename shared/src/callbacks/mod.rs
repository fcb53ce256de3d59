//! Status callbacks to the SaaS registry: a durable outbox in the control plane.
//!
//! # Layout
//! - [`target`] resolves a request's `status_callback` path (or `mtx_status_callback` URL) to an
//!   absolute URL on the registry's own origin, refusing anything else at request time.
//! - The callback is recorded with its job, in the same transaction as the job
//!   ([`crate::control::ControlStore::insert_job_with_callback`]), so it cannot be lost between
//!   the two. It becomes due when the job's status turns terminal.
//! - [`delivery::Deliverer`] (in `mtx-api` and every `mtx-worker`) claims due callbacks from the
//!   control plane (a lease, so one process sends each attempt), sends `PUT` with a bearer token
//!   from [`token::TokenClient`] and records every attempt. Failed attempts are retried with
//!   exponential backoff ([`next_step`]) until the configured deadline.
//!
//! The pure parts (what is sent, when the next attempt is) live here beside the types.

pub mod delivery;
pub mod target;
pub mod token;

use std::time::Duration;

use chrono::{DateTime, Utc};
use serde_json::{Value, json};

use crate::config::CallbacksConfig;
use crate::vocab::{DueCallback, NextStep, Op, Status};

/// The body cds-mtxs sends: `{"status":"SUCCEEDED"|"FAILED","message":…,"subscriptionUrl":…}`
/// (`subscriptionUrl` for a successful subscribe only).
pub fn body(due: &DueCallback) -> Value {
    let noun = match due.op {
        Op::Subscribe => "creation",
        Op::Unsubscribe => "deletion",
        Op::Upgrade => "upgrade",
    };
    if due.job_status == Status::Finished {
        let mut body = json!({
            "status": "SUCCEEDED",
            "message": format!("Tenant {noun} succeeded"),
        });
        if due.op == Op::Subscribe
            && let Some(url) = &due.subscription_url
        {
            body["subscriptionUrl"] = json!(url);
        }
        body
    } else {
        let reason = due
            .job_error
            .clone()
            .unwrap_or_else(|| format!("the job ended {}", due.job_status));
        json!({
            "status": "FAILED",
            "message": format!("Tenant {noun} failed: {reason}"),
        })
    }
}

/// When to try again after failed attempt number `attempt` (1-based), failing at `now`:
/// `first_retry` doubled per further attempt up to `max_retry`, and never past the deadline
/// (`ended_at + deadline`); once the deadline has passed, give up.
pub fn next_step(
    config: &CallbacksConfig,
    ended_at: DateTime<Utc>,
    attempt: u32,
    now: DateTime<Utc>,
) -> NextStep {
    let deadline = ended_at + chrono_duration(config.deadline);
    if now >= deadline {
        return NextStep::GiveUp;
    }
    let factor = 1u32 << attempt.saturating_sub(1).min(20);
    let delay = config
        .first_retry
        .saturating_mul(factor)
        .min(config.max_retry);
    NextStep::RetryAt((now + chrono_duration(delay)).min(deadline))
}

fn chrono_duration(d: Duration) -> chrono::Duration {
    chrono::Duration::from_std(d).unwrap_or(chrono::Duration::MAX)
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;
    use crate::vocab::{CallbackState, JobId};

    fn due(op: Op, status: Status) -> DueCallback {
        DueCallback {
            job_id: JobId::new(),
            op,
            url: "http://127.0.0.1:1/cb".into(),
            subscription_url: Some("https://t1.app.example".into()),
            job_status: status,
            job_error: (status != Status::Finished)
                .then(|| "1 of 1 task failed; first: t1: boom".into()),
            ended_at: Utc::now(),
            attempt: 1,
        }
    }

    #[test]
    fn success_bodies_name_the_operation_and_subscribe_carries_the_url() {
        assert_eq!(
            body(&due(Op::Subscribe, Status::Finished)),
            json!({"status":"SUCCEEDED","message":"Tenant creation succeeded","subscriptionUrl":"https://t1.app.example"})
        );
        assert_eq!(
            body(&due(Op::Unsubscribe, Status::Finished)),
            json!({"status":"SUCCEEDED","message":"Tenant deletion succeeded"})
        );
        assert_eq!(
            body(&due(Op::Upgrade, Status::Finished)),
            json!({"status":"SUCCEEDED","message":"Tenant upgrade succeeded"})
        );
    }

    #[test]
    fn failure_bodies_carry_the_error() {
        let b = body(&due(Op::Subscribe, Status::Failed));
        assert_eq!(b["status"], "FAILED");
        assert_eq!(
            b["message"],
            "Tenant creation failed: 1 of 1 task failed; first: t1: boom"
        );
        assert!(b.get("subscriptionUrl").is_none());
        let mut timed_out = due(Op::Upgrade, Status::Timeout);
        timed_out.job_error = None;
        assert_eq!(
            body(&timed_out)["message"],
            "Tenant upgrade failed: the job ended TIMEOUT"
        );
    }

    #[test]
    fn retries_back_off_exponentially_capped_and_stop_at_the_deadline() {
        let config = CallbacksConfig {
            deadline: Duration::from_secs(60),
            first_retry: Duration::from_secs(1),
            max_retry: Duration::from_secs(10),
            ..CallbacksConfig::default()
        };
        let ended = Utc
            .timestamp_opt(1_700_000_000, 0)
            .single()
            .expect("valid time");
        let at = |s: i64| ended + chrono::Duration::seconds(s);
        assert_eq!(
            next_step(&config, ended, 1, at(0)),
            NextStep::RetryAt(at(1))
        );
        assert_eq!(
            next_step(&config, ended, 2, at(1)),
            NextStep::RetryAt(at(3))
        );
        assert_eq!(
            next_step(&config, ended, 3, at(3)),
            NextStep::RetryAt(at(7))
        );
        assert_eq!(
            next_step(&config, ended, 9, at(20)),
            NextStep::RetryAt(at(30)),
            "capped"
        );
        assert_eq!(
            next_step(&config, ended, 9, at(55)),
            NextStep::RetryAt(at(60)),
            "last try at the deadline"
        );
        assert_eq!(next_step(&config, ended, 10, at(60)), NextStep::GiveUp);
        assert_eq!(
            next_step(&config, ended, 40, at(1)),
            NextStep::RetryAt(at(11)),
            "no overflow"
        );
    }

    #[test]
    fn states_round_trip() {
        for s in [
            CallbackState::Pending,
            CallbackState::Delivered,
            CallbackState::Expired,
        ] {
            assert_eq!(s.as_str().parse::<CallbackState>(), Ok(s));
        }
    }
}
