//! A Protobuf record (the message after the Confluent header and its message indexes) as JSON
//! text, the one form plugins and silver take. A registry holds a Protobuf schema as `.proto`
//! text (what Confluent's registry answers) or as a base64 `FileDescriptorProto` (what some
//! clients register); both are read, and imports of Google's well-known types
//! (`google/protobuf/timestamp.proto`, ...) resolve without the registry. The rendering is
//! Protobuf's canonical JSON mapping with three choices (`docs/SCHEMA_REGISTRY.md`, *Protobuf*): field
//! names as written in the `.proto` file, 64-bit integers as JSON numbers, and every field
//! without presence written even when it holds its default (proto3 cannot tell 0 from unset).

use std::collections::HashMap;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use prost_reflect::{DynamicMessage, FileDescriptor, MessageDescriptor, SerializeOptions};
use protox::file::{ChainFileResolver, File, FileResolver, GoogleFileResolver};

/// A writer's schema: the file it names, compiled with its imports.
#[derive(Debug, Clone)]
pub struct ProtoSchema {
    file: FileDescriptor,
}

/// The schema and its references' files, by the name they are imported with.
struct Sources {
    files: HashMap<String, File>,
}

impl FileResolver for Sources {
    fn open_file(&self, name: &str) -> Result<File, protox::Error> {
        self.files
            .get(name)
            .cloned()
            .ok_or_else(|| protox::Error::file_not_found(name))
    }
}

/// `text` as a protox file: base64 of a `FileDescriptorProto`, or `.proto` source named `name`.
fn source(name: &str, text: &str) -> Result<File, String> {
    if let Ok(bytes) = BASE64.decode(text.trim())
        && let Ok(file) = File::decode_file_descriptor_proto(bytes.as_slice())
    {
        return Ok(file);
    }
    File::from_source(name, text).map_err(|e| e.to_string())
}

impl ProtoSchema {
    /// Compiles the schema `text` with `references` (import name, schema text).
    pub fn parse(text: &str, references: &[(String, String)]) -> Result<Self, String> {
        if text.trim().is_empty() {
            return Err("the schema is empty".into());
        }
        // A name no import uses, for a schema given as `.proto` text.
        let main = source("weir-registry-schema.proto", text)?;
        let main_name = main.name().to_string();
        let mut files = HashMap::from([(main_name.clone(), main)]);
        for (name, text) in references {
            let file = source(name, text)?;
            files.insert(name.clone(), file);
        }
        let mut chain = ChainFileResolver::new();
        chain.add(Sources { files });
        chain.add(GoogleFileResolver::new());
        let mut compiler = protox::Compiler::with_file_resolver(chain);
        compiler.open_file(&main_name).map_err(|e| e.to_string())?;
        let file = compiler
            .descriptor_pool()
            .get_file_by_name(&main_name)
            .ok_or_else(|| format!("the schema's file {main_name} is not in its own pool"))?;
        Ok(ProtoSchema { file })
    }

    /// The schema's file.
    pub fn file(&self) -> &FileDescriptor {
        &self.file
    }

    /// The message type at `indexes` (the Confluent message-index path: the file's n-th
    /// message, then its m-th nested message, ...).
    fn message(&self, indexes: &[i32]) -> Result<MessageDescriptor, String> {
        let missing = || format!("no message at index path {indexes:?} in {}", self.file.name());
        let (first, rest) = indexes.split_first().ok_or_else(missing)?;
        let nth = |i: i32| usize::try_from(i).map_err(|_| missing());
        let mut message = self.file.messages().nth(nth(*first)?).ok_or_else(missing)?;
        for index in rest {
            let child = message.child_messages().nth(nth(*index)?).ok_or_else(missing)?;
            message = child;
        }
        Ok(message)
    }

    /// `body`, a message of the type at `indexes`, as JSON text, or why it is not one.
    pub fn to_json(&self, indexes: &[i32], body: &[u8]) -> Result<String, String> {
        let descriptor = self.message(indexes)?;
        let message = DynamicMessage::decode(descriptor.clone(), body)
            .map_err(|e| format!("the body is not a {} message: {e}", descriptor.full_name()))?;
        let options = SerializeOptions::new()
            .stringify_64_bit_integers(false)
            .use_proto_field_name(true)
            .skip_default_fields(false);
        let mut out = Vec::with_capacity(body.len() * 2);
        let mut serializer = serde_json::Serializer::new(&mut out);
        message
            .serialize_with_options(&mut serializer, &options)
            .map_err(|e| format!("the {} message has no JSON form: {e}", descriptor.full_name()))?;
        String::from_utf8(out).map_err(|e| e.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use prost::Message;
    use prost_reflect::Value;

    const PROTO: &str = r#"
        syntax = "proto3";
        package shop;
        import "google/protobuf/timestamp.proto";
        message Order {
          string id = 1;
          int64 qty = 2;
          google.protobuf.Timestamp at = 3;
          optional string note = 4;
          Ship ship = 5;
          message Ship { string city = 1; repeated string tags = 2; }
          bytes blob = 6;
        }
    "#;

    fn order(schema: &ProtoSchema) -> Vec<u8> {
        let desc = schema.message(&[0]).unwrap();
        let mut message = DynamicMessage::new(desc.clone());
        message.set_field_by_name("id", Value::String("o-1".into()));
        message.set_field_by_name("qty", Value::I64(9_007_199_254_740_993));
        let at = desc.get_field_by_name("at").unwrap().kind();
        let mut timestamp = DynamicMessage::new(at.as_message().unwrap().clone());
        timestamp.set_field_by_name("seconds", Value::I64(1_700_000_000));
        timestamp.set_field_by_name("nanos", Value::I32(123_000_000));
        message.set_field_by_name("at", Value::Message(timestamp));
        message.set_field_by_name("blob", Value::Bytes(b"hi".to_vec().into()));
        message.encode_to_vec()
    }

    #[test]
    fn renders_proto_text_schemas_with_well_known_imports() {
        let schema = ProtoSchema::parse(PROTO, &[]).unwrap();
        let json = schema.to_json(&[0], &order(&schema)).unwrap();
        assert_eq!(
            json,
            r#"{"id":"o-1","qty":9007199254740993,"at":"2023-11-14T22:13:20.123Z","blob":"aGk="}"#
        );
    }

    #[test]
    fn reads_base64_descriptors_as_clients_register_them() {
        let text = ProtoSchema::parse(PROTO, &[]).unwrap();
        let encoded = BASE64.encode(text.file.file_descriptor_proto().encode_to_vec());
        let schema = ProtoSchema::parse(&encoded, &[]).unwrap();
        let json = schema.to_json(&[0], &order(&text)).unwrap();
        assert!(json.starts_with(r#"{"id":"o-1""#), "{json}");
        let nested = schema.message(&[0, 0]).unwrap();
        assert_eq!(nested.full_name(), "shop.Order.Ship");
    }

    #[test]
    fn bad_bodies_and_paths_say_why() {
        let schema = ProtoSchema::parse(PROTO, &[]).unwrap();
        let body = order(&schema);
        let e = schema.to_json(&[0], &body[..body.len() - 3]).unwrap_err();
        assert!(e.contains("is not a shop.Order message"), "{e}");
        assert!(
            schema
                .to_json(&[3], &body)
                .unwrap_err()
                .contains("no message at index path [3]")
        );
        assert!(ProtoSchema::parse("message {", &[]).is_err());
        assert!(ProtoSchema::parse("  ", &[]).unwrap_err().contains("empty"));
    }
}
