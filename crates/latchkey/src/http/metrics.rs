//! `GET /metrics` in the Prometheus text format, and the layer that counts
//! every request by route template and status.
//!
//! The recorder is the `metrics` facade's global one, installed once per
//! process (the first router built installs it); the domain emits its own
//! counters (`latchkey_tokens_issued_total`, `latchkey_refresh_reuse_detected_total`,
//! `latchkey_rate_limited_total`, ...) through the same facade. Labels on
//! the per-request path are `&'static str`s, so counting a request builds no
//! string: the route is the matched template looked up among the known
//! routes, never the raw path (which would give every token its own series).

use std::sync::OnceLock;
use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

use super::AppState;

/// The histogram of request latencies, seconds.
const REQUEST_SECONDS: &str = "latchkey_http_request_duration_seconds";
/// Buckets from 1 ms (an ES256 token) to 10 s (a request waiting out the
/// database acquire timeout).
const LATENCY_BUCKETS: &[f64] = &[
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

static HANDLE: OnceLock<Option<PrometheusHandle>> = OnceLock::new();

/// Installs the process-wide recorder (once) and returns its handle; `None`
/// if another recorder was installed first (an embedding application's).
pub fn install() -> Option<&'static PrometheusHandle> {
    HANDLE
        .get_or_init(|| {
            let builder = PrometheusBuilder::new()
                .set_buckets_for_metric(Matcher::Full(REQUEST_SECONDS.to_owned()), LATENCY_BUCKETS)
                .ok()?;
            match builder.install_recorder() {
                Ok(handle) => Some(handle),
                Err(e) => {
                    tracing::warn!(error = %e, "metrics recorder not installed");
                    None
                }
            }
        })
        .as_ref()
}

/// `GET /metrics`.
pub async fn metrics(State(app): State<AppState>) -> Response {
    let Some(handle) = install() else {
        return (StatusCode::NOT_FOUND, "metrics are not enabled\n").into_response();
    };
    // Gauges that are cheaper to read at scrape time than to keep current.
    let pool = crate::core::health::pool_stats(&app);
    metrics::gauge!("latchkey_db_pool_connections", "state" => "idle").set(pool.idle as f64);
    metrics::gauge!("latchkey_db_pool_connections", "state" => "in_use")
        .set(pool.size.saturating_sub(pool.idle) as f64);
    metrics::gauge!("latchkey_db_pool_max_connections").set(pool.max as f64);
    handle.run_upkeep();
    let mut resp = handle.render().into_response();
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
    );
    resp
}

/// Counts the request and times it, labelled by route template, method and
/// status.
pub async fn track(req: Request, next: Next) -> Response {
    let start = Instant::now();
    let route = route_label(req.extensions().get::<MatchedPath>());
    let method = method_label(req.method());
    let resp = next.run(req).await;
    let status = status_label(resp.status());
    metrics::counter!(
        "latchkey_http_requests_total",
        "route" => route,
        "method" => method,
        "status" => status
    )
    .increment(1);
    metrics::histogram!(REQUEST_SECONDS, "route" => route).record(start.elapsed().as_secs_f64());
    resp
}

/// The matched template as a `'static` label: one of the router's own paths,
/// or `unmatched` (404s, whatever their path).
fn route_label(matched: Option<&MatchedPath>) -> &'static str {
    let Some(m) = matched else {
        return "unmatched";
    };
    super::ROUTES
        .iter()
        .find(|r| **r == m.as_str())
        .copied()
        .unwrap_or("other")
}

fn method_label(m: &axum::http::Method) -> &'static str {
    use axum::http::Method;
    match *m {
        Method::GET => "GET",
        Method::POST => "POST",
        Method::HEAD => "HEAD",
        Method::OPTIONS => "OPTIONS",
        Method::PUT => "PUT",
        Method::DELETE => "DELETE",
        Method::PATCH => "PATCH",
        _ => "other",
    }
}

fn status_label(s: StatusCode) -> &'static str {
    match s.as_u16() {
        200 => "200",
        201 => "201",
        204 => "204",
        302 => "302",
        303 => "303",
        304 => "304",
        400 => "400",
        401 => "401",
        403 => "403",
        404 => "404",
        405 => "405",
        408 => "408",
        413 => "413",
        414 => "414",
        415 => "415",
        429 => "429",
        431 => "431",
        500 => "500",
        503 => "503",
        c if c < 200 => "1xx",
        c if c < 300 => "2xx",
        c if c < 400 => "3xx",
        c if c < 500 => "4xx",
        _ => "5xx",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_labels_are_the_codes() {
        assert_eq!(status_label(StatusCode::OK), "200");
        assert_eq!(status_label(StatusCode::IM_A_TEAPOT), "4xx");
        assert_eq!(status_label(StatusCode::BAD_GATEWAY), "5xx");
    }
}
