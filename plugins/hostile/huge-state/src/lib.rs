//! Hostile test plugin: an aggregate that keys records by their `key` field (else "k") and whose
//! every state is `state_mb` MB (config `{"state_mb": 100}`), however little it counts. The host
//! must refuse such states (`max_state_kib`) without holding them.

use serde::Deserialize;
use weir_sdk::{Aggregate, Config, Json, Record, json};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Settings {
    state_mb: usize,
}

pub struct HugeState {
    settings: Settings,
}

impl HugeState {
    fn state(&self) -> Vec<u8> {
        vec![7; self.settings.state_mb * 1_000_000]
    }
}

impl Aggregate for HugeState {
    fn init(config: Config) -> Result<Self, String> {
        Ok(HugeState {
            settings: config.into_settings()?,
        })
    }

    fn key(&self, record: &Record<'_>) -> Result<String, String> {
        let value = record.json()?;
        Ok(value.get("key").and_then(Json::as_str).unwrap_or("k").to_string())
    }

    fn accumulate(&self, _state: Option<&[u8]>, _records: &[Record<'_>]) -> Result<Vec<u8>, String> {
        Ok(self.state())
    }

    fn merge(&self, _left: &[u8], _right: &[u8]) -> Result<Vec<u8>, String> {
        Ok(self.state())
    }

    fn finish(&self, state: &[u8]) -> Result<Json, String> {
        Ok(json!({ "bytes": state.len() }))
    }
}

weir_sdk::export_aggregate!(HugeState);
