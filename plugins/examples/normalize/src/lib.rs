//! Normalises field names from camelCase to snake_case (recursively) and adds processing
//! metadata: when the batch was processed and which plugin version did it.
//!
//! Config (all optional): `{ "metadata": true, "processed_at_field": "_processed_at",
//! "version_field": "_plugin_version" }`.

use std::borrow::Cow;

use serde::Deserialize;
use weir_sdk::{Config, Context, Json, Outcome, Output, Record, Transform};

mod rewrite;

const VERSION: &str = concat!(env!("CARGO_PKG_NAME"), "@", env!("CARGO_PKG_VERSION"));

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct Settings {
    metadata: bool,
    processed_at_field: String,
    version_field: String,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            metadata: true,
            processed_at_field: "_processed_at".into(),
            version_field: "_plugin_version".into(),
        }
    }
}

/// The normalize stage.
#[derive(Debug)]
pub struct Normalize {
    settings: Settings,
}

/// `camelCase`, `PascalCase` and `HTTPStatus`-style names to `snake_case`; other names unchanged.
pub fn snake_case(name: &str) -> String {
    let chars: Vec<char> = name.chars().collect();
    let mut out = String::with_capacity(name.len() + 4);
    for (i, &c) in chars.iter().enumerate() {
        if c.is_uppercase() {
            let prev = i.checked_sub(1).map(|j| chars[j]);
            let next = chars.get(i + 1).copied();
            let boundary = match prev {
                Some(p) if p.is_lowercase() || p.is_ascii_digit() => true,
                Some(p) if p.is_uppercase() => next.is_some_and(char::is_lowercase),
                _ => false,
            };
            if boundary && !out.ends_with('_') {
                out.push('_');
            }
            out.extend(c.to_lowercase());
        } else {
            out.push(c);
        }
    }
    out
}

/// As [`snake_case`], borrowing names that need no change (no uppercase letter).
fn snake_case_cow(name: &str) -> Cow<'_, str> {
    match name.chars().any(char::is_uppercase) {
        true => Cow::Owned(snake_case(name)),
        false => Cow::Borrowed(name),
    }
}

fn normalize_keys(value: Json) -> Json {
    match value {
        Json::Object(map) => Json::Object(
            map.into_iter()
                .map(|(k, v)| (snake_case(&k), normalize_keys(v)))
                .collect(),
        ),
        Json::Array(items) => Json::Array(items.into_iter().map(normalize_keys).collect()),
        other => other,
    }
}

impl Transform for Normalize {
    fn init(config: Config) -> Result<Self, String> {
        Ok(Normalize {
            settings: config.into_settings()?,
        })
    }

    /// The fast path ([`rewrite`]); the tree for what it gives back.
    fn process(&self, record: &Record<'_>, context: &Context) -> Outcome {
        let settings = &self.settings;
        let (mut at, mut version) = (String::new(), String::new());
        let mut extra = Vec::with_capacity(2);
        if settings.metadata {
            rewrite::string(&weir_sdk::time::rfc3339_millis(context.processing_time_ms), &mut at);
            rewrite::string(VERSION, &mut version);
            extra.push((settings.processed_at_field.as_str(), at.as_str()));
            extra.push((settings.version_field.as_str(), version.as_str()));
        }
        let mut value = String::with_capacity(record.value.len() + 96);
        match rewrite::rewrite(record.value, &extra, snake_case_cow, &mut value) {
            Ok(()) => Outcome::accept(Output {
                key: record.key.map(<[u8]>::to_vec),
                value,
                timestamp_ms: record.timestamp_ms,
            }),
            Err(_) => self.process_tree(record, context),
        }
    }
}

impl Normalize {
    /// The value parsed into a tree, renamed, the metadata set (replacing members of the same
    /// names), and encoded again.
    pub fn process_tree(&self, record: &Record<'_>, context: &Context) -> Outcome {
        let mut value = match record.json() {
            Ok(Json::Object(map)) => normalize_keys(Json::Object(map)),
            Ok(_) => return Outcome::reject("value must be a JSON object"),
            Err(reason) => return Outcome::reject(reason),
        };
        if self.settings.metadata
            && let Json::Object(map) = &mut value
        {
            let at = weir_sdk::time::rfc3339_millis(context.processing_time_ms);
            map.insert(self.settings.processed_at_field.clone(), Json::String(at));
            map.insert(self.settings.version_field.clone(), Json::String(VERSION.into()));
        }
        record.with_json(&value).into()
    }
}

weir_sdk::export_transform!(Normalize);

#[cfg(test)]
mod tests {
    use super::*;
    use weir_sdk::json;

    #[test]
    fn converts_names() {
        for (from, to) in [
            ("createdUtc", "created_utc"),
            ("PostID", "post_id"),
            ("HTTPStatus", "http_status"),
            ("already_snake", "already_snake"),
            ("score2Value", "score2_value"),
        ] {
            assert_eq!(snake_case(from), to);
        }
    }

    #[test]
    fn normalises_nested_keys_and_adds_metadata() {
        let stage = Normalize::init(Config::parse("").unwrap()).unwrap();
        let input = Record::new(r#"{"postId":"a","authorInfo":{"userName":"x"},"tagList":[{"tagName":"t"}]}"#);
        let Outcome::Accepted(out) = stage.process(
            &input,
            &Context {
                processing_time_ms: 1_700_000_000_000,
            },
        ) else {
            panic!("rejected")
        };
        let value: Json = serde_json::from_str(&out[0].value).unwrap();
        assert_eq!(
            value,
            json!({"post_id":"a","author_info":{"user_name":"x"},"tag_list":[{"tag_name":"t"}],
                   "_processed_at":"2023-11-14T22:13:20.000Z","_plugin_version":VERSION})
        );
    }

    /// The fast path and the tree give the same JSON value (or the same refusal) for every kind
    /// of input, collisions and escapes included.
    #[test]
    fn the_fast_path_gives_what_the_tree_gives() {
        let stage = Normalize::init(Config::parse("").unwrap()).unwrap();
        let context = Context {
            processing_time_ms: 1_700_000_000_000,
        };
        let inputs = [
            r#"{"postId":"a","createdUtc":1700000000,"score":-3.5e2,"ok":true,"none":null}"#,
            r#"{"authorInfo":{"userName":"x","Tags":[{"tagName":"t"},1,[{"innerKey":2}]]},"e":[]}"#,
            r#"{"post\u0049d":"escaped key","quote\"Key":"q","text":"caf\u00e9 \"x\""}"#,
            r#"{}"#,
            r#"  { "spaced" : [ 1 , 2 ] , "AKey" : { } }  "#,
            r#"{"postId":"first","post_id":"second"}"#,
            r#"{"a":{"bC":1,"b_c":2}}"#,
            r#"{"_processed_at":"mine","x":1}"#,
            r#"{"dup":1,"dup":2}"#,
            r#"[1,2]"#,
            r#""text""#,
            r#"{"broken":"#,
            "not json",
        ];
        for input in inputs {
            let record = Record::new(input);
            let fast = stage.process(&record, &context);
            let tree = stage.process_tree(&record, &context);
            match (&fast, &tree) {
                (Outcome::Accepted(a), Outcome::Accepted(b)) => {
                    let a: Json = serde_json::from_str(&a[0].value).unwrap();
                    let b: Json = serde_json::from_str(&b[0].value).unwrap();
                    assert_eq!(a, b, "{input}");
                }
                _ => assert_eq!(fast, tree, "{input}"),
            }
        }
    }
}
