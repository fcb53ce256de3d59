//! What every test asserts when it ends normally, through the control plane: no task is left
//! RUNNING, and no job ended FAILED unless the test declared it expects one
//! ([`crate::TestServer::expect_failed_jobs`], [`crate::processes::Cluster::expect_failed_jobs`]).

use anyhow::ensure;
use mtx_shared::control::ControlStore;
use mtx_shared::vocab::Status;

/// More jobs than any test creates: the check sees them all.
const EVERY_JOB: usize = 100_000;

/// Whether the test declared failed jobs part of what it proves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailedJobs {
    Unexpected,
    Expected,
}

/// Fails, naming the offenders, when a task is still RUNNING or (unless `failed` is
/// [`FailedJobs::Expected`]) a job ended FAILED.
pub async fn check_invariants(
    control: &dyn ControlStore,
    failed: FailedJobs,
) -> anyhow::Result<()> {
    let jobs = control.list_jobs(EVERY_JOB).await?;
    let running: Vec<String> = jobs
        .iter()
        .flat_map(|j| &j.tasks)
        .filter(|t| t.status == Status::Running)
        .map(|t| format!("task {} of job {} ({})", t.id, t.job_id, t.tenant))
        .collect();
    ensure!(
        running.is_empty(),
        "teardown: tasks left RUNNING: {}",
        running.join(", ")
    );
    if failed == FailedJobs::Unexpected {
        let failed_jobs: Vec<String> = jobs
            .iter()
            .filter(|j| j.job.status == Status::Failed)
            .map(|j| {
                format!(
                    "job {} ({})",
                    j.job.id,
                    j.job.error.as_deref().unwrap_or("no error")
                )
            })
            .collect();
        ensure!(
            failed_jobs.is_empty(),
            "teardown: jobs ended FAILED though the test expects none (call \
             expect_failed_jobs() if it proves a failure): {}",
            failed_jobs.join(", ")
        );
    }
    Ok(())
}
