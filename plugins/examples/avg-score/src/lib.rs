//! Average of a numeric field per group: seed 000's `avg_scores` (average score per subreddit).
//!
//! Config: `{ "group_by": "subreddit", "field": "score", "output": "avg_score",
//! "count_output": "post_count" }` (all but `group_by` and `field` have these defaults).
//! State: 16 bytes, the count (u64) and the sum (f64), little-endian.

use serde::Deserialize;
use weir_sdk::{Aggregate, Config, Json, Record, json};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Settings {
    group_by: String,
    field: String,
    #[serde(default = "default_output")]
    output: String,
    #[serde(default = "default_count_output")]
    count_output: String,
}

fn default_output() -> String {
    "avg_score".into()
}

fn default_count_output() -> String {
    "post_count".into()
}

/// The running count and sum of one group.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
struct Sums {
    count: u64,
    sum: f64,
}

impl Sums {
    fn decode(bytes: &[u8]) -> Result<Sums, String> {
        let bytes: &[u8; 16] = bytes
            .try_into()
            .map_err(|_| format!("state must be 16 bytes, got {}", bytes.len()))?;
        let (count, sum) = bytes.split_at(8);
        let count = u64::from_le_bytes(count.try_into().map_err(|_| "bad count".to_string())?);
        let sum = f64::from_le_bytes(sum.try_into().map_err(|_| "bad sum".to_string())?);
        Ok(Sums { count, sum })
    }

    fn encode(self) -> Vec<u8> {
        let mut out = Vec::with_capacity(16);
        out.extend_from_slice(&self.count.to_le_bytes());
        out.extend_from_slice(&self.sum.to_le_bytes());
        out
    }
}

/// The avg-score aggregate.
#[derive(Debug)]
pub struct AvgScore {
    settings: Settings,
}

impl AvgScore {
    fn value_of(&self, record: &Record<'_>) -> Result<f64, String> {
        let value = record.json()?;
        value
            .get(&self.settings.field)
            .and_then(Json::as_f64)
            .ok_or_else(|| format!("field `{}` is missing or not a number", self.settings.field))
    }
}

impl Aggregate for AvgScore {
    fn init(config: Config) -> Result<Self, String> {
        Ok(AvgScore {
            settings: config.into_settings()?,
        })
    }

    fn key(&self, record: &Record<'_>) -> Result<String, String> {
        let value = record.json()?;
        match value.get(&self.settings.group_by) {
            Some(Json::String(s)) => Ok(s.clone()),
            Some(Json::Null) | None => Err(format!("group field `{}` is missing", self.settings.group_by)),
            Some(other) => Ok(other.to_string()),
        }
    }

    fn accumulate(&self, state: Option<&[u8]>, records: &[Record<'_>]) -> Result<Vec<u8>, String> {
        let mut sums = state.map(Sums::decode).transpose()?.unwrap_or_default();
        for record in records {
            sums.sum += self.value_of(record)?;
            sums.count += 1;
        }
        Ok(sums.encode())
    }

    fn merge(&self, left: &[u8], right: &[u8]) -> Result<Vec<u8>, String> {
        let (l, r) = (Sums::decode(left)?, Sums::decode(right)?);
        Ok(Sums {
            count: l.count + r.count,
            sum: l.sum + r.sum,
        }
        .encode())
    }

    fn finish(&self, state: &[u8]) -> Result<Json, String> {
        let sums = Sums::decode(state)?;
        let avg = if sums.count == 0 {
            0.0
        } else {
            sums.sum / sums.count as f64
        };
        let mut row = serde_json::Map::new();
        row.insert(self.settings.output.clone(), json!(avg));
        row.insert(self.settings.count_output.clone(), json!(sums.count));
        Ok(Json::Object(row))
    }
}

weir_sdk::export_aggregate!(AvgScore);

#[cfg(test)]
mod tests {
    use super::*;

    fn stage() -> AvgScore {
        AvgScore::init(Config::parse(r#"{"group_by":"subreddit","field":"score"}"#).unwrap()).unwrap()
    }

    #[test]
    fn averages_per_group_across_accumulate_and_merge() {
        let s = stage();
        let a = s
            .accumulate(None, &[Record::new(r#"{"score":1}"#), Record::new(r#"{"score":2}"#)])
            .unwrap();
        let a = s.accumulate(Some(&a), &[Record::new(r#"{"score":6}"#)]).unwrap();
        let b = s.accumulate(None, &[Record::new(r#"{"score":11}"#)]).unwrap();
        let merged = s.merge(&a, &b).unwrap();
        assert_eq!(s.finish(&merged).unwrap(), json!({"avg_score": 5.0, "post_count": 4}));
    }

    #[test]
    fn key_and_value_errors_are_reported() {
        let s = stage();
        assert_eq!(s.key(&Record::new(r#"{"subreddit":"rust"}"#)).unwrap(), "rust");
        assert!(
            s.key(&Record::new(r#"{"score":1}"#))
                .unwrap_err()
                .contains("`subreddit` is missing")
        );
        assert!(
            s.accumulate(None, &[Record::new(r#"{"score":"x"}"#)])
                .unwrap_err()
                .contains("`score`")
        );
        assert!(s.finish(&[1, 2, 3]).unwrap_err().contains("16 bytes"));
    }
}
