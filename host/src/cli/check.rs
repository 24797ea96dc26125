//! `weir check <pipelines/>`: validates every pipeline file and loads every plugin (world, kind,
//! `init` with the stage's config) without reading or writing any data.

use std::path::Path;

use crate::config::{self, Pipeline};
use crate::plugin::{AggregateStage, Plugin, PluginEngine, PluginKind, PluginLog, StageSpec, TransformStage};

/// Checks every pipeline under `root`. Prints one line per pipeline; returns how many failed.
pub fn run(root: &Path, out: &mut dyn std::io::Write) -> anyhow::Result<usize> {
    let files = config::discover(root)?;
    let engine = PluginEngine::new(PluginEngine::default_cache_dir())?;
    let mut failed = 0;
    for file in files {
        match config::load(&file, &config::from_env)
            .map_err(anyhow::Error::from)
            .and_then(|p| check_plugins(&engine, p))
        {
            Ok(pipeline) => writeln!(
                out,
                "ok: {} ({}): {} stages, topic {}, tables at {}",
                pipeline.name,
                file.display(),
                pipeline.stages.len(),
                pipeline.source.topic,
                pipeline.tables.location
            )?,
            Err(e) => {
                failed += 1;
                writeln!(out, "error: {e:#}")?;
            }
        }
    }
    Ok(failed)
}

/// Loads each stage's plugin and runs its `init` with the stage config.
fn check_plugins(engine: &PluginEngine, pipeline: Pipeline) -> anyhow::Result<Pipeline> {
    for stage in &pipeline.stages {
        let plugin = Plugin::load_file(engine, &stage.plugin)?;
        let spec = StageSpec {
            plugin,
            config: stage.config.clone(),
            limits: stage.limits,
            log: PluginLog::new(stage.name.clone(), stage.limits.max_log_line),
        };
        let started = match stage.kind {
            PluginKind::Transform => TransformStage::start(spec).map(drop),
            PluginKind::Aggregate => AggregateStage::start(spec).map(drop),
        };
        started.map_err(|e| anyhow::anyhow!("{}: stage `{}`: {e}", pipeline.file.display(), stage.name))?;
    }
    Ok(pipeline)
}
