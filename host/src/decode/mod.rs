//! From JSON text to typed Arrow rows. `silver` decodes accepted records into the declared
//! columns: `json_fields` finds a record's declared fields in one pass, `interpret` reads each
//! as its column's type strictly (`number`, `timestamp`), `cell` builds the arrays. `values` turns a
//! source's record values into that JSON: as they came, or Avro (`wire`: the Confluent header;
//! `schemas`: writer schemas by id from the registry; `avro`: a datum rendered as JSON, read by
//! `avro_binary`). `avro_silver` reads Avro straight into silver rows where nothing needs the
//! JSON (no stages, no gold).

mod avro;
mod avro_binary;
mod avro_silver;
mod cell;
mod interpret;
mod json_fields;
mod number;
mod protobuf;
pub mod registry_columns;
mod route;
mod schemas;
mod silver;
mod timestamp;
mod values;
pub mod wire;

pub use avro::AvroSchema;
pub use avro_silver::{DirectSilver, Unread};
pub use protobuf::ProtoSchema;
pub use route::Router;
pub use schemas::{SchemaEntry, Schemas, imports};
pub use silver::{DecodeOutcome, Origin, SilverDecoder};
pub use values::ValueDecoder;
