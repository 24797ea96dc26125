//! `[upkeep]`: table upkeep of a pipeline's tables, by `weir maintain` and, with `every`, on a
//! schedule inside `weir run`. Each key overrides one default of [`Upkeep`].

use serde::Deserialize;

use super::checks::Invalid;
use super::duration::parse_micros;
use super::error::ConfigError;
use crate::tables::upkeep::{Actions, Upkeep};

/// The section as written.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UpkeepConfig {
    /// How often `weir run` runs upkeep (`1h`); none: only `weir maintain` does.
    pub every: Option<String>,
    /// Which actions run: `compact`, `expire`, `orphans`. Default: all three.
    pub actions: Option<Vec<UpkeepAction>>,
    /// Data files below this many MiB are compaction input (default 32).
    pub small_file_mib: Option<u64>,
    /// Compaction writes files of about this many MiB (default 128).
    pub target_file_mib: Option<u64>,
    /// A partition is compacted once it holds this many small files (default 5).
    pub min_input_files: Option<usize>,
    /// Time travel window: older Iceberg snapshots expire, Delta files removed longer ago are
    /// vacuumed (default `7d`, at least `1m`).
    pub retention: Option<String>,
    /// Iceberg keeps at least this many snapshots (default 10).
    pub keep_snapshots: Option<usize>,
    /// Files no snapshot references are deleted once this old (default `3d`, at least `1m`):
    /// far longer than any commit takes, as a writer's files are unreferenced until it lands.
    pub orphan_age: Option<String>,
}

/// One upkeep action.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum UpkeepAction {
    Compact,
    Expire,
    Orphans,
}

/// The checked section: the schedule and what each run does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct UpkeepSchedule {
    /// Milliseconds between runs inside `weir run`; none: no runs there.
    pub every_ms: Option<u64>,
    pub policy: Upkeep,
}

/// The shortest orphan age and retention allowed: a younger unreferenced file may belong to a
/// commit in flight, and a reader may still be planning on a version that young.
pub const MIN_ORPHAN_AGE_MS: i64 = 60_000;

/// `actions` as flags.
pub fn actions_of(list: &[UpkeepAction]) -> Actions {
    Actions {
        compact: list.contains(&UpkeepAction::Compact),
        expire: list.contains(&UpkeepAction::Expire),
        orphans: list.contains(&UpkeepAction::Orphans),
    }
}

/// Milliseconds of a duration key, or the error naming it.
fn millis(key: &str, text: &str, invalid: Invalid<'_>) -> Result<i64, ConfigError> {
    parse_micros(text)
        .map(|us| us / 1_000)
        .map_err(|m| invalid(&format!("upkeep.{key}"), key, m))
}

/// Checks `[upkeep]` and fills in the defaults.
pub fn check_upkeep(config: &UpkeepConfig, invalid: Invalid<'_>) -> Result<UpkeepSchedule, ConfigError> {
    let mut policy = Upkeep::default();
    if let Some(list) = &config.actions {
        policy.actions = actions_of(list);
    }
    let mib = |key: &str, value: u64| -> Result<i64, ConfigError> {
        match value {
            1..=65_536 => Ok((value as i64) << 20),
            _ => Err(invalid(&format!("upkeep.{key}"), key, "must be 1 to 65536 MiB".into())),
        }
    };
    if let Some(v) = config.small_file_mib {
        policy.small_file_bytes = mib("small_file_mib", v)?;
    }
    if let Some(v) = config.target_file_mib {
        policy.target_file_bytes = mib("target_file_mib", v)?;
    }
    if let Some(v) = config.min_input_files {
        if v < 2 {
            return Err(invalid(
                "upkeep.min_input_files",
                "min_input_files",
                "must be at least 2".into(),
            ));
        }
        policy.min_input_files = v;
    }
    if let Some(text) = &config.retention {
        policy.retention_ms = millis("retention", text, invalid)?;
        if policy.retention_ms < MIN_ORPHAN_AGE_MS {
            let message = "must be at least 1m: a reader may still be reading a version that young".into();
            return Err(invalid("upkeep.retention", "retention", message));
        }
    }
    if let Some(v) = config.keep_snapshots {
        policy.keep_snapshots = v.max(1);
    }
    if let Some(text) = &config.orphan_age {
        policy.orphan_age_ms = millis("orphan_age", text, invalid)?;
        if policy.orphan_age_ms < MIN_ORPHAN_AGE_MS {
            let message = "must be at least 1m: a younger unreferenced file may belong to a commit in flight".into();
            return Err(invalid("upkeep.orphan_age", "orphan_age", message));
        }
    }
    let every_ms = match &config.every {
        None => None,
        Some(text) => match millis("every", text, invalid)? {
            ms if ms >= 1_000 => Some(ms as u64),
            _ => return Err(invalid("upkeep.every", "every", "must be at least 1s".into())),
        },
    };
    Ok(UpkeepSchedule { every_ms, policy })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(text: &str) -> Result<UpkeepSchedule, String> {
        let config: UpkeepConfig = toml::from_str(text).map_err(|e| e.to_string())?;
        let invalid = |key: &str, _: &str, message: String| ConfigError::Invalid {
            path: "p".into(),
            line: None,
            key: key.into(),
            message,
        };
        check_upkeep(&config, &invalid).map_err(|e| e.to_string())
    }

    #[test]
    fn an_empty_section_is_the_defaults_without_a_schedule() {
        assert_eq!(check("").unwrap(), UpkeepSchedule::default());
    }

    #[test]
    fn keys_override_their_defaults() {
        let s = check(
            "every = \"10m\"\nactions = [\"compact\"]\nsmall_file_mib = 8\ntarget_file_mib = 64\nmin_input_files = 3\nretention = \"1d\"\nkeep_snapshots = 2\norphan_age = \"2h\"",
        )
        .unwrap();
        assert_eq!(s.every_ms, Some(600_000));
        let p = s.policy;
        assert_eq!(
            (p.actions.compact, p.actions.expire, p.actions.orphans),
            (true, false, false)
        );
        assert_eq!((p.small_file_bytes, p.target_file_bytes), (8 << 20, 64 << 20));
        assert_eq!(
            (p.min_input_files, p.retention_ms, p.keep_snapshots),
            (3, 86_400_000, 2)
        );
        assert_eq!(p.orphan_age_ms, 7_200_000);
    }

    #[test]
    fn unsafe_or_unknown_values_are_refused_with_their_key() {
        let e = check("retention = \"0s\"").unwrap_err();
        assert!(e.contains("upkeep.retention") && e.contains("still be reading"), "{e}");
        let e = check("orphan_age = \"30s\"").unwrap_err();
        assert!(e.contains("upkeep.orphan_age") && e.contains("in flight"), "{e}");
        let e = check("every = \"1y\"").unwrap_err();
        assert!(e.contains("upkeep.every") && e.contains("unknown unit"), "{e}");
        let e = check("min_input_files = 1").unwrap_err();
        assert!(e.contains("upkeep.min_input_files"), "{e}");
        let e = check("actions = [\"vacuum\"]").unwrap_err();
        assert!(e.contains("unknown variant"), "{e}");
    }
}
