//! From JSON text to typed Arrow rows: `silver` decodes accepted records into the declared
//! columns with arrow's JSON decoder, isolating the records that do not fit. `wire` reads the
//! Confluent Schema Registry header of Avro and Protobuf records (the decoders are issue 16's
//! next steps).

mod silver;
mod timestamp;
pub mod wire;

pub use silver::{DecodeOutcome, Origin, SilverDecoder};
