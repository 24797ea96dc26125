//! Data-quality checks: required fields, JSON types and numeric ranges.
//!
//! Config (all optional):
//! ```json
//! { "required": ["id", "subreddit"],
//!   "types": { "score": "integer", "title": "string" },
//!   "ranges": { "score": { "min": 0, "max": 1000000 } } }
//! ```
//! A record passes unchanged or is rejected with the first rule it breaks.

use std::collections::{BTreeMap, HashMap};

use serde::Deserialize;
use serde_json::value::RawValue;
use weir_sdk::{Config, Context, Json, Outcome, Record, Transform};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Settings {
    #[serde(default)]
    required: Vec<String>,
    #[serde(default)]
    types: BTreeMap<String, Kind>,
    #[serde(default)]
    ranges: BTreeMap<String, Range>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
enum Kind {
    String,
    Integer,
    Number,
    Boolean,
    Object,
    Array,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Range {
    min: Option<f64>,
    max: Option<f64>,
}

/// The validate stage.
#[derive(Debug)]
pub struct Validate {
    settings: Settings,
}

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Kind::String => "string",
            Kind::Integer => "integer",
            Kind::Number => "number",
            Kind::Boolean => "boolean",
            Kind::Object => "object",
            Kind::Array => "array",
        }
    }

    /// Whether a value of JSON type `found` (as named by `raw_type`) is of this kind.
    fn accepts(self, found: &str) -> bool {
        match self {
            Kind::Number => found == "number" || found == "integer",
            other => other.name() == found,
        }
    }
}

fn type_name(value: &Json) -> &'static str {
    match value {
        Json::Null => "null",
        Json::Bool(_) => "boolean",
        Json::Number(n) if n.is_f64() => "number",
        Json::Number(_) => "integer",
        Json::String(_) => "string",
        Json::Array(_) => "array",
        Json::Object(_) => "object",
    }
}

/// The top-level fields of an object, in order, values unparsed. A short list beats a hash map
/// here: records have a handful of fields and the rules look up a handful of names. Keys with
/// escapes cannot be borrowed and make deserialisation fail (the caller falls back).
struct Fields<'a>(Vec<(&'a str, &'a RawValue)>);

impl<'de> Deserialize<'de> for Fields<'de> {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Visit;
        impl<'de> serde::de::Visitor<'de> for Visit {
            type Value = Fields<'de>;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                let mut fields = Vec::with_capacity(map.size_hint().unwrap_or(8));
                while let Some(entry) = map.next_entry::<&'de str, &'de RawValue>()? {
                    fields.push(entry);
                }
                Ok(Fields(fields))
            }
        }
        deserializer.deserialize_map(Visit)
    }
}

/// The JSON type of a raw value, read from its text without parsing it into a tree.
fn raw_type(raw: &RawValue) -> &'static str {
    let text = raw.get();
    match text.as_bytes().first() {
        Some(b'"') => "string",
        Some(b'{') => "object",
        Some(b'[') => "array",
        Some(b't' | b'f') => "boolean",
        Some(b'n') => "null",
        _ if text.parse::<i64>().is_ok() || text.parse::<u64>().is_ok() => "integer",
        _ => "number",
    }
}

impl Validate {
    /// The first rule the record's value breaks, if any. The top-level object is split into raw
    /// field values without building a tree; only the fields the rules name are looked at.
    pub fn check(&self, value: &str) -> Result<(), String> {
        if let Ok(Fields(fields)) = serde_json::from_str::<Fields>(value) {
            return self.check_fields(|name| fields.iter().rev().find(|(k, _)| *k == name).map(|(_, v)| *v));
        }
        // Not an object, not JSON, or keys with escapes (which cannot be borrowed): parse fully.
        match serde_json::from_str::<Json>(value) {
            Err(e) => Err(format!("value is not valid JSON for this stage: {e}")),
            Ok(Json::Object(_)) => {
                let fields: HashMap<String, Box<RawValue>> =
                    serde_json::from_str(value).map_err(|e| format!("value is not valid JSON for this stage: {e}"))?;
                self.check_fields(|name| fields.get(name).map(|v| &**v))
            }
            Ok(other) => Err(format!("value must be a JSON object, got {}", type_name(&other))),
        }
    }

    fn check_fields<'a>(&self, field: impl Fn(&str) -> Option<&'a RawValue>) -> Result<(), String> {
        let present = |name: &str| field(name).filter(|raw| raw.get() != "null");
        for name in &self.settings.required {
            if present(name).is_none() {
                return Err(format!("missing required field `{name}`"));
            }
        }
        for (name, kind) in &self.settings.types {
            if let Some(raw) = present(name) {
                let found = raw_type(raw);
                if !kind.accepts(found) {
                    return Err(format!("field `{name}` must be {}, got {found}", kind.name()));
                }
            }
        }
        for (name, range) in &self.settings.ranges {
            let Some(raw) = present(name) else { continue };
            let Ok(x) = raw.get().parse::<f64>() else {
                return Err(format!(
                    "field `{name}` must be a number to check its range, got {}",
                    raw_type(raw)
                ));
            };
            let shown = raw.get();
            if let Some(min) = range.min.filter(|min| x < *min) {
                return Err(format!("field `{name}` = {shown} is below the minimum {min}"));
            }
            if let Some(max) = range.max.filter(|max| x > *max) {
                return Err(format!("field `{name}` = {shown} is above the maximum {max}"));
            }
        }
        Ok(())
    }
}

impl Transform for Validate {
    fn init(config: Config) -> Result<Self, String> {
        let settings: Settings = config.into_settings()?;
        for (name, range) in &settings.ranges {
            if let (Some(min), Some(max)) = (range.min, range.max)
                && min > max
            {
                return Err(format!("range of `{name}`: min {min} is above max {max}"));
            }
        }
        Ok(Validate { settings })
    }

    fn process(&self, record: &Record<'_>, _context: &Context) -> Outcome {
        match self.check(record.value) {
            Ok(()) => Outcome::pass(),
            Err(reason) => Outcome::reject(reason),
        }
    }
}

weir_sdk::export_transform!(Validate);

#[cfg(test)]
mod tests {
    use super::*;

    fn stage() -> Validate {
        let config = r#"{"required":["id","score"],"types":{"score":"integer","title":"string"},
                        "ranges":{"score":{"min":0,"max":100}}}"#;
        Validate::init(Config::parse(config).unwrap()).unwrap()
    }

    fn verdict(value: &str) -> Outcome {
        stage().process(&Record::new(value), &Context { processing_time_ms: 0 })
    }

    #[test]
    fn accepts_a_valid_record_unchanged() {
        let value = r#"{"id":"a","score":5,"title":"t"}"#;
        assert_eq!(verdict(value), Outcome::pass());
    }

    #[test]
    fn rejects_each_broken_rule_with_its_reason() {
        let cases = [
            (r#"{"score":5}"#, "missing required field `id`"),
            (r#"{"id":"a","score":null}"#, "missing required field `score`"),
            (r#"{"id":"a","score":"5"}"#, "field `score` must be integer, got string"),
            (r#"{"id":"a","score":-1}"#, "field `score` = -1 is below the minimum 0"),
            (
                r#"{"id":"a","score":101}"#,
                "field `score` = 101 is above the maximum 100",
            ),
            (r#"[1]"#, "value must be a JSON object, got array"),
            (
                r#"{"i\u0064":"a","score":1.5}"#,
                "field `score` must be integer, got number",
            ),
        ];
        for (value, reason) in cases {
            assert_eq!(verdict(value), Outcome::reject(reason), "{value}");
        }
        assert!(matches!(verdict("{oops"), Outcome::Rejected(r) if r.contains("not valid JSON")));
    }

    #[test]
    fn refuses_bad_config() {
        let typo = Config::parse(r#"{"requird":["id"]}"#).unwrap();
        assert!(Validate::init(typo).unwrap_err().contains("unknown field `requird`"));
        let inverted = Config::parse(r#"{"ranges":{"score":{"min":5,"max":1}}}"#).unwrap();
        assert!(Validate::init(inverted).unwrap_err().contains("min 5 is above max 1"));
    }
}
