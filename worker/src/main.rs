//! `mtx-worker`: executes queued tasks from the Redis queue. Run as many as the load needs, on
//! any machines; the limits (`workerSize`, `clusterSize`, one task per tenant) hold across all
//! of them. SIGTERM stops claiming, lets in-flight tasks finish (or hands them back) and exits 0.
//! `mtx-worker config` prints the effective configuration.

use std::process::ExitCode;

use mtx_shared::config::Config;
use mtx_shared::lifecycle;
use mtx_shared::system::System;

fn main() -> ExitCode {
    lifecycle::main("mtx-worker", preflight, run)
}

fn preflight(config: &Config) -> Result<(), String> {
    if config.distributed() {
        Ok(())
    } else {
        Err(
            "configuration: MTX_REDIS_URL: not set. Workers take tasks from the Redis queue; \
             without it (the embedded mode) mtx-api runs tasks itself."
                .into(),
        )
    }
}

async fn run(config: Config) -> anyhow::Result<()> {
    let slots = config.worker_slots;
    let system = System::build(config).await?;
    let worker_id = format!(
        "worker-{}-{}",
        std::process::id(),
        &uuid::Uuid::new_v4().simple().to_string()[..8]
    );
    tracing::info!(worker.id = %worker_id, slots, "mtx-worker started");
    let shutdown = lifecycle::shutdown_on_signals();
    let callbacks = system
        .deliverer()?
        .map(|d| tokio::spawn(d.run(shutdown.clone())));
    system.runner(worker_id, slots).run(shutdown).await;
    if let Some(callbacks) = callbacks {
        let _ = callbacks.await;
    }
    tracing::info!("mtx-worker stopped");
    Ok(())
}
