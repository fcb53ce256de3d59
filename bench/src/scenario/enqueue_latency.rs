//! `enqueue-latency`: how long the API takes to accept an `upgrade ["*"]` (time to 202).

use std::fmt;

use serde::Serialize;

use super::{PhaseReport, Report, run_phase};
use crate::args::EnqueueLatencyParams;
use crate::client::Sidecar;

/// The results of one `enqueue-latency` run.
#[derive(Debug, Clone, Serialize)]
pub struct EnqueueLatencyReport {
    pub scenario: &'static str,
    pub url: String,
    pub repeat: usize,
    pub concurrency: usize,
    pub upgrades: PhaseReport,
}

/// Sends `repeat` upgrades (`concurrency` at a time), then waits for their jobs unless told not
/// to, so the next benchmark starts on an idle sidecar.
pub async fn run(client: &Sidecar, params: &EnqueueLatencyParams) -> EnqueueLatencyReport {
    let upgrades = run_phase(
        r#"upgrade ["*"]"#,
        client,
        (0..params.repeat).map(|_| client.upgrade(&["*"])),
        params.concurrency,
        params.wait_for_jobs.then_some(params.common.wait),
    )
    .await;
    EnqueueLatencyReport {
        scenario: "enqueue-latency",
        url: params.common.client.base_url.clone(),
        repeat: params.repeat,
        concurrency: params.concurrency,
        upgrades,
    }
}

impl Report for EnqueueLatencyReport {
    fn failed(&self) -> bool {
        self.upgrades.failed()
    }
}

impl fmt::Display for EnqueueLatencyReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "enqueue-latency: {} upgrades against {}, concurrency {}",
            self.repeat, self.url, self.concurrency
        )?;
        write!(f, "{}", self.upgrades)
    }
}
