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

use std::collections::{HashMap, HashSet, VecDeque};
use std::time::Duration;

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

/// A partition's cursor is written at least this often while its offsets move.
const CURSOR_INTERVAL: Duration = Duration::from_secs(30);

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
        // Shown at 0 from the start, so an alert's increase() sees the first.
        (crate::metrics::metrics().dead_letters_dropped).with_label_values(&[pipeline.name.as_str(), topic.as_str()]);
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

    /// Produces `rows`' letters and waits until the broker acknowledged every one. Returns
    /// how many, and the partitions (by their origin topic) they came from.
    async fn produce(&self, rows: &[RecordBatch]) -> Result<(usize, HashSet<(String, i32)>), DeadLetterError> {
        let mut waiting: VecDeque<(Letter, Pending)> = VecDeque::new();
        let (mut bytes, mut produced) = (0usize, 0usize);
        let mut origins = HashSet::new();
        for batch in rows {
            for letter in letters(batch, &self.pipeline)? {
                origins.insert((letter.origin_topic().to_string(), letter.origin.0));
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
        Ok((produced, origins))
    }

    /// Waits for `letter`'s acknowledgement. A letter the broker refuses for itself (too
    /// large, or a record the topic does not take) is sent again alone (its batch may have been
    /// what was too large), then without its value and original headers, with `weir.dropped`
    /// saying why; refused even so, it is left out, logged and counted: the quarantine table
    /// holds the record whole, and one record must not stop the topic. Any other refusal (the
    /// broker down, no rights to the topic) fails the commit, to be retried.
    async fn acknowledged(&self, letter: Letter, pending: Pending) -> Result<(), DeadLetterError> {
        let (partition, offset) = letter.origin;
        let mut delivered = pending.delivered().await;
        for attempt in [Attempt::Alone, Attempt::Stripped] {
            if !refused_for_itself(&delivered) {
                break;
            }
            let why = failure_text(&delivered);
            let resent = match attempt {
                Attempt::Alone => letter.clone(),
                Attempt::Stripped => letter.stripped(&why),
            };
            let again = self
                .producer
                .enqueue(&self.topic, &resent.record, Some(resent.headers()));
            delivered = again.delivered().await;
            if matches!(delivered, Delivered::At { .. }) && matches!(attempt, Attempt::Stripped) {
                tracing::warn!(pipeline = %self.pipeline, topic = %self.topic, partition, offset, "dead letter sent without its value and headers: {why}");
            }
        }
        match delivered {
            Delivered::At { .. } => Ok(()),
            refused if refused_for_itself(&refused) => {
                let why = failure_text(&refused);
                tracing::error!(pipeline = %self.pipeline, topic = %self.topic, partition, offset, "dead letter left out (the quarantine table holds the record): {why}");
                let labels = [self.pipeline.as_str(), self.topic.as_str()];
                crate::metrics::metrics()
                    .dead_letters_dropped
                    .with_label_values(&labels)
                    .inc();
                Ok(())
            }
            failed => Err(DeadLetterError::Delivery {
                partition,
                offset,
                error: failure_text(&failed),
            }),
        }
    }
}

/// The ways a refused letter is sent again, in order.
#[derive(Clone, Copy)]
enum Attempt {
    Alone,
    Stripped,
}

/// Whether the broker refused this record for what it is (its size, its form), not for a
/// reason every record would meet (the broker down, no rights to the topic).
fn refused_for_itself(delivered: &Delivered) -> bool {
    use rdkafka::types::RDKafkaErrorCode as Code;
    delivered.too_large()
        || matches!(
            delivered,
            Delivered::Failed {
                code: Some(Code::InvalidRecord | Code::InvalidMessage),
                ..
            }
        )
}

fn failure_text(delivered: &Delivered) -> String {
    match delivered {
        Delivered::At { .. } => String::new(),
        Delivered::Failed { error, .. } => error.clone(),
    }
}

/// The dead-letter producer: the section's brokers (default the source's, and then the source's
/// security settings), then the section's own properties.
fn settings(pipeline: &Pipeline) -> ProducerSettings {
    let section = &pipeline.quarantine;
    // The source's credentials go only to the source's own cluster.
    let same_cluster = section.brokers.is_none();
    let mut properties: std::collections::BTreeMap<String, String> = (pipeline.source.properties.iter())
        .filter(|(k, _)| same_cluster && ["security.", "sasl.", "ssl."].iter().any(|p| k.starts_with(p)))
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
        let (produced, lettered) = self.produce(&rows).await.map_err(|e| self.error(e))?;
        tracing::debug!(pipeline = %self.pipeline, topic = %self.topic, produced, "dead letters acknowledged");
        // A partition's cursor is written when it got letters, when it has none yet, and at
        // least every CURSOR_INTERVAL otherwise: a cursor left behind only makes a restart
        // read further back (at least once), and an object write per partition and commit
        // would cost more than the tables' own commits.
        let moves: Vec<(String, i32, i64)> = (offsets.iter())
            .filter(|(topic, partition, next)| {
                let written = self.cursors.written(topic, *partition);
                written != Some(*next)
                    && (written.is_none()
                        || lettered.contains(&(topic.clone(), *partition))
                        || self.cursors.due(topic, *partition, CURSOR_INTERVAL))
            })
            .cloned()
            .collect();
        self.cursors.advance_all(&moves).await.map_err(|e| self.error(e))?;
        for (topic, partition, next) in offsets {
            self.cursors.hold(topic, *partition, *next);
        }
        Ok(())
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
