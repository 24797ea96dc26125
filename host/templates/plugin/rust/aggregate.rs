//! {{name}}: a Weir aggregate plugin.
//!
//! Sums `amount` per value of the config's `group_by` field, per window; the gold row is
//! `{"total": ..., "count": ...}`. Config: `{"group_by": "user"}`. The host keeps each group's
//! state (the bytes `accumulate` returns), checkpoints it, and calls `finish` when the window
//! closes.
//!
//! Build: scripts/build-plugin.sh {{name}}

use serde::{Deserialize, Serialize};
use weir_sdk::{Aggregate, Config, Json, Record};

#[derive(Deserialize)]
struct Settings {
    #[serde(default = "default_group_by")]
    group_by: String,
}

fn default_group_by() -> String {
    "user".into()
}

#[derive(Default, Serialize, Deserialize)]
struct Totals {
    total: f64,
    count: u64,
}

fn load(state: Option<&[u8]>) -> Result<Totals, String> {
    state.map_or(Ok(Totals::default()), |s| {
        serde_json::from_slice(s).map_err(|e| e.to_string())
    })
}

fn dump(totals: &Totals) -> Result<Vec<u8>, String> {
    serde_json::to_vec(totals).map_err(|e| e.to_string())
}

pub struct Plugin {
    settings: Settings,
}

impl Aggregate for Plugin {
    fn init(config: Config) -> Result<Self, String> {
        Ok(Plugin {
            settings: config.into_settings()?,
        })
    }

    fn key(&self, record: &Record<'_>) -> Result<String, String> {
        match record.json()?.get(&self.settings.group_by) {
            Some(Json::String(group)) => Ok(group.clone()),
            _ => Err(format!("no `{}`", self.settings.group_by)),
        }
    }

    fn accumulate(&self, state: Option<&[u8]>, records: &[Record<'_>]) -> Result<Vec<u8>, String> {
        let mut totals = load(state)?;
        for record in records {
            totals.total += record.json()?.get("amount").and_then(Json::as_f64).unwrap_or(0.0);
            totals.count += 1;
        }
        dump(&totals)
    }

    fn merge(&self, left: &[u8], right: &[u8]) -> Result<Vec<u8>, String> {
        let (a, b) = (load(Some(left))?, load(Some(right))?);
        dump(&Totals {
            total: a.total + b.total,
            count: a.count + b.count,
        })
    }

    fn finish(&self, state: &[u8]) -> Result<Json, String> {
        serde_json::to_value(load(Some(state))?).map_err(|e| e.to_string())
    }
}

weir_sdk::export_aggregate!(Plugin);
