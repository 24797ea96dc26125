//! From JSON text to typed Arrow rows: `silver` decodes accepted records into the declared
//! columns with arrow's JSON decoder, isolating the records that do not fit.

mod silver;
mod timestamp;

pub use silver::{DecodeOutcome, Origin, SilverDecoder};
