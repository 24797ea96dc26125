//! What happens to a pipeline that failed while running: a transient failure (object store,
//! catalog, broker, checkpoint write) restarts it from its tables after an exponential backoff
//! with jitter; a permanent one (a plugin that no longer loads, a schema the data cannot fit, an
//! offset that would go backwards) stops that pipeline only. Either way `/readyz` says why, and
//! no other pipeline is touched.
//!
//! A failed commit is never retried in place: it may have landed before the error reached us,
//! and only the tables know. Restarting from the tables is always right, and costs a re-read of
//! the uncommitted records.

use std::time::{Duration, Instant};

use crate::config::Pipeline;
use crate::gold::GoldError;
use crate::pipeline::{LeaseError, RunError};
use crate::tables::TableError;

/// The first wait before a restart; it doubles with each failure in a row.
const FIRST: Duration = Duration::from_secs(1);
/// The longest wait between two restarts.
pub const LONGEST: Duration = Duration::from_secs(30);
/// A pipeline that ran this long before failing starts its backoff again from `FIRST`.
const HEALTHY_RUN: Duration = Duration::from_secs(120);

/// True when restarting cannot help: the same input or configuration would fail the same way.
pub fn is_permanent(error: &RunError) -> bool {
    match error {
        RunError::Plugin { .. } | RunError::Unsupported { .. } | RunError::Rows { .. } => true,
        RunError::Table { source, .. } => sink_permanent(source),
        RunError::Gold { source, .. } => match source {
            GoldError::Plugin { .. } | GoldError::State { .. } | GoldError::Rows { .. } => true,
            GoldError::Table { source, .. } => sink_permanent(source),
            GoldError::Checkpoint { .. } => false,
        },
        RunError::Source { .. } | RunError::Lease { .. } | RunError::Interrupted { .. } => false,
    }
}

/// True when another host holds the pipeline's gold writer lease: this one stands by.
pub fn is_standby(error: &RunError) -> bool {
    matches!(
        error,
        RunError::Lease {
            source: LeaseError::Held { .. },
            ..
        }
    )
}

/// How often a standby tries the lease.
const STANDBY_RETRY: Duration = Duration::from_secs(1);

fn sink_permanent(error: &TableError) -> bool {
    matches!(error, TableError::Schema { .. } | TableError::OffsetBackwards { .. })
}

/// How long to wait before restart number `attempt` (1 for the first): `FIRST` doubled each
/// time up to `LONGEST`, less up to a fifth at random so hosts that failed together (an outage)
/// do not all come back at once. Ten lines of arithmetic: no crate needed.
pub fn backoff(attempt: u32) -> Duration {
    let exponent = attempt.saturating_sub(1).min(16);
    let full = FIRST.saturating_mul(1 << exponent).min(LONGEST);
    let jitter = random_fraction() * 0.2;
    full.mul_f64(1.0 - jitter)
}

/// A number in [0, 1) from the standard library's randomly keyed hasher.
pub(crate) fn random_fraction() -> f64 {
    use std::hash::{BuildHasher, Hasher};
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write_u128(Instant::now().elapsed().as_nanos());
    (hasher.finish() >> 11) as f64 / (1u64 << 53) as f64
}

/// A pipeline waiting to be started again.
#[derive(Debug)]
pub struct Failed {
    pub pipeline: Pipeline,
    /// Failures in a row.
    pub attempts: u32,
    pub retry_at: Instant,
    pub reason: String,
    /// Waiting for another host's gold writer lease, not recovering from a failure.
    pub standby: bool,
}

impl Failed {
    /// A pipeline that failed after running since `since`, its `attempts`-th failure in a row
    /// before that run.
    pub fn after(pipeline: Pipeline, attempts: u32, since: Instant, reason: String) -> Failed {
        let attempts = if since.elapsed() >= HEALTHY_RUN {
            1
        } else {
            attempts + 1
        };
        Failed {
            pipeline,
            attempts,
            retry_at: Instant::now() + backoff(attempts),
            reason,
            standby: false,
        }
    }

    /// A pipeline standing by while another host holds its gold writer lease.
    pub fn standby(pipeline: Pipeline, reason: String) -> Failed {
        Failed {
            pipeline,
            attempts: 0,
            retry_at: Instant::now() + STANDBY_RETRY,
            reason,
            standby: true,
        }
    }

    /// What `/readyz` says meanwhile.
    pub fn status(&self) -> String {
        if self.standby {
            return self.reason.clone();
        }
        let wait = self.retry_at.saturating_duration_since(Instant::now());
        format!(
            "restarting from its tables in {:.0} s (attempt {}) after: {}",
            wait.as_secs_f64().ceil(),
            self.attempts,
            self.reason
        )
    }

    /// Tried and failed again: wait longer.
    pub fn again(&mut self, reason: String) {
        self.standby = false;
        self.attempts += 1;
        self.retry_at = Instant::now() + backoff(self.attempts);
        self.reason = reason;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_the_cap_with_at_most_a_fifth_off() {
        for (attempt, full) in [(1, 1), (2, 2), (3, 4), (4, 8), (5, 16), (6, 30), (40, 30)] {
            let wait = backoff(attempt);
            let full = Duration::from_secs(full);
            assert!(wait <= full && wait >= full.mul_f64(0.8), "attempt {attempt}: {wait:?}");
        }
    }

    #[test]
    fn outages_are_transient_bad_data_and_plugins_are_not() {
        let sink = |source| RunError::Table {
            pipeline: "p".into(),
            source,
        };
        let outage = TableError::Delta {
            table: "bronze".into(),
            source: Box::new(deltalake::DeltaTableError::Generic("connection refused".into())),
        };
        assert!(!is_permanent(&sink(outage)));
        let backwards = TableError::OffsetBackwards {
            table: "bronze".into(),
            id: "weir/p/posts/0".into(),
            held: 10,
            next: 8,
        };
        assert!(is_permanent(&sink(backwards)));
        let checkpoint = RunError::Gold {
            pipeline: "p".into(),
            source: GoldError::Checkpoint {
                gold: "g".into(),
                path: "s3://lake/_weir/1".into(),
                source: "503".into(),
            },
        };
        assert!(!is_permanent(&checkpoint));
        let plugin = RunError::Unsupported {
            pipeline: "p".into(),
            message: "no".into(),
        };
        assert!(is_permanent(&plugin));
    }
}
