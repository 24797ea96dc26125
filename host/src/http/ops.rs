//! `/metrics` (Prometheus text format), `/healthz` (the process answers) and `/readyz` (every
//! pipeline consumes; 503 with the reason otherwise).

use axum::Router;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::get;

use crate::health::health;
use crate::metrics::metrics;

const TEXT: &str = "text/plain; charset=utf-8";

/// The operations routes; anything else is a 404 naming them.
pub fn routes() -> Router {
    Router::new()
        .route("/metrics", get(metrics_page))
        .route("/healthz", get(|| async { ([(header::CONTENT_TYPE, TEXT)], "ok\n") }))
        .route("/readyz", get(ready))
        .fallback(|| async {
            (
                StatusCode::NOT_FOUND,
                [(header::CONTENT_TYPE, TEXT)],
                "try / (the status page), /api/status, /metrics, /healthz or /readyz\n",
            )
        })
}

async fn metrics_page() -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")],
        metrics().render(),
    )
}

async fn ready() -> impl IntoResponse {
    let (ready, report) = health().ready();
    let status = if ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (status, [(header::CONTENT_TYPE, TEXT)], report)
}

#[cfg(test)]
mod tests {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpStream;
    use tokio_util::sync::CancellationToken;

    use super::*;
    use crate::http::{bind, router, serve};

    async fn get(addr: std::net::SocketAddr, request: &str) -> String {
        let mut stream = TcpStream::connect(addr).await.unwrap();
        stream.write_all(request.as_bytes()).await.unwrap();
        let mut response = String::new();
        stream.read_to_string(&mut response).await.unwrap();
        response
    }

    #[tokio::test]
    async fn routes_answer_with_their_status_over_tcp() {
        metrics().records_in.with_label_values(&["serve-test"]).inc();
        let (listener, addr) = bind("127.0.0.1:0").await.unwrap();
        let stop = CancellationToken::new();
        let server = tokio::spawn(serve(listener, router(None), stop.clone()));
        let close = "Host: x\r\nConnection: close\r\n\r\n";
        let healthz = get(addr, &format!("GET /healthz HTTP/1.1\r\n{close}")).await;
        assert!(healthz.starts_with("HTTP/1.1 200 OK\r\n"), "{healthz}");
        assert!(healthz.ends_with("\r\n\r\nok\n"), "{healthz}");
        let page = get(addr, &format!("GET /metrics HTTP/1.1\r\n{close}")).await;
        assert!(page.starts_with("HTTP/1.1 200 OK\r\n"), "{page}");
        assert!(page.contains("version=0.0.4"), "{page}");
        assert!(
            page.contains(r#"weir_records_in_total{pipeline="serve-test"} 1"#),
            "{page}"
        );
        let page = get(addr, &format!("GET / HTTP/1.1\r\n{close}")).await;
        assert!(page.starts_with("HTTP/1.1 200 OK\r\n"), "{page}");
        assert!(
            page.contains("text/html") && page.contains("<title>Weir status</title>"),
            "{page}"
        );
        let api = get(addr, &format!("GET /api/status HTTP/1.1\r\n{close}")).await;
        let (head, body) = api.split_once("\r\n\r\n").unwrap();
        assert!(
            head.starts_with("HTTP/1.1 200 OK\r\n") && head.contains("application/json"),
            "{head}"
        );
        let status: serde_json::Value = serde_json::from_str(body).unwrap();
        assert!(status["pipelines"].is_array() && status["now_ms"].is_i64(), "{status}");
        let missing = get(addr, &format!("GET /nope HTTP/1.1\r\n{close}")).await;
        assert!(missing.starts_with("HTTP/1.1 404 Not Found\r\n"), "{missing}");
        let post = get(addr, &format!("POST /metrics HTTP/1.1\r\nContent-Length: 0\r\n{close}")).await;
        assert!(post.starts_with("HTTP/1.1 405 Method Not Allowed\r\n"), "{post}");
        // Without an intake, the produce API is not there.
        let produce = get(
            addr,
            &format!("POST /topics/t HTTP/1.1\r\nContent-Length: 0\r\n{close}"),
        )
        .await;
        assert!(produce.starts_with("HTTP/1.1 404 Not Found\r\n"), "{produce}");
        stop.cancel();
        server.await.unwrap();
    }
}
