//! Arrow rows for the bronze and quarantine tables.

use std::sync::Arc;

use arrow::array::{ArrayRef, BinaryArray, Int32Array, Int64Array, StringArray, TimestampMicrosecondArray};
use arrow::error::ArrowError;
use arrow::record_batch::RecordBatch;

use crate::sink::schema::TableSchema;
use crate::source::SourceRecord;

/// A record a stage (or the silver decoder) refused.
#[derive(Debug, Clone)]
pub struct Rejected<'a> {
    pub record: &'a SourceRecord,
    pub stage: String,
    pub reason: String,
    pub plugin_sha256: Option<String>,
}

fn micros(ms: Option<i64>) -> Option<i64> {
    ms.and_then(|ms| ms.checked_mul(1_000))
}

fn timestamps(values: Vec<Option<i64>>) -> ArrayRef {
    Arc::new(TimestampMicrosecondArray::from(values).with_timezone("UTC"))
}

/// Headers as a JSON object (`null` for a header without a value; non-UTF-8 bytes replaced).
fn headers_json(record: &SourceRecord) -> Option<String> {
    if record.headers.is_empty() {
        return None;
    }
    let map: serde_json::Map<String, serde_json::Value> = record
        .headers
        .iter()
        .map(|(k, v)| {
            let value = v
                .as_ref()
                .map(|v| serde_json::Value::String(String::from_utf8_lossy(v).into_owned()));
            (k.clone(), value.unwrap_or(serde_json::Value::Null))
        })
        .collect();
    Some(serde_json::Value::Object(map).to_string())
}

/// Bronze rows: every record as landed.
pub fn bronze(
    schema: &TableSchema,
    topic: &str,
    records: &[&SourceRecord],
    now_us: i64,
) -> Result<RecordBatch, ArrowError> {
    let n = records.len();
    let columns: Vec<ArrayRef> = vec![
        Arc::new(StringArray::from(vec![topic; n])),
        Arc::new(Int32Array::from(
            records.iter().map(|r| r.partition).collect::<Vec<_>>(),
        )),
        Arc::new(Int64Array::from(records.iter().map(|r| r.offset).collect::<Vec<_>>())),
        timestamps(records.iter().map(|r| micros(r.timestamp_ms)).collect()),
        Arc::new(BinaryArray::from(
            records.iter().map(|r| r.key.as_deref()).collect::<Vec<_>>(),
        )),
        Arc::new(BinaryArray::from(
            records.iter().map(|r| r.value.as_deref()).collect::<Vec<_>>(),
        )),
        Arc::new(StringArray::from(
            records.iter().map(|r| headers_json(r)).collect::<Vec<_>>(),
        )),
        timestamps(vec![Some(now_us); n]),
    ];
    RecordBatch::try_new(schema.arrow.clone(), columns)
}

/// Quarantine rows: the original record, the stage, the reason and the plugin's hash.
pub fn quarantine(
    schema: &TableSchema,
    topic: &str,
    rows: &[Rejected<'_>],
    now_us: i64,
) -> Result<RecordBatch, ArrowError> {
    let n = rows.len();
    let columns: Vec<ArrayRef> = vec![
        Arc::new(StringArray::from(vec![topic; n])),
        Arc::new(Int32Array::from(
            rows.iter().map(|r| r.record.partition).collect::<Vec<_>>(),
        )),
        Arc::new(Int64Array::from(
            rows.iter().map(|r| r.record.offset).collect::<Vec<_>>(),
        )),
        timestamps(rows.iter().map(|r| micros(r.record.timestamp_ms)).collect()),
        Arc::new(BinaryArray::from(
            rows.iter().map(|r| r.record.key.as_deref()).collect::<Vec<_>>(),
        )),
        Arc::new(BinaryArray::from(
            rows.iter().map(|r| r.record.value.as_deref()).collect::<Vec<_>>(),
        )),
        Arc::new(StringArray::from(
            rows.iter().map(|r| r.stage.as_str()).collect::<Vec<_>>(),
        )),
        Arc::new(StringArray::from(
            rows.iter().map(|r| r.reason.as_str()).collect::<Vec<_>>(),
        )),
        Arc::new(StringArray::from(
            rows.iter().map(|r| r.plugin_sha256.as_deref()).collect::<Vec<_>>(),
        )),
        timestamps(vec![Some(now_us); n]),
    ];
    RecordBatch::try_new(schema.arrow.clone(), columns)
}
