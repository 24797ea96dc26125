//! Weir's column types and partitioning in Iceberg's terms: field types, the schema (field ids
//! from 1 in column order) and the partition spec.

use std::sync::Arc;

use iceberg::spec::{NestedField, Schema, Transform, Type, UnboundPartitionSpec};

use super::column_types;
use super::schema::{Column, TableSchema};
use crate::config::PartitionTransform;

/// The Iceberg type of a column (nested field ids are placeholders a schema update reassigns).
pub fn iceberg_type(column: &Column) -> Type {
    column_types::iceberg_type(&column.ty, &mut 1)
}

/// The Iceberg schema of `schema`: field ids from 1 in column order, then the nested fields'.
pub fn iceberg_schema(schema: &TableSchema) -> Result<Schema, iceberg::Error> {
    let mut next_id = schema.columns.len() as i32 + 1;
    let fields: Vec<_> = schema
        .columns
        .iter()
        .zip(1..)
        .map(|(column, id)| {
            let ty = column_types::iceberg_type(&column.ty, &mut next_id);
            Arc::new(NestedField::new(id, &column.name, ty, !column.nullable))
        })
        .collect();
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
