//! Waiting for jobs: polls each job until it reaches a final state.
//!
//! Polling goes in rounds: every still-open job is polled once per round (at most `concurrency`
//! requests in flight), then the loop sleeps `interval`. A job's completion time is therefore
//! known to within one round; benchmarks report it as such.

use std::time::{Duration, Instant};

use futures::StreamExt;
use mtx_shared::vocab::{JobId, Status};
use serde::Serialize;

use crate::client::{CallError, JobView, Sidecar};

/// After this many failed polls in a row a job is given up (e.g. the sidecar answers 404 for it).
const MAX_CONSECUTIVE_POLL_ERRORS: u32 = 10;
/// How many poll error messages a [`Waited`] keeps (the count is always complete).
const KEPT_ERRORS: usize = 5;

/// How to wait.
#[derive(Debug, Clone, Copy)]
pub struct WaitParams {
    pub concurrency: usize,
    pub interval: Duration,
    /// Give up on jobs still open after this long.
    pub deadline: Duration,
}

/// How one job ended, as the poller saw it.
#[derive(Debug, Clone, Serialize)]
pub struct JobOutcome {
    pub job: String,
    /// The final state; `None` when the job did not reach one (deadline, or polling kept failing).
    pub status: Option<Status>,
    pub tasks: usize,
    /// Tasks that ended FAILED, TIMEOUT or CANCELLED.
    pub tasks_failed: usize,
    /// The job's error, the first failed task's error, or why polling gave up.
    pub error: Option<String>,
    /// When the final state was first seen, from the start of the wait.
    #[serde(skip)]
    pub seen_after: Duration,
}

impl JobOutcome {
    pub fn finished(&self) -> bool {
        self.status == Some(Status::Finished)
    }
}

/// The result of waiting for a set of jobs.
#[derive(Debug, Clone, Default)]
pub struct Waited {
    pub outcomes: Vec<JobOutcome>,
    /// Latency of every answered poll.
    pub poll_latencies: Vec<Duration>,
    pub poll_errors: usize,
    pub poll_error_examples: Vec<String>,
}

impl Waited {
    /// When the last job was seen final (zero for no jobs).
    pub fn last_seen(&self) -> Duration {
        self.outcomes
            .iter()
            .map(|o| o.seen_after)
            .max()
            .unwrap_or_default()
    }

    pub fn tasks(&self) -> usize {
        self.outcomes.iter().map(|o| o.tasks).sum()
    }

    pub fn tasks_failed(&self) -> usize {
        self.outcomes.iter().map(|o| o.tasks_failed).sum()
    }

    /// Jobs that did not end FINISHED (failed, timed out, cancelled, or never seen final).
    pub fn unsuccessful(&self) -> impl Iterator<Item = &JobOutcome> {
        self.outcomes.iter().filter(|o| !o.finished())
    }
}

struct Open {
    job: JobId,
    consecutive_errors: u32,
}

/// Polls `jobs` until every one is final, polling keeps failing for it, or `params.deadline`
/// passes. Never fails as a whole: problems end up in the outcomes and counters.
pub async fn wait_for(client: &Sidecar, jobs: Vec<JobId>, params: WaitParams) -> Waited {
    let started = Instant::now();
    let mut waited = Waited::default();
    let mut open: Vec<Open> = jobs
        .into_iter()
        .map(|job| Open {
            job,
            consecutive_errors: 0,
        })
        .collect();

    while !open.is_empty() {
        let answers: Vec<(Open, Result<crate::client::Polled, CallError>)> =
            futures::stream::iter(open.drain(..))
                .map(|o| async move {
                    let answer = client.poll_job(o.job).await;
                    (o, answer)
                })
                .buffer_unordered(params.concurrency.max(1))
                .collect()
                .await;

        for (mut entry, answer) in answers {
            match answer {
                Ok(polled) => {
                    waited.poll_latencies.push(polled.latency);
                    entry.consecutive_errors = 0;
                    if polled.job.status.is_terminal() {
                        waited
                            .outcomes
                            .push(outcome(entry.job, &polled.job, started.elapsed()));
                    } else {
                        open.push(entry);
                    }
                }
                Err(e) => {
                    waited.poll_errors += 1;
                    entry.consecutive_errors += 1;
                    let message = e.to_string();
                    if waited.poll_error_examples.len() < KEPT_ERRORS {
                        waited.poll_error_examples.push(message.clone());
                    }
                    if entry.consecutive_errors >= MAX_CONSECUTIVE_POLL_ERRORS {
                        waited.outcomes.push(given_up(
                            entry.job,
                            format!("gave up after {MAX_CONSECUTIVE_POLL_ERRORS} failed polls: {message}"),
                            started.elapsed(),
                        ));
                    } else {
                        open.push(entry);
                    }
                }
            }
        }

        if open.is_empty() {
            break;
        }
        if started.elapsed() >= params.deadline {
            for entry in open.drain(..) {
                waited.outcomes.push(given_up(
                    entry.job,
                    format!("not final after {:.0} s", params.deadline.as_secs_f64()),
                    started.elapsed(),
                ));
            }
            break;
        }
        tokio::time::sleep(params.interval).await;
    }
    waited
}

fn outcome(job: JobId, view: &JobView, seen_after: Duration) -> JobOutcome {
    let failed: Vec<_> = view
        .tasks
        .iter()
        .filter(|t| {
            matches!(
                t.status,
                Status::Failed | Status::Timeout | Status::Cancelled
            )
        })
        .collect();
    let error = view.error.clone().or_else(|| {
        failed.first().map(|t| {
            format!(
                "tenant {}: {}",
                t.tenant.as_deref().unwrap_or("?"),
                t.error.as_deref().unwrap_or("(no error message)")
            )
        })
    });
    JobOutcome {
        job: job.to_string(),
        status: Some(view.status),
        tasks: view.tasks.len(),
        tasks_failed: failed.len(),
        error,
        seen_after,
    }
}

fn given_up(job: JobId, why: String, seen_after: Duration) -> JobOutcome {
    JobOutcome {
        job: job.to_string(),
        status: None,
        tasks: 0,
        tasks_failed: 0,
        error: Some(why),
        seen_after,
    }
}
