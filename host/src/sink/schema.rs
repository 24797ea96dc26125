//! The columns of each medallion table, as Arrow schemas (what batches are built with) and as
//! Delta fields (what tables are created with). One mapping keeps the two in step.

use std::sync::Arc;

use arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};
use deltalake::kernel::{DataType as DeltaType, PrimitiveType, StructField};

use crate::config::{ColumnConfig, ColumnType};

/// A column of a medallion table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Column {
    pub name: String,
    pub ty: ColumnType,
    pub nullable: bool,
    /// Raw bytes (Kafka keys and values), which no declared type covers.
    pub binary: bool,
}

impl Column {
    fn new(name: &str, ty: ColumnType, nullable: bool) -> Self {
        Column {
            name: name.into(),
            ty,
            nullable,
            binary: false,
        }
    }

    fn bytes(name: &str) -> Self {
        Column {
            name: name.into(),
            ty: ColumnType::String,
            nullable: true,
            binary: true,
        }
    }

    pub fn arrow_type(&self) -> DataType {
        if self.binary {
            return DataType::Binary;
        }
        match self.ty {
            ColumnType::String => DataType::Utf8,
            ColumnType::Int32 => DataType::Int32,
            ColumnType::Int64 => DataType::Int64,
            ColumnType::Float64 => DataType::Float64,
            ColumnType::Boolean => DataType::Boolean,
            ColumnType::Timestamp => DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
            ColumnType::Date => DataType::Date32,
        }
    }

    pub fn delta_field(&self) -> StructField {
        let ty = if self.binary {
            PrimitiveType::Binary
        } else {
            match self.ty {
                ColumnType::String => PrimitiveType::String,
                ColumnType::Int32 => PrimitiveType::Integer,
                ColumnType::Int64 => PrimitiveType::Long,
                ColumnType::Float64 => PrimitiveType::Double,
                ColumnType::Boolean => PrimitiveType::Boolean,
                ColumnType::Timestamp => PrimitiveType::Timestamp,
                ColumnType::Date => PrimitiveType::Date,
            }
        };
        StructField::new(&self.name, DeltaType::Primitive(ty), self.nullable)
    }
}

/// The columns of a table and its Arrow schema.
#[derive(Debug, Clone)]
pub struct TableSchema {
    pub columns: Vec<Column>,
    pub arrow: SchemaRef,
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
        }
    }

    pub fn delta_fields(&self) -> Vec<StructField> {
        self.columns.iter().map(Column::delta_field).collect()
    }
}

/// Where a record came from, kept in every table for lineage.
fn origin() -> Vec<Column> {
    vec![
        Column::new("_topic", ColumnType::String, false),
        Column::new("_partition", ColumnType::Int32, false),
        Column::new("_offset", ColumnType::Int64, false),
    ]
}

/// Bronze: every record as landed.
pub fn bronze() -> TableSchema {
    let mut columns = origin();
    columns.extend([
        Column::new("_kafka_timestamp", ColumnType::Timestamp, true),
        Column::bytes("key"),
        Column::bytes("value"),
        // Headers as a JSON object of base64-free text: {"name": "value" | null}.
        Column::new("headers", ColumnType::String, true),
        Column::new("_ingested_at", ColumnType::Timestamp, false),
    ]);
    TableSchema::new(columns)
}

/// Silver: the declared columns, then where each row came from.
pub fn silver(declared: &[ColumnConfig]) -> TableSchema {
    let mut columns: Vec<Column> = declared
        .iter()
        .map(|c| Column::new(&c.name, c.ty, c.nullable))
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
        Column::new("_quarantined_at", ColumnType::Timestamp, false),
    ]);
    TableSchema::new(columns)
}
