//! Whether each running pipeline is consuming: what `/readyz` answers. The Kafka client's
//! statistics (every second) say whether a broker connection is up and whether the consumer
//! group is joined with partitions assigned; a pipeline whose statistics stopped coming is not
//! ready either. A pipeline is registered while its consumer exists.

use std::collections::BTreeMap;
use std::sync::{Mutex, OnceLock, PoisonError};
use std::time::{Duration, Instant};

/// How long statistics may be missing before a pipeline counts as stuck.
const STALE: Duration = Duration::from_secs(10);

/// One pipeline's consumer, as its last statistics saw it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ConsumerState {
    /// A connection to some broker is up.
    pub broker_up: bool,
    /// The consumer group is joined and stable.
    pub group_joined: bool,
    /// Partitions assigned to this host.
    pub assigned: i32,
}

/// Why a registered pipeline does not consume, as the supervisor or the runner says it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// Failed for good: restarting cannot help (it starts again when its folder changes).
    Stopped,
    /// Failed; restarting from its tables after a backoff.
    Restarting,
    /// Another host writes its gold tables: this one waits to take over.
    StandingBy,
    /// Running, but the consumer group gave it no partition.
    Unassigned,
}

/// A pipeline's state, as the status page shows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    Consuming,
    /// Started, not consuming yet (no statistics, no broker, not in its group yet).
    Starting,
    Faulted(Fault),
}

impl State {
    pub fn name(self) -> &'static str {
        match self {
            State::Consuming => "consuming",
            State::Starting => "starting",
            State::Faulted(Fault::Stopped) => "failed",
            State::Faulted(Fault::Restarting) => "restarting",
            State::Faulted(Fault::StandingBy) => "standing by",
            State::Faulted(Fault::Unassigned) => "no partitions",
        }
    }
}

#[derive(Debug, Default)]
struct Entry {
    state: ConsumerState,
    at: Option<Instant>,
    /// Set by the supervisor while the pipeline waits for a restart or is stopped.
    fault: Option<(Fault, String)>,
}

/// The running pipelines' consumers.
#[derive(Debug, Default)]
pub struct Health {
    pipelines: Mutex<BTreeMap<String, Entry>>,
    /// The produce API is served: a host with no pipeline is then ready to take records.
    intake: std::sync::atomic::AtomicBool,
}

/// The process-wide health registry.
pub fn health() -> &'static Health {
    static HEALTH: OnceLock<Health> = OnceLock::new();
    HEALTH.get_or_init(Health::default)
}

impl Health {
    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, Entry>> {
        self.pipelines.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Starts tracking `pipeline` (not ready until its first statistics).
    pub fn register(&self, pipeline: &str) {
        self.lock().insert(pipeline.to_string(), Entry::default());
    }

    /// Stops tracking `pipeline`.
    pub fn remove(&self, pipeline: &str) {
        self.lock().remove(pipeline);
    }

    /// The pipeline does not consume, for `reason` (a restart pending, stopped for good...).
    pub fn set_fault(&self, pipeline: &str, fault: Fault, reason: String) {
        self.lock().entry(pipeline.to_string()).or_default().fault = Some((fault, reason));
    }

    /// The reason set by [`Health::set_fault`] no longer holds.
    pub fn clear_fault(&self, pipeline: &str) {
        if let Some(entry) = self.lock().get_mut(pipeline) {
            entry.fault = None;
        }
    }

    /// Records `pipeline`'s consumer state now.
    pub fn update(&self, pipeline: &str, state: ConsumerState) {
        if let Some(entry) = self.lock().get_mut(pipeline) {
            entry.state = state;
            entry.at = Some(Instant::now());
        }
    }

    /// Notes that this host serves the produce API.
    pub fn serve_intake(&self) {
        self.intake.store(true, std::sync::atomic::Ordering::Relaxed);
    }

    /// Whether every pipeline consumes (there is at least one, unless the host serves the
    /// produce API only), and one line per pipeline.
    pub fn ready(&self) -> (bool, String) {
        let pipelines = self.pipelines();
        if pipelines.is_empty() && self.intake.load(std::sync::atomic::Ordering::Relaxed) {
            return (true, "no pipeline running; the produce API takes records\n".into());
        }
        let mut report = String::new();
        for (name, ready, why) in &pipelines {
            match ready {
                true => report.push_str(&format!("{name}: {why}\n")),
                false => report.push_str(&format!("{name}: not ready: {why}\n")),
            }
        }
        if pipelines.is_empty() {
            report.push_str("no pipeline running\n");
        }
        (!pipelines.is_empty() && pipelines.iter().all(|p| p.1), report)
    }

    /// Each pipeline (by name): whether it consumes, and why not (or `consuming`).
    pub fn pipelines(&self) -> Vec<(String, bool, String)> {
        (self.states().into_iter())
            .map(|(name, state, why)| (name, state == State::Consuming, why))
            .collect()
    }

    /// Each pipeline (by name): its state and what `/readyz` says of it.
    pub fn states(&self) -> Vec<(String, State, String)> {
        let pipelines = self.lock();
        pipelines
            .iter()
            .map(|(name, entry)| {
                let (ready, why) = entry.readiness();
                let state = match (&entry.fault, ready) {
                    (Some((fault, _)), _) => State::Faulted(*fault),
                    (None, true) => State::Consuming,
                    (None, false) => State::Starting,
                };
                (name.clone(), state, why)
            })
            .collect()
    }
}

impl Entry {
    fn readiness(&self) -> (bool, String) {
        let fresh = self.at.is_some_and(|at| at.elapsed() < STALE);
        let state = self.state;
        let ready = self.fault.is_none() && fresh && state.broker_up && state.group_joined && state.assigned > 0;
        let why = if let Some((_, reason)) = &self.fault {
            reason.clone()
        } else if ready {
            "consuming".to_string()
        } else if !fresh {
            "no recent consumer statistics".to_string()
        } else if !state.broker_up {
            "no broker connection".to_string()
        } else {
            format!(
                "not in its consumer group yet (partitions assigned: {})",
                state.assigned
            )
        };
        (ready, why)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_host_serving_only_the_produce_api_is_ready() {
        let health = Health::default();
        assert!(!health.ready().0);
        health.serve_intake();
        assert!(health.ready().0);
        health.register("a");
        assert!(!health.ready().0, "with a pipeline, its readiness counts");
    }

    #[test]
    fn ready_only_when_every_pipeline_consumes() {
        let health = Health::default();
        assert!(!health.ready().0, "nothing running is not ready");
        health.register("a");
        health.register("b");
        let up = ConsumerState {
            broker_up: true,
            group_joined: true,
            assigned: 2,
        };
        health.update("a", up);
        let (ready, report) = health.ready();
        assert!(!ready);
        assert!(
            report.contains("b: not ready: no recent consumer statistics"),
            "{report}"
        );
        health.update("b", up);
        assert!(health.ready().0);
        health.update("b", ConsumerState { broker_up: false, ..up });
        let (ready, report) = health.ready();
        assert!(
            !ready && report.contains("b: not ready: no broker connection"),
            "{report}"
        );
        health.remove("b");
        assert!(health.ready().0);
        health.set_fault(
            "a",
            Fault::Restarting,
            "restarting from its tables in 2 s (attempt 1) after: S3 down".into(),
        );
        let (ready, report) = health.ready();
        assert!(!ready && report.contains("a: not ready: restarting"), "{report}");
        assert_eq!(health.states()[0].1.name(), "restarting");
        health.register("a");
        health.update("a", up);
        assert!(health.ready().0, "a new start clears the fault");
        assert_eq!(health.states()[0].1, State::Consuming);
        health.register("c");
        assert_eq!(health.states()[1].1.name(), "starting", "no statistics yet");
        health.set_fault("c", Fault::Stopped, "stopped: bad config".into());
        assert_eq!(
            health.states()[1],
            ("c".into(), State::Faulted(Fault::Stopped), "stopped: bad config".into())
        );
        assert_eq!(health.states()[1].1.name(), "failed");
    }
}
