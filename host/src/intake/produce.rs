//! One produce request, from its headers to its offsets: the token (401), the topic allowed
//! (403), the content type (415), the body's size (413) taken from the body budget (429), the
//! records read (422) and counted (413), the topic and partitions known to the broker (404),
//! the records taken from the in-flight budget (429), produced, and answered once the broker
//! acknowledged every one. A refused request produced nothing.

use std::sync::Arc;
use std::time::Instant;

use axum::Router;
use axum::body::{Body, BodyDataStream};
use axum::extract::{Path, State};
use axum::http::{HeaderMap, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use futures::StreamExt;
use sha2::{Digest, Sha256};

use super::admission::{Admission, Share};
use super::body::{Embedded, Outgoing, parse};
use super::config::IntakeConfig;
use super::producer::{Delivered, Producer, ProducerError, ProducerSettings};
use super::reply::{ApiError, offsets};
use crate::metrics::metrics;

/// The produce API's state: its settings, producer and budgets.
pub struct Intake {
    config: IntakeConfig,
    token: Option<[u8; 32]>,
    producer: Producer,
    admission: Admission,
}

/// `POST /topics/{topic}`.
pub fn routes(intake: Arc<Intake>) -> Router {
    Router::new().route("/topics/{topic}", post(handle)).with_state(intake)
}

async fn handle(
    State(intake): State<Arc<Intake>>,
    Path(topic): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let started = Instant::now();
    let mut body = body.into_data_stream();
    let response = match intake.produce(&topic, &headers, &mut body).await {
        Ok(deliveries) => offsets(&deliveries),
        Err(error) => {
            drain(&mut body).await;
            error.into_response()
        }
    };
    let status = response.status().as_u16().to_string();
    let m = metrics();
    m.intake_requests.with_label_values(&[&status]).inc();
    m.intake_request_seconds
        .with_label_values(&[&status])
        .observe(started.elapsed().as_secs_f64());
    response
}

impl Intake {
    pub fn new(config: IntakeConfig) -> Result<Self, ProducerError> {
        let producer = Producer::new(&ProducerSettings {
            brokers: config.brokers.clone(),
            properties: config.properties.clone(),
            // The budgets below bound what is held; librdkafka's queue is set above them so it
            // never refuses a record the budgets took.
            queue_records: config.max_in_flight_records + 1024,
            queue_kib: config.max_in_flight_mib * 1024 + 1024,
            delivery_timeout_ms: config.delivery_timeout_ms,
        })?;
        Ok(Intake {
            token: config.token.as_deref().map(digest),
            admission: Admission::new(config.max_in_flight_mib * 1024, config.max_in_flight_records),
            producer,
            config,
        })
    }

    /// The topics this intake writes.
    pub fn topics(&self) -> &[String] {
        &self.config.topics
    }

    async fn produce(
        &self,
        topic: &str,
        headers: &HeaderMap,
        body: &mut BodyDataStream,
    ) -> Result<Vec<Delivered>, ApiError> {
        self.authorize(headers)?;
        if !self.config.topics.iter().any(|t| t == topic) {
            return Err(ApiError::forbidden(topic));
        }
        let content_type = headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        let embedded = Embedded::from_content_type(content_type).ok_or_else(|| ApiError::unsupported(content_type))?;
        // The body's share of the byte budget is held until the answer: records waiting for
        // their acknowledgement hold their bytes too.
        let (records, bytes) = self.read_records(headers, body, embedded, topic).await?;
        self.check_partitions(topic, &records)
            .await
            .inspect_err(|_| refused(topic, &records))?;
        let in_flight = self
            .admission
            .records(records.len(), &metrics().intake_in_flight)
            .ok_or_else(|| {
                refused(topic, &records);
                ApiError::busy("records")
            })?;
        let sizes: Vec<usize> = records.iter().map(Outgoing::size).collect();
        let pending: Vec<_> = records.iter().map(|r| self.producer.enqueue(topic, r, None)).collect();
        drop(records); // librdkafka holds its own copy now
        // The acknowledgements are awaited by a task of their own, which holds the request's
        // shares of both budgets until every record is answered: a client that goes away
        // does not hand back room that librdkafka's queue still uses.
        let topic = topic.to_string();
        let waiting = tokio::spawn(async move {
            let deliveries = futures::future::join_all(pending.into_iter().map(|p| p.delivered())).await;
            count(&topic, &sizes, &deliveries);
            drop((in_flight, bytes));
            deliveries
        });
        waiting
            .await
            .map_err(|e| ApiError::broker(format!("waiting for the acknowledgements stopped: {e}")))
    }

    fn authorize(&self, headers: &HeaderMap) -> Result<(), ApiError> {
        let Some(expected) = &self.token else { return Ok(()) };
        let given = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .map(|t| digest(t.trim()));
        // Digests compared, so the comparison's time says nothing about the token.
        match given {
            Some(given) if &given == expected => Ok(()),
            _ => Err(ApiError::unauthorized()),
        }
    }

    /// The body, read within its share of the body budget (returned, to hold until the
    /// request is answered), parsed and counted.
    async fn read_records(
        &self,
        headers: &HeaderMap,
        body: &mut BodyDataStream,
        embedded: Embedded,
        topic: &str,
    ) -> Result<(Vec<Outgoing>, Share), ApiError> {
        let limit = self.config.max_body_kib * 1024;
        let declared = headers
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<usize>().ok());
        if let Some(length) = declared.filter(|l| *l > limit) {
            return Err(ApiError::too_large(format!(
                "the body has {length} bytes; at most {limit} are taken"
            )));
        }
        let share = self
            .admission
            .body(declared.unwrap_or(limit))
            .ok_or_else(|| ApiError::busy("request bodies"))?;
        let bytes = read_body(body, limit).await?;
        let records = parse(&bytes, embedded).map_err(ApiError::invalid)?;
        if records.len() > self.config.max_records {
            refused(topic, &records);
            return Err(ApiError::too_large(format!(
                "{} records in one request; at most {} are taken",
                records.len(),
                self.config.max_records
            )));
        }
        Ok((records, share))
    }

    async fn check_partitions(&self, topic: &str, records: &[Outgoing]) -> Result<(), ApiError> {
        let count = self
            .producer
            .partitions(topic)
            .await
            .map_err(|e| ApiError::broker(e.to_string()))?
            .ok_or_else(|| ApiError::unknown_topic(topic))?;
        match records.iter().filter_map(|r| r.partition).find(|p| *p >= count) {
            Some(partition) => Err(ApiError::unknown_partition(topic, partition, count)),
            None => Ok(()),
        }
    }
}

async fn read_body(stream: &mut BodyDataStream, limit: usize) -> Result<Vec<u8>, ApiError> {
    let mut bytes = Vec::new();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|e| ApiError::unreadable(format!("the body could not be read: {e}")))?;
        if bytes.len() + chunk.len() > limit {
            return Err(ApiError::too_large(format!("the body has more than {limit} bytes")));
        }
        bytes.extend_from_slice(&chunk);
    }
    Ok(bytes)
}

/// How much of a refused request's body is read and dropped, and for how long, at most.
const DRAIN_BYTES: usize = 64 * 1024 * 1024;
const DRAIN_TIME: std::time::Duration = std::time::Duration::from_secs(10);

/// Reads and drops what is left of a refused request's body (within `DRAIN_BYTES` and
/// `DRAIN_TIME`), so that a client still sending it reads the answer instead of a connection
/// reset under its feet. A body past either bound is cut off with the connection.
async fn drain(body: &mut BodyDataStream) {
    let read_all = async {
        let mut read = 0;
        while let Some(Ok(chunk)) = body.next().await {
            read += chunk.len();
            if read > DRAIN_BYTES {
                return;
            }
        }
    };
    let _ = tokio::time::timeout(DRAIN_TIME, read_all).await;
}

fn digest(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

fn refused(topic: &str, records: &[Outgoing]) {
    let bytes: usize = records.iter().map(Outgoing::size).sum();
    metrics().intake(topic, "refused", records.len(), bytes);
}

/// Counts the records of `sizes` (key and value bytes each) by how they were delivered.
fn count(topic: &str, sizes: &[usize], deliveries: &[Delivered]) {
    let (mut accepted, mut failed) = ((0, 0), (0, 0));
    for (size, delivered) in sizes.iter().zip(deliveries) {
        let side = match delivered {
            Delivered::At { .. } => &mut accepted,
            Delivered::Failed { .. } => &mut failed,
        };
        side.0 += 1;
        side.1 += size;
    }
    metrics().intake(topic, "accepted", accepted.0, accepted.1);
    metrics().intake(topic, "failed", failed.0, failed.1);
}
