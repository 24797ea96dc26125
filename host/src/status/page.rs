//! `/` (the status page: plain HTML and a little JavaScript, no build step) and `/api/status`
//! (what it polls: the registry's snapshot as JSON, documented in docs/STATUS.md).

use axum::Router;
use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::get;

use super::registry::status;

const PAGE: &str = include_str!("../../assets/status.html");

/// The status routes.
pub fn routes() -> Router {
    Router::new().route("/", get(page)).route("/api/status", get(api))
}

async fn page() -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "text/html; charset=utf-8")], PAGE)
}

async fn api() -> impl IntoResponse {
    (
        [
            (header::CONTENT_TYPE, "application/json"),
            (header::CACHE_CONTROL, "no-store"),
        ],
        status().snapshot().to_string(),
    )
}
