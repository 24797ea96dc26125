//! The dead-letter topic (`[quarantine] topic`): every quarantined record, produced to Kafka
//! once the quarantine tables have committed it, for the services that consume rejects.
//!
//! It is committed to like a table (it implements [`Table`], format [`TableFormat::Topic`], last
//! of the quarantine layer): it gets the quarantine rows it lacks and records the offsets they
//! cover, so the data path's exactly-once bookkeeping carries it. Its "commit" produces the rows
//! (acks=all, idempotent: `records`), waits for every acknowledgement, then moves its cursor
//! (`cursor`). A crash before the cursor moved makes the pipeline read those records again and
//! produce their rows again: at least once, each letter carrying its origin topic, partition
//! and offset in headers so a consumer can drop repeats. Nothing is produced before the
//! quarantine tables hold it.

mod cursor;
mod records;

use std::collections::{HashMap, VecDeque};

use arrow::record_batch::RecordBatch;
use thiserror::Error;

pub use cursor::Cursors;
pub use records::{
    DROPPED, Letter, ORIGIN_OFFSET_HEADER, ORIGIN_PARTITION_HEADER, ORIGIN_TIMESTAMP_HEADER, ORIGIN_TOPIC_HEADER,
    PIPELINE, PLUGIN_SHA256, REASON, STAGE, letters,
};

use crate::config::{Pipeline, TableFormat};
use crate::intake::producer::Pending;
use crate::intake::{Delivered, Producer, ProducerError, ProducerSettings};
use crate::tables::schema::TableSchema;
use crate::tables::table::{Upkeep, UpkeepReport};
use crate::tables::{DataFiles, Table, TableError};

#[derive(Debug, Error)]
pub enum DeadLetterError {
    #[error(transparent)]
    Producer(#[from] ProducerError),
    #[error("topic `{topic}` does not exist: create it (Weir never creates topics)")]
    NoTopic { topic: String },
    #[error("the broker did not take the record from partition {partition} offset {offset}: {error}")]
    Delivery { partition: i32, offset: i64, error: String },
    #[error("cursor `{path}`: {source}")]
    Cursor {
        path: String,
        #[source]
        source: crate::tables::BoxError,
    },
    #[error("{0}")]
    Row(String),
}

/// Letters produced and not yet acknowledged, at most.
const WINDOW_RECORDS: usize = 10_000;
/// Key and value bytes produced and not yet acknowledged, at most.
const WINDOW_BYTES: usize = 64 << 20;

/// The quarantine's dead-letter topic, as a table of the quarantine layer.
pub struct DeadLetterTopic {
    topic: String,
    pipeline: String,
    schema: TableSchema,
    producer: Producer,
    cursors: Cursors,
}

impl std::fmt::Debug for DeadLetterTopic {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DeadLetterTopic").field("topic", &self.topic).finish()
    }
}

impl DeadLetterTopic {
    /// The dead-letter topic of `pipeline`, if it has one: its producer connected and the
    /// topic's existence checked.
    pub async fn open(pipeline: &Pipeline, schema: TableSchema) -> Result<Option<Self>, TableError> {
        let Some(topic) = pipeline.quarantine.topic.clone() else {
            return Ok(None);
        };
        let error = |source: DeadLetterError| TableError::DeadLetter {
            topic: topic.clone(),
            source: Box::new(source),
        };
        let producer = Producer::new(&settings(pipeline)).map_err(|e| error(e.into()))?;
        if producer
            .partitions(&topic)
            .await
            .map_err(|e| error(e.into()))?
            .is_none()
        {
            return Err(error(DeadLetterError::NoTopic { topic: topic.clone() }));
        }
        let tables = &pipeline.tables;
        let cursors = Cursors::open(&tables.location, &topic, &tables.s3).map_err(error)?;
        Ok(Some(DeadLetterTopic {
            topic,
            pipeline: pipeline.name.clone(),
            schema,
            producer,
            cursors,
        }))
    }

    fn error(&self, source: DeadLetterError) -> TableError {
        TableError::DeadLetter {
            topic: self.topic.clone(),
            source: Box::new(source),
        }
    }

    /// Produces `rows`' letters and waits until the broker acknowledged every one.
    async fn produce(&self, rows: &[RecordBatch]) -> Result<usize, DeadLetterError> {
        let mut waiting: VecDeque<(Letter, Pending)> = VecDeque::new();
        let (mut bytes, mut produced) = (0usize, 0usize);
        for batch in rows {
            for letter in letters(batch, &self.pipeline)? {
                while waiting.len() >= WINDOW_RECORDS || bytes >= WINDOW_BYTES {
                    let Some((oldest, pending)) = waiting.pop_front() else {
                        break;
                    };
                    bytes -= oldest.record.size();
                    self.acknowledged(oldest, pending).await?;
                    produced += 1;
                }
                let pending = self
                    .producer
                    .enqueue(&self.topic, &letter.record, Some(letter.headers()));
                bytes += letter.record.size();
                waiting.push_back((letter, pending));
            }
        }
        for (letter, pending) in waiting {
            self.acknowledged(letter, pending).await?;
            produced += 1;
        }
        Ok(produced)
    }

    /// Waits for `letter`'s acknowledgement. A letter the broker refuses for good (too large
    /// for the topic, say) goes again without its key, value and original headers, with
    /// `weir.dropped` saying why: the quarantine table holds the record whole, and one record
    /// must not stop the topic.
    async fn acknowledged(&self, letter: Letter, pending: Pending) -> Result<(), DeadLetterError> {
        let (partition, offset) = letter.origin;
        let error = match pending.delivered().await {
            Delivered::At { .. } => return Ok(()),
            Delivered::Failed { retriable: true, error } => error,
            Delivered::Failed {
                retriable: false,
                error,
            } => {
                let stripped = letter.stripped(&error);
                let again = self
                    .producer
                    .enqueue(&self.topic, &stripped.record, Some(stripped.headers()));
                match again.delivered().await {
                    Delivered::At { .. } => {
                        tracing::warn!(pipeline = %self.pipeline, topic = %self.topic, partition, offset, "dead letter sent without its key, value and headers: {error}");
                        return Ok(());
                    }
                    Delivered::Failed { error, .. } => error,
                }
            }
        };
        Err(DeadLetterError::Delivery {
            partition,
            offset,
            error,
        })
    }
}

/// The dead-letter producer: the section's brokers (default the source's), the source's
/// security settings, then the section's own properties.
fn settings(pipeline: &Pipeline) -> ProducerSettings {
    let section = &pipeline.quarantine;
    let mut properties: std::collections::BTreeMap<String, String> = (pipeline.source.properties.iter())
        .filter(|(k, _)| ["security.", "sasl.", "ssl."].iter().any(|p| k.starts_with(p)))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    properties.extend(section.properties.clone());
    ProducerSettings {
        brokers: section
            .brokers
            .clone()
            .unwrap_or_else(|| pipeline.source.brokers.clone()),
        properties,
        queue_records: 2 * WINDOW_RECORDS,
        queue_kib: 4 * (WINDOW_BYTES >> 10),
        delivery_timeout_ms: 60_000,
    }
}

#[async_trait::async_trait]
impl Table for DeadLetterTopic {
    fn name(&self) -> &str {
        "quarantine"
    }

    fn format(&self) -> TableFormat {
        TableFormat::Topic
    }

    fn schema(&self) -> &TableSchema {
        &self.schema
    }

    fn schema_mut(&mut self) -> &mut TableSchema {
        &mut self.schema
    }

    async fn next_offset(&self, topic: &str, partition: i32) -> Result<Option<i64>, TableError> {
        self.cursors.next(topic, partition).await.map_err(|e| self.error(e))
    }

    /// Nothing to write ahead: the rows are kept as they are until they are produced.
    async fn write(&self, batches: &[RecordBatch]) -> Result<DataFiles, TableError> {
        Ok(DataFiles::Memory(batches.to_vec()))
    }

    async fn publish(
        &mut self,
        files: DataFiles,
        offsets: &[(String, i32, i64)],
        _metadata: &HashMap<String, serde_json::Value>,
    ) -> Result<(), TableError> {
        for (topic, partition, next) in offsets {
            let held = self.cursors.held(topic, *partition).unwrap_or(0);
            if *next < held {
                return Err(TableError::OffsetBackwards {
                    table: format!("dead-letter topic {}", self.topic),
                    id: format!("{topic}/{partition}"),
                    held,
                    next: *next,
                });
            }
        }
        let rows = files.memory(&self.topic)?;
        let produced = self.produce(&rows).await.map_err(|e| self.error(e))?;
        tracing::debug!(pipeline = %self.pipeline, topic = %self.topic, produced, "dead letters acknowledged");
        let moves: Vec<(String, i32, i64)> = (offsets.iter())
            .filter(|(topic, partition, next)| self.cursors.held(topic, *partition) != Some(*next))
            .cloned()
            .collect();
        self.cursors.advance_all(&moves).await.map_err(|e| self.error(e))
    }

    /// Reads every partition's cursor again on the next assignment: another host may have
    /// moved it.
    async fn refresh(&mut self) -> Result<(), TableError> {
        self.cursors.forget();
        Ok(())
    }

    /// Weir does not read a topic back: consumers of the dead letters do.
    async fn read_all(&self) -> Result<Vec<RecordBatch>, TableError> {
        Ok(Vec::new())
    }

    async fn maintain(&mut self, _policy: &Upkeep) -> Result<UpkeepReport, TableError> {
        Ok(UpkeepReport::default())
    }

    fn columns(&self) -> Result<Vec<String>, TableError> {
        Ok(self.schema.columns.iter().map(|c| c.name.clone()).collect())
    }

    /// A letter carries what its row holds; there is no schema to change.
    async fn add_columns(&mut self, _names: &[String]) -> Result<(), TableError> {
        Ok(())
    }
}
