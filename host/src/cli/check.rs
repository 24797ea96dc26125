//! `weir check <pipelines/>`: validates every pipeline file and starts every plugin, stages and
//! gold aggregates alike (world, kind, `init` with the stage's config), without reading or
//! writing any data.

use std::path::Path;

use crate::config::{self, Pipeline};
use crate::pipeline::PipelineRunner;
use crate::plugin::PluginEngine;

/// Checks every pipeline under `root`. Prints one line per pipeline; returns how many failed.
pub fn run(root: &Path, out: &mut dyn std::io::Write) -> anyhow::Result<usize> {
    let files = config::discover(root)?;
    let engine = PluginEngine::new(PluginEngine::default_cache_dir())?;
    let mut failed = 0;
    let mut checked: Vec<Pipeline> = Vec::new();
    for file in files {
        let loaded = config::load(&file, &config::from_env).and_then(|p| {
            config::check_unique_name(&p, &checked)?;
            Ok(p)
        });
        match loaded
            .map_err(anyhow::Error::from)
            .and_then(|p| check_plugins(&engine, p))
        {
            Ok(pipeline) => {
                writeln!(
                    out,
                    "ok: {} ({}): {} stages, {}{}, tables at {}",
                    pipeline.name,
                    file.display(),
                    pipeline.stages.len(),
                    pipeline.source.subscription(),
                    silver_tables(&pipeline),
                    pipeline.tables.location
                )?;
                checked.push(pipeline);
            }
            Err(e) => {
                failed += 1;
                writeln!(out, "error: {e:#}")?;
            }
        }
    }
    Ok(failed)
}

/// Starts every plugin of the pipeline as `weir run` does (transform stages and gold
/// aggregates: load, world, `init` with the stage's config), then drops them.
fn check_plugins(engine: &PluginEngine, pipeline: Pipeline) -> anyhow::Result<Pipeline> {
    PipelineRunner::start_stages(&pipeline, engine).map_err(|e| anyhow::anyhow!("{}: {e}", pipeline.file.display()))?;
    Ok(pipeline)
}

/// `, silver tables orders, views` when there are several; nothing for one.
fn silver_tables(pipeline: &crate::config::Pipeline) -> String {
    let silver = &pipeline.tables.silver;
    if silver.len() < 2 {
        return String::new();
    }
    let names: Vec<String> = silver.iter().map(|s| s.table()).collect();
    format!(", silver tables {}", names.join(", "))
}
