//! `/metrics`: this process' counters and the shared queue's state, in the Prometheus text
//! format (see `mtx_shared::metrics`).

use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::get;
use mtx_shared::metrics;

use crate::auth::Access;
use crate::routing::Routes;
use crate::state::AppState;

/// `/metrics`, for any authenticated caller.
pub(crate) fn routes() -> Routes {
    Routes::new().route("/metrics", Access::Authenticated, get(scrape))
}

async fn scrape(State(state): State<AppState>) -> impl IntoResponse {
    let system = &state.system;
    (
        [(header::CONTENT_TYPE, metrics::CONTENT_TYPE)],
        metrics::scrape(system.metrics(), system.scheduler().as_ref()).await,
    )
}
