//! Silver columns from a registry schema: what `weir columns` prints, so a pipeline's
//! `[tables.silver] columns` can be taken from the subject's latest schema instead of written by
//! hand. Each field's type is the silver type its JSON rendering fits (`docs/TYPES.md`,
//! `docs/SCHEMA_REGISTRY.md`); a field no silver type holds (a union of several types) is left
//! out with the reason.

use apache_avro::Schema;
use prost_reflect::{Kind, MessageDescriptor};
use tokio_util::sync::CancellationToken;

use super::avro::AvroSchema;
use super::protobuf::ProtoSchema;
use super::schemas::{SchemaEntry, imports};
use crate::config::{ColumnType, MAX_DECIMAL_PRECISION, StructField};
use crate::registry::{Lookup, Registry, SchemaKind};

/// How deep nested types are followed (a recursive Protobuf message would never end).
const MAX_DEPTH: usize = 16;

/// A column, or why a field has none.
pub type Column = Result<StructField, String>;

/// The columns of the schema `lookup` found: Avro, or Protobuf (`message`, or its first) with
/// its imports fetched from `registry`. None if `stop` came first.
pub async fn lookup_columns(
    registry: &Registry,
    lookup: Lookup,
    message: Option<&str>,
    stop: &CancellationToken,
) -> Option<Result<Vec<Column>, String>> {
    let (kind, text, references) = match lookup {
        Lookup::Found {
            kind, text, references, ..
        } => (kind, text, references),
        Lookup::Unknown(message) => return Some(Err(format!("not in the registry: {message}"))),
    };
    Some(match kind {
        SchemaKind::Avro => AvroSchema::parse(&text).and_then(|s| avro_columns(&s)),
        SchemaKind::Protobuf => match imports(registry, references, stop).await? {
            Ok(imported) => ProtoSchema::parse(&text, &imported).and_then(|s| protobuf_columns(&s, message)),
            Err(e) => Err(e),
        },
        SchemaKind::Json => Err("a JSON Schema, which Weir does not read".into()),
    })
}

/// The columns of a schema Weir holds (none for an unusable one).
pub fn entry_columns(entry: &SchemaEntry, message: Option<&str>) -> Result<Vec<Column>, String> {
    match entry {
        SchemaEntry::Avro(schema) => avro_columns(schema),
        SchemaEntry::Protobuf(schema) => protobuf_columns(schema, message),
        SchemaEntry::Unusable(reason) => Err(reason.clone()),
    }
}

/// The columns of an Avro record schema, one per field.
pub fn avro_columns(schema: &AvroSchema) -> Result<Vec<Column>, String> {
    let Some(Schema::Record(record)) = schema.resolve(Some(schema.schema())) else {
        return Err("the schema is not a record".into());
    };
    Ok(record
        .fields
        .iter()
        .map(|f| {
            let (ty, nullable) = avro_type(schema, &f.schema, 0).map_err(|e| format!("`{}`: {e}", f.name))?;
            Ok(StructField {
                name: f.name.clone(),
                ty,
                nullable,
            })
        })
        .collect())
}

fn avro_type(root: &AvroSchema, schema: &Schema, depth: usize) -> Result<(ColumnType, bool), String> {
    if depth > MAX_DEPTH {
        return Err(format!("nested deeper than {MAX_DEPTH}"));
    }
    let schema = root.resolve(Some(schema)).ok_or("a reference to an unknown type")?;
    let ty = match schema {
        Schema::Union(union) => {
            let others: Vec<&Schema> = union.variants().iter().filter(|s| **s != Schema::Null).collect();
            return match others.as_slice() {
                [one] => avro_type(root, one, depth).map(|(ty, _)| (ty, true)),
                _ => Err("a union of several types has no silver type".into()),
            };
        }
        Schema::Boolean => ColumnType::Boolean,
        Schema::Int => ColumnType::Int32,
        Schema::Long => ColumnType::Int64,
        Schema::Float => ColumnType::Float32,
        Schema::Double => ColumnType::Float64,
        Schema::Bytes | Schema::Fixed(_) => ColumnType::Binary,
        Schema::String | Schema::Enum(_) | Schema::Uuid | Schema::BigDecimal => ColumnType::String,
        Schema::TimeMillis | Schema::TimeMicros => ColumnType::String,
        Schema::Decimal(d) if d.precision <= usize::from(MAX_DECIMAL_PRECISION) => ColumnType::Decimal {
            precision: d.precision as u8,
            scale: d.scale.min(d.precision) as u8,
        },
        Schema::Decimal(_) => ColumnType::String,
        Schema::Date => ColumnType::Date,
        Schema::TimestampMillis | Schema::TimestampMicros | Schema::TimestampNanos => ColumnType::Timestamp,
        Schema::LocalTimestampMillis | Schema::LocalTimestampMicros | Schema::LocalTimestampNanos => {
            ColumnType::TimestampNtz
        }
        Schema::Duration => ColumnType::Struct(
            ["months", "days", "millis"]
                .into_iter()
                .map(|name| StructField {
                    name: name.into(),
                    ty: ColumnType::Int64,
                    nullable: false,
                })
                .collect(),
        ),
        Schema::Array(array) => ColumnType::List(Box::new(avro_type(root, &array.items, depth + 1)?.0)),
        Schema::Map(map) => ColumnType::Map(
            Box::new(ColumnType::String),
            Box::new(avro_type(root, &map.types, depth + 1)?.0),
        ),
        Schema::Record(record) => ColumnType::Struct(
            record
                .fields
                .iter()
                .map(|f| {
                    let (ty, nullable) = avro_type(root, &f.schema, depth + 1)?;
                    Ok(StructField {
                        name: f.name.clone(),
                        ty,
                        nullable,
                    })
                })
                .collect::<Result<_, String>>()?,
        ),
        Schema::Null | Schema::Ref { .. } => return Err("a null or unresolved type has no silver type".into()),
    };
    Ok((ty, false))
}

/// The columns of Protobuf message `message` (its full name; the file's first message when
/// none is given), one per field, every one nullable (proto3 writes defaults, messages may be
/// unset).
pub fn protobuf_columns(schema: &ProtoSchema, message: Option<&str>) -> Result<Vec<Column>, String> {
    let file = schema.file();
    let descriptor = match message {
        Some(name) => file.parent_pool().get_message_by_name(name),
        None => file.messages().next(),
    }
    .ok_or_else(|| format!("no message {} in {}", message.unwrap_or("at all"), file.name()))?;
    Ok(descriptor
        .fields()
        .map(|f| {
            let ty = proto_field(&f, 0).map_err(|e| format!("`{}`: {e}", f.name()))?;
            Ok(StructField {
                name: f.name().to_string(),
                ty,
                nullable: true,
            })
        })
        .collect())
}

fn proto_field(field: &prost_reflect::FieldDescriptor, depth: usize) -> Result<ColumnType, String> {
    if field.is_map()
        && let Kind::Message(entry) = field.kind()
    {
        let key = entry.map_entry_key_field();
        let value = entry.map_entry_value_field();
        return Ok(ColumnType::Map(
            Box::new(proto_kind(&key.kind(), depth + 1)?),
            Box::new(proto_kind(&value.kind(), depth + 1)?),
        ));
    }
    let ty = proto_kind(&field.kind(), depth)?;
    Ok(if field.is_list() {
        ColumnType::List(Box::new(ty))
    } else {
        ty
    })
}

fn proto_kind(kind: &Kind, depth: usize) -> Result<ColumnType, String> {
    if depth > MAX_DEPTH {
        return Err(format!("nested deeper than {MAX_DEPTH} (a recursive message?)"));
    }
    Ok(match kind {
        Kind::Double => ColumnType::Float64,
        Kind::Float => ColumnType::Float32,
        Kind::Int32 | Kind::Sint32 | Kind::Sfixed32 => ColumnType::Int32,
        Kind::Int64 | Kind::Sint64 | Kind::Sfixed64 | Kind::Uint32 | Kind::Fixed32 => ColumnType::Int64,
        // Up to 2^64 - 1: more than int64 holds.
        Kind::Uint64 | Kind::Fixed64 => ColumnType::Decimal {
            precision: 20,
            scale: 0,
        },
        Kind::Bool => ColumnType::Boolean,
        Kind::String | Kind::Enum(_) => ColumnType::String,
        Kind::Bytes => ColumnType::Binary,
        Kind::Message(message) => proto_message(message, depth)?,
    })
}

fn proto_message(message: &MessageDescriptor, depth: usize) -> Result<ColumnType, String> {
    Ok(match message.full_name() {
        "google.protobuf.Timestamp" => ColumnType::Timestamp,
        // Written as JSON text ("1.5s"), a string, a number.
        "google.protobuf.Duration" | "google.protobuf.FieldMask" => ColumnType::String,
        "google.protobuf.StringValue" => ColumnType::String,
        "google.protobuf.Int64Value" | "google.protobuf.Int32Value" | "google.protobuf.UInt32Value" => {
            ColumnType::Int64
        }
        "google.protobuf.DoubleValue" | "google.protobuf.FloatValue" => ColumnType::Float64,
        "google.protobuf.BoolValue" => ColumnType::Boolean,
        "google.protobuf.BytesValue" => ColumnType::Binary,
        _ => ColumnType::Struct(
            message
                .fields()
                .map(|f| {
                    Ok(StructField {
                        name: f.name().to_string(),
                        ty: proto_field(&f, depth + 1)?,
                        nullable: true,
                    })
                })
                .collect::<Result<_, String>>()?,
        ),
    })
}

/// `columns` as a `[tables.silver] columns = [...]` block, fields without a column as comments.
pub fn toml(columns: &[Column]) -> String {
    let mut out = String::from("columns = [\n");
    for column in columns {
        match column {
            Ok(c) => {
                let required = if c.nullable { "" } else { ", nullable = false" };
                out.push_str(&format!(
                    "  {{ name = {:?}, type = \"{}\"{required} }},\n",
                    c.name, c.ty
                ));
            }
            Err(why) => out.push_str(&format!("  # left out: {why}\n")),
        }
    }
    out.push_str("]\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn avro_fields_become_the_silver_types_their_json_fits() {
        let schema = AvroSchema::parse(
            r#"{"type":"record","name":"Order","fields":[
              {"name":"id","type":"string"},
              {"name":"qty","type":"int"},
              {"name":"price","type":["null",{"type":"bytes","logicalType":"decimal","precision":10,"scale":2}]},
              {"name":"at","type":{"type":"long","logicalType":"timestamp-millis"}},
              {"name":"ship","type":["null",{"type":"record","name":"Ship","fields":[
                 {"name":"tags","type":{"type":"array","items":"string"}}]}]},
              {"name":"again","type":["null","Ship"]},
              {"name":"either","type":["string","long"]}
            ]}"#,
        )
        .unwrap();
        let text = toml(&avro_columns(&schema).unwrap());
        assert_eq!(
            text,
            r#"columns = [
  { name = "id", type = "string", nullable = false },
  { name = "qty", type = "int32", nullable = false },
  { name = "price", type = "decimal(10, 2)" },
  { name = "at", type = "timestamp", nullable = false },
  { name = "ship", type = "struct<tags: list<string> not null>" },
  { name = "again", type = "struct<tags: list<string> not null>" },
  # left out: `either`: a union of several types has no silver type
]
"#
        );
        // What it prints is a valid declaration.
        let parsed: toml::Table = toml::from_str(&text).unwrap();
        assert_eq!(parsed["columns"].as_array().unwrap().len(), 6);
    }

    #[test]
    fn protobuf_fields_become_the_silver_types_their_json_fits() {
        let schema = ProtoSchema::parse(
            r#"syntax = "proto3";
               import "google/protobuf/timestamp.proto";
               message Order {
                 string id = 1; uint64 big = 2; google.protobuf.Timestamp at = 3;
                 repeated string tags = 4; map<string, int32> counts = 5;
                 Ship ship = 6;
                 message Ship { string city = 1; }
               }"#,
            &[],
        )
        .unwrap();
        let text = toml(&protobuf_columns(&schema, None).unwrap());
        assert!(text.contains(r#"{ name = "big", type = "decimal(20, 0)" }"#), "{text}");
        assert!(text.contains(r#"{ name = "at", type = "timestamp" }"#), "{text}");
        assert!(text.contains(r#"{ name = "tags", type = "list<string>" }"#), "{text}");
        assert!(
            text.contains(r#"{ name = "counts", type = "map<string, int32>" }"#),
            "{text}"
        );
        assert!(
            text.contains(r#"{ name = "ship", type = "struct<city: string>" }"#),
            "{text}"
        );
        assert!(protobuf_columns(&schema, Some("Nope")).is_err());
    }
}
