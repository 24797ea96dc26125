//! Arrow rows for the bronze and quarantine tables.

use std::sync::Arc;

use arrow::array::{
    ArrayRef, BinaryArray, Int32Array, Int64Array, ListArray, StringArray, StructArray, TimestampMicrosecondArray,
};
use arrow::buffer::{NullBuffer, OffsetBuffer};
use arrow::datatypes::DataType;
use arrow::error::ArrowError;
use arrow::record_batch::RecordBatch;

use crate::decode::ValueDecoder;
use crate::source::SourceRecord;
use crate::tables::schema::{QUARANTINE_HEADERS, TableSchema};

/// A record a stage (or the silver decoder) refused.
#[derive(Debug, Clone)]
pub struct Rejected<'a> {
    pub record: &'a SourceRecord,
    pub stage: String,
    pub reason: String,
    pub plugin_sha256: Option<String>,
}

impl<'a> Rejected<'a> {
    pub fn new(record: &'a SourceRecord, stage: &str, reason: &str, plugin_sha256: Option<String>) -> Self {
        Rejected {
            record,
            stage: stage.to_string(),
            reason: reason.to_string(),
            plugin_sha256,
        }
    }
}

/// One quarantine row per record and stage, in offset order: the outputs of one flat-mapped
/// record that a later stage or silver refused become one row (the first reason, and how many
/// more), not one row per output, which would copy the record as many times.
pub fn one_per_record(mut rejected: Vec<Rejected<'_>>) -> Vec<Rejected<'_>> {
    rejected.sort_by_key(|r| r.record.offset);
    let mut out: Vec<Rejected<'_>> = Vec::with_capacity(rejected.len());
    let mut more = 0usize;
    for next in rejected {
        match out.last_mut() {
            Some(last) if last.record.offset == next.record.offset && last.stage == next.stage => more += 1,
            _ => {
                note_more(out.last_mut(), more);
                more = 0;
                out.push(next);
            }
        }
    }
    note_more(out.last_mut(), more);
    out
}

fn note_more(row: Option<&mut Rejected<'_>>, more: usize) {
    if let Some(row) = row
        && more > 0
    {
        row.reason = format!("{} (and {more} more of this record's outputs)", row.reason);
    }
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
    values: &ValueDecoder,
) -> Result<RecordBatch, ArrowError> {
    let n = records.len();
    let schema_ids = records
        .iter()
        .map(|r| r.value.as_deref().and_then(|v| values.schema_id(v)).map(i64::from));
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
        Arc::new(Int64Array::from_iter(schema_ids)),
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
        headers_list(schema, rows)?,
    ];
    RecordBatch::try_new(schema.arrow.clone(), columns)
}

/// Each row's headers as quarantine's `list<struct<key, value>>` column (null: none).
fn headers_list(schema: &TableSchema, rows: &[Rejected<'_>]) -> Result<ArrayRef, ArrowError> {
    let field = schema.arrow.field_with_name(QUARANTINE_HEADERS)?;
    let DataType::List(item) = field.data_type() else {
        return Err(ArrowError::SchemaError(format!("{QUARANTINE_HEADERS} is not a list")));
    };
    let DataType::Struct(fields) = item.data_type() else {
        return Err(ArrowError::SchemaError(format!(
            "{QUARANTINE_HEADERS} holds no structs"
        )));
    };
    let headers: Vec<&(String, Option<Vec<u8>>)> = rows.iter().flat_map(|r| &r.record.headers).collect();
    let keys = StringArray::from(headers.iter().map(|(k, _)| k.as_str()).collect::<Vec<_>>());
    let values = BinaryArray::from(headers.iter().map(|(_, v)| v.as_deref()).collect::<Vec<_>>());
    let entries = StructArray::try_new(fields.clone(), vec![Arc::new(keys), Arc::new(values)], None)?;
    let lengths = rows.iter().map(|r| r.record.headers.len());
    let nulls = NullBuffer::from_iter(rows.iter().map(|r| !r.record.headers.is_empty()));
    let list = ListArray::try_new(
        item.clone(),
        OffsetBuffer::from_lengths(lengths),
        Arc::new(entries),
        Some(nulls),
    )?;
    Ok(Arc::new(list))
}

#[cfg(test)]
mod grouping_tests {
    use super::*;

    fn source(offset: i64) -> SourceRecord {
        SourceRecord {
            partition: 0,
            offset,
            timestamp_ms: None,
            key: None,
            value: Some(b"{}".to_vec()),
            headers: Vec::new(),
            malformed: None,
        }
    }

    #[test]
    fn the_outputs_of_one_record_refused_by_one_stage_are_one_row() {
        let (a, b) = (source(1), source(2));
        let row = |record, stage: &str, reason: &str| Rejected {
            record,
            stage: stage.into(),
            reason: reason.into(),
            plugin_sha256: None,
        };
        let mut rows = vec![row(&b, "validate", "bad b")];
        rows.extend((0..1_000_000).map(|i| row(&a, "silver", if i == 0 { "first" } else { "other" })));
        rows.push(row(&a, "validate", "bad a"));
        let grouped = one_per_record(rows);
        let summary: Vec<(i64, &str, &str)> = grouped
            .iter()
            .map(|r| (r.record.offset, r.stage.as_str(), r.reason.as_str()))
            .collect();
        assert_eq!(
            summary,
            [
                (1, "silver", "first (and 999999 more of this record's outputs)"),
                (1, "validate", "bad a"),
                (2, "validate", "bad b"),
            ]
        );
    }
}

#[cfg(test)]
mod dead_letter_tests {
    use super::*;
    use crate::dead_letter::{ORIGIN_OFFSET_HEADER, REASON, STAGE, letters};
    use crate::tables::schema;

    /// A quarantine row keeps the record's headers exact (a repeated name, bytes that are not
    /// UTF-8, a header without a value); its letter carries them back, with key and value, then
    /// Weir's headers.
    #[test]
    fn a_letter_carries_the_record_as_it_came_and_why_it_was_refused() {
        let headers = vec![
            ("trace".to_string(), Some(b"a".to_vec())),
            ("trace".to_string(), Some(b"b".to_vec())),
            ("bin".to_string(), Some(vec![0xff, 0x00])),
            ("none".to_string(), None),
        ];
        let with = SourceRecord {
            partition: 3,
            offset: 41,
            timestamp_ms: Some(1_700_000_000_123),
            key: Some(b"k".to_vec()),
            value: Some(b"not json".to_vec()),
            headers: headers.clone(),
            malformed: None,
        };
        let without = SourceRecord {
            offset: 42,
            key: None,
            headers: Vec::new(),
            timestamp_ms: None,
            ..with.clone()
        };
        let rows = [
            Rejected::new(&with, "validate", "missing id", Some("abc".into())),
            Rejected::new(&without, "decode", "not UTF-8", None),
        ];
        let batch = quarantine(&schema::quarantine(), "posts", &rows, 1).unwrap();
        let letters = letters(&batch, "p").unwrap();
        assert_eq!(letters.len(), 2);
        let (first, second) = (&letters[0], &letters[1]);
        assert_eq!(first.original, headers);
        assert_eq!(first.record.key.as_deref(), Some(&b"k"[..]));
        assert_eq!(first.record.value.as_deref(), Some(&b"not json"[..]));
        let weir = |l: &crate::dead_letter::Letter, name: &str| {
            l.weir.iter().find(|(k, _)| *k == name).map(|(_, v)| v.clone())
        };
        assert_eq!(weir(first, STAGE).as_deref(), Some("validate"));
        assert_eq!(weir(first, REASON).as_deref(), Some("missing id"));
        assert_eq!(weir(first, "weir.plugin.sha256").as_deref(), Some("abc"));
        assert_eq!(weir(first, "weir.origin.timestamp").as_deref(), Some("1700000000123"));
        assert_eq!(weir(second, ORIGIN_OFFSET_HEADER).as_deref(), Some("42"));
        assert!(second.original.is_empty() && second.record.key.is_none());
        assert_eq!(weir(second, "weir.plugin.sha256"), None);
        assert_eq!(weir(second, "weir.origin.timestamp"), None);
        let stripped = first.stripped("too large");
        assert!(stripped.record.value.is_none() && stripped.original.is_empty());
        assert_eq!(stripped.record.key.as_deref(), Some(&b"k"[..]), "a small key is kept");
        assert!(weir(&stripped, "weir.dropped").is_some_and(|v| v.contains("too large")));
    }
}
