//! Building the router and serving it.

use std::sync::Arc;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use mtx_shared::system::System;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::routes;
use crate::state::AppState;

/// The complete HTTP API.
pub fn router(state: AppState) -> Router {
    let body_limit = state.system.config().body_limit;
    // Every route is behind the authentication its declaration names (see `routing`).
    routes::all()
        .into_router(state.auth.clone())
        .layer(DefaultBodyLimit::max(body_limit))
        .layer(tower_http::catch_panic::CatchPanicLayer::custom(
            panic_response,
        ))
        .with_state(state)
}

fn panic_response(_: Box<dyn std::any::Any + Send + 'static>) -> Response {
    tracing::error!("a request handler panicked");
    (
        StatusCode::INTERNAL_SERVER_ERROR,
        axum::Json(serde_json::json!({"error":{"message":"Internal server error","code":"500"}})),
    )
        .into_response()
}

/// Serves the API on `listener` until `shutdown` is cancelled, then drains HTTP and (in the
/// embedded mode) stops the in-process runner, letting in-flight tasks finish.
pub async fn serve(
    listener: TcpListener,
    system: Arc<System>,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    // Built first: a bad authentication setting stops the start before anything runs.
    let app = router(AppState::new(system.clone())?);
    // Whatever the control plane says is unfinished goes (back) into the queue: after a crash of
    // the embedded mode, or when Redis lost its data.
    match system.jobs().reconcile().await {
        Ok(0) => {}
        Ok(n) => tracing::info!(
            tasks = n,
            "re-enqueued unfinished tasks from the control plane"
        ),
        Err(e) => tracing::warn!(error = %e, "could not re-enqueue unfinished tasks"),
    }
    let runner_stop = CancellationToken::new();
    // Should this future be dropped before it ends (its runtime shut down, its task aborted), the
    // runner and the callback delivery, which live on beyond it, stop all the same.
    let _stop_when_dropped = runner_stop.clone().drop_guard();
    // Status callbacks are delivered by every process, the API too: in the embedded mode it is
    // the only one, and in production it keeps callbacks flowing while workers are scaled down.
    let callbacks = system
        .deliverer()?
        .map(|d| tokio::spawn(d.run(runner_stop.clone())));
    let runner = if system.config().distributed() {
        None
    } else {
        Some(spawn_embedded_runner(&system, runner_stop.clone())?)
    };

    tracing::info!(addr = %listener.local_addr()?, "mtx-api listening");
    let http_stop = shutdown.clone();
    axum::serve(listener, app)
        .with_graceful_shutdown(async move { http_stop.cancelled().await })
        .await?;
    runner_stop.cancel();
    if let Some(runner) = runner {
        let _ = runner.await;
    }
    if let Some(callbacks) = callbacks {
        let _ = callbacks.await;
    }
    tracing::info!("mtx-api stopped");
    Ok(())
}

/// Starts the embedded mode's task runner on a runtime of its own, so that deployments (CPU
/// and blocking I/O in SQLite) never delay the HTTP handlers. Resolves when the runner stopped.
fn spawn_embedded_runner(
    system: &Arc<System>,
    stop: CancellationToken,
) -> anyhow::Result<tokio::sync::oneshot::Receiver<()>> {
    let slots = system.config().jobs.worker_size * system.config().jobs.cluster_size;
    let runner = system.runner(format!("api-{}", std::process::id()), slots);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name("mtx-runner")
        .enable_all()
        .build()?;
    let (done, stopped) = tokio::sync::oneshot::channel();
    std::thread::Builder::new()
        .name("mtx-runner".into())
        .spawn(move || {
            runtime.block_on(runner.run(stop));
            let _ = done.send(());
        })?;
    Ok(stopped)
}
