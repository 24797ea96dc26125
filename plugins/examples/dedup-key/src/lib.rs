//! Adds a deduplication key: the SHA-256 (hex) of the chosen fields' JSON values, so that two
//! records describing the same entity get the same key whatever else differs.
//!
//! Config: `{ "fields": ["id"], "target": "dedup_key" }` (`target` defaults to `dedup_key`).

use serde::Deserialize;
use sha2::{Digest, Sha256};
use weir_sdk::{Config, Context, Json, Outcome, Record, Transform};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Settings {
    fields: Vec<String>,
    #[serde(default = "default_target")]
    target: String,
}

fn default_target() -> String {
    "dedup_key".into()
}

/// The dedup-key stage.
#[derive(Debug)]
pub struct DedupKey {
    settings: Settings,
}

impl DedupKey {
    fn key(&self, fields: &serde_json::Map<String, Json>) -> Result<String, String> {
        let mut hash = Sha256::new();
        for name in &self.settings.fields {
            let value = fields
                .get(name)
                .filter(|v| !v.is_null())
                .ok_or_else(|| format!("dedup field `{name}` is missing"))?;
            hash.update(value.to_string().as_bytes());
            // A separator no JSON text contains, so ("ab","c") and ("a","bc") differ.
            hash.update([0xff]);
        }
        Ok(hash.finalize().iter().map(|b| format!("{b:02x}")).collect())
    }
}

impl Transform for DedupKey {
    fn init(config: Config) -> Result<Self, String> {
        let settings: Settings = config.into_settings()?;
        if settings.fields.is_empty() {
            return Err("`fields` must name at least one field".into());
        }
        Ok(DedupKey { settings })
    }

    fn process(&self, record: &Record<'_>, _context: &Context) -> Outcome {
        let mut value = match record.json() {
            Ok(Json::Object(map)) => map,
            Ok(_) => return Outcome::reject("value must be a JSON object"),
            Err(reason) => return Outcome::reject(reason),
        };
        match self.key(&value) {
            Ok(key) => {
                value.insert(self.settings.target.clone(), Json::String(key));
                record.with_json(&value).into()
            }
            Err(reason) => Outcome::reject(reason),
        }
    }
}

weir_sdk::export_transform!(DedupKey);

#[cfg(test)]
mod tests {
    use super::*;

    fn key_of(stage: &DedupKey, value: &str) -> Result<String, String> {
        match stage.process(&Record::new(value), &Context { processing_time_ms: 0 }) {
            Outcome::Accepted(out) => {
                let v: Json = serde_json::from_str(&out[0].value).unwrap();
                Ok(v["dedup_key"].as_str().unwrap().to_string())
            }
            Outcome::Rejected(reason) => Err(reason),
            Outcome::Pass => panic!("dedup-key always adds a field"),
        }
    }

    #[test]
    fn same_fields_same_key_other_fields_ignored() {
        let stage = DedupKey::init(Config::parse(r#"{"fields":["id","sub"]}"#).unwrap()).unwrap();
        let a = key_of(&stage, r#"{"id":"1","sub":"rust","score":1}"#).unwrap();
        let b = key_of(&stage, r#"{"id":"1","sub":"rust","score":9}"#).unwrap();
        let c = key_of(&stage, r#"{"id":"1","sub":"go","score":1}"#).unwrap();
        assert_eq!(a, b);
        assert_ne!(a, c);
        assert_eq!(a.len(), 64);
        assert_eq!(
            key_of(&stage, r#"{"id":"1"}"#).unwrap_err(),
            "dedup field `sub` is missing"
        );
    }

    #[test]
    fn needs_fields() {
        assert!(DedupKey::init(Config::parse(r#"{"fields":[]}"#).unwrap()).is_err());
        assert!(
            DedupKey::init(Config::parse("{}").unwrap())
                .unwrap_err()
                .contains("missing field `fields`")
        );
    }
}
