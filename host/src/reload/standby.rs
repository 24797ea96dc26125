//! Pipelines that failed while running: each waits out its backoff (or another host's gold
//! writer lease) and starts again from its tables, or stops for good if restarting cannot help.

use std::path::PathBuf;
use std::time::Instant;

use super::restart::{Failed, is_permanent, is_standby};
use super::supervisor::Supervisor;
use crate::config::Pipeline;
use crate::health::Fault;

impl Supervisor {
    /// Pipelines that ended on their own (they only do on an error): each is scheduled for a
    /// restart from its tables, or stopped if its failure is permanent.
    pub(super) async fn take_failures(&mut self) {
        let ended: Vec<PathBuf> = self
            .running
            .iter()
            .filter(|(_, r)| r.task.is_finished())
            .map(|(folder, _)| folder.clone())
            .collect();
        for folder in ended {
            let Some(running) = self.running.remove(&folder) else {
                continue;
            };
            let name = running.pipeline.name.clone();
            let (reason, permanent) = match running.task.await {
                Ok(Ok(stats)) => {
                    tracing::warn!(pipeline = %name, ?stats, "pipeline ended on its own");
                    continue;
                }
                Ok(Err(e)) => (e.to_string(), is_permanent(&e)),
                Err(e) => (format!("its task ended abnormally: {e}"), false),
            };
            if permanent {
                tracing::error!(pipeline = %name, error = %reason, "pipeline stopped: restarting cannot help; it starts again when its folder changes");
                crate::health::health().set_fault(&name, Fault::Stopped, format!("stopped: {reason}"));
                continue;
            }
            let failed = Failed::after(running.pipeline, running.attempts, running.since, reason);
            tracing::warn!(pipeline = %name, status = %failed.status(), "pipeline failed");
            crate::health::health().set_fault(&name, Fault::Restarting, failed.status());
            self.failed.insert(folder, failed);
        }
    }

    /// Waits for another host's gold writer lease, trying it again every second (`already`: it
    /// was standing by before this try).
    pub(super) fn stand_by(&mut self, pipeline: Pipeline, reason: String, already: bool) {
        if !already {
            tracing::info!(pipeline = %pipeline.name, "{reason}");
        }
        crate::health::health().set_fault(&pipeline.name, Fault::StandingBy, reason.clone());
        self.failed
            .insert(pipeline.dir.clone(), Failed::standby(pipeline, reason));
    }

    /// Starts again each failed pipeline whose backoff is over.
    pub(super) async fn restart_due(&mut self) {
        let due: Vec<PathBuf> = self
            .failed
            .iter()
            .filter(|(_, f)| f.retry_at <= Instant::now())
            .map(|(folder, _)| folder.clone())
            .collect();
        for folder in due {
            let Some(mut failed) = self.failed.remove(&folder) else {
                continue;
            };
            let name = failed.pipeline.name.clone();
            let started = match self.start_stages(&failed.pipeline).await {
                Ok(stages) => {
                    self.launch_after(failed.pipeline.clone(), stages, failed.attempts)
                        .await
                }
                Err(e) => Err(e),
            };
            match started {
                Ok(()) => {
                    tracing::info!(pipeline = %name, attempt = failed.attempts, "pipeline restarted from its tables")
                }
                Err(e) if is_standby(&e) => self.stand_by(failed.pipeline, e.to_string(), failed.standby),
                Err(e) if is_permanent(&e) => {
                    tracing::error!(pipeline = %name, error = %e, "pipeline stopped: restarting cannot help; it starts again when its folder changes");
                    crate::health::health().set_fault(&name, Fault::Stopped, format!("stopped: {e}"));
                }
                Err(e) => {
                    failed.again(e.to_string());
                    tracing::warn!(pipeline = %name, status = %failed.status(), "pipeline restart failed");
                    crate::health::health().set_fault(&name, Fault::Restarting, failed.status());
                    self.failed.insert(folder, failed);
                }
            }
        }
    }
}
