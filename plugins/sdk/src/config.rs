//! A stage's config: the `config` table of its stage in pipeline.toml, as JSON.

use serde::de::DeserializeOwned;

use crate::Json;

/// The stage config handed to `init`.
#[derive(Debug, Clone, PartialEq)]
pub struct Config(Json);

impl Config {
    /// Parses the config text the host passes; empty text is an empty object.
    pub fn parse(text: &str) -> Result<Self, String> {
        if text.trim().is_empty() {
            return Ok(Config(Json::Object(Default::default())));
        }
        serde_json::from_str(text)
            .map(Config)
            .map_err(|e| format!("config is not valid JSON: {e}"))
    }

    /// The config as a JSON value.
    pub fn json(&self) -> &Json {
        &self.0
    }

    /// The config deserialised into the plugin's own settings type. Unknown or missing fields are
    /// reported the way serde reports them (use `#[serde(deny_unknown_fields)]` to refuse typos).
    pub fn into_settings<T: DeserializeOwned>(self) -> Result<T, String> {
        serde_json::from_value(self.0).map_err(|e| format!("invalid config: {e}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_text_is_an_empty_object() {
        assert_eq!(Config::parse("  ").unwrap().json(), &serde_json::json!({}));
    }

    #[test]
    fn bad_json_is_refused() {
        assert!(Config::parse("{").unwrap_err().contains("not valid JSON"));
    }
}
