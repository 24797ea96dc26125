//! The records a plugin reads ([`Record`], borrowed from the batch) and writes ([`Output`]), and
//! the facts about their batch ([`Context`]).

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::Json;

/// One input record, borrowed from the batch the host sent: reading it copies nothing.
/// `value` is a JSON document; `key` and `timestamp_ms` come from Kafka.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Record<'a> {
    pub key: Option<&'a [u8]>,
    pub value: &'a str,
    pub timestamp_ms: Option<i64>,
}

/// A record a plugin produces.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Output {
    pub key: Option<Vec<u8>>,
    pub value: String,
    pub timestamp_ms: Option<i64>,
}

impl<'a> Record<'a> {
    /// A record with this JSON text as its value and no key or timestamp.
    pub fn new(value: &'a str) -> Self {
        Record {
            key: None,
            value,
            timestamp_ms: None,
        }
    }

    /// The value parsed as a JSON document.
    pub fn json(&self) -> Result<Json, String> {
        self.parse()
    }

    /// The value deserialised into `T`; the error names what did not fit.
    pub fn parse<T: DeserializeOwned>(&self) -> Result<T, String> {
        serde_json::from_str(self.value).map_err(|e| format!("value is not valid JSON for this stage: {e}"))
    }

    /// An output with a new value and this record's key and timestamp.
    pub fn with_json(&self, value: &impl Serialize) -> Result<Output, String> {
        let value = serde_json::to_string(value).map_err(|e| format!("cannot encode output as JSON: {e}"))?;
        Ok(Output {
            key: self.key.map(<[u8]>::to_vec),
            value,
            timestamp_ms: self.timestamp_ms,
        })
    }

    /// This record, copied as an output (for flat-maps that keep the original). To let a record
    /// through unchanged, prefer [`crate::Outcome::pass`], which copies nothing.
    pub fn to_output(&self) -> Output {
        Output {
            key: self.key.map(<[u8]>::to_vec),
            value: self.value.to_string(),
            timestamp_ms: self.timestamp_ms,
        }
    }
}

/// Splits a column-wise batch (see `record-batch` in the WIT) into records. The host builds
/// batches, but a malformed one is reported, never a panic.
pub fn split_batch<'a>(
    values: &'a str,
    value_ends: &[u32],
    keys: &'a [u8],
    key_ends: &[u32],
    timestamps: &[Option<i64>],
) -> Result<Vec<Record<'a>>, String> {
    let n = value_ends.len();
    if key_ends.len() != n || timestamps.len() != n {
        return Err(format!(
            "malformed batch: {n} values, {} keys, {} timestamps",
            key_ends.len(),
            timestamps.len()
        ));
    }
    let mut records = Vec::with_capacity(n);
    let (mut value_start, mut key_start) = (0usize, 0usize);
    // Zipped, not indexed: no bounds check per column per record.
    let columns = value_ends.iter().zip(key_ends).zip(timestamps);
    for (i, ((&value_end, &key_end), &timestamp_ms)) in columns.enumerate() {
        let (value_end, key_end) = (value_end as usize, key_end as usize);
        let value = values
            .get(value_start..value_end)
            .ok_or_else(|| format!("malformed batch: value {i} spans {value_start}..{value_end}"))?;
        let key = keys
            .get(key_start..key_end)
            .ok_or_else(|| format!("malformed batch: key {i} spans {key_start}..{key_end}"))?;
        records.push(Record {
            key: (!key.is_empty()).then_some(key),
            value,
            timestamp_ms,
        });
        (value_start, key_start) = (value_end, key_end);
    }
    Ok(records)
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
            key: Some(b"k"),
            value: "{}",
            timestamp_ms: Some(7),
        };
        let out = record.with_json(&serde_json::json!({"a": 1})).unwrap();
        assert_eq!(
            out,
            Output {
                key: Some(b"k".to_vec()),
                value: r#"{"a":1}"#.into(),
                timestamp_ms: Some(7)
            }
        );
    }

    #[test]
    fn parse_error_says_what_failed() {
        let err = Record::new("{not json").json().unwrap_err();
        assert!(err.starts_with("value is not valid JSON"), "{err}");
    }

    #[test]
    fn splits_a_batch_and_refuses_a_malformed_one() {
        let records = split_batch("{}[1]\"é\"", &[2, 5, 9], b"k1k2", &[2, 2, 4], &[Some(1), None, Some(3)]).unwrap();
        assert_eq!(
            records,
            vec![
                Record {
                    key: Some(b"k1"),
                    value: "{}",
                    timestamp_ms: Some(1)
                },
                Record {
                    key: None,
                    value: "[1]",
                    timestamp_ms: None
                },
                Record {
                    key: Some(b"k2"),
                    value: "\"é\"",
                    timestamp_ms: Some(3)
                },
            ]
        );
        assert!(
            split_batch("{}", &[3], b"", &[0], &[None])
                .unwrap_err()
                .contains("value 0 spans 0..3")
        );
        assert!(
            split_batch("\"é\"", &[2], b"", &[0], &[None]).is_err(),
            "not a char boundary"
        );
        assert!(
            split_batch("{}", &[2], b"", &[], &[None])
                .unwrap_err()
                .contains("1 values, 0 keys")
        );
    }
}
