//! Liveness.

use axum::routing::get;

use crate::auth::Access;
use crate::routing::Routes;

/// `/health`, open to anyone: a load balancer probes it without credentials.
pub(crate) fn routes() -> Routes {
    Routes::new().route(
        "/health",
        Access::Open,
        get(|| async { axum::Json(serde_json::json!({"status": "UP"})) }),
    )
}
