//! Per-stage sandbox limits: the deadline of each call, the memory cap of each instance, and what
//! one batch's answers may hold in the host.

use std::time::Duration;

use serde::{Deserialize, Serialize};

/// How often the engine's epoch advances, and so how often a running call's guard is checked: a
/// call is stopped between `deadline` and `deadline + EPOCH_TICK` after it starts.
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
    /// Most one batch's answers may hold in the host, in MiB: output records, rejection reasons
    /// and (aggregates) states. Past it the batch's remaining records fail with a reason.
    pub output_mib: u64,
    /// Aggregates only: the largest state one group may have, in KiB. A record whose
    /// `accumulate` gives a larger state is refused.
    pub max_state_kib: u64,
}

/// The longest rejection reason kept, in bytes; a longer one is cut (and ends in `…`).
pub const MAX_REASON_BYTES: usize = 4_096;

impl Default for Limits {
    fn default() -> Self {
        Limits {
            deadline_ms: 1_000,
            memory_mib: 128,
            max_log_line: 4_096,
            output_mib: 256,
            max_state_kib: 1_024,
        }
    }
}

impl Limits {
    /// The deadline of one call.
    pub fn deadline(&self) -> Duration {
        Duration::from_millis(self.deadline_ms)
    }

    /// What one batch's answers may hold in the host, in bytes.
    pub fn output_bytes(&self) -> usize {
        usize::try_from(self.output_mib.saturating_mul(1 << 20)).unwrap_or(usize::MAX)
    }

    /// The largest state of one aggregate group, in bytes.
    pub fn max_state_bytes(&self) -> usize {
        usize::try_from(self.max_state_kib.saturating_mul(1 << 10)).unwrap_or(usize::MAX)
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
    fn memory_in_bytes() {
        assert_eq!(
            Limits {
                memory_mib: 2,
                ..Limits::default()
            }
            .memory_bytes(),
            2 << 20
        );
        let limits = Limits::default();
        assert_eq!(limits.output_bytes(), 256 << 20);
        assert_eq!(limits.max_state_bytes(), 1 << 20);
        assert_eq!(limits.deadline(), Duration::from_secs(1));
    }
}
