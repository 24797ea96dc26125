//! A produce request's body, as the Confluent REST Proxy v2 takes it:
//! `{"records": [{"key": ..., "value": ..., "partition": n}]}`. With
//! `application/vnd.kafka.json.v2+json` (or plain `application/json`) key and value are any JSON,
//! produced as the JSON text written; with `application/vnd.kafka.binary.v2+json` they are base64
//! strings, produced decoded. A null or absent key or value is produced as none.

use base64::Engine;
use serde::Deserialize;
use serde_json::value::RawValue;

/// How keys and values are embedded in the body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Embedded {
    Json,
    Binary,
}

impl Embedded {
    /// The embedding a `Content-Type` names, or `None` for one the API does not take (Avro and
    /// Protobuf embeddings need a schema, which Weir's intake does not take).
    pub fn from_content_type(content_type: &str) -> Option<Self> {
        let media = content_type.split(';').next().unwrap_or("").trim().to_ascii_lowercase();
        match media.as_str() {
            "application/vnd.kafka.json.v2+json" | "application/json" => Some(Self::Json),
            "application/vnd.kafka.binary.v2+json" => Some(Self::Binary),
            _ => None,
        }
    }
}

/// One record to produce.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outgoing {
    pub key: Option<Vec<u8>>,
    pub value: Option<Vec<u8>>,
    pub partition: Option<i32>,
}

impl Outgoing {
    /// Key and value bytes, for the byte budgets and metrics.
    pub fn size(&self) -> usize {
        self.key.as_ref().map_or(0, Vec::len) + self.value.as_ref().map_or(0, Vec::len)
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Body<'a> {
    #[serde(borrow)]
    records: Vec<Item<'a>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Item<'a> {
    #[serde(borrow, default)]
    key: Option<&'a RawValue>,
    #[serde(borrow, default)]
    value: Option<&'a RawValue>,
    #[serde(default)]
    partition: Option<i32>,
}

/// Reads a body's records; the error says what is wrong, for a 422 answer.
pub fn parse(body: &[u8], embedded: Embedded) -> Result<Vec<Outgoing>, String> {
    let body: Body = serde_json::from_slice(body).map_err(|e| format!("the body is not a produce request: {e}"))?;
    body.records
        .into_iter()
        .enumerate()
        .map(|(i, item)| {
            let field = |raw: Option<&RawValue>, name: &str| {
                embed(raw, embedded).map_err(|e| format!("records[{i}].{name}: {e}"))
            };
            if item.partition.is_some_and(|p| p < 0) {
                return Err(format!("records[{i}].partition: a partition is not negative"));
            }
            Ok(Outgoing {
                key: field(item.key, "key")?,
                value: field(item.value, "value")?,
                partition: item.partition,
            })
        })
        .collect()
}

fn embed(raw: Option<&RawValue>, embedded: Embedded) -> Result<Option<Vec<u8>>, String> {
    let Some(raw) = raw.filter(|r| r.get() != "null") else {
        return Ok(None);
    };
    match embedded {
        Embedded::Json => Ok(Some(raw.get().as_bytes().to_vec())),
        Embedded::Binary => {
            let text: &str =
                serde_json::from_str(raw.get()).map_err(|_| "binary data is a base64 string".to_string())?;
            base64::engine::general_purpose::STANDARD
                .decode(text)
                .map(Some)
                .map_err(|e| format!("not base64: {e}"))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_types() {
        assert_eq!(
            Embedded::from_content_type("application/vnd.kafka.json.v2+json"),
            Some(Embedded::Json)
        );
        assert_eq!(
            Embedded::from_content_type("application/json; charset=utf-8"),
            Some(Embedded::Json)
        );
        assert_eq!(
            Embedded::from_content_type("Application/Vnd.Kafka.Binary.V2+Json"),
            Some(Embedded::Binary)
        );
        assert_eq!(Embedded::from_content_type("application/vnd.kafka.avro.v2+json"), None);
        assert_eq!(Embedded::from_content_type(""), None);
    }

    #[test]
    fn json_records_keep_their_text() {
        let body = br#"{"records": [{"key": "a", "value": {"id": 1, "t": [1, 2]}}, {"value": 7, "partition": 2}, {"key": null, "value": null}]}"#;
        let records = parse(body, Embedded::Json).unwrap();
        assert_eq!(records[0].key.as_deref(), Some(&b"\"a\""[..]));
        assert_eq!(records[0].value.as_deref(), Some(&br#"{"id": 1, "t": [1, 2]}"#[..]));
        assert_eq!((records[1].key.clone(), records[1].partition), (None, Some(2)));
        assert_eq!(
            records[2],
            Outgoing {
                key: None,
                value: None,
                partition: None
            }
        );
    }

    #[test]
    fn binary_records_are_decoded() {
        let records = parse(br#"{"records": [{"key": "aGk=", "value": "AAEC"}]}"#, Embedded::Binary).unwrap();
        assert_eq!(records[0].key.as_deref(), Some(&b"hi"[..]));
        assert_eq!(records[0].value.as_deref(), Some(&[0u8, 1, 2][..]));
    }

    #[test]
    fn bad_bodies_say_where() {
        for (body, embedded, says) in [
            (
                &br#"{"records": [{"value": 5}]}"#[..],
                Embedded::Binary,
                "records[0].value: binary data is a base64 string",
            ),
            (
                br#"{"records": [{"value": "%%"}]}"#,
                Embedded::Binary,
                "records[0].value: not base64",
            ),
            (
                br#"{"records": [{"value": 1, "partition": -1}]}"#,
                Embedded::Json,
                "records[0].partition",
            ),
            (
                br#"{"records": [{"value": 1, "topic": "x"}]}"#,
                Embedded::Json,
                "unknown field `topic`",
            ),
            (br#"{"value": 1}"#, Embedded::Json, "not a produce request"),
            (b"not json", Embedded::Json, "not a produce request"),
        ] {
            let error = parse(body, embedded).unwrap_err();
            assert!(error.contains(says), "{error}");
        }
    }
}
