//! The intake file (`weir run --intake intake.toml`): which broker, which topics may be
//! written, the bearer token, and the limits that keep a request and the producer bounded.

use std::collections::BTreeMap;
use std::path::Path;

use serde::Deserialize;

use crate::config::{ConfigError, parse_toml, read_expanded};

/// The intake file as written.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IntakeConfig {
    /// Bootstrap servers.
    pub brokers: String,
    /// The topics that may be written; any other is refused with 403.
    pub topics: Vec<String>,
    /// A bearer token every request must carry (`Authorization: Bearer ...`); empty or absent:
    /// none is asked for. Write it as `${VAR}`, never in the file.
    #[serde(default)]
    pub token: Option<String>,
    /// Largest request body, KiB (413 past it).
    #[serde(default = "default_max_body_kib")]
    pub max_body_kib: usize,
    /// Most records in one request (413 past it).
    #[serde(default = "default_max_records")]
    pub max_records: usize,
    /// Records produced and not yet acknowledged, over all requests; a request that does not
    /// fit is answered 429 and nothing of it is produced.
    #[serde(default = "default_in_flight_records")]
    pub max_in_flight_records: usize,
    /// Request bodies being read, or whose records are being produced, MiB, over all
    /// requests (429 past it): a request holds its body's share until it is answered.
    #[serde(default = "default_in_flight_mib")]
    pub max_in_flight_mib: usize,
    /// How long a record may wait for the broker's acknowledgement before its request gets an
    /// error for it (retriable, `error_code` 2).
    #[serde(default = "default_delivery_timeout_ms")]
    pub delivery_timeout_ms: u64,
    /// librdkafka producer properties passed through (`security.protocol`, `sasl.*`,
    /// `linger.ms`, ...); `acks` and `enable.idempotence` are Weir's.
    #[serde(default)]
    pub properties: BTreeMap<String, String>,
}

fn default_max_body_kib() -> usize {
    8 * 1024
}
fn default_max_records() -> usize {
    10_000
}
fn default_in_flight_records() -> usize {
    200_000
}
fn default_in_flight_mib() -> usize {
    256
}
fn default_delivery_timeout_ms() -> u64 {
    30_000
}

impl IntakeConfig {
    /// Reads, expands (`${VAR}`), parses and checks an intake file.
    pub fn load(path: &Path, lookup: &dyn Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let text = read_expanded(path, lookup)?;
        let mut config: IntakeConfig = parse_toml(path, &text)?;
        // Compared with the request's token trimmed: trimmed here too.
        config.token = config.token.map(|t| t.trim().to_string()).filter(|t| !t.is_empty());
        config.check().map_err(|(key, message)| ConfigError::Invalid {
            path: path.to_path_buf(),
            line: crate::config::line_of(&text, key),
            key: key.to_string(),
            message,
        })?;
        Ok(config)
    }

    fn check(&self) -> Result<(), (&'static str, String)> {
        if self.brokers.trim().is_empty() {
            return Err(("brokers", "no bootstrap servers given".into()));
        }
        if self.topics.is_empty() || self.topics.iter().any(|t| t.trim().is_empty()) {
            return Err(("topics", "name the topics that may be written, e.g. [\"posts\"]".into()));
        }
        for (key, value, max) in [
            ("max_body_kib", self.max_body_kib, 1024 * 1024),
            ("max_records", self.max_records, 1_000_000),
            ("max_in_flight_records", self.max_in_flight_records, 10_000_000),
            ("max_in_flight_mib", self.max_in_flight_mib, 64 * 1024),
        ] {
            if value == 0 || value > max {
                return Err((key, format!("{value} is out of range (1 to {max})")));
            }
        }
        if self.max_in_flight_records < self.max_records {
            return Err((
                "max_in_flight_records",
                "must be at least max_records, or a full request could never be taken".into(),
            ));
        }
        if self.max_in_flight_mib * 1024 < self.max_body_kib {
            return Err((
                "max_in_flight_mib",
                "must hold at least one body of max_body_kib, or a large request could never be taken".into(),
            ));
        }
        if let Some(own) = self.properties.keys().find(|k| super::producer::is_own_property(k)) {
            return Err((
                "properties",
                format!("`{own}` is set by Weir (acks=all, idempotent, bounded wait and queue) and cannot be changed"),
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(text: &str) -> Result<IntakeConfig, ConfigError> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("intake.toml");
        std::fs::write(&path, text).unwrap();
        let env = |name: &str| (name == "TOKEN").then(|| "s3cret".to_string());
        IntakeConfig::load(&path, &env)
    }

    #[test]
    fn defaults_and_token_from_the_environment() {
        let config = load("brokers = \"b:9092\"\ntopics = [\"posts\"]\ntoken = \"${TOKEN}\"\n").unwrap();
        assert_eq!(config.token.as_deref(), Some("s3cret"));
        assert_eq!((config.max_records, config.max_body_kib), (10_000, 8192));
        let open = load("brokers = \"b\"\ntopics = [\"t\"]\ntoken = \"${NOPE:-}\"\n").unwrap();
        assert_eq!(open.token, None);
    }

    #[test]
    fn refusals_name_the_key() {
        for (text, key) in [
            ("brokers = \"b\"\ntopics = []\n", "`topics`"),
            ("brokers = \"b\"\ntopics = [\"t\"]\nmax_records = 0\n", "`max_records`"),
            (
                "brokers = \"b\"\ntopics = [\"t\"]\nmax_records = 500\nmax_in_flight_records = 100\n",
                "`max_in_flight_records`",
            ),
            (
                "brokers = \"b\"\ntopics = [\"t\"]\n[properties]\nacks = \"1\"\n",
                "`properties`",
            ),
            ("brokers = \"b\"\ntopics = [\"t\"]\ntopik = 1\n", "topik"),
        ] {
            let error = load(text).unwrap_err().to_string();
            assert!(error.contains(key), "{text}: {error}");
        }
    }
}
