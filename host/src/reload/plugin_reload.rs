//! Hot reload of one plugin file: its new version is started away from the supervisor's loop
//! and the data path, for every slot (transform stage or gold aggregate) of the pipeline that
//! runs the file, then handed to the running pipeline, which swaps it in between two batches.
//! A newer change of the same file, or a restart of the pipeline, drops an older result.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Instant;

use super::supervisor::Supervisor;
use crate::config::Pipeline;
use crate::gold::GoldAggregator;
use crate::metrics::metrics;
use crate::pipeline::{RunningStage, StageSwap};
use crate::plugin::{Plugin, PluginEngine};

/// Where a plugin runs in a pipeline: its n-th transform stage or its n-th gold aggregate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(super) enum Slot {
    Stage(usize),
    Gold(usize),
}

/// A started (or failed) new version of one plugin file, for the pipeline of `folder` as it ran
/// when the reload began (`since`).
pub(super) struct Reload {
    pub(super) folder: PathBuf,
    pub(super) plugin: PathBuf,
    pub(super) generation: u64,
    pub(super) since: Instant,
    pub(super) users: Vec<(Slot, String)>,
    pub(super) result: Result<StageSwap, String>,
}

impl Supervisor {
    /// Starts the new version of `plugin` for every stage of `folder`'s pipeline that runs it,
    /// away from this loop and the data path; [`Supervisor::finish_reload`] hands the started
    /// stages over, all of them or none.
    pub(super) fn reload_plugin(&mut self, folder: &Path, plugin: &Path) {
        let Some(running) = self.running.get(folder) else {
            return;
        };
        let name = running.pipeline.name.clone();
        let mut users: Vec<(Slot, String)> = Vec::new();
        for (i, stage) in running.pipeline.stages.iter().enumerate() {
            if same_file(&stage.plugin, plugin) {
                users.push((Slot::Stage(i), stage.name.clone()));
            }
        }
        for (j, gold) in running.pipeline.gold.iter().enumerate() {
            if same_file(&gold.plugin, plugin) {
                users.push((Slot::Gold(j), gold.name.clone()));
            }
        }
        if users.is_empty() {
            tracing::debug!(pipeline = %name, file = %plugin.display(), "changed .wasm is not used by any stage");
            return;
        }
        if !plugin.is_file() {
            tracing::warn!(pipeline = %name, file = %plugin.display(), "plugin file removed; the running version stays");
            return;
        }
        self.generation += 1;
        let generation = self.generation;
        self.newest
            .insert((folder.to_path_buf(), plugin.to_path_buf()), generation);
        let engine = self.engine.clone();
        let pipeline = running.pipeline.clone();
        let versions = running.versions.clone();
        let since = running.since;
        let (folder, path) = (folder.to_path_buf(), plugin.to_path_buf());
        let wanted: Vec<Slot> = users.iter().map(|(slot, _)| *slot).collect();
        tracing::info!(pipeline = %name, file = %plugin.display(), "plugin file changed: starting the new version");
        crate::status::status().reload_started(&name);
        self.reloads.spawn_blocking(move || {
            let result = start_version(&engine, &pipeline, &versions, &path, &wanted);
            Reload {
                folder,
                plugin: path,
                generation,
                since,
                users,
                result,
            }
        });
    }

    /// Hands a started new version to its pipeline, unless a newer change of the same file or a
    /// restart of the pipeline came since; logs a failed one (the running version stays).
    pub(super) fn finish_reload(&mut self, reload: Reload) {
        let Reload {
            folder,
            plugin,
            generation,
            since,
            users,
            result,
        } = reload;
        if let Some(running) = self.running.get(&folder) {
            crate::status::status().reload_ended(&running.pipeline.name);
        }
        let key = (folder.clone(), plugin.clone());
        let superseded = self.newest.get(&key) != Some(&generation);
        let Some(running) = self
            .running
            .get_mut(&folder)
            .filter(|r| r.since == since && !superseded)
        else {
            tracing::debug!(file = %plugin.display(), "a newer change or a restart came first: this plugin version is dropped");
            if let Ok(swap) = result {
                tokio::task::spawn_blocking(move || drop(swap));
            }
            return;
        };
        self.newest.remove(&key);
        let name = running.pipeline.name.clone();
        match result {
            Ok(swap) if swap.stages.is_empty() && swap.gold.is_empty() => {
                tracing::debug!(pipeline = %name, file = %plugin.display(), "plugin file rewritten with the running version");
            }
            Ok(swap) => {
                for (index, stage) in &swap.stages {
                    if let Some(version) = running.versions.get_mut(&Slot::Stage(*index)) {
                        version.clone_from(&stage.sha256);
                    }
                    tracing::info!(pipeline = %name, stage = %stage.name, file = %plugin.display(), "new plugin version started; swapping it in at the next batch");
                }
                for (_, aggregator) in &swap.gold {
                    tracing::info!(pipeline = %name, stage = %aggregator.gold().name, file = %plugin.display(), "new aggregate version started; it takes over the open windows at the next batch if it reads their state");
                }
                if !running.swaps.send(swap) {
                    tracing::warn!(pipeline = %name, "pipeline stopped before the new plugin version could be swapped in");
                }
            }
            Err(e) => {
                for (_, stage) in users {
                    metrics().plugin_reload(&name, &stage, false);
                    crate::status::status().reloaded(&name, crate::status::Reload::failed(&stage, None, &e));
                    tracing::warn!(
                        pipeline = %name,
                        stage = %stage,
                        file = %plugin.display(),
                        error = %e,
                        "plugin reload failed; the running version stays"
                    );
                }
            }
        }
    }
}

/// Loads `path` and starts it in the slots `wanted` whose running version differs.
fn start_version(
    engine: &PluginEngine,
    pipeline: &Pipeline,
    versions: &BTreeMap<Slot, String>,
    path: &Path,
    wanted: &[Slot],
) -> Result<StageSwap, String> {
    let plugin = Plugin::load_file(engine, path).map_err(|e| e.to_string())?;
    let mut swap = StageSwap::default();
    for slot in wanted {
        if versions.get(slot).is_some_and(|v| v == plugin.sha256()) {
            continue;
        }
        match *slot {
            Slot::Stage(i) => {
                if let Some(stage) = pipeline.stages.get(i) {
                    let stage =
                        RunningStage::start_plugin(&pipeline.name, stage, plugin.clone()).map_err(|e| e.to_string())?;
                    swap.stages.push((i, stage));
                }
            }
            Slot::Gold(j) => {
                if let Some(gold) = pipeline.gold.get(j) {
                    // Whether it reads the open windows' state is checked where the state is.
                    let aggregator = GoldAggregator::start_plugin(&pipeline.name, gold, plugin.clone())
                        .map_err(|e| e.to_string())?;
                    swap.gold.push((j, aggregator));
                }
            }
        }
    }
    Ok(swap)
}

fn same_file(a: &Path, b: &Path) -> bool {
    match (a.canonicalize(), b.canonicalize()) {
        (Ok(a), Ok(b)) => a == b,
        _ => a == b,
    }
}
