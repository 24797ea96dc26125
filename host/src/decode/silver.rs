//! Decodes accepted records (JSON objects) into the silver table's declared columns. Fields not
//! declared are ignored; a record whose fields do not fit (wrong type, missing key column, bad
//! timestamp) is set aside with the reason, and the rest of the batch decodes normally.

use std::sync::Arc;

use arrow::array::{Array, ArrayRef, Date32Array, Int32Array, Int64Array, StringArray, TimestampMicrosecondArray};
use arrow::compute::{concat_batches, filter_record_batch};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use arrow::json::ReaderBuilder;
use arrow::record_batch::RecordBatch;

use super::timestamp::parse_micros;
use crate::config::{ColumnConfig, ColumnType};
use crate::tables::schema::{self, TableSchema};

/// Where a record came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Origin<'a> {
    pub topic: &'a str,
    pub partition: i32,
    pub offset: i64,
}

/// Decoded rows, and the inputs that did not fit with why.
#[derive(Debug)]
pub struct DecodeOutcome {
    /// The silver rows, in input order (without the set-aside records).
    pub rows: RecordBatch,
    /// (index in the input, reason) of each record set aside.
    pub rejected: Vec<(usize, String)>,
}

/// Decoder for one pipeline's silver table.
#[derive(Debug, Clone)]
pub struct SilverDecoder {
    table: TableSchema,
    declared: Vec<ColumnConfig>,
    /// The declared columns as the JSON decoder reads them: timestamps and dates as text, and
    /// every column nullable, so a missing required field is found after one pass over the
    /// batch instead of failing it (and sending every value through the slow path).
    json_schema: SchemaRef,
    /// The declared columns that may not be null.
    required: Vec<usize>,
}

fn is_temporal(ty: ColumnType) -> bool {
    matches!(ty, ColumnType::Timestamp | ColumnType::Date)
}

impl SilverDecoder {
    pub fn new(declared: &[ColumnConfig]) -> Self {
        let table = schema::silver(declared);
        let fields: Vec<Field> = declared
            .iter()
            .zip(&table.columns)
            .map(|(c, col)| {
                let ty = if is_temporal(c.ty) {
                    DataType::Utf8
                } else {
                    col.arrow_type()
                };
                Field::new(&c.name, ty, true)
            })
            .collect();
        SilverDecoder {
            table,
            declared: declared.to_vec(),
            json_schema: Arc::new(Schema::new(fields)),
            required: (0..declared.len()).filter(|&i| !declared[i].nullable).collect(),
        }
    }

    pub fn schema(&self) -> &TableSchema {
        &self.table
    }

    /// Decodes `values` (one JSON object each) with their `origins` into silver rows.
    pub fn decode(&self, values: &[&str], origins: &[Origin<'_>]) -> DecodeOutcome {
        let (json_rows, mut rejected) = match self.decode_json(values) {
            Ok(batch) => (batch, Vec::new()),
            Err(_) => self.decode_one_by_one(values),
        };
        let (json_rows, missing) = self.drop_missing(json_rows, values.len(), &rejected);
        rejected.extend(missing);
        let refused = refused_mask(values.len(), &rejected);
        let kept: Vec<usize> = (0..values.len()).filter(|&i| !refused[i]).collect();
        let (rows, temporal_rejects) = self.finish(&json_rows, &kept, origins);
        rejected.extend(temporal_rejects);
        rejected.sort_by_key(|(i, _)| *i);
        DecodeOutcome { rows, rejected }
    }

    fn decode_json(&self, values: &[&str]) -> Result<RecordBatch, String> {
        let mut decoder = ReaderBuilder::new(self.json_schema.clone())
            .with_batch_size(values.len().max(1))
            .with_coerce_primitive(true)
            .build_decoder()
            .map_err(|e| e.to_string())?;
        for value in values {
            let read = decoder.decode(value.as_bytes()).map_err(|e| e.to_string())?;
            if read != value.len() {
                return Err("trailing data after the JSON value".into());
            }
            // One value must be one row: `decode` stops at a batch boundary only when full.
        }
        let batch = decoder.flush().map_err(|e| e.to_string())?;
        let batch = batch.unwrap_or_else(|| RecordBatch::new_empty(self.json_schema.clone()));
        if batch.num_rows() != values.len() {
            return Err(format!("expected {} rows, decoded {}", values.len(), batch.num_rows()));
        }
        Ok(batch)
    }

    /// The rows of `json_rows` with every required field, and (input index, reason) of the rest.
    /// `json_rows` holds a row for each of the `n` inputs but those in `rejected`.
    fn drop_missing(
        &self,
        json_rows: RecordBatch,
        n: usize,
        rejected: &[(usize, String)],
    ) -> (RecordBatch, Vec<(usize, String)>) {
        let missing: Vec<usize> = self
            .required
            .iter()
            .copied()
            .filter(|&c| json_rows.column(c).null_count() > 0)
            .collect();
        if missing.is_empty() {
            return (json_rows, Vec::new());
        }
        let refused = refused_mask(n, rejected);
        let inputs = (0..n).filter(|&i| !refused[i]);
        let mut keep = Vec::with_capacity(json_rows.num_rows());
        let mut out = Vec::new();
        for (row, input) in inputs.enumerate() {
            let absent = missing.iter().find(|&&c| json_rows.column(c).is_null(row));
            if let Some(&c) = absent {
                out.push((
                    input,
                    format!(
                        "does not fit the silver schema: field `{}` is missing or null",
                        self.declared[c].name
                    ),
                ));
            }
            keep.push(absent.is_none());
        }
        let mask = arrow::array::BooleanArray::from(keep);
        match filter_record_batch(&json_rows, &mask) {
            Ok(kept) => (kept, out),
            Err(_) => (RecordBatch::new_empty(self.json_schema.clone()), out),
        }
    }

    /// The slow path after a failed batch: each value on its own, to find the ones that fail.
    fn decode_one_by_one(&self, values: &[&str]) -> (RecordBatch, Vec<(usize, String)>) {
        let mut good = Vec::new();
        let mut rejected = Vec::new();
        for (i, value) in values.iter().enumerate() {
            match self.decode_json(std::slice::from_ref(value)) {
                Ok(batch) => good.push(batch),
                Err(reason) => rejected.push((i, format!("does not fit the silver schema: {reason}"))),
            }
        }
        let rows = concat_batches(&self.json_schema, &good)
            .unwrap_or_else(|_| RecordBatch::new_empty(self.json_schema.clone()));
        (rows, rejected)
    }

    /// Converts text timestamps and dates, drops rows where that fails, adds the origin columns.
    /// `kept[j]` is the input index of row j of `json_rows`.
    fn finish(
        &self,
        json_rows: &RecordBatch,
        kept: &[usize],
        origins: &[Origin<'_>],
    ) -> (RecordBatch, Vec<(usize, String)>) {
        let n = json_rows.num_rows();
        let mut ok = vec![true; n];
        let mut rejected = Vec::new();
        let mut columns: Vec<ArrayRef> = Vec::with_capacity(self.table.columns.len());
        for (c, column) in self.declared.iter().zip(json_rows.columns()) {
            if !is_temporal(c.ty) {
                columns.push(column.clone());
                continue;
            }
            let text = column.as_any().downcast_ref::<StringArray>();
            let mut micros: Vec<Option<i64>> = Vec::with_capacity(n);
            for row in 0..n {
                let value = text.filter(|t| t.is_valid(row)).map(|t| t.value(row));
                match value.map(parse_micros).transpose() {
                    Ok(v) => micros.push(v),
                    Err(reason) => {
                        if ok[row] {
                            rejected.push((kept[row], format!("field `{}`: {reason}", c.name)));
                        }
                        ok[row] = false;
                        micros.push(None);
                    }
                }
            }
            let array: ArrayRef = match c.ty {
                ColumnType::Date => Arc::new(Date32Array::from(
                    micros
                        .iter()
                        .map(|m| m.map(|m| m.div_euclid(86_400_000_000) as i32))
                        .collect::<Vec<_>>(),
                )),
                _ => Arc::new(TimestampMicrosecondArray::from(micros).with_timezone("UTC")),
            };
            columns.push(array);
        }
        let topics: Vec<&str> = kept.iter().map(|&i| origins[i].topic).collect();
        columns.push(Arc::new(StringArray::from(topics)));
        columns.push(Arc::new(Int32Array::from(
            kept.iter().map(|&i| origins[i].partition).collect::<Vec<_>>(),
        )));
        columns.push(Arc::new(Int64Array::from(
            kept.iter().map(|&i| origins[i].offset).collect::<Vec<_>>(),
        )));
        let batch = match RecordBatch::try_new(self.table.arrow.clone(), columns) {
            Ok(batch) => batch,
            Err(e) => {
                // A null in a non-nullable temporal column after a failed parse: those rows are
                // already rejected; rebuild without them.
                tracing::debug!("silver batch rebuild: {e}");
                return self.finish_filtered(json_rows, kept, origins, &ok, rejected);
            }
        };
        let mask = arrow::array::BooleanArray::from(ok);
        match filter_record_batch(&batch, &mask) {
            Ok(filtered) => (filtered, rejected),
            Err(_) => (RecordBatch::new_empty(self.table.arrow.clone()), rejected),
        }
    }

    fn finish_filtered(
        &self,
        json_rows: &RecordBatch,
        kept: &[usize],
        origins: &[Origin<'_>],
        ok: &[bool],
        rejected: Vec<(usize, String)>,
    ) -> (RecordBatch, Vec<(usize, String)>) {
        let mask = arrow::array::BooleanArray::from(ok.to_vec());
        let Ok(json_rows) = filter_record_batch(json_rows, &mask) else {
            return (RecordBatch::new_empty(self.table.arrow.clone()), rejected);
        };
        let kept: Vec<usize> = kept.iter().zip(ok).filter(|(_, ok)| **ok).map(|(i, _)| *i).collect();
        let (rows, _) = self.finish(&json_rows, &kept, origins);
        (rows, rejected)
    }
}

/// Which of `n` inputs `rejected` names: a mask, not a search of `rejected` per input, so it
/// stays linear however many a plugin made.
fn refused_mask(n: usize, rejected: &[(usize, String)]) -> Vec<bool> {
    let mut refused = vec![false; n];
    for (i, _) in rejected {
        if let Some(slot) = refused.get_mut(*i) {
            *slot = true;
        }
    }
    refused
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::AsArray;
    use arrow::datatypes::{Int64Type, TimestampMicrosecondType};

    fn declared() -> Vec<ColumnConfig> {
        let col = |name: &str, ty, nullable| ColumnConfig {
            name: name.into(),
            ty,
            nullable,
        };
        vec![
            col("id", ColumnType::String, false),
            col("score", ColumnType::Int64, true),
            col("created_utc", ColumnType::Timestamp, true),
        ]
    }

    fn origins(n: usize) -> Vec<Origin<'static>> {
        (0..n)
            .map(|i| Origin {
                topic: "posts",
                partition: 3,
                offset: 100 + i as i64,
            })
            .collect()
    }

    #[test]
    fn decodes_declared_columns_and_origins() {
        let decoder = SilverDecoder::new(&declared());
        let values = [
            r#"{"id":"a","score":5,"created_utc":1700000000,"extra":true}"#,
            r#"{"id":"b","created_utc":"2023-11-14T22:13:20.500Z"}"#,
        ];
        let out = decoder.decode(&values, &origins(2));
        assert!(out.rejected.is_empty(), "{:?}", out.rejected);
        let rows = out.rows;
        assert_eq!(rows.num_rows(), 2);
        assert_eq!(rows.schema(), decoder.schema().arrow);
        assert_eq!(rows.column(0).as_string::<i32>().value(1), "b");
        assert_eq!(rows.column(1).as_primitive::<Int64Type>().value(0), 5);
        assert!(rows.column(1).is_null(1));
        let ts = rows.column(2).as_primitive::<TimestampMicrosecondType>();
        assert_eq!(ts.value(0), 1_700_000_000_000_000);
        assert_eq!(ts.value(1), 1_700_000_000_500_000);
        assert_eq!(rows.column(5).as_primitive::<Int64Type>().values(), &[100, 101]);
    }

    #[test]
    fn sets_aside_only_the_records_that_do_not_fit() {
        let decoder = SilverDecoder::new(&declared());
        let values = [
            r#"{"id":"a","score":1}"#,
            r#"{"id":"b","score":"lots"}"#,
            r#"{"score":3}"#,
            r#"{"id":"d","created_utc":"someday"}"#,
            r#"{"id":"e","score":5}"#,
        ];
        let out = decoder.decode(&values, &origins(5));
        let rejected: Vec<usize> = out.rejected.iter().map(|(i, _)| *i).collect();
        assert_eq!(rejected, [1, 2, 3], "{:?}", out.rejected);
        assert!(out.rejected[2].1.contains("field `created_utc`"), "{:?}", out.rejected);
        let ids: Vec<&str> = out.rows.column(0).as_string::<i32>().iter().flatten().collect();
        assert_eq!(ids, ["a", "e"]);
        assert_eq!(out.rows.column(5).as_primitive::<Int64Type>().values(), &[100, 104]);
    }
}
