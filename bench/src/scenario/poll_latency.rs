//! `poll-latency`: how fast `pollJob` answers, polled in a tight loop.

use std::fmt;
use std::time::{Duration, Instant};

use mtx_shared::vocab::{JobId, Status};
use serde::Serialize;

use super::Report;
use crate::args::PollLatencyParams;
use crate::client::Sidecar;
use crate::stats::{LatencySummary, per_second};

/// How many error messages the report quotes.
const KEPT_ERRORS: usize = 10;

/// The results of one `poll-latency` run.
#[derive(Debug, Clone, Serialize)]
pub struct PollLatencyReport {
    pub scenario: &'static str,
    pub url: String,
    /// The polled job; `None` if none could be started.
    pub job: Option<String>,
    pub duration_ms: u128,
    pub concurrency: usize,
    pub polls: usize,
    pub poll_failures: usize,
    pub polls_per_s: f64,
    pub latency: Option<LatencySummary>,
    /// The job's state in the last answered poll.
    pub last_status: Option<Status>,
    pub errors: Vec<String>,
}

/// Polls for `params.duration` with `params.concurrency` loops, each sending its next poll as
/// soon as the previous one is answered.
pub async fn run(client: &Sidecar, params: &PollLatencyParams) -> PollLatencyReport {
    let mut report = PollLatencyReport {
        scenario: "poll-latency",
        url: params.common.client.base_url.clone(),
        job: None,
        duration_ms: params.duration.as_millis(),
        concurrency: params.concurrency,
        polls: 0,
        poll_failures: 0,
        polls_per_s: 0.0,
        latency: None,
        last_status: None,
        errors: Vec::new(),
    };
    let job = match params.job {
        Some(job) => job,
        None => match client.upgrade(&["*"]).await {
            Ok(enqueued) => match enqueued.job {
                Some(job) => job,
                None => {
                    report
                        .errors
                        .push(r#"upgrade ["*"] created no job (no tenants?)"#.to_owned());
                    return report;
                }
            },
            Err(e) => {
                report.errors.push(e.to_string());
                return report;
            }
        },
    };
    report.job = Some(job.to_string());

    let started = Instant::now();
    let deadline = started + params.duration;
    let loops = (0..params.concurrency.max(1)).map(|_| poll_until(client, job, deadline));
    let results = futures::future::join_all(loops).await;
    let elapsed = started.elapsed();

    let mut latencies = Vec::new();
    let mut last: Option<(Instant, Status)> = None;
    for result in results {
        latencies.extend(result.latencies);
        report.poll_failures += result.failures;
        for e in result.errors {
            if report.errors.len() < KEPT_ERRORS {
                report.errors.push(e);
            }
        }
        if let Some(seen) = result.last
            && last.is_none_or(|(at, _)| seen.0 > at)
        {
            last = Some(seen);
        }
    }
    report.polls = latencies.len();
    report.polls_per_s = per_second(latencies.len(), elapsed);
    report.latency = LatencySummary::of(&latencies);
    report.last_status = last.map(|(_, status)| status);
    report
}

/// What one polling loop saw.
struct LoopResult {
    latencies: Vec<Duration>,
    failures: usize,
    errors: Vec<String>,
    last: Option<(Instant, Status)>,
}

async fn poll_until(client: &Sidecar, job: JobId, deadline: Instant) -> LoopResult {
    let mut result = LoopResult {
        latencies: Vec::new(),
        failures: 0,
        errors: Vec::new(),
        last: None,
    };
    while Instant::now() < deadline {
        match client.poll_job(job).await {
            Ok(polled) => {
                result.latencies.push(polled.latency);
                result.last = Some((Instant::now(), polled.job.status));
            }
            Err(e) => {
                result.failures += 1;
                if result.errors.len() < KEPT_ERRORS {
                    result.errors.push(e.to_string());
                }
                // Do not hammer a sidecar that is refusing connections.
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
    result
}

impl Report for PollLatencyReport {
    fn failed(&self) -> bool {
        self.poll_failures > 0 || self.polls == 0
    }
}

impl fmt::Display for PollLatencyReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "poll-latency: job {} against {}, {} ms, concurrency {}",
            self.job.as_deref().unwrap_or("(none)"),
            self.url,
            self.duration_ms,
            self.concurrency
        )?;
        writeln!(
            f,
            "  polls           {} answered ({:.0}/s), {} failed; last status {}",
            self.polls,
            self.polls_per_s,
            self.poll_failures,
            self.last_status.map_or("(none)", |s| s.as_str())
        )?;
        match &self.latency {
            Some(l) => writeln!(f, "  pollJob         {l}")?,
            None => writeln!(f, "  pollJob         no poll answered")?,
        }
        for e in &self.errors {
            writeln!(f, "  error           {e}")?;
        }
        Ok(())
    }
}
