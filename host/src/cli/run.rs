//! `weir run <pipelines/>`: runs every pipeline found until SIGTERM or Ctrl-C, then lets each
//! finish its current batch, commit, and leave its consumer group.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use anyhow::Context as _;
use tokio::task::JoinSet;

use crate::config;
use crate::pipeline::{PipelineRunner, RunError, RunStats};
use crate::plugin::PluginEngine;

type Outcome = (String, Result<RunStats, RunError>);

/// Loads every pipeline under `root` (all must be valid) and runs them until `shutdown` resolves
/// or one of them fails (which stops the others too).
pub async fn run(root: &Path, shutdown: impl std::future::Future<Output = ()>) -> anyhow::Result<()> {
    let mut pipelines = Vec::new();
    for file in config::discover(root)? {
        pipelines.push(config::load(&file, &config::from_env)?);
    }
    let engine = PluginEngine::new(PluginEngine::default_cache_dir())?;
    let stop = Arc::new(AtomicBool::new(false));
    let mut running: JoinSet<Outcome> = JoinSet::new();
    for pipeline in pipelines {
        let name = pipeline.name.clone();
        let runner = PipelineRunner::start(pipeline, &engine)
            .await
            .with_context(|| format!("starting {name}"))?;
        let stop = stop.clone();
        running.spawn(async move { (name, runner.run_until(move |_| stop.load(Ordering::Relaxed)).await) });
    }
    tracing::info!(
        pipelines = running.len(),
        "running; SIGTERM or Ctrl-C stops after a final commit"
    );
    let mut outcomes = Vec::new();
    tokio::select! {
        () = shutdown => tracing::info!("stopping: finishing the current batches and committing"),
        Some(first) = running.join_next() => outcomes.push(first),
    }
    stop.store(true, Ordering::Relaxed);
    while let Some(outcome) = running.join_next().await {
        outcomes.push(outcome);
    }
    let mut failure = None;
    for outcome in outcomes {
        match outcome {
            Ok((name, Ok(stats))) => tracing::info!(pipeline = %name, ?stats, "pipeline finished"),
            Ok((_, Err(e))) => failure = failure.or(Some(anyhow::Error::from(e))),
            Err(e) => failure = failure.or(Some(anyhow::anyhow!("a pipeline task failed: {e}"))),
        }
    }
    failure.map_or(Ok(()), Err)
}

/// Resolves on SIGTERM or Ctrl-C.
pub async fn shutdown_signal() {
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {},
        () = term => {},
    }
}
