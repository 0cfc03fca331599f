//! Liveness and readiness probes. Their answers are for load balancers and
//! orchestrators, not OAuth clients: plain JSON with a `status`, and the
//! status code is the whole signal.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use serde_json::json;

use super::AppState;
use crate::core::health::{self, Readiness};

/// The process is up and serving.
pub async fn live() -> impl IntoResponse {
    Json(json!({"status": "ok"}))
}

/// The process can do its work: 503 while the database does not answer, so
/// that a load balancer routes around it.
pub async fn ready(State(app): State<AppState>) -> impl IntoResponse {
    match health::readiness(&app).await {
        Readiness::Ready => (StatusCode::OK, Json(json!({"status": "ok"}))),
        Readiness::DatabaseUnreachable => (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(json!({"status": "unavailable", "error": "the database is unreachable"})),
        ),
    }
}
