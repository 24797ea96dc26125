//! Decodes accepted records (JSON objects) into the silver table's declared columns. Fields not
//! declared are skipped; a record whose fields do not fit (another JSON kind, a number its column
//! cannot hold exactly, a missing key column, a bad timestamp) is set aside with the column and
//! the reason, and the rest of the batch decodes normally. Each record is read on its own
//! (`json_fields`, `interpret`), so one bad record costs nothing to the others.

use std::sync::Arc;

use arrow::array::{ArrayRef, Int32Array, Int64Array, StringArray};
use arrow::record_batch::RecordBatch;

use super::cell::{Cell, build};
use super::interpret::{Rules, field};
use super::json_fields::fields;
use crate::config::ColumnConfig;
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
    names: Vec<String>,
    rules: Vec<Rules>,
}

/// Silver cells gathered column by column, and the input index of each row.
#[derive(Debug)]
pub struct Rows<'a> {
    columns: Vec<Vec<Cell<'a>>>,
    kept: Vec<usize>,
}

impl<'a> Rows<'a> {
    /// Adds input `index`'s `cells` (one per declared column) as a row.
    pub fn push(&mut self, index: usize, cells: Vec<Cell<'a>>) {
        self.columns
            .iter_mut()
            .zip(cells)
            .for_each(|(column, cell)| column.push(cell));
        self.kept.push(index);
    }
}

impl SilverDecoder {
    pub fn new(declared: &[ColumnConfig]) -> Self {
        SilverDecoder {
            table: schema::silver(declared),
            declared: declared.to_vec(),
            names: declared.iter().map(|c| c.name.clone()).collect(),
            rules: declared
                .iter()
                .map(|c| Rules {
                    unit: c.unit,
                    coerce: c.coerce,
                })
                .collect(),
        }
    }

    /// One decoder per silver table, in order.
    pub fn for_tables(tables: &[crate::config::SilverConfig]) -> Vec<Self> {
        tables.iter().map(|t| SilverDecoder::new(&t.columns)).collect()
    }

    pub fn schema(&self) -> &TableSchema {
        &self.table
    }

    /// The declared columns, and how each reads its values.
    pub fn declared(&self) -> (&[ColumnConfig], &[Rules]) {
        (&self.declared, &self.rules)
    }

    /// Decodes `values` (one JSON object each) with their `origins` into silver rows.
    pub fn decode(&self, values: &[&str], origins: &[Origin<'_>]) -> DecodeOutcome {
        let mut rows = self.rows(values.len());
        let mut rejected = Vec::new();
        for (i, value) in values.iter().enumerate() {
            match self.row(value) {
                Ok(row) => rows.push(i, row),
                Err(reason) => rejected.push((i, reason)),
            }
        }
        self.assemble(rows, origins, rejected)
    }

    /// An empty set of rows for `capacity` records.
    pub fn rows<'a>(&self, capacity: usize) -> Rows<'a> {
        Rows {
            columns: self.declared.iter().map(|_| Vec::with_capacity(capacity)).collect(),
            kept: Vec::with_capacity(capacity),
        }
    }

    /// One JSON record's cells, one per declared column, or why it does not fit.
    pub fn row<'a>(&self, value: &'a str) -> Result<Vec<Cell<'a>>, String> {
        let found = fields(value, &self.names)
            .map_err(|e| format!("does not fit the silver schema: not a JSON object: {e}"))?;
        (self.declared.iter().zip(&self.rules).zip(found))
            .map(|((c, rules), raw)| field(raw, &c.name, &c.ty, c.nullable, *rules))
            .collect::<Result<_, _>>()
            .map_err(|reason| format!("does not fit the silver schema: {reason}"))
    }

    /// The silver batch of `rows` (whose indices point into `origins`), with `rejected` (index,
    /// reason) those set aside so far, in input order.
    pub fn assemble(
        &self,
        rows: Rows<'_>,
        origins: &[Origin<'_>],
        mut rejected: Vec<(usize, String)>,
    ) -> DecodeOutcome {
        let Rows { columns, kept } = rows;
        match self.finish(columns, &kept, origins) {
            Ok(rows) => DecodeOutcome { rows, rejected },
            Err(e) => {
                // Cells are built only from values their type accepted; an array that still
                // fails to build (a list column past 2^31 items) fails the batch's records.
                let reason = format!("does not fit the silver schema: {e}");
                rejected.extend(kept.into_iter().map(|i| (i, reason.clone())));
                rejected.sort_by_key(|(i, _)| *i);
                DecodeOutcome {
                    rows: RecordBatch::new_empty(self.table.arrow.clone()),
                    rejected,
                }
            }
        }
    }

    /// The declared columns' arrays and the origin columns of the `kept` inputs.
    fn finish(
        &self,
        columns: Vec<Vec<Cell<'_>>>,
        kept: &[usize],
        origins: &[Origin<'_>],
    ) -> Result<RecordBatch, arrow::error::ArrowError> {
        let mut arrays: Vec<ArrayRef> = self
            .declared
            .iter()
            .zip(columns)
            .map(|(c, cells)| build(&c.ty, cells))
            .collect::<Result<_, _>>()?;
        let topics: Vec<&str> = kept.iter().map(|&i| origins[i].topic).collect();
        arrays.push(Arc::new(StringArray::from(topics)));
        arrays.push(Arc::new(Int32Array::from(
            kept.iter().map(|&i| origins[i].partition).collect::<Vec<_>>(),
        )));
        arrays.push(Arc::new(Int64Array::from(
            kept.iter().map(|&i| origins[i].offset).collect::<Vec<_>>(),
        )));
        RecordBatch::try_new(self.table.arrow.clone(), arrays)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{ColumnType, EpochUnit};
    use arrow::array::AsArray;
    use arrow::datatypes::{Int64Type, TimestampMicrosecondType};

    fn declared() -> Vec<ColumnConfig> {
        let mut created = ColumnConfig::new("created_utc", ColumnType::Timestamp, true);
        created.unit = Some(EpochUnit::Seconds);
        vec![
            ColumnConfig::new("id", ColumnType::String, false),
            ColumnConfig::new("score", ColumnType::Int64, true),
            created,
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
