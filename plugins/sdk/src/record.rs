//! The record a plugin reads and writes, and the facts about its batch.

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::Json;

/// One record. `value` is a JSON document; `key` and `timestamp_ms` come from Kafka and are kept
/// on outputs built with [`Record::with_json`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    pub key: Option<Vec<u8>>,
    pub value: String,
    pub timestamp_ms: Option<i64>,
}

impl Record {
    /// A record with this JSON text as its value and no key or timestamp.
    pub fn new(value: impl Into<String>) -> Self {
        Record {
            key: None,
            value: value.into(),
            timestamp_ms: None,
        }
    }

    /// The value parsed as a JSON document.
    pub fn json(&self) -> Result<Json, String> {
        self.parse()
    }

    /// The value deserialised into `T`; the error names what did not fit.
    pub fn parse<T: DeserializeOwned>(&self) -> Result<T, String> {
        serde_json::from_str(&self.value).map_err(|e| format!("value is not valid JSON for this stage: {e}"))
    }

    /// This record with a new value, keeping its key and timestamp.
    pub fn with_json(self, value: &impl Serialize) -> Result<Record, String> {
        let value = serde_json::to_string(value).map_err(|e| format!("cannot encode output as JSON: {e}"))?;
        Ok(Record { value, ..self })
    }
}

/// Facts about the batch being processed, the same for each record of it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Context {
    /// When the host started the batch, milliseconds since the Unix epoch.
    pub processing_time_ms: i64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn with_json_keeps_key_and_timestamp() {
        let record = Record {
            key: Some(b"k".to_vec()),
            value: "{}".into(),
            timestamp_ms: Some(7),
        };
        let out = record.with_json(&serde_json::json!({"a": 1})).unwrap();
        assert_eq!(out.key.as_deref(), Some(&b"k"[..]));
        assert_eq!(out.timestamp_ms, Some(7));
        assert_eq!(out.value, r#"{"a":1}"#);
    }

    #[test]
    fn parse_error_says_what_failed() {
        let err = Record::new("{not json").json().unwrap_err();
        assert!(err.starts_with("value is not valid JSON"), "{err}");
    }
}
