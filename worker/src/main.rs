//! `mtx-worker`: executes queued tasks from the Redis queue. Run as many as the load needs, on
//! any machines; the limits (`workerSize`, `clusterSize`, one task per tenant) hold across all
//! of them. SIGTERM stops claiming, lets in-flight tasks finish (or hands them back) and exits 0.
//! With `MTX_METRICS_PORT` set it serves `/metrics` (Prometheus) on that port.
//! `mtx-worker config` prints the effective configuration.

use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context as _;
use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;
use mtx_shared::config::Config;
use mtx_shared::lifecycle;
use mtx_shared::metrics;
use mtx_shared::system::System;
use tokio_util::sync::CancellationToken;

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
    let metrics_addr = config
        .metrics_port
        .map(|port| format!("{}:{port}", config.host));
    let system = Arc::new(System::build(config).await?);
    let worker_id = format!(
        "worker-{}-{}",
        std::process::id(),
        &uuid::Uuid::new_v4().simple().to_string()[..8]
    );
    let shutdown = lifecycle::shutdown_on_signals();
    // The metrics server outlives the runner's drain, so the last counts can still be scraped
    // while in-flight tasks finish; it stops right after.
    let metrics_stop = CancellationToken::new();
    let metrics_server = match metrics_addr {
        Some(addr) => Some(serve_metrics(&addr, system.clone(), metrics_stop.clone()).await?),
        None => None,
    };
    tracing::info!(worker.id = %worker_id, slots, "mtx-worker started");
    let callbacks = system
        .deliverer()?
        .map(|d| tokio::spawn(d.run(shutdown.clone())));
    system.runner(worker_id, slots).run(shutdown).await;
    if let Some(callbacks) = callbacks {
        let _ = callbacks.await;
    }
    metrics_stop.cancel();
    if let Some(server) = metrics_server {
        let _ = server.await;
    }
    tracing::info!("mtx-worker stopped");
    Ok(())
}

/// Binds `addr` and serves `GET /metrics` until `stop`; logs the bound address (port 0 picks a
/// free one).
async fn serve_metrics(
    addr: &str,
    system: Arc<System>,
    stop: CancellationToken,
) -> anyhow::Result<tokio::task::JoinHandle<()>> {
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .with_context(|| format!("binding the metrics port {addr} (MTX_METRICS_PORT)"))?;
    tracing::info!(addr = %listener.local_addr()?, "metrics listening");
    let app = axum::Router::new()
        .route("/metrics", axum::routing::get(scrape))
        .with_state(system);
    Ok(tokio::spawn(async move {
        if let Err(e) = axum::serve(listener, app)
            .with_graceful_shutdown(async move { stop.cancelled().await })
            .await
        {
            tracing::warn!(error = %e, "metrics server failed");
        }
    }))
}

async fn scrape(State(system): State<Arc<System>>) -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, metrics::CONTENT_TYPE)],
        metrics::scrape(system.metrics(), system.scheduler().as_ref()).await,
    )
}
