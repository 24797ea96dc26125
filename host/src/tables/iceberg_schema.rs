//! Weir's column types and partitioning in Iceberg's terms: field types, the schema (field ids
//! from 1 in column order) and the partition spec.

use std::sync::Arc;

use iceberg::spec::{NestedField, PrimitiveType, Schema, Transform, Type, UnboundPartitionSpec};

use super::schema::{Column, TableSchema};
use crate::config::{ColumnType, PartitionTransform};

/// The Iceberg type of a column.
pub fn iceberg_type(column: &Column) -> Type {
    let ty = if column.binary {
        PrimitiveType::Binary
    } else {
        match column.ty {
            ColumnType::String => PrimitiveType::String,
            ColumnType::Int32 => PrimitiveType::Int,
            ColumnType::Int64 => PrimitiveType::Long,
            ColumnType::Float64 => PrimitiveType::Double,
            ColumnType::Boolean => PrimitiveType::Boolean,
            ColumnType::Timestamp => PrimitiveType::Timestamptz,
            ColumnType::Date => PrimitiveType::Date,
        }
    };
    Type::Primitive(ty)
}

/// The Iceberg schema of `schema`, field ids from 1 in column order.
pub fn iceberg_schema(schema: &TableSchema) -> Result<Schema, iceberg::Error> {
    let fields = schema.columns.iter().zip(1..).map(|(column, id)| {
        let field = if column.nullable {
            NestedField::optional(id, &column.name, iceberg_type(column))
        } else {
            NestedField::required(id, &column.name, iceberg_type(column))
        };
        Arc::new(field)
    });
    Schema::builder().with_fields(fields).build()
}

pub fn partition_spec(schema: &TableSchema, iceberg: &Schema) -> Result<UnboundPartitionSpec, iceberg::Error> {
    let mut spec = UnboundPartitionSpec::builder();
    if let Some(partition) = &schema.partition
        && let Some(field) = iceberg.field_by_name(&partition.column)
    {
        let (transform, suffix) = match partition.transform {
            PartitionTransform::Day => (Transform::Day, "day"),
            PartitionTransform::Hour => (Transform::Hour, "hour"),
            PartitionTransform::Identity => (Transform::Identity, "identity"),
        };
        let name = match partition.transform {
            PartitionTransform::Identity => partition.column.clone(),
            _ => format!("{}_{suffix}", partition.column),
        };
        spec = spec.add_partition_field(field.id, name, transform)?;
    }
    Ok(spec.build())
}
