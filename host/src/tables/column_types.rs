//! Weir's column types in each format's terms: Arrow (what batches are built with), Delta and
//! Iceberg (what tables are created and evolved with). One place, so the three stay in step.
//!
//! Arrow's nested field names follow Delta's (`element`, `key_value`, `key`, `value`): Delta's
//! writer compares a batch's schema with the table's by those names; Iceberg's writer gets
//! batches cast to its own schema (`schema::align`).

use std::sync::Arc;

use arrow::datatypes::{DataType, Field, Fields, TimeUnit};
use deltalake::kernel::{ArrayType, DataType as DeltaType, MapType, PrimitiveType as DeltaPrimitive, StructField};
use iceberg::spec::{ListType, MapType as IcebergMap, NestedField, PrimitiveType, StructType, Type};

use crate::config::{ColumnType, StructField as Declared};

/// The Arrow type of `ty`.
pub fn arrow_type(ty: &ColumnType) -> DataType {
    match ty {
        ColumnType::String => DataType::Utf8,
        ColumnType::Int32 => DataType::Int32,
        ColumnType::Int64 => DataType::Int64,
        ColumnType::Float32 => DataType::Float32,
        ColumnType::Float64 => DataType::Float64,
        ColumnType::Boolean => DataType::Boolean,
        ColumnType::Binary => DataType::Binary,
        ColumnType::Decimal { precision, scale } => DataType::Decimal128(*precision, *scale as i8),
        ColumnType::Date => DataType::Date32,
        ColumnType::Timestamp => DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
        ColumnType::TimestampNtz => DataType::Timestamp(TimeUnit::Microsecond, None),
        ColumnType::List(item) => DataType::List(Arc::new(list_item(item))),
        ColumnType::Map(key, value) => DataType::Map(Arc::new(map_entries(key, value)), false),
        ColumnType::Struct(fields) => DataType::Struct(struct_fields(fields)),
    }
}

/// A list's item field: nullable, named as Delta names it.
pub fn list_item(item: &ColumnType) -> Field {
    Field::new("element", arrow_type(item), true)
}

/// A map's entries field: a struct of a required key and a nullable value.
pub fn map_entries(key: &ColumnType, value: &ColumnType) -> Field {
    let entries = Fields::from(vec![
        Field::new("key", arrow_type(key), false),
        Field::new("value", arrow_type(value), true),
    ]);
    Field::new("key_value", DataType::Struct(entries), false)
}

/// A struct's fields in Arrow.
pub fn struct_fields(fields: &[Declared]) -> Fields {
    fields
        .iter()
        .map(|f| Field::new(&f.name, arrow_type(&f.ty), f.nullable))
        .collect()
}

/// The Delta type of `ty`. Fails only where Delta is stricter than the type parser (struct field
/// names equal but for case).
pub fn delta_type(ty: &ColumnType) -> Result<DeltaType, String> {
    let primitive = |p| Ok(DeltaType::Primitive(p));
    match ty {
        ColumnType::String => primitive(DeltaPrimitive::String),
        ColumnType::Int32 => primitive(DeltaPrimitive::Integer),
        ColumnType::Int64 => primitive(DeltaPrimitive::Long),
        ColumnType::Float32 => primitive(DeltaPrimitive::Float),
        ColumnType::Float64 => primitive(DeltaPrimitive::Double),
        ColumnType::Boolean => primitive(DeltaPrimitive::Boolean),
        ColumnType::Binary => primitive(DeltaPrimitive::Binary),
        ColumnType::Decimal { precision, scale } => DeltaType::decimal(*precision, *scale).map_err(|e| e.to_string()),
        ColumnType::Date => primitive(DeltaPrimitive::Date),
        ColumnType::Timestamp => primitive(DeltaPrimitive::Timestamp),
        ColumnType::TimestampNtz => primitive(DeltaPrimitive::TimestampNtz),
        ColumnType::List(item) => Ok(DeltaType::Array(Box::new(ArrayType::new(delta_type(item)?, true)))),
        ColumnType::Map(key, value) => Ok(DeltaType::Map(Box::new(MapType::new(
            delta_type(key)?,
            delta_type(value)?,
            true,
        )))),
        ColumnType::Struct(fields) => {
            let fields = fields
                .iter()
                .map(|f| Ok(StructField::new(&f.name, delta_type(&f.ty)?, f.nullable)))
                .collect::<Result<Vec<_>, String>>()?;
            DeltaType::try_struct_type(fields).map_err(|e| e.to_string())
        }
    }
}

/// The Iceberg type of `ty`. Nested fields take ids from `next_id` (the catalog reassigns ids
/// when a table is created, and a schema update assigns fresh ones to added fields; the ids only
/// need to be unique within the schema built here).
pub fn iceberg_type(ty: &ColumnType, next_id: &mut i32) -> Type {
    let primitive = |p| Type::Primitive(p);
    match ty {
        ColumnType::String => primitive(PrimitiveType::String),
        ColumnType::Int32 => primitive(PrimitiveType::Int),
        ColumnType::Int64 => primitive(PrimitiveType::Long),
        ColumnType::Float32 => primitive(PrimitiveType::Float),
        ColumnType::Float64 => primitive(PrimitiveType::Double),
        ColumnType::Boolean => primitive(PrimitiveType::Boolean),
        ColumnType::Binary => primitive(PrimitiveType::Binary),
        ColumnType::Decimal { precision, scale } => primitive(PrimitiveType::Decimal {
            precision: u32::from(*precision),
            scale: u32::from(*scale),
        }),
        ColumnType::Date => primitive(PrimitiveType::Date),
        ColumnType::Timestamp => primitive(PrimitiveType::Timestamptz),
        ColumnType::TimestampNtz => primitive(PrimitiveType::Timestamp),
        ColumnType::List(item) => {
            let id = take(next_id);
            let item = iceberg_type(item, next_id);
            Type::List(ListType::new(Arc::new(NestedField::list_element(id, item, false))))
        }
        ColumnType::Map(key, value) => {
            let (key_id, value_id) = (take(next_id), take(next_id));
            let key = iceberg_type(key, next_id);
            let value = iceberg_type(value, next_id);
            Type::Map(IcebergMap::new(
                Arc::new(NestedField::map_key_element(key_id, key)),
                Arc::new(NestedField::map_value_element(value_id, value, false)),
            ))
        }
        ColumnType::Struct(fields) => {
            let ids: Vec<i32> = fields.iter().map(|_| take(next_id)).collect();
            let fields = fields
                .iter()
                .zip(ids)
                .map(|(f, id)| Arc::new(NestedField::new(id, &f.name, iceberg_type(&f.ty, next_id), !f.nullable)))
                .collect();
            Type::Struct(StructType::new(fields))
        }
    }
}

fn take(next_id: &mut i32) -> i32 {
    let id = *next_id;
    *next_id += 1;
    id
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nested() -> ColumnType {
        "struct<name: string not null, tags: list<string>, scores: map<string, decimal(10, 2)>>"
            .parse()
            .unwrap()
    }

    #[test]
    fn arrow_types_name_nested_fields_as_delta_does() {
        let DataType::Struct(fields) = arrow_type(&nested()) else {
            panic!("not a struct")
        };
        assert!(!fields[0].is_nullable());
        assert!(matches!(fields[1].data_type(), DataType::List(item) if item.name() == "element"));
        let DataType::Map(entries, false) = fields[2].data_type() else {
            panic!("not a map")
        };
        assert_eq!(entries.name(), "key_value");
        let DataType::Struct(kv) = entries.data_type() else {
            panic!()
        };
        assert_eq!((kv[0].name().as_str(), kv[0].is_nullable()), ("key", false));
        assert_eq!(kv[1].data_type(), &DataType::Decimal128(10, 2));
    }

    #[test]
    fn iceberg_ids_are_unique_across_nested_fields() {
        let mut next = 10;
        let ty = iceberg_type(&nested(), &mut next);
        assert_eq!(next, 16, "3 struct fields, list element, map key and value");
        let Type::Struct(fields) = ty else { panic!() };
        assert!(fields.fields()[0].required);
        let schema = iceberg::spec::Schema::builder()
            .with_fields([Arc::new(NestedField::optional(1, "c", Type::Struct(fields)))])
            .build();
        assert!(schema.is_ok(), "{schema:?}");
    }
}
