//! From JSON text to typed Arrow rows. `silver` decodes accepted records into the declared
//! columns: `json_fields` finds a record's declared fields in one pass, `interpret` reads each
//! as its column's type strictly (`number`, `timestamp`), `cell` builds the arrays. `wire` reads
//! the Confluent Schema Registry header of Avro and Protobuf records (the decoders are issue 16's
//! next steps).

mod cell;
mod interpret;
mod json_fields;
mod number;
mod silver;
mod timestamp;
pub mod wire;

pub use silver::{DecodeOutcome, Origin, SilverDecoder};
