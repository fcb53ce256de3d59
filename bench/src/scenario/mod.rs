//! The benchmarks. Each one returns a report that serialises to one JSON line and prints itself
//! for humans; [`Report::failed`] says whether anything went wrong along the way.
//!
//! A *phase* (see [`run_phase`]) is the unit the scenarios share: send a batch of enqueue requests
//! with bounded concurrency, then wait for the jobs they created.

pub mod enqueue_latency;
pub mod poll_latency;
pub mod provision;

use std::fmt;
use std::future::Future;
use std::time::{Duration, Instant};

use futures::StreamExt;
use serde::Serialize;

use crate::client::{CallError, Enqueued, Sidecar};
use crate::stats::{LatencySummary, millis, per_second};
use crate::wait::{WaitParams, Waited, wait_for};

/// How many error messages a report quotes (counts are always complete).
const KEPT_ERRORS: usize = 10;

/// What every scenario report offers the binary.
pub trait Report: Serialize + fmt::Display {
    /// Whether a request failed, a job did not finish, or nothing could be measured.
    fn failed(&self) -> bool;
}

/// One phase: a batch of enqueue requests and the jobs they created.
#[derive(Debug, Clone, Serialize)]
pub struct PhaseReport {
    /// What was enqueued, e.g. `subscribe` or `upgrade ["*"]`.
    pub name: String,
    pub requests: usize,
    /// Requests answered with 202 (or 200/204).
    pub accepted: usize,
    /// Requests that got no acceptable answer (after honouring 429s).
    pub request_failures: usize,
    /// 429 answers received (each one waited out and retried).
    pub throttled: u32,
    pub throttle_wait_ms: f64,
    /// Time to the accepting answer of each accepted request (429 waits excluded).
    pub enqueue_latency: Option<LatencySummary>,
    /// Whether the phase waited for its jobs; if not, the job numbers below are zero.
    pub waited: bool,
    pub jobs: usize,
    pub jobs_finished: usize,
    pub jobs_unsuccessful: usize,
    pub tasks: usize,
    pub tasks_failed: usize,
    /// From the first request until the last job was seen final (or the last answer, without
    /// waiting).
    pub wall_ms: f64,
    /// Successful tasks (one per tenant) per second of `wall_ms`.
    pub tenants_per_s: f64,
    pub errors: Vec<String>,
    #[serde(skip)]
    pub poll_latencies: Vec<Duration>,
}

impl PhaseReport {
    /// Whether anything in this phase went wrong.
    pub fn failed(&self) -> bool {
        self.request_failures > 0 || self.jobs_unsuccessful > 0 || self.accepted == 0
    }
}

/// Sends the enqueue `calls` (at most `concurrency` in flight), then, when `wait` is given, polls
/// every job they created until it is final.
pub async fn run_phase<Fut>(
    name: &str,
    client: &Sidecar,
    calls: impl Iterator<Item = Fut>,
    concurrency: usize,
    wait: Option<WaitParams>,
) -> PhaseReport
where
    Fut: Future<Output = Result<Enqueued, CallError>>,
{
    let started = Instant::now();
    let answers: Vec<Result<Enqueued, CallError>> = futures::stream::iter(calls)
        .buffer_unordered(concurrency.max(1))
        .collect()
        .await;

    let mut report = PhaseReport {
        name: name.to_owned(),
        requests: answers.len(),
        accepted: 0,
        request_failures: 0,
        throttled: 0,
        throttle_wait_ms: 0.0,
        enqueue_latency: None,
        waited: wait.is_some(),
        jobs: 0,
        jobs_finished: 0,
        jobs_unsuccessful: 0,
        tasks: 0,
        tasks_failed: 0,
        wall_ms: 0.0,
        tenants_per_s: 0.0,
        errors: Vec::new(),
        poll_latencies: Vec::new(),
    };
    let mut latencies = Vec::new();
    let mut jobs = Vec::new();
    let mut throttle_wait = Duration::ZERO;
    for answer in answers {
        match answer {
            Ok(enqueued) => {
                report.accepted += 1;
                report.throttled += enqueued.throttled;
                throttle_wait += enqueued.throttle_wait;
                latencies.push(enqueued.latency);
                jobs.extend(enqueued.job);
            }
            Err(e) => {
                report.request_failures += 1;
                keep_error(&mut report.errors, e.to_string());
            }
        }
    }
    report.throttle_wait_ms = millis(throttle_wait);
    report.enqueue_latency = LatencySummary::of(&latencies);
    report.jobs = jobs.len();

    if let Some(params) = wait {
        let waited = wait_for(
            client,
            jobs,
            WaitParams {
                concurrency,
                ..params
            },
        )
        .await;
        absorb(&mut report, waited);
    }
    let wall = started.elapsed();
    report.wall_ms = millis(wall);
    report.tenants_per_s = per_second(report.tasks.saturating_sub(report.tasks_failed), wall);
    report
}

fn absorb(report: &mut PhaseReport, waited: Waited) {
    report.jobs_finished = waited.outcomes.iter().filter(|o| o.finished()).count();
    report.tasks = waited.tasks();
    report.tasks_failed = waited.tasks_failed();
    for outcome in waited.unsuccessful() {
        report.jobs_unsuccessful += 1;
        let status = outcome.status.map_or("not final", |s| s.as_str());
        let why = outcome.error.as_deref().unwrap_or("(no error message)");
        keep_error(
            &mut report.errors,
            format!("job {} {status}: {why}", outcome.job),
        );
    }
    for example in waited.poll_error_examples {
        keep_error(&mut report.errors, example);
    }
    report.poll_latencies = waited.poll_latencies;
}

fn keep_error(errors: &mut Vec<String>, error: String) {
    if errors.len() < KEPT_ERRORS {
        errors.push(error);
    }
}

impl fmt::Display for PhaseReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "  {}:", self.name)?;
        writeln!(
            f,
            "    requests      {} sent, {} accepted, {} failed; {} answered 429 (waited {:.1} s)",
            self.requests,
            self.accepted,
            self.request_failures,
            self.throttled,
            self.throttle_wait_ms / 1000.0
        )?;
        match &self.enqueue_latency {
            Some(l) => writeln!(f, "    enqueue       {l}")?,
            None => writeln!(f, "    enqueue       no request accepted")?,
        }
        if self.waited {
            writeln!(
                f,
                "    jobs          {} created, {} FINISHED, {} not; {} tasks, {} failed",
                self.jobs,
                self.jobs_finished,
                self.jobs_unsuccessful,
                self.tasks,
                self.tasks_failed
            )?;
            writeln!(
                f,
                "    wall time     {:.2} s, {:.1} tenants/s",
                self.wall_ms / 1000.0,
                self.tenants_per_s
            )?;
        } else {
            writeln!(
                f,
                "    jobs          {} created (not waited for); wall time {:.2} s",
                self.jobs,
                self.wall_ms / 1000.0
            )?;
        }
        for e in &self.errors {
            writeln!(f, "    error         {e}")?;
        }
        Ok(())
    }
}
