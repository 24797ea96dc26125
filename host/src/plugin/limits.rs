//! Per-stage sandbox limits: the deadline of each call and the memory cap of each instance.

use std::time::Duration;

use serde::{Deserialize, Serialize};

/// How often the engine's epoch advances. Deadlines are counted in these ticks, so a call is
/// stopped between `deadline` and `deadline + EPOCH_TICK` after it starts.
pub const EPOCH_TICK: Duration = Duration::from_millis(5);

/// Limits of one plugin stage, set per stage in pipeline.toml (`[stages.limits]`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Limits {
    /// Longest time one call (one batch) may run before the instance is stopped, in ms.
    pub deadline_ms: u64,
    /// Most linear memory one instance may grow to, in MiB.
    pub memory_mib: u64,
    /// Most captured stdout/stderr bytes kept per line; longer lines are cut.
    pub max_log_line: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            deadline_ms: 1_000,
            memory_mib: 128,
            max_log_line: 4_096,
        }
    }
}

impl Limits {
    /// The deadline as a number of epoch ticks, rounded up, plus one so the plugin always gets at
    /// least the full deadline however far into the current tick the call starts.
    pub fn deadline_ticks(&self) -> u64 {
        let tick = EPOCH_TICK.as_millis() as u64;
        self.deadline_ms.div_ceil(tick).max(1) + 1
    }

    /// The memory cap in bytes.
    pub fn memory_bytes(&self) -> usize {
        usize::try_from(self.memory_mib.saturating_mul(1 << 20)).unwrap_or(usize::MAX)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deadline_rounds_up_to_whole_ticks_plus_one() {
        let limits = Limits {
            deadline_ms: 12,
            ..Limits::default()
        };
        assert_eq!(limits.deadline_ticks(), 4);
        let zero = Limits {
            deadline_ms: 0,
            ..Limits::default()
        };
        assert_eq!(zero.deadline_ticks(), 2);
    }

    #[test]
    fn memory_in_bytes() {
        assert_eq!(
            Limits {
                memory_mib: 2,
                ..Limits::default()
            }
            .memory_bytes(),
            2 << 20
        );
    }
}
