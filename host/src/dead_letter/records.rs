//! Quarantine rows as dead-letter records: the original key, value and headers, then `weir.*`
//! headers saying which stage refused the record and why, with which plugin, and where it came
//! from (so a consumer can drop a repeat by its origin).

use arrow::array::{Array, AsArray, BinaryArray, ListArray, StringArray, StructArray};
use arrow::datatypes::{Int32Type, Int64Type, TimestampMicrosecondType};
use arrow::record_batch::RecordBatch;
use rdkafka::message::{Header, OwnedHeaders};

use super::DeadLetterError;
use crate::intake::body::Outgoing;
use crate::tables::schema::{ORIGIN_OFFSET, ORIGIN_PARTITION, ORIGIN_TOPIC, QUARANTINE_HEADERS};

/// The `weir.*` header names, in the order they are added.
pub const STAGE: &str = "weir.stage";
pub const REASON: &str = "weir.reason";
pub const PLUGIN_SHA256: &str = "weir.plugin.sha256";
pub const PIPELINE: &str = "weir.pipeline";
pub const ORIGIN_TOPIC_HEADER: &str = "weir.origin.topic";
pub const ORIGIN_PARTITION_HEADER: &str = "weir.origin.partition";
pub const ORIGIN_OFFSET_HEADER: &str = "weir.origin.offset";
/// The original record's timestamp, ms since the epoch (absent when it had none).
pub const ORIGIN_TIMESTAMP_HEADER: &str = "weir.origin.timestamp";

/// The header a letter carries when its value and original headers had to be left out.
pub const DROPPED: &str = "weir.dropped";

/// A stripped letter keeps its key up to this size.
const MAX_KEPT_KEY: usize = 1024;

/// One record for the dead-letter topic.
#[derive(Debug, Clone)]
pub struct Letter {
    pub record: Outgoing,
    /// The original record's headers, in order.
    pub original: Vec<(String, Option<Vec<u8>>)>,
    /// The `weir.*` headers.
    pub weir: Vec<(&'static str, String)>,
    /// The source partition and offset it came from.
    pub origin: (i32, i64),
}

impl Letter {
    /// The topic its record came from.
    pub fn origin_topic(&self) -> &str {
        (self.weir.iter())
            .find(|(k, _)| *k == ORIGIN_TOPIC_HEADER)
            .map_or("", |(_, v)| v.as_str())
    }

    /// Its Kafka headers: the original ones, then Weir's.
    pub fn headers(&self) -> OwnedHeaders {
        let original = self.original.iter().fold(OwnedHeaders::new(), |h, (key, value)| {
            h.insert(Header {
                key,
                value: value.as_deref(),
            })
        });
        self.weir.iter().fold(original, |h, (key, value)| {
            h.insert(Header {
                key,
                value: Some(value.as_bytes()),
            })
        })
    }

    /// The letter without its value and original headers (and its key, when that is over
    /// 1 KiB: a compacted topic needs keys), `weir.dropped` saying `why`.
    pub fn stripped(&self, why: &str) -> Letter {
        let mut weir = self.weir.clone();
        let key = self.record.key.clone().filter(|k| k.len() <= MAX_KEPT_KEY);
        let left_out = if key.is_some() || self.record.key.is_none() {
            "value and headers"
        } else {
            "key, value and headers"
        };
        weir.push((DROPPED, format!("{left_out} left out: {why}")));
        Letter {
            record: Outgoing {
                key,
                value: None,
                partition: None,
            },
            original: Vec::new(),
            weir,
            origin: self.origin,
        }
    }
}

/// Quarantine's column of the original record's timestamp.
const TIMESTAMP: &str = "_kafka_timestamp";

/// The columns of a quarantine batch that a letter is made of.
struct Columns<'a> {
    topic: &'a StringArray,
    partition: &'a arrow::array::Int32Array,
    offset: &'a arrow::array::Int64Array,
    timestamp: &'a arrow::array::TimestampMicrosecondArray,
    key: &'a BinaryArray,
    value: &'a BinaryArray,
    stage: &'a StringArray,
    reason: &'a StringArray,
    plugin: &'a StringArray,
    headers: Option<&'a ListArray>,
}

fn column<'a>(batch: &'a RecordBatch, name: &str) -> Result<&'a dyn Array, DeadLetterError> {
    batch
        .column_by_name(name)
        .map(|c| c.as_ref())
        .ok_or_else(|| DeadLetterError::Row(format!("quarantine rows lack column `{name}`")))
}

fn mistyped(name: &str) -> DeadLetterError {
    DeadLetterError::Row(format!("quarantine column `{name}` has another type"))
}

fn strings<'a>(batch: &'a RecordBatch, name: &str) -> Result<&'a StringArray, DeadLetterError> {
    column(batch, name)?
        .as_string_opt::<i32>()
        .ok_or_else(|| mistyped(name))
}

fn binaries<'a>(batch: &'a RecordBatch, name: &str) -> Result<&'a BinaryArray, DeadLetterError> {
    column(batch, name)?
        .as_binary_opt::<i32>()
        .ok_or_else(|| mistyped(name))
}

impl<'a> Columns<'a> {
    fn of(batch: &'a RecordBatch) -> Result<Self, DeadLetterError> {
        let partition = column(batch, ORIGIN_PARTITION)?.as_primitive_opt::<Int32Type>();
        let offset = column(batch, ORIGIN_OFFSET)?.as_primitive_opt::<Int64Type>();
        let timestamp = column(batch, TIMESTAMP)?.as_primitive_opt::<TimestampMicrosecondType>();
        Ok(Columns {
            topic: strings(batch, ORIGIN_TOPIC)?,
            partition: partition.ok_or_else(|| mistyped(ORIGIN_PARTITION))?,
            offset: offset.ok_or_else(|| mistyped(ORIGIN_OFFSET))?,
            timestamp: timestamp.ok_or_else(|| mistyped(TIMESTAMP))?,
            key: binaries(batch, "key")?,
            value: binaries(batch, "value")?,
            stage: strings(batch, "stage")?,
            reason: strings(batch, "reason")?,
            plugin: strings(batch, "plugin_sha256")?,
            headers: batch
                .column_by_name(QUARANTINE_HEADERS)
                .and_then(|c| c.as_list_opt::<i32>()),
        })
    }

    fn text(array: &StringArray, row: usize) -> Option<&str> {
        array.is_valid(row).then(|| array.value(row))
    }

    fn bytes(array: &BinaryArray, row: usize) -> Option<Vec<u8>> {
        array.is_valid(row).then(|| array.value(row).to_vec())
    }

    /// The original headers of `row`, in order.
    fn original(&self, row: usize) -> Vec<(String, Option<Vec<u8>>)> {
        let Some(list) = self.headers.filter(|l| l.is_valid(row)) else {
            return Vec::new();
        };
        let entries = list.value(row);
        let Some(entries) = entries.as_any().downcast_ref::<StructArray>() else {
            return Vec::new();
        };
        let (Some(keys), Some(values)) = (
            entries.column_by_name("key").and_then(|c| c.as_string_opt::<i32>()),
            entries.column_by_name("value").and_then(|c| c.as_binary_opt::<i32>()),
        ) else {
            return Vec::new();
        };
        (0..entries.len())
            .map(|i| {
                (
                    keys.value(i).to_string(),
                    values.is_valid(i).then(|| values.value(i).to_vec()),
                )
            })
            .collect()
    }

    fn letter(&self, row: usize, pipeline: &str) -> Letter {
        let (partition, offset) = (self.partition.value(row), self.offset.value(row));
        let text = |array: &StringArray| Self::text(array, row).unwrap_or_default().to_string();
        let mut weir = vec![(STAGE, text(self.stage)), (REASON, text(self.reason))];
        if let Some(plugin) = Self::text(self.plugin, row) {
            weir.push((PLUGIN_SHA256, plugin.to_string()));
        }
        weir.extend([
            (PIPELINE, pipeline.to_string()),
            (ORIGIN_TOPIC_HEADER, text(self.topic)),
            (ORIGIN_PARTITION_HEADER, partition.to_string()),
            (ORIGIN_OFFSET_HEADER, offset.to_string()),
        ]);
        if self.timestamp.is_valid(row) {
            weir.push((ORIGIN_TIMESTAMP_HEADER, (self.timestamp.value(row) / 1_000).to_string()));
        }
        Letter {
            record: Outgoing {
                key: Self::bytes(self.key, row),
                value: Self::bytes(self.value, row),
                partition: None,
            },
            original: self.original(row),
            weir,
            origin: (partition, offset),
        }
    }
}

/// The letters of quarantine rows `batch`, in row order.
pub fn letters(batch: &RecordBatch, pipeline: &str) -> Result<Vec<Letter>, DeadLetterError> {
    let columns = Columns::of(batch)?;
    Ok((0..batch.num_rows()).map(|row| columns.letter(row, pipeline)).collect())
}
