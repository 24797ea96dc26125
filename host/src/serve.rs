//! The HTTP endpoints of `weir run`: `/metrics` (Prometheus text format), `/healthz` (the
//! process answers) and `/readyz` (every pipeline consumes; 503 with the reason otherwise).
//! A deliberately small HTTP/1.1 responder on tokio: GET only, one response per connection.

use std::net::SocketAddr;

use thiserror::Error;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use crate::health::health;
use crate::metrics::metrics;

#[derive(Debug, Error)]
#[error("cannot listen on {addr}: {source}")]
pub struct ServeError {
    addr: String,
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

/// Answers requests on `listener` until the task is dropped.
pub async fn serve(listener: TcpListener) {
    loop {
        match listener.accept().await {
            Ok((stream, _)) => {
                tokio::spawn(async move {
                    if let Err(e) = answer(stream).await {
                        tracing::debug!("http: {e}");
                    }
                });
            }
            Err(e) => {
                tracing::warn!("http: accept failed: {e}");
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
            }
        }
    }
}

/// The status line, content type and body for a request line.
pub fn respond(request_line: &str) -> (&'static str, &'static str, String) {
    const TEXT: &str = "text/plain; charset=utf-8";
    let mut parts = request_line.split_whitespace();
    let (method, path) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
    if method != "GET" {
        return ("405 Method Not Allowed", TEXT, "GET only\n".into());
    }
    match path.split('?').next().unwrap_or("") {
        "/metrics" => ("200 OK", "text/plain; version=0.0.4; charset=utf-8", metrics().render()),
        "/healthz" => ("200 OK", TEXT, "ok\n".into()),
        "/readyz" => match health().ready() {
            (true, report) => ("200 OK", TEXT, report),
            (false, report) => ("503 Service Unavailable", TEXT, report),
        },
        _ => ("404 Not Found", TEXT, "try /metrics, /healthz or /readyz\n".into()),
    }
}

async fn answer(mut stream: TcpStream) -> std::io::Result<()> {
    let mut request = Vec::with_capacity(1024);
    let mut chunk = [0u8; 1024];
    // The request line and headers; the body of a GET is ignored.
    while !request.windows(4).any(|w| w == b"\r\n\r\n") && !request.windows(2).any(|w| w == b"\n\n") {
        let read = tokio::time::timeout(std::time::Duration::from_secs(5), stream.read(&mut chunk))
            .await
            .map_err(|_| std::io::Error::new(std::io::ErrorKind::TimedOut, "request not sent in 5 s"))??;
        if read == 0 || request.len() > 16 * 1024 {
            break;
        }
        request.extend_from_slice(&chunk[..read]);
    }
    let text = String::from_utf8_lossy(&request);
    let line = text.lines().next().unwrap_or("");
    let (status, content_type, body) = respond(line);
    let head = format!(
        "HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes()).await?;
    stream.write_all(body.as_bytes()).await?;
    stream.shutdown().await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_answer_with_their_status() {
        assert_eq!(respond("GET /healthz HTTP/1.1").0, "200 OK");
        metrics().records_in.with_label_values(&["serve-test"]).inc();
        let (status, content_type, body) = respond("GET /metrics HTTP/1.1");
        assert_eq!(status, "200 OK");
        assert!(content_type.contains("version=0.0.4"));
        assert!(body.contains("# TYPE weir_records_in_total counter"), "{body}");
        assert!(
            body.contains(r#"weir_records_in_total{pipeline="serve-test"} 1"#),
            "{body}"
        );
        assert_eq!(respond("GET /nope HTTP/1.1").0, "404 Not Found");
        assert_eq!(respond("POST /metrics HTTP/1.1").0, "405 Method Not Allowed");
    }

    #[tokio::test]
    async fn answers_over_tcp() {
        let (listener, addr) = bind("127.0.0.1:0").await.unwrap();
        let server = tokio::spawn(serve(listener));
        let mut stream = TcpStream::connect(addr).await.unwrap();
        stream
            .write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
            .await
            .unwrap();
        let mut response = String::new();
        stream.read_to_string(&mut response).await.unwrap();
        assert!(response.starts_with("HTTP/1.1 200 OK\r\n"), "{response}");
        assert!(response.ends_with("\r\n\r\nok\n"), "{response}");
        server.abort();
    }
}
