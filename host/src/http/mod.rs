//! The HTTP server of `weir run`, axum on hyper: the operations endpoints (`ops`: `/metrics`,
//! `/healthz`, `/readyz`) and, when an intake file is given, the produce API
//! (`crate::intake`: `POST /topics/{topic}`).

pub mod ops;

use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use thiserror::Error;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::intake::Intake;

#[derive(Debug, Error)]
#[error("cannot listen on {addr}: {source}")]
pub struct ServeError {
    addr: String,
    #[source]
    source: std::io::Error,
}

/// Binds `addr` (port 0: any free port); the address bound is in the result.
pub async fn bind(addr: &str) -> Result<(TcpListener, SocketAddr), ServeError> {
    let error = |source| ServeError {
        addr: addr.to_string(),
        source,
    };
    let listener = TcpListener::bind(addr).await.map_err(error)?;
    let local = listener.local_addr().map_err(error)?;
    Ok((listener, local))
}

/// Every route: the operations endpoints, the status page, and the produce API when `intake`
/// is given.
pub fn router(intake: Option<Arc<Intake>>) -> Router {
    let router = ops::routes().merge(crate::status::routes());
    match intake {
        Some(intake) => router.merge(crate::intake::routes(intake)),
        None => router,
    }
}

/// Answers requests on `listener` until `stop` is cancelled; then lets requests in progress
/// finish (a produce request waits for its acknowledgements) and returns.
pub async fn serve(listener: TcpListener, router: Router, stop: CancellationToken) {
    let served = axum::serve(listener, router)
        .with_graceful_shutdown(async move { stop.cancelled().await })
        .await;
    if let Err(e) = served {
        tracing::warn!("http: {e}");
    }
}
