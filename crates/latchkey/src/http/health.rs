//! Liveness and readiness probes.

use std::time::Duration;

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use serde_json::json;

use super::AppState;

/// The process is up and serving.
pub async fn live() -> impl IntoResponse {
    Json(json!({"status": "ok"}))
}

/// The process can do its work: the database answers within two seconds.
/// 503 otherwise, so that a load balancer routes around it.
pub async fn ready(State(app): State<AppState>) -> impl IntoResponse {
    match tokio::time::timeout(Duration::from_secs(2), app.store.ping()).await {
        Ok(Ok(())) => (StatusCode::OK, Json(json!({"status": "ok"}))),
        _ => (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(json!({"status": "unavailable", "error": "the database is unreachable"})),
        ),
    }
}
