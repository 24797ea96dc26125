//! Reload test plugin: counts records per group in an 8-byte state. Replacing avg-score (a
//! 16-byte state) with it must be refused while avg-score's windows are open.
//!
//! Config: `{ "group_by": "user" }`.

use serde::Deserialize;
use weir_sdk::{Aggregate, Config, Json, Record, json};

#[derive(Debug, Deserialize)]
struct Settings {
    group_by: String,
}

/// The count aggregate.
#[derive(Debug)]
pub struct Count {
    settings: Settings,
}

fn decode(state: &[u8]) -> Result<u64, String> {
    let bytes: [u8; 8] = state
        .try_into()
        .map_err(|_| format!("state must be 8 bytes, got {}", state.len()))?;
    Ok(u64::from_le_bytes(bytes))
}

impl Aggregate for Count {
    fn init(config: Config) -> Result<Self, String> {
        Ok(Count {
            settings: config.into_settings()?,
        })
    }

    fn key(&self, record: &Record<'_>) -> Result<String, String> {
        match record.json()?.get(&self.settings.group_by) {
            Some(Json::String(s)) => Ok(s.clone()),
            _ => Err(format!("no `{}`", self.settings.group_by)),
        }
    }

    fn accumulate(&self, state: Option<&[u8]>, records: &[Record<'_>]) -> Result<Vec<u8>, String> {
        let count = state.map(decode).transpose()?.unwrap_or(0) + records.len() as u64;
        Ok(count.to_le_bytes().to_vec())
    }

    fn merge(&self, left: &[u8], right: &[u8]) -> Result<Vec<u8>, String> {
        Ok((decode(left)? + decode(right)?).to_le_bytes().to_vec())
    }

    fn finish(&self, state: &[u8]) -> Result<Json, String> {
        Ok(json!({ "n": decode(state)? }))
    }
}

weir_sdk::export_aggregate!(Count);
