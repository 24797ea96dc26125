//! The produce API's answers, shaped as the Confluent REST Proxy v2 gives them: an error is
//! `{"error_code": n, "message": "..."}` with its HTTP status; a produce request answers 200
//! with one entry per record, in order: its partition and offset, or its `error_code` (1: not
//! retriable, 2: retriable) and `error`.

use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use super::producer::Delivered;

/// The media type of every answer.
pub const V2_JSON: &str = "application/vnd.kafka.v2+json";

/// A refused request: nothing of it was produced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: u32,
    pub message: String,
}

impl ApiError {
    fn new(status: StatusCode, code: u32, message: impl Into<String>) -> Self {
        ApiError {
            status,
            code,
            message: message.into(),
        }
    }

    pub fn unauthorized() -> Self {
        Self::new(StatusCode::UNAUTHORIZED, 40101, "a valid bearer token is required")
    }

    pub fn forbidden(topic: &str) -> Self {
        Self::new(
            StatusCode::FORBIDDEN,
            40301,
            format!("topic `{topic}` may not be written here"),
        )
    }

    pub fn unknown_topic(topic: &str) -> Self {
        Self::new(StatusCode::NOT_FOUND, 40401, format!("topic `{topic}` not found"))
    }

    pub fn unknown_partition(topic: &str, partition: i32, count: i32) -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            40402,
            format!("partition {partition} not found: topic `{topic}` has {count}"),
        )
    }

    pub fn unsupported(content_type: &str) -> Self {
        Self::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            415,
            format!(
                "content type `{content_type}` is not taken: use application/vnd.kafka.json.v2+json, application/vnd.kafka.binary.v2+json or application/json"
            ),
        )
    }

    pub fn too_large(message: String) -> Self {
        Self::new(StatusCode::PAYLOAD_TOO_LARGE, 413, message)
    }

    pub fn invalid(message: String) -> Self {
        Self::new(StatusCode::UNPROCESSABLE_ENTITY, 422, message)
    }

    pub fn busy(what: &str) -> Self {
        Self::new(
            StatusCode::TOO_MANY_REQUESTS,
            429,
            format!("the producer holds as many {what} as it may: try again shortly"),
        )
    }

    pub fn unreadable(message: String) -> Self {
        Self::new(StatusCode::BAD_REQUEST, 400, message)
    }

    pub fn broker(message: String) -> Self {
        Self::new(StatusCode::INTERNAL_SERVER_ERROR, 50003, message)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = json!({"error_code": self.code, "message": self.message});
        (self.status, [(header::CONTENT_TYPE, V2_JSON)], body.to_string()).into_response()
    }
}

/// The 200 answer to a produce request.
pub fn offsets(deliveries: &[Delivered]) -> Response {
    let offsets: Vec<serde_json::Value> = deliveries
        .iter()
        .map(|d| match d {
            Delivered::At { partition, offset } => {
                json!({"partition": partition, "offset": offset, "error_code": null, "error": null})
            }
            Delivered::Failed { retriable, error, .. } => {
                json!({"partition": null, "offset": null, "error_code": if *retriable { 2 } else { 1 }, "error": error})
            }
        })
        .collect();
    let body = json!({"key_schema_id": null, "value_schema_id": null, "offsets": offsets});
    (StatusCode::OK, [(header::CONTENT_TYPE, V2_JSON)], body.to_string()).into_response()
}
