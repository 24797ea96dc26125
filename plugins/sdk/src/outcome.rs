//! What becomes of one input record.

use crate::Output;

/// The verdict on one record: accepted with zero or more outputs, or rejected with a reason.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Accepted unchanged: the input record is the one output (nothing is copied back).
    Pass,
    /// One output validates or maps, none filters, several flat-map.
    Accepted(Vec<Output>),
    /// The record goes to quarantine with this reason.
    Rejected(String),
}

impl Outcome {
    /// Accepted unchanged: the cheapest verdict for validations and filters.
    pub fn pass() -> Self {
        Outcome::Pass
    }

    /// Accepted with one output.
    pub fn accept(output: Output) -> Self {
        Outcome::Accepted(vec![output])
    }

    /// Accepted with no output: the record is filtered out (not quarantined).
    pub fn filter() -> Self {
        Outcome::Accepted(Vec::new())
    }

    /// Rejected: the record goes to quarantine with this reason.
    pub fn reject(reason: impl Into<String>) -> Self {
        Outcome::Rejected(reason.into())
    }
}

impl From<Result<Output, String>> for Outcome {
    fn from(result: Result<Output, String>) -> Self {
        match result {
            Ok(output) => Outcome::accept(output),
            Err(reason) => Outcome::Rejected(reason),
        }
    }
}
