//! `provision`: subscribe N tenants, upgrade all of them, optionally unsubscribe them again.

use std::fmt;

use serde::Serialize;

use super::{PhaseReport, Report, run_phase};
use crate::args::ProvisionParams;
use crate::client::Sidecar;
use crate::stats::LatencySummary;

/// The results of one `provision` run.
#[derive(Debug, Clone, Serialize)]
pub struct ProvisionReport {
    pub scenario: &'static str,
    pub url: String,
    pub tenants: usize,
    pub concurrency: usize,
    pub subscribe: PhaseReport,
    pub upgrade: PhaseReport,
    pub unsubscribe: Option<PhaseReport>,
    /// Latency of every `pollJob` answered during the run (the API's responsiveness under load).
    pub poll_latency: Option<LatencySummary>,
}

/// Runs the scenario. Failures are in the report, never an early return: a benchmark that hits
/// errors still says how far it got.
pub async fn run(client: &Sidecar, params: &ProvisionParams) -> ProvisionReport {
    let wait = Some(params.common.wait);
    let subscribe = run_phase(
        "subscribe",
        client,
        params.tenants.iter().map(|t| client.subscribe(t)),
        params.concurrency,
        wait,
    )
    .await;
    if let Some((file, new)) = &params.switch_model
        && let Err(e) = std::fs::copy(new, file)
    {
        eprintln!(
            "mtx-bench: cannot copy {} over {}: {e}; the upgrade re-deploys the same model",
            new.display(),
            file.display()
        );
    }
    let upgrade = run_phase(
        r#"upgrade ["*"]"#,
        client,
        std::iter::once(client.upgrade(&["*"])),
        1,
        wait,
    )
    .await;
    let unsubscribe = if params.cleanup {
        Some(
            run_phase(
                "unsubscribe",
                client,
                params.tenants.iter().map(|t| client.unsubscribe(t)),
                params.concurrency,
                wait,
            )
            .await,
        )
    } else {
        None
    };

    let polls: Vec<_> = [Some(&subscribe), Some(&upgrade), unsubscribe.as_ref()]
        .into_iter()
        .flatten()
        .flat_map(|phase| phase.poll_latencies.iter().copied())
        .collect();
    ProvisionReport {
        scenario: "provision",
        url: params.common.client.base_url.clone(),
        tenants: params.tenants.len(),
        concurrency: params.concurrency,
        poll_latency: LatencySummary::of(&polls),
        subscribe,
        upgrade,
        unsubscribe,
    }
}

impl Report for ProvisionReport {
    fn failed(&self) -> bool {
        self.subscribe.failed()
            || self.upgrade.failed()
            || self.unsubscribe.as_ref().is_some_and(PhaseReport::failed)
    }
}

impl fmt::Display for ProvisionReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "provision: {} tenants against {}, concurrency {}",
            self.tenants, self.url, self.concurrency
        )?;
        write!(f, "{}", self.subscribe)?;
        write!(f, "{}", self.upgrade)?;
        if let Some(unsubscribe) = &self.unsubscribe {
            write!(f, "{unsubscribe}")?;
        }
        match &self.poll_latency {
            Some(l) => writeln!(f, "  pollJob         {l}"),
            None => writeln!(f, "  pollJob         no poll answered"),
        }
    }
}
