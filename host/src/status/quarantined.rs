//! The rows of a committed quarantine batch (`tables::schema::quarantine`), as the status page
//! lists them: where the record came from, which stage refused it and why, and the start of its
//! value.

use arrow::array::{Array, AsArray};
use arrow::datatypes::{Int32Type, Int64Type};
use arrow::record_batch::RecordBatch;
use serde::Serialize;

use crate::clock::now_ms;

/// How much of a value the page shows.
const VALUE_CHARS: usize = 300;

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Quarantined {
    pub at_ms: i64,
    pub topic: String,
    pub partition: i32,
    pub offset: i64,
    pub stage: String,
    pub reason: String,
    /// The value as text (invalid UTF-8 replaced), cut to `VALUE_CHARS` characters.
    pub value: Option<String>,
}

impl Quarantined {
    /// The same refusal of the same record (committed again by another format).
    pub fn same_record(&self, other: &Quarantined) -> bool {
        (self.topic == other.topic)
            && (self.partition, self.offset) == (other.partition, other.offset)
            && self.stage == other.stage
    }
}

/// The rows of `batch`; none if it is not shaped as quarantine is (nothing to show).
pub fn rows_of(batch: &RecordBatch) -> Vec<Quarantined> {
    let text = |name: &str| batch.column_by_name(name).and_then(|c| c.as_string_opt::<i32>());
    let (Some(topic), Some(stage), Some(reason)) = (text("_kafka_topic"), text("stage"), text("reason")) else {
        return Vec::new();
    };
    let partition = (batch.column_by_name("_kafka_partition")).and_then(|c| c.as_primitive_opt::<Int32Type>());
    let offset = (batch.column_by_name("_kafka_offset")).and_then(|c| c.as_primitive_opt::<Int64Type>());
    let (Some(partition), Some(offset)) = (partition, offset) else {
        return Vec::new();
    };
    let value = batch.column_by_name("value").and_then(|c| c.as_binary_opt::<i32>());
    let at_ms = now_ms();
    (0..batch.num_rows())
        .map(|row| Quarantined {
            at_ms,
            topic: topic.value(row).to_string(),
            partition: partition.value(row),
            offset: offset.value(row),
            stage: stage.value(row).to_string(),
            reason: reason.value(row).to_string(),
            value: value.filter(|v| v.is_valid(row)).map(|v| {
                String::from_utf8_lossy(v.value(row))
                    .chars()
                    .take(VALUE_CHARS)
                    .collect()
            }),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use arrow::array::{BinaryArray, Int32Array, Int64Array, StringArray};
    use arrow::datatypes::{DataType, Field, Schema};

    use super::*;

    #[test]
    fn reads_origin_stage_reason_and_value_and_ignores_other_shapes() {
        let schema = Schema::new(vec![
            Field::new("_kafka_topic", DataType::Utf8, false),
            Field::new("_kafka_partition", DataType::Int32, false),
            Field::new("_kafka_offset", DataType::Int64, false),
            Field::new("value", DataType::Binary, true),
            Field::new("stage", DataType::Utf8, false),
            Field::new("reason", DataType::Utf8, false),
        ]);
        let long = "x".repeat(1000);
        let batch = RecordBatch::try_new(
            Arc::new(schema),
            vec![
                Arc::new(StringArray::from(vec!["posts", "posts"])),
                Arc::new(Int32Array::from(vec![1, 2])),
                Arc::new(Int64Array::from(vec![10, 20])),
                Arc::new(BinaryArray::from(vec![Some(long.as_bytes()), None])),
                Arc::new(StringArray::from(vec!["validate", "decode"])),
                Arc::new(StringArray::from(vec!["missing required field `id`", "not JSON"])),
            ],
        )
        .unwrap();
        let rows = rows_of(&batch);
        assert_eq!(rows.len(), 2);
        assert_eq!((rows[0].partition, rows[0].offset), (1, 10));
        assert_eq!(rows[0].reason, "missing required field `id`");
        assert_eq!(rows[0].value.as_ref().map(String::len), Some(VALUE_CHARS));
        assert_eq!(rows[1].value, None);
        assert!(rows[0].same_record(&rows[0].clone()) && !rows[0].same_record(&rows[1]));
        let other = RecordBatch::try_new(
            Arc::new(Schema::new(vec![Field::new("id", DataType::Utf8, false)])),
            vec![Arc::new(StringArray::from(vec!["a"]))],
        )
        .unwrap();
        assert!(rows_of(&other).is_empty());
    }
}
