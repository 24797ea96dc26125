//! The Kafka producer behind the produce API, `weir ingest` and the dead-letter topic: acks=all
//! and idempotent (a record is reported written only once every in-sync replica has it, and a
//! retry inside librdkafka cannot write it twice), topics never created by asking for them, and
//! each record's partition and offset, or its error, once the broker has answered.

use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use rdkafka::ClientConfig;
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::OwnedHeaders;
use rdkafka::producer::{DeliveryFuture, FutureProducer, FutureRecord, Producer as _};
use thiserror::Error;

use super::body::Outgoing;

#[derive(Debug, Error)]
pub enum ProducerError {
    #[error("cannot create the Kafka producer: {0}")]
    Create(#[source] KafkaError),
    #[error("cannot read the metadata of topic `{topic}`: {source}")]
    Metadata {
        topic: String,
        #[source]
        source: KafkaError,
    },
    #[error("reading topic metadata stopped: {0}")]
    Join(#[source] tokio::task::JoinError),
}

/// How much the producer may hold and how long a record may wait for the broker.
#[derive(Debug, Clone)]
pub struct ProducerSettings {
    pub brokers: String,
    /// Passed through to librdkafka (security, linger, compression, ...).
    pub properties: BTreeMap<String, String>,
    pub queue_records: usize,
    pub queue_kib: usize,
    pub delivery_timeout_ms: u64,
}

/// Where a record went, or why it did not.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Delivered {
    At {
        partition: i32,
        offset: i64,
    },
    Failed {
        retriable: bool,
        error: String,
        /// The broker's or librdkafka's code, when there is one.
        code: Option<RDKafkaErrorCode>,
    },
}

impl Delivered {
    /// Whether the broker refused the record (or its batch) for its size.
    pub fn too_large(&self) -> bool {
        matches!(
            self,
            Delivered::Failed {
                code: Some(RDKafkaErrorCode::MessageSizeTooLarge | RDKafkaErrorCode::InvalidMessageSize),
                ..
            }
        )
    }
}

/// librdkafka producer properties Weir sets itself, with their aliases: what the producers
/// promise (acks from every in-sync replica, idempotence, a bounded wait and queue) rests on
/// them, so a pipeline or intake file may not set them.
pub const OWN_PROPERTIES: [&str; 11] = [
    "acks",
    "request.required.acks",
    "enable.idempotence",
    "bootstrap.servers",
    "metadata.broker.list",
    "message.timeout.ms",
    "delivery.timeout.ms",
    "transactional.id",
    "queue.buffering.max.messages",
    "queue.buffering.max.kbytes",
    "enable.gapless.guarantee",
];

/// Whether `key` is one of [`OWN_PROPERTIES`].
pub fn is_own_property(key: &str) -> bool {
    OWN_PROPERTIES.contains(&key.trim())
}

/// Partition counts are asked of the broker at most this often per topic.
const METADATA_TTL: Duration = Duration::from_secs(30);
const METADATA_TIMEOUT: Duration = Duration::from_secs(10);

/// An acks=all, idempotent producer, with the partition counts of the topics it writes.
pub struct Producer {
    inner: FutureProducer,
    partitions: Mutex<HashMap<String, (i32, Instant)>>,
}

impl Producer {
    pub fn new(settings: &ProducerSettings) -> Result<Self, ProducerError> {
        let mut config = ClientConfig::new();
        config
            .set("bootstrap.servers", &settings.brokers)
            // Weir asks the broker whether a topic exists; asking must not create it.
            .set("allow.auto.create.topics", "false")
            .set("linger.ms", "5")
            .set("compression.type", "lz4");
        for (key, value) in &settings.properties {
            config.set(key, value);
        }
        config
            .set("acks", "all")
            .set("enable.idempotence", "true")
            .set("queue.buffering.max.messages", settings.queue_records.to_string())
            .set("queue.buffering.max.kbytes", settings.queue_kib.to_string())
            .set("message.timeout.ms", settings.delivery_timeout_ms.to_string());
        let inner = config.create().map_err(ProducerError::Create)?;
        Ok(Producer {
            inner,
            partitions: Mutex::new(HashMap::new()),
        })
    }

    /// How many partitions `topic` has, `None` when the broker does not know it. Cached for
    /// 30 s when it exists; an unknown topic is asked about again next time.
    pub async fn partitions(&self, topic: &str) -> Result<Option<i32>, ProducerError> {
        if let Some(&(count, at)) = self.known().get(topic)
            && at.elapsed() < METADATA_TTL
        {
            return Ok(Some(count));
        }
        let producer = self.inner.clone();
        let name = topic.to_string();
        let count = tokio::task::spawn_blocking(move || partition_count(&producer, &name))
            .await
            .map_err(ProducerError::Join)??;
        match count {
            Some(count) => {
                self.known().insert(topic.to_string(), (count, Instant::now()));
            }
            None => {
                self.known().remove(topic);
            }
        }
        Ok(count)
    }

    fn known(&self) -> std::sync::MutexGuard<'_, HashMap<String, (i32, Instant)>> {
        self.partitions
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Hands `record` to librdkafka (never blocks); the future resolves once the broker answered.
    pub fn enqueue(&self, topic: &str, record: &Outgoing, headers: Option<OwnedHeaders>) -> Pending {
        let mut future = FutureRecord::<[u8], [u8]>::to(topic);
        if let Some(key) = &record.key {
            future = future.key(key.as_slice());
        }
        if let Some(value) = &record.value {
            future = future.payload(value.as_slice());
        }
        if let Some(partition) = record.partition {
            future = future.partition(partition);
        }
        if let Some(headers) = headers {
            future = future.headers(headers);
        }
        match self.inner.send_result(future) {
            Ok(delivery) => Pending::Queued(delivery),
            Err((error, _)) => Pending::Refused(failed(&error)),
        }
    }

    /// Waits until everything handed over was answered, or `timeout` passed.
    pub fn flush(&self, timeout: Duration) -> Result<(), KafkaError> {
        self.inner.flush(timeout)
    }
}

/// A record handed to the producer.
pub enum Pending {
    Queued(DeliveryFuture),
    Refused(Delivered),
}

impl Pending {
    /// Where the record went, once the broker answered.
    pub async fn delivered(self) -> Delivered {
        match self {
            Pending::Refused(refused) => refused,
            Pending::Queued(future) => match future.await {
                Ok(Ok(delivery)) => Delivered::At {
                    partition: delivery.partition,
                    offset: delivery.offset,
                },
                Ok(Err((error, _))) => failed(&error),
                Err(_) => Delivered::Failed {
                    retriable: true,
                    error: "the producer stopped before the broker answered".into(),
                    code: None,
                },
            },
        }
    }
}

fn partition_count(producer: &FutureProducer, topic: &str) -> Result<Option<i32>, ProducerError> {
    let metadata = producer
        .client()
        .fetch_metadata(Some(topic), METADATA_TIMEOUT)
        .map_err(|source| ProducerError::Metadata {
            topic: topic.to_string(),
            source,
        })?;
    Ok(metadata
        .topics()
        .iter()
        .find(|t| t.name() == topic && t.error().is_none() && !t.partitions().is_empty())
        .map(|t| t.partitions().len() as i32))
}

fn failed(error: &KafkaError) -> Delivered {
    use RDKafkaErrorCode::*;
    let retriable = matches!(
        error.rdkafka_error_code(),
        Some(
            QueueFull
                | MessageTimedOut
                | RequestTimedOut
                | NotLeaderForPartition
                | LeaderNotAvailable
                | NetworkException
                | BrokerTransportFailure
                | AllBrokersDown
                | NotEnoughReplicas
                | NotEnoughReplicasAfterAppend
        )
    );
    Delivered::Failed {
        retriable,
        error: error.to_string(),
        code: error.rdkafka_error_code(),
    }
}
