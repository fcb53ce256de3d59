//! `mtx-worker`: executes queued tasks from the Redis queue. Run as many as the load needs, on
//! any machines; the limits (`workerSize`, `clusterSize`, one task per tenant) hold across all
//! of them. `mtx-worker config` prints the effective configuration.

use std::process::ExitCode;

use mtx_shared::config::Config;
use mtx_shared::lifecycle;
use mtx_shared::system::System;

fn main() -> ExitCode {
    let config = match Config::from_process_env() {
        Ok(c) => c,
        Err(e) => {
            eprintln!("mtx-worker: {e}");
            return ExitCode::from(2);
        }
    };
    match std::env::args().nth(1).as_deref() {
        None => {}
        Some("config") => {
            return match serde_json::to_string_pretty(&config) {
                Ok(text) => {
                    println!("{text}");
                    ExitCode::SUCCESS
                }
                Err(e) => {
                    eprintln!("mtx-worker: {e}");
                    ExitCode::FAILURE
                }
            };
        }
        Some(other) => {
            eprintln!("mtx-worker: unknown argument '{other}'\nusage: mtx-worker [config]");
            return ExitCode::from(2);
        }
    }
    if !config.distributed() {
        eprintln!(
            "mtx-worker: configuration: MTX_REDIS_URL: not set. Workers take tasks from the Redis \
             queue; without it (the embedded mode) mtx-api runs tasks itself."
        );
        return ExitCode::from(2);
    }
    lifecycle::init_tracing();
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("mtx-worker: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(config)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("mtx-worker: {e:#}");
            ExitCode::FAILURE
        }
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
