//! A source's record values as the JSON text plugins and silver take: JSON as it came (UTF-8
//! checked), Avro or Protobuf decoded with its writer schema from the registry (`avro`,
//! `protobuf`, `schemas`). A value
//! that cannot be read gets the reason its record goes to quarantine, naming the schema id and
//! what failed.

use tokio_util::sync::CancellationToken;

use super::schemas::{SchemaEntry, Schemas};
use super::wire;
use crate::config::{SourceConfig, ValueFormat};
use crate::registry::{Registry, RegistryError, SchemaKind};

/// How a pipeline reads its record values.
#[derive(Debug)]
pub enum ValueDecoder {
    Json,
    Avro(Schemas),
    Protobuf(Schemas),
}

impl ValueDecoder {
    pub fn new(source: &SourceConfig) -> Result<Self, RegistryError> {
        let registry = source.schema_registry.as_ref().map(Registry::new).transpose()?;
        Ok(match source.format {
            ValueFormat::Json => ValueDecoder::Json,
            ValueFormat::Avro => ValueDecoder::Avro(Schemas::new(registry, SchemaKind::Avro)),
            ValueFormat::Protobuf => ValueDecoder::Protobuf(Schemas::new(registry, SchemaKind::Protobuf)),
        })
    }

    /// Fetches the schemas `values` name that are not held yet; false if `stop` came first.
    pub async fn ensure<'v>(&mut self, values: impl Iterator<Item = &'v [u8]>, stop: &CancellationToken) -> bool {
        match self {
            ValueDecoder::Json => true,
            ValueDecoder::Avro(schemas) | ValueDecoder::Protobuf(schemas) => {
                // Both start with the magic byte and the id; the id is all this needs.
                let ids = values.filter_map(|v| wire::avro(v).ok()).map(|f| f.schema_id);
                schemas.ensure(ids.collect::<Vec<_>>(), stop).await
            }
        }
    }

    /// The schemas fetched since the last call (none for JSON).
    pub fn take_fetched(&mut self) -> Vec<(u32, &SchemaEntry)> {
        match self {
            ValueDecoder::Json => Vec::new(),
            ValueDecoder::Avro(schemas) | ValueDecoder::Protobuf(schemas) => {
                let ids = schemas.take_fetched();
                ids.into_iter()
                    .filter_map(|id| schemas.get(id).map(|e| (id, e)))
                    .collect()
            }
        }
    }

    /// The schema id in front of `value`, for bronze (none for JSON, or without a header).
    pub fn schema_id(&self, value: &[u8]) -> Option<u32> {
        match self {
            ValueDecoder::Json => None,
            ValueDecoder::Avro(_) | ValueDecoder::Protobuf(_) => wire::avro(value).ok().map(|f| f.schema_id),
        }
    }

    /// `value` as JSON text, or why it cannot be read.
    pub fn text(&self, value: &[u8]) -> Result<String, String> {
        match self {
            ValueDecoder::Json => std::str::from_utf8(value)
                .map(str::to_string)
                .map_err(|_| "value is not UTF-8 text".to_string()),
            ValueDecoder::Avro(schemas) => {
                let framed = wire::avro(value).map_err(|e| format!("not an Avro record: {e}"))?;
                let id = framed.schema_id;
                match schemas.get(id) {
                    Some(SchemaEntry::Avro(schema)) => {
                        schema.to_json(framed.body).map_err(|e| format!("schema id {id}: {e}"))
                    }
                    other => Err(unreadable(id, other)),
                }
            }
            ValueDecoder::Protobuf(schemas) => {
                let framed = wire::protobuf(value).map_err(|e| format!("not a Protobuf record: {e}"))?;
                let id = framed.schema_id;
                match schemas.get(id) {
                    Some(SchemaEntry::Protobuf(schema)) => schema
                        .to_json(&framed.message_indexes, framed.body)
                        .map_err(|e| format!("schema id {id}: {e}")),
                    other => Err(unreadable(id, other)),
                }
            }
        }
    }
}

/// Why a record with schema `id` cannot be read, `entry` being what is held for it.
fn unreadable(id: u32, entry: Option<&SchemaEntry>) -> String {
    match entry {
        Some(SchemaEntry::Unusable(reason)) => reason.clone(),
        Some(_) => format!("schema id {id} is of another kind than the source reads"),
        None => format!("schema id {id} was not fetched before its batch"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::decode::avro::AvroSchema;

    const SCHEMA: &str =
        r#"{"type":"record","name":"R","fields":[{"name":"id","type":"string"},{"name":"n","type":"long"}]}"#;

    fn avro() -> ValueDecoder {
        let mut schemas = Schemas::new(None, SchemaKind::Avro);
        schemas.insert(7, SchemaEntry::Avro(AvroSchema::parse(SCHEMA).unwrap()));
        schemas.insert(
            8,
            SchemaEntry::Unusable("schema id 8 is not in the registry: Schema 8 not found".into()),
        );
        ValueDecoder::Avro(schemas)
    }

    fn datum(id: &str, n: i64) -> Vec<u8> {
        use apache_avro::types::Value;
        let schema = apache_avro::Schema::parse_str(SCHEMA).unwrap();
        let value = Value::Record(vec![
            ("id".into(), Value::String(id.into())),
            ("n".into(), Value::Long(n)),
        ]);
        apache_avro::to_avro_datum(&schema, value).unwrap()
    }

    #[test]
    fn avro_values_read_as_json_and_bad_ones_say_why() {
        let decoder = avro();
        let good = wire::frame(7, None, &datum("a", 5));
        assert_eq!(decoder.text(&good).unwrap(), r#"{"id":"a","n":5}"#);
        assert_eq!(decoder.schema_id(&good), Some(7));
        let json = br#"{"id":"a","n":5}"#;
        assert!(decoder.text(json).unwrap_err().contains("wrong magic byte 0x7b"));
        let unknown = wire::frame(8, None, &datum("a", 5));
        assert!(
            decoder
                .text(&unknown)
                .unwrap_err()
                .contains("schema id 8 is not in the registry")
        );
        let truncated = &good[..good.len() - 1];
        let e = decoder.text(truncated).unwrap_err();
        assert!(e.starts_with("schema id 7: the body does not match"), "{e}");
        assert!(
            decoder
                .text(&[0, 0])
                .unwrap_err()
                .contains("ends inside its Schema Registry header")
        );
    }

    #[tokio::test]
    async fn ids_without_a_registry_are_unusable_not_fatal() {
        let mut decoder = ValueDecoder::Avro(Schemas::new(None, SchemaKind::Avro));
        let value = wire::frame(9, None, &datum("a", 1));
        assert!(
            decoder
                .ensure([value.as_slice()].into_iter(), &CancellationToken::new())
                .await
        );
        assert!(decoder.text(&value).unwrap_err().contains("no registry is configured"));
    }
}
