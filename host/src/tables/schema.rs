//! The columns of each medallion table, as Arrow schemas (what batches are built with) and as
//! Delta fields (what tables are created with). One mapping keeps the two in step.

use std::sync::Arc;

use arrow::array::{
    ArrayRef, AsArray, Date32Array, RecordBatch, RecordBatchOptions, TimestampMicrosecondArray, new_null_array,
};
use arrow::compute::cast;
use arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimestampMicrosecondType};
use arrow::error::ArrowError;
use deltalake::kernel::StructField;

use super::column_types;

use crate::config::{ColumnConfig, ColumnType, PartitionBy, PartitionTransform};

/// A column of a medallion table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Column {
    pub name: String,
    pub ty: ColumnType,
    pub nullable: bool,
}

impl Column {
    pub fn new(name: &str, ty: ColumnType, nullable: bool) -> Self {
        Column {
            name: name.into(),
            ty,
            nullable,
        }
    }

    /// Raw bytes (Kafka keys and values).
    fn bytes(name: &str) -> Self {
        Column::new(name, ColumnType::Binary, true)
    }

    pub fn arrow_type(&self) -> DataType {
        column_types::arrow_type(&self.ty)
    }

    pub fn delta_field(&self) -> Result<StructField, String> {
        let ty = column_types::delta_type(&self.ty).map_err(|e| format!("column `{}`: {e}", self.name))?;
        Ok(StructField::new(&self.name, ty, self.nullable))
    }
}

/// The columns of a table, its Arrow schema, and how it is partitioned.
#[derive(Debug, Clone)]
pub struct TableSchema {
    pub columns: Vec<Column>,
    pub arrow: SchemaRef,
    pub partition: Option<PartitionBy>,
}

impl TableSchema {
    pub fn new(columns: Vec<Column>) -> Self {
        let fields: Vec<Field> = columns
            .iter()
            .map(|c| Field::new(&c.name, c.arrow_type(), c.nullable))
            .collect();
        TableSchema {
            arrow: Arc::new(Schema::new(fields)),
            columns,
            partition: None,
        }
    }

    /// The same columns, partitioned by `partition`.
    pub fn partitioned(mut self, partition: Option<PartitionBy>) -> Self {
        self.partition = partition;
        self
    }

    /// Takes `held`, the partitioning the table was created with, when it differs from the
    /// declared one: a table keeps its layout (repartitioning is a rewrite Weir does not do),
    /// and a new table gets the declared one. `table` names it in the log.
    pub fn settle_partition(&mut self, table: &str, held: Option<PartitionBy>) {
        if held == self.partition {
            return;
        }
        let said = |p: &Option<PartitionBy>| match p {
            Some(p) => format!("{}({})", p.transform.name(), p.column),
            None => "none".to_string(),
        };
        tracing::info!(
            table,
            declared = %said(&self.partition),
            held = %said(&held),
            "the table keeps its partitioning; a new table gets the declared one"
        );
        self.partition = held;
    }

    /// The partitioning a Delta table with partition columns `held` has, read back into the
    /// declared column it derives from (`<column>_day`, `<column>_hour`, or the column itself);
    /// `None` when it is not one Weir makes (then the declared one stands).
    pub fn delta_partition_of(&self, held: &[String]) -> Option<Option<PartitionBy>> {
        let [held] = held else {
            return held.is_empty().then_some(None);
        };
        let by = |column: &str, transform| {
            (self.columns.iter().any(|c| c.name == column)).then(|| PartitionBy {
                column: column.to_string(),
                transform,
            })
        };
        let found = (held.strip_suffix("_day").and_then(|c| by(c, PartitionTransform::Day)))
            .or_else(|| held.strip_suffix("_hour").and_then(|c| by(c, PartitionTransform::Hour)))
            .or_else(|| by(held, PartitionTransform::Identity));
        found.map(Some)
    }

    /// The column Delta partitions by: the partition column itself for `identity`, else a column
    /// derived from it (Delta has no hidden partitioning), `<column>_<transform>`.
    pub fn delta_partition_column(&self) -> Option<Column> {
        let partition = self.partition.as_ref()?;
        let source = self.columns.iter().find(|c| c.name == partition.column)?;
        Some(match partition.transform {
            PartitionTransform::Identity => source.clone(),
            PartitionTransform::Day => Column::new(&format!("{}_day", source.name), ColumnType::Date, true),
            PartitionTransform::Hour => Column::new(&format!("{}_hour", source.name), ColumnType::Timestamp, true),
        })
    }

    /// The Delta table's columns: the declared ones, then the derived partition column if any.
    pub fn delta_columns(&self) -> Vec<Column> {
        let mut columns = self.columns.clone();
        if let Some(derived) = self.delta_partition_column().filter(|c| !self.columns.contains(c)) {
            columns.push(derived);
        }
        columns
    }

    /// The Delta table's fields, of `delta_columns`.
    pub fn delta_fields(&self) -> Result<Vec<StructField>, String> {
        self.delta_columns().iter().map(Column::delta_field).collect()
    }
}

/// The origin column holding a row's Kafka topic.
pub const ORIGIN_TOPIC: &str = "_kafka_topic";
/// The origin column holding a row's Kafka partition.
pub const ORIGIN_PARTITION: &str = "_kafka_partition";
/// The origin column holding a row's Kafka offset.
pub const ORIGIN_OFFSET: &str = "_kafka_offset";
/// When a record was taken into bronze; bronze is partitioned by its day by default.
pub const INGESTED_AT: &str = "_ingested_at";
/// When a record was quarantined; quarantine is partitioned by its day by default.
pub const QUARANTINED_AT: &str = "_quarantined_at";

/// Where a record came from, kept in every table for lineage. (Iceberg reserves `_partition`
/// for a metadata column, hence the `_kafka_` prefix.)
fn origin() -> Vec<Column> {
    vec![
        Column::new(ORIGIN_TOPIC, ColumnType::String, false),
        Column::new(ORIGIN_PARTITION, ColumnType::Int32, false),
        Column::new(ORIGIN_OFFSET, ColumnType::Int64, false),
    ]
}

/// Bronze: every record as landed, with its writer schema's id when it has one.
pub fn bronze() -> TableSchema {
    let mut columns = origin();
    columns.extend([
        Column::new("_kafka_timestamp", ColumnType::Timestamp, true),
        Column::bytes("key"),
        Column::bytes("value"),
        // Headers as a JSON object of base64-free text: {"name": "value" | null}.
        Column::new("headers", ColumnType::String, true),
        Column::new(INGESTED_AT, ColumnType::Timestamp, false),
        // The Schema Registry id in front of an Avro value (null for JSON). Last, so tables
        // written before it gain it by evolution.
        Column::new(SCHEMA_ID, ColumnType::Int64, true),
    ]);
    TableSchema::new(columns)
}

/// Bronze's column of a record's writer schema id.
pub const SCHEMA_ID: &str = "_schema_id";

/// Silver: the declared columns, then where each row came from.
pub fn silver(declared: &[ColumnConfig]) -> TableSchema {
    let mut columns: Vec<Column> = declared
        .iter()
        .map(|c| Column::new(&c.name, c.ty.clone(), c.nullable))
        .collect();
    columns.extend(origin());
    TableSchema::new(columns)
}

/// Quarantine: the original record, the stage that refused it, why, and the plugin's hash.
pub fn quarantine() -> TableSchema {
    let mut columns = origin();
    columns.extend([
        Column::new("_kafka_timestamp", ColumnType::Timestamp, true),
        Column::bytes("key"),
        Column::bytes("value"),
        Column::new("stage", ColumnType::String, false),
        Column::new("reason", ColumnType::String, false),
        Column::new("plugin_sha256", ColumnType::String, true),
        Column::new(QUARANTINED_AT, ColumnType::Timestamp, false),
        // The record's headers, in order and exact (names may repeat, values are bytes), as
        // Spark's Kafka source gives them. Last, so older tables gain it by evolution.
        Column::new(QUARANTINE_HEADERS, headers_type(), true),
    ]);
    TableSchema::new(columns)
}

/// Quarantine's column of a record's headers: `list<struct<key: string, value: binary>>`.
pub const QUARANTINE_HEADERS: &str = "headers";

fn headers_type() -> ColumnType {
    use crate::config::StructField;
    let field = |name: &str, ty, nullable| StructField {
        name: name.into(),
        ty,
        nullable,
    };
    ColumnType::List(Box::new(ColumnType::Struct(vec![
        field("key", ColumnType::String, false),
        field("value", ColumnType::Binary, true),
    ])))
}

/// Gold: one row per key and window. The key, the window, the declared columns of the
/// plugin's `finish` row, why a window has no result (`_error`, null when it has one), and when
/// the row was written.
pub fn gold(key_column: &str, declared: &[ColumnConfig]) -> TableSchema {
    let mut columns = vec![
        Column::new(key_column, ColumnType::String, false),
        Column::new("window_start", ColumnType::Timestamp, false),
        Column::new("window_end", ColumnType::Timestamp, false),
    ];
    columns.extend(declared.iter().map(|c| Column::new(&c.name, c.ty.clone(), true)));
    columns.extend([
        Column::new("_error", ColumnType::String, true),
        Column::new("_emitted_at", ColumnType::Timestamp, false),
    ]);
    TableSchema::new(columns)
}

/// The columns to add to a table holding `existing` so that it holds `declared` (name, nullable).
/// Evolution is additive: only nullable columns can be added (old rows read null), and a column
/// the declaration lacks cannot be dropped. The error names the column.
pub fn added_columns<'a>(existing: &[&str], declared: &[(&'a str, bool)]) -> Result<Vec<&'a str>, String> {
    if let Some(gone) = existing.iter().find(|name| !declared.iter().any(|(d, _)| d == *name)) {
        return Err(format!(
            "column `{gone}` is in the table but no longer declared; columns cannot be dropped"
        ));
    }
    let added: Vec<(&str, bool)> = declared
        .iter()
        .copied()
        .filter(|(d, _)| !existing.contains(d))
        .collect();
    if let Some((required, _)) = added.iter().find(|(_, nullable)| !nullable) {
        return Err(format!(
            "new column `{required}` must be nullable: existing rows have no value for it"
        ));
    }
    Ok(added.into_iter().map(|(name, _)| name).collect())
}

/// `batch` with the columns of `target`, by name and in its order: types cast where they differ
/// only in representation (a timestamp's zone name), a column `target` has and `batch` lacks
/// filled with nulls (a column added by schema evolution).
pub fn align(batch: &RecordBatch, target: &SchemaRef) -> Result<RecordBatch, ArrowError> {
    if batch.schema().fields() == target.fields() {
        return RecordBatch::try_new(target.clone(), batch.columns().to_vec());
    }
    let columns = target
        .fields()
        .iter()
        .map(|field| match batch.column_by_name(field.name()) {
            Some(column) if column.data_type() == field.data_type() => Ok(column.clone()),
            Some(column) => cast(column, field.data_type()),
            None if field.is_nullable() => Ok(new_null_array(field.data_type(), batch.num_rows())),
            None => Err(ArrowError::SchemaError(format!(
                "column `{}` is required by the table but not in the rows",
                field.name()
            ))),
        })
        .collect::<Result<Vec<ArrayRef>, _>>()?;
    let options = RecordBatchOptions::new().with_row_count(Some(batch.num_rows()));
    RecordBatch::try_new_with_options(target.clone(), columns, &options)
}

/// The values of a derived partition column (`day` / `hour` of a timestamp column) for `batch`.
pub fn derive_partition(batch: &RecordBatch, partition: &PartitionBy) -> Result<Option<ArrayRef>, ArrowError> {
    const DAY_US: i64 = 86_400_000_000;
    const HOUR_US: i64 = 3_600_000_000;
    let step = match partition.transform {
        PartitionTransform::Identity => return Ok(None),
        PartitionTransform::Day => DAY_US,
        PartitionTransform::Hour => HOUR_US,
    };
    let source = batch
        .column_by_name(&partition.column)
        .ok_or_else(|| ArrowError::SchemaError(format!("no partition column `{}`", partition.column)))?;
    let micros = source
        .as_primitive_opt::<TimestampMicrosecondType>()
        .ok_or_else(|| ArrowError::SchemaError(format!("`{}` is not a timestamp", partition.column)))?;
    Ok(Some(if step == DAY_US {
        Arc::new(Date32Array::from_iter(
            micros.iter().map(|v| v.map(|us| us.div_euclid(DAY_US) as i32)),
        ))
    } else {
        Arc::new(
            TimestampMicrosecondArray::from_iter(micros.iter().map(|v| v.map(|us| us - us.rem_euclid(step))))
                .with_timezone("UTC"),
        )
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::{Array, Int64Array, StringArray};

    #[test]
    fn align_reorders_fills_added_columns_with_nulls_and_refuses_missing_required_ones() {
        let batch = RecordBatch::try_from_iter([
            ("b", Arc::new(Int64Array::from(vec![1, 2])) as ArrayRef),
            ("a", Arc::new(StringArray::from(vec!["x", "y"])) as ArrayRef),
        ])
        .unwrap();
        let target = Arc::new(Schema::new(vec![
            Field::new("a", DataType::Utf8, true),
            Field::new("b", DataType::Int64, true),
            Field::new("c", DataType::Int32, true),
        ]));
        let aligned = align(&batch, &target).unwrap();
        assert_eq!(aligned.schema(), target);
        assert_eq!(aligned.column(0).as_string::<i32>().value(1), "y");
        assert_eq!(aligned.column(2).null_count(), 2);

        let strict = Arc::new(Schema::new(vec![Field::new("d", DataType::Int32, false)]));
        assert!(align(&batch, &strict).unwrap_err().to_string().contains("`d`"));
    }

    #[test]
    fn day_and_hour_partitions_floor_negative_times_too() {
        let ts = |v: Vec<Option<i64>>| Arc::new(TimestampMicrosecondArray::from(v).with_timezone("UTC")) as ArrayRef;
        // 2024-01-02T03:04:05Z, 1969-12-31T23:00:00Z, null
        let batch =
            RecordBatch::try_from_iter([("t", ts(vec![Some(1_704_164_645_000_000), Some(-3_600_000_000), None]))])
                .unwrap();
        let day = PartitionBy {
            column: "t".into(),
            transform: PartitionTransform::Day,
        };
        let days = derive_partition(&batch, &day).unwrap().unwrap();
        let days = days.as_primitive::<arrow::datatypes::Date32Type>();
        assert_eq!((days.value(0), days.value(1), days.is_null(2)), (19724, -1, true));
        let hour = PartitionBy {
            transform: PartitionTransform::Hour,
            ..day
        };
        let hours = derive_partition(&batch, &hour).unwrap().unwrap();
        let hours = hours.as_primitive::<TimestampMicrosecondType>();
        assert_eq!(hours.value(0), 1_704_164_400_000_000);
        assert_eq!(hours.value(1), -3_600_000_000);
    }
}
