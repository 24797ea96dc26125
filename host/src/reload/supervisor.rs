//! Runs every pipeline of a folder and keeps them in step with its files.
//!
//! | change                         | effect                                                      |
//! |--------------------------------|-------------------------------------------------------------|
//! | a stage's `.wasm` rewritten    | new version started off the data path, swapped in between two batches; if it fails, the running version stays |
//! | `pipeline.toml` changed        | checked and its stages started first; then that pipeline alone stops (final commit) and starts again from its committed offsets |
//! | a folder with `pipeline.toml` appears | the pipeline starts                                  |
//! | a pipeline's folder (or file) goes    | the pipeline stops after a final commit              |
//!
//! A refused change is logged with its reason and counted in `weir_plugin_reloads_total` or
//! `weir_pipeline_reloads_total` with `result="failed"`; nothing that runs is touched.
//!
//! A pipeline that fails while running is restarted from its tables with backoff, or stopped if
//! the failure is permanent (see `restart`); the others keep running, and `/readyz` says why.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use thiserror::Error;
use tokio::task::{JoinHandle, JoinSet};
use tokio_util::sync::CancellationToken;

use super::changes::{FolderChange, by_folder};
use super::plugin_reload::{Reload, Slot};
use super::restart::{Failed, is_standby};
use super::watcher::{WatchError, Watcher};
use crate::config::{self, ConfigError, PIPELINE_FILE, Pipeline};
use crate::metrics::metrics;
use crate::pipeline::{PipelineRunner, RunError, RunStats, Started, SwapSender, swap_channel};
use crate::plugin::PluginEngine;

/// How the supervisor watches.
#[derive(Debug, Clone, Copy)]
pub struct SupervisorOptions {
    /// Watch the folder and apply changes (off: run what was there at start).
    pub watch: bool,
    /// How long the folder must be quiet before a change is applied (a copy in progress keeps
    /// it busy, so a half-written file is never read).
    pub quiet: Duration,
    /// Run with no pipeline in the folder (`weir run --intake` serving the produce API only);
    /// off: a folder without pipelines is an error.
    pub allow_empty: bool,
}

impl Default for SupervisorOptions {
    fn default() -> Self {
        SupervisorOptions {
            watch: true,
            quiet: Duration::from_millis(500),
            allow_empty: false,
        }
    }
}

/// Why `weir run` stopped with an error.
#[derive(Debug, Error)]
pub enum SupervisorError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error("starting {pipeline}: {source}")]
    Start { pipeline: String, source: RunError },
    #[error(transparent)]
    Run(#[from] RunError),
    #[error(transparent)]
    Watch(#[from] WatchError),
    #[error("pipeline {pipeline}: its task ended abnormally: {message}")]
    Task { pipeline: String, message: String },
}

/// One running pipeline.
pub(super) struct Running {
    pub(super) pipeline: Pipeline,
    /// Each plugin slot's hash, as last handed to the runner.
    pub(super) versions: BTreeMap<Slot, String>,
    pub(super) stop: CancellationToken,
    pub(super) swaps: SwapSender,
    pub(super) task: JoinHandle<Result<RunStats, RunError>>,
    /// Failures in a row before this run, and when it started.
    pub(super) attempts: u32,
    pub(super) since: Instant,
    /// Ends the pipeline's upkeep schedule (`crate::upkeep`) when this run is dropped.
    pub(super) _upkeep: Option<tokio_util::sync::DropGuard>,
}

/// The running pipelines of one folder.
pub struct Supervisor {
    pub(super) root: PathBuf,
    /// `root` is itself a pipeline folder.
    pub(super) single: bool,
    pub(super) engine: PluginEngine,
    pub(super) running: BTreeMap<PathBuf, Running>,
    /// Pipelines that failed while running, waiting to be started again.
    pub(super) failed: BTreeMap<PathBuf, Failed>,
    /// New plugin versions being started, away from this loop (so neither SIGTERM nor later
    /// changes wait for a slow compile or `init`).
    pub(super) reloads: JoinSet<Reload>,
    /// The newest reload asked for, per (folder, plugin file): an older one that ends later
    /// is dropped.
    pub(super) newest: BTreeMap<(PathBuf, PathBuf), u64>,
    pub(super) generation: u64,
}

/// What the supervisor's loop was woken by.
enum Event {
    Changes(std::collections::BTreeSet<PathBuf>),
    Reloaded(Result<Reload, tokio::task::JoinError>),
    Tick,
}

impl std::fmt::Debug for Supervisor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Supervisor")
            .field("root", &self.root)
            .field("running", &self.running.keys().collect::<Vec<_>>())
            .finish()
    }
}

impl Supervisor {
    /// Loads every pipeline under `root` (all must be valid and start), then runs them,
    /// applying file changes, until `shutdown` resolves or a pipeline fails (which stops the
    /// others too). Every pipeline commits what it holds before this returns.
    pub async fn run(
        root: &Path,
        engine: PluginEngine,
        options: SupervisorOptions,
        shutdown: impl std::future::Future<Output = ()>,
    ) -> Result<(), SupervisorError> {
        let root = root.canonicalize().map_err(|error| ConfigError::Read {
            path: root.to_path_buf(),
            error,
        })?;
        let files = match config::discover(&root) {
            Err(ConfigError::NoPipelines { .. }) if options.allow_empty => Vec::new(),
            found => found?,
        };
        let single = files.len() == 1 && files[0] == root.join(PIPELINE_FILE);
        let mut pipelines = Vec::new();
        for file in &files {
            let pipeline = config::load(file, &config::from_env)?;
            config::check_unique_name(&pipeline, &pipelines)?;
            pipelines.push(pipeline);
        }
        let mut supervisor = Supervisor {
            root,
            single,
            engine,
            running: BTreeMap::new(),
            failed: BTreeMap::new(),
            reloads: JoinSet::new(),
            newest: BTreeMap::new(),
            generation: 0,
        };
        // SIGTERM is answered from here on, start-up included.
        tokio::pin!(shutdown);
        for pipeline in pipelines {
            let name = pipeline.name.clone();
            let started = tokio::select! {
                () = &mut shutdown => {
                    tracing::info!("stopping during start-up");
                    return match supervisor.stop_all().await {
                        Some(e) => Err(e),
                        None => Ok(()),
                    };
                }
                started = supervisor.launch(pipeline.clone()) => started,
            };
            if let Err(e) = &started
                && is_standby(e)
            {
                supervisor.stand_by(pipeline, e.to_string(), false);
                continue;
            }
            if let Err(source) = started {
                supervisor.stop_all().await;
                return Err(SupervisorError::Start { pipeline: name, source });
            }
        }
        let mut watcher = match options.watch {
            true => Some(Watcher::start(&supervisor.root, options.quiet)?),
            false => None,
        };
        tracing::info!(
            pipelines = supervisor.running.len(),
            watching = options.watch,
            "running; SIGTERM or Ctrl-C stops after a final commit"
        );
        let mut check = tokio::time::interval(Duration::from_millis(250));
        let engine = supervisor.engine.clone();
        loop {
            let event = tokio::select! {
                () = &mut shutdown => {
                    tracing::info!("stopping: finishing the current batches and committing");
                    break;
                }
                paths = next_changes(&mut watcher) => Event::Changes(paths),
                Some(done) = supervisor.reloads.join_next(), if !supervisor.reloads.is_empty() => {
                    Event::Reloaded(done)
                }
                _ = check.tick() => Event::Tick,
            };
            // Handling may start plugins (compile, `init`): SIGTERM still ends it, at once.
            let work = supervisor.handle(event);
            tokio::pin!(work);
            tokio::select! {
                () = &mut shutdown => {
                    tracing::info!("stopping: finishing the current batches and committing");
                    engine.stop_calls();
                    work.await;
                    break;
                }
                () = &mut work => {}
            }
        }
        match supervisor.stop_all().await {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }

    async fn handle(&mut self, event: Event) {
        match event {
            Event::Changes(paths) => {
                for (folder, change) in by_folder(&self.root, self.single, paths) {
                    self.apply(folder, change).await;
                }
            }
            Event::Reloaded(Ok(reload)) => self.finish_reload(reload),
            Event::Reloaded(Err(e)) => tracing::error!("starting a new plugin version ended abnormally: {e}"),
            Event::Tick => {
                self.take_failures().await;
                self.restart_due().await;
            }
        }
    }

    /// The folders of the running pipelines.
    pub fn running(&self) -> Vec<&Path> {
        self.running.keys().map(PathBuf::as_path).collect()
    }

    /// Starts `pipeline`'s stages (on a blocking thread: compiling is slow), then the pipeline.
    async fn launch(&mut self, pipeline: Pipeline) -> Result<(), RunError> {
        let stages = self.start_stages(&pipeline).await?;
        self.launch_with(pipeline, stages).await
    }

    pub(super) async fn start_stages(&self, pipeline: &Pipeline) -> Result<Started, RunError> {
        let engine = self.engine.clone();
        let owned = pipeline.clone();
        let stopping = self.engine.interrupt();
        let started = tokio::task::spawn_blocking(move || PipelineRunner::start_stages(&owned, &engine));
        tokio::select! {
            started = started => started.unwrap_or_else(|e| {
                Err(RunError::Unsupported {
                    pipeline: pipeline.name.clone(),
                    message: format!("starting the stages panicked: {e}"),
                })
            }),
            // The host is stopping: the start goes on alone (its plugin calls end at once).
            () = stopping.cancelled() => Err(RunError::Interrupted {
                pipeline: pipeline.name.clone(),
            }),
        }
    }

    async fn launch_with(&mut self, pipeline: Pipeline, stages: Started) -> Result<(), RunError> {
        self.launch_after(pipeline, stages, 0).await
    }

    /// Starts the pipeline, its `attempts`-th start after failures in a row.
    pub(super) async fn launch_after(
        &mut self,
        pipeline: Pipeline,
        stages: Started,
        attempts: u32,
    ) -> Result<(), RunError> {
        let mut runner = PipelineRunner::start_with(pipeline.clone(), stages).await?;
        let (swaps, receiver) = swap_channel();
        runner.accept_swaps(receiver);
        let stages = runner.stage_versions().into_iter().enumerate();
        let golds = runner.gold_versions().into_iter().enumerate();
        let versions = stages
            .map(|(i, (_, sha))| (Slot::Stage(i), sha))
            .chain(golds.map(|(j, (_, sha))| (Slot::Gold(j), sha)))
            .collect();
        // Stopping also ends the plugin calls in progress: a misbehaving plugin cannot hold it up.
        let stop = self.engine.interrupt();
        runner.interrupt_on(stop.clone());
        let flag = stop.clone();
        let task = tokio::spawn(async move { runner.run_until(move |_| flag.is_cancelled()).await });
        let upkeep = stop.child_token();
        let upkeep = crate::upkeep::spawn(&pipeline, upkeep.clone()).map(|_| upkeep.drop_guard());
        self.running.insert(
            pipeline.dir.clone(),
            Running {
                pipeline,
                versions,
                stop,
                swaps,
                task,
                attempts,
                since: Instant::now(),
                _upkeep: upkeep,
            },
        );
        Ok(())
    }

    /// Applies what changed in one folder.
    async fn apply(&mut self, folder: PathBuf, change: FolderChange) {
        // A change to a failed pipeline's folder starts it at once (or not at all, if removed).
        if let Some(failed) = self.failed.remove(&folder) {
            crate::health::health().remove(&failed.pipeline.name);
        }
        let file = folder.join(PIPELINE_FILE);
        let exists = file.is_file();
        match (self.running.contains_key(&folder), exists) {
            (false, true) => self.start_new(&folder, &file).await,
            (true, false) => {
                tracing::info!(folder = %folder.display(), "pipeline folder or file removed: stopping after a final commit");
                self.stop(&folder, "stop").await;
            }
            (true, true) if change.pipeline_file => self.restart(&folder, &file).await,
            (true, true) => {
                for plugin in &change.plugins {
                    self.reload_plugin(&folder, plugin);
                }
            }
            (false, false) => {}
        }
    }

    async fn start_new(&mut self, folder: &Path, file: &Path) {
        let label = folder_name(folder);
        let loaded = config::load(file, &config::from_env)
            .and_then(|p| config::check_unique_name(&p, self.running.values().map(|r| &r.pipeline)).map(|()| p));
        let pipeline = match loaded {
            Ok(pipeline) => pipeline,
            Err(e) => {
                count_pipeline(&label, "start", false);
                tracing::error!(pipeline = %label, error = %e, "new pipeline not started: its pipeline.toml is invalid");
                return;
            }
        };
        let name = pipeline.name.clone();
        match self.launch(pipeline).await {
            Ok(()) => {
                count_pipeline(&name, "start", true);
                tracing::info!(pipeline = %name, "new pipeline started");
            }
            Err(e) => {
                count_pipeline(&name, "start", false);
                tracing::error!(pipeline = %name, error = %e, "new pipeline not started");
            }
        }
    }

    /// Restarts the pipeline of `folder` with its changed file, if the new version is valid and
    /// its stages start; otherwise the running version stays.
    async fn restart(&mut self, folder: &Path, file: &Path) {
        let Some(running) = self.running.get(folder) else {
            return;
        };
        let old = running.pipeline.clone();
        let name = old.name.clone();
        let refuse = |reason: String| {
            count_pipeline(&name, "restart", false);
            tracing::warn!(pipeline = %name, error = %reason, "pipeline.toml change refused; the running version stays");
        };
        let new = match config::load(file, &config::from_env) {
            Ok(new) => new,
            Err(e) => return refuse(e.to_string()),
        };
        if new.text == old.text {
            tracing::debug!(pipeline = %name, "pipeline.toml touched but unchanged");
            return;
        }
        let stages = match self.start_stages(&new).await {
            Ok(stages) => stages,
            Err(e) => return refuse(e.to_string()),
        };
        tracing::info!(pipeline = %name, "pipeline.toml changed: restarting it after a final commit");
        if !self.stop(folder, "restart").await {
            return;
        }
        match self.launch_with(new, stages).await {
            Ok(()) => {
                count_pipeline(&name, "restart", true);
                tracing::info!(pipeline = %name, "pipeline restarted with its new pipeline.toml");
            }
            Err(e) => {
                count_pipeline(&name, "restart", false);
                tracing::error!(pipeline = %name, error = %e, "restart failed; starting the previous version again");
                if let Err(e) = self.launch(old).await {
                    tracing::error!(pipeline = %name, error = %e, "the previous version does not start either; the pipeline is stopped until its folder changes");
                }
            }
        }
    }

    /// Stops the pipeline of `folder` after a final commit. False if it ended with an error.
    async fn stop(&mut self, folder: &Path, action: &str) -> bool {
        let Some(running) = self.running.remove(folder) else {
            return true;
        };
        let name = running.pipeline.name.clone();
        running.stop.cancel();
        match running.task.await {
            Ok(Ok(stats)) => {
                if action == "stop" {
                    count_pipeline(&name, action, true);
                }
                tracing::info!(pipeline = %name, ?stats, "pipeline stopped after a final commit");
                true
            }
            Ok(Err(e)) => {
                count_pipeline(&name, action, false);
                tracing::error!(pipeline = %name, error = %e, "pipeline failed while stopping");
                false
            }
            Err(e) => {
                count_pipeline(&name, action, false);
                tracing::error!(pipeline = %name, error = %e, "pipeline task ended abnormally");
                false
            }
        }
    }

    /// Stops every pipeline (each commits what it holds); the first error, if any.
    async fn stop_all(&mut self) -> Option<SupervisorError> {
        // Plugin calls and starts in progress end now (gold's are never interrupted).
        self.engine.stop_calls();
        for running in self.running.values() {
            running.stop.cancel();
        }
        let mut failure = None;
        for (_, running) in std::mem::take(&mut self.running) {
            let name = running.pipeline.name.clone();
            match running.task.await {
                Ok(Ok(stats)) => tracing::info!(pipeline = %name, ?stats, "pipeline finished"),
                Ok(Err(e)) => failure = failure.or(Some(SupervisorError::Run(e))),
                Err(e) => {
                    failure = failure.or(Some(SupervisorError::Task {
                        pipeline: name,
                        message: e.to_string(),
                    }))
                }
            }
        }
        failure
    }
}

/// The next debounced change, or never when not watching.
async fn next_changes(watcher: &mut Option<Watcher>) -> std::collections::BTreeSet<PathBuf> {
    match watcher {
        Some(watcher) => watcher.changes().await,
        None => std::future::pending().await,
    }
}

fn folder_name(folder: &Path) -> String {
    folder
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| folder.display().to_string())
}

fn count_pipeline(pipeline: &str, action: &str, ok: bool) {
    metrics()
        .pipeline_reloads
        .with_label_values(&[pipeline, action, if ok { "ok" } else { "failed" }])
        .inc();
}
