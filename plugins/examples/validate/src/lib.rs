//! Data-quality checks: required fields, JSON types and numeric ranges.
//!
//! Config (all optional):
//! ```json
//! { "required": ["id", "subreddit"],
//!   "types": { "score": "integer", "title": "string" },
//!   "ranges": { "score": { "min": 0, "max": 1000000 } } }
//! ```
//! A record passes unchanged or is rejected with the first rule it breaks.

use std::collections::BTreeMap;

use serde::Deserialize;
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

    fn matches(self, value: &Json) -> bool {
        match self {
            Kind::String => value.is_string(),
            Kind::Integer => value.is_i64() || value.is_u64(),
            Kind::Number => value.is_number(),
            Kind::Boolean => value.is_boolean(),
            Kind::Object => value.is_object(),
            Kind::Array => value.is_array(),
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

impl Validate {
    /// The first rule `value` breaks, if any.
    pub fn check(&self, value: &Json) -> Result<(), String> {
        let Json::Object(fields) = value else {
            return Err(format!("value must be a JSON object, got {}", type_name(value)));
        };
        for name in &self.settings.required {
            match fields.get(name) {
                None | Some(Json::Null) => return Err(format!("missing required field `{name}`")),
                Some(_) => {}
            }
        }
        for (name, kind) in &self.settings.types {
            if let Some(v) = fields.get(name).filter(|v| !v.is_null()) {
                if !kind.matches(v) {
                    return Err(format!("field `{name}` must be {}, got {}", kind.name(), type_name(v)));
                }
            }
        }
        for (name, range) in &self.settings.ranges {
            let Some(v) = fields.get(name).filter(|v| !v.is_null()) else { continue };
            let Some(x) = v.as_f64() else {
                return Err(format!("field `{name}` must be a number to check its range, got {}", type_name(v)));
            };
            if let Some(min) = range.min.filter(|min| x < *min) {
                return Err(format!("field `{name}` = {v} is below the minimum {min}"));
            }
            if let Some(max) = range.max.filter(|max| x > *max) {
                return Err(format!("field `{name}` = {v} is above the maximum {max}"));
            }
        }
        Ok(())
    }
}

impl Transform for Validate {
    fn init(config: Config) -> Result<Self, String> {
        let settings: Settings = config.into_settings()?;
        for (name, range) in &settings.ranges {
            if let (Some(min), Some(max)) = (range.min, range.max) {
                if min > max {
                    return Err(format!("range of `{name}`: min {min} is above max {max}"));
                }
            }
        }
        Ok(Validate { settings })
    }

    fn process(&self, record: Record, _context: &Context) -> Outcome {
        match record.json().and_then(|value| self.check(&value)) {
            Ok(()) => Outcome::accept(record),
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
        stage().process(Record::new(value), &Context { processing_time_ms: 0 })
    }

    #[test]
    fn accepts_a_valid_record_unchanged() {
        let value = r#"{"id":"a","score":5,"title":"t"}"#;
        assert_eq!(verdict(value), Outcome::accept(Record::new(value)));
    }

    #[test]
    fn rejects_each_broken_rule_with_its_reason() {
        let cases = [
            (r#"{"score":5}"#, "missing required field `id`"),
            (r#"{"id":"a","score":null}"#, "missing required field `score`"),
            (r#"{"id":"a","score":"5"}"#, "field `score` must be integer, got string"),
            (r#"{"id":"a","score":-1}"#, "field `score` = -1 is below the minimum 0"),
            (r#"{"id":"a","score":101}"#, "field `score` = 101 is above the maximum 100"),
            (r#"[1]"#, "value must be a JSON object, got array"),
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
