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
use serde::de::{DeserializeSeed, Deserializer, IgnoredAny, MapAccess, Visitor};
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
    rules: Rules,
}

/// The JSON type of a value as the rules speak of it (serde_json reads a number with a fraction
/// or an exponent as a float, others as integers). An enum, not a name: comparing names would
/// cost a call into libc's `memcmp` per field in the sandbox.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Found {
    Null,
    Boolean,
    Integer,
    Number,
    String,
    Array,
    Object,
}

impl Found {
    fn name(self) -> &'static str {
        match self {
            Found::Null => "null",
            Found::Boolean => "boolean",
            Found::Integer => "integer",
            Found::Number => "number",
            Found::String => "string",
            Found::Array => "array",
            Found::Object => "object",
        }
    }
}

impl std::fmt::Display for Found {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

impl Kind {
    /// The JSON type this kind names.
    fn found(self) -> Found {
        match self {
            Kind::String => Found::String,
            Kind::Integer => Found::Integer,
            Kind::Number => Found::Number,
            Kind::Boolean => Found::Boolean,
            Kind::Object => Found::Object,
            Kind::Array => Found::Array,
        }
    }

    fn name(self) -> &'static str {
        self.found().name()
    }

    /// Whether a value of JSON type `found` is of this kind (an integer is a number too).
    fn accepts(self, found: Found) -> bool {
        found == self.found() || (self == Kind::Number && found == Found::Integer)
    }
}

fn type_of(value: &Json) -> Found {
    match value {
        Json::Null => Found::Null,
        Json::Bool(_) => Found::Boolean,
        Json::Number(n) if n.is_f64() => Found::Number,
        Json::Number(_) => Found::Integer,
        Json::String(_) => Found::String,
        Json::Array(_) => Found::Array,
        Json::Object(_) => Found::Object,
    }
}

/// Finds the raw values of the fields the rules name, in one pass over the top-level object and
/// without allocating: keys are compared where they lie (escaped ones too), values are kept as
/// unparsed slices, every other field is skipped.
struct Lookup<'n, 'f, 'de> {
    names: &'n [String],
    found: &'f mut [Option<&'de RawValue>],
}

impl<'de> DeserializeSeed<'de> for Lookup<'_, '_, 'de> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for Lookup<'_, '_, 'de> {
    type Value = ();
    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a JSON object")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        while let Some(slot) = map.next_key_seed(KeyIndex(self.names))? {
            match slot {
                Some(i) => self.found[i] = Some(map.next_value()?),
                None => map.next_value::<IgnoredAny>().map(drop)?,
            }
        }
        Ok(())
    }
}

/// Deserialises a key into the index of the rule field it names, if any.
struct KeyIndex<'n>(&'n [String]);

impl<'de> DeserializeSeed<'de> for KeyIndex<'_> {
    type Value = Option<usize>;
    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Option<usize>, D::Error> {
        deserializer.deserialize_str(self)
    }
}

impl Visitor<'_> for KeyIndex<'_> {
    type Value = Option<usize>;
    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a field name")
    }
    fn visit_str<E>(self, key: &str) -> Result<Option<usize>, E> {
        // The first byte first: most keys are told apart without a full comparison.
        let first = key.as_bytes().first();
        Ok(self
            .0
            .iter()
            .position(|name| name.as_bytes().first() == first && weir_sdk::text::same(name, key)))
    }
}

/// Most rule fields looked up without a heap allocation per record.
const STACK_FIELDS: usize = 32;

/// The JSON type of a raw value, read from its text without parsing it into a tree.
fn raw_type(raw: &RawValue) -> Found {
    let text = raw.get();
    match text.as_bytes().first() {
        Some(b'"') => Found::String,
        Some(b'{') => Found::Object,
        Some(b'[') => Found::Array,
        Some(b't' | b'f') => Found::Boolean,
        Some(b'n') => Found::Null,
        _ if !text.bytes().any(|b| matches!(b, b'.' | b'e' | b'E')) => Found::Integer,
        _ => Found::Number,
    }
}

impl Validate {
    /// The first rule the record's value breaks, if any.
    pub fn check(&self, value: &str) -> Result<(), String> {
        let names = &self.rules.names;
        let mut stack = [None; STACK_FIELDS];
        let mut heap = Vec::new();
        let found: &mut [Option<&RawValue>] = if names.len() <= STACK_FIELDS {
            &mut stack[..names.len()]
        } else {
            heap.resize(names.len(), None);
            &mut heap
        };
        let mut de = serde_json::Deserializer::from_str(value);
        let parsed = Lookup {
            names,
            found: &mut *found,
        }
        .deserialize(&mut de)
        .and_then(|()| de.end());
        if parsed.is_err() {
            // Say why in the words of a full parse: not JSON, or not an object.
            return Err(match serde_json::from_str::<Json>(value) {
                Err(e) => format!("value is not valid JSON for this stage: {e}"),
                Ok(other) => format!("value must be a JSON object, got {}", type_of(&other)),
            });
        }
        self.check_fields(|i| found[i])
    }

    fn check_fields<'a>(&self, field: impl Fn(usize) -> Option<&'a RawValue>) -> Result<(), String> {
        let rules = &self.rules;
        // A JSON value that starts with `n` is `null`.
        let present = |i: usize| field(i).filter(|raw| raw.get().as_bytes().first() != Some(&b'n'));
        for &i in &rules.required {
            if present(i).is_none() {
                return Err(format!("missing required field `{}`", rules.names[i]));
            }
        }
        for &(i, kind) in &rules.types {
            if let Some(raw) = present(i) {
                let found = raw_type(raw);
                if !kind.accepts(found) {
                    return Err(format!(
                        "field `{}` must be {}, got {found}",
                        rules.names[i],
                        kind.name()
                    ));
                }
            }
        }
        for (i, range) in &rules.ranges {
            let name = &rules.names[*i];
            let Some(raw) = present(*i) else { continue };
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

/// The settings compiled for lookups: each field named once, rules referring to it by index.
#[derive(Debug)]
struct Rules {
    names: Vec<String>,
    required: Vec<usize>,
    types: Vec<(usize, Kind)>,
    ranges: Vec<(usize, Range)>,
}

impl Rules {
    fn compile(settings: Settings) -> Rules {
        let mut names: Vec<String> = Vec::new();
        let mut index = |name: String| match names.iter().position(|n| *n == name) {
            Some(i) => i,
            None => {
                names.push(name);
                names.len() - 1
            }
        };
        let required = settings.required.into_iter().map(&mut index).collect();
        let types = settings
            .types
            .into_iter()
            .map(|(name, kind)| (index(name), kind))
            .collect();
        let ranges = settings
            .ranges
            .into_iter()
            .map(|(name, range)| (index(name), range))
            .collect();
        Rules {
            names,
            required,
            types,
            ranges,
        }
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
        Ok(Validate {
            rules: Rules::compile(settings),
        })
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
