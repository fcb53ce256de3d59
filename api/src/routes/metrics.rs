//! `/metrics`: this process' counters and the shared queue's state, in the Prometheus text
//! format (see `mtx_shared::metrics`).

use axum::Router;
use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::get;
use mtx_shared::metrics;

use crate::state::AppState;

pub fn routes() -> Router<AppState> {
    Router::new().route("/metrics", get(scrape))
}

async fn scrape(State(state): State<AppState>) -> impl IntoResponse {
    let system = &state.system;
    (
        [(header::CONTENT_TYPE, metrics::CONTENT_TYPE)],
        metrics::scrape(system.metrics(), system.scheduler().as_ref()).await,
    )
}
