//! Finding pipeline files, expanding `${VAR}`s, parsing with the failing key's line, and the
//! checks serde cannot make (`checks`, `gold_checks`): names unique, keys declared, plugin
//! files present and inside the pipeline's folder, locations and limits in range.

use std::path::{Path, PathBuf};

use super::checks::{
    check_commit, check_from_registry, check_name, check_quarantine, check_source, check_stages, check_tables,
    check_workers,
};
use super::env::expand;
use super::error::ConfigError;
use super::gold_checks::check_gold;
use super::model::PipelineFile;
use super::pipeline::{PIPELINE_FILE, Pipeline};
use super::span::line_of;

/// The pipeline files under `root`: `root/pipeline.toml` itself, or one per direct subfolder,
/// in name order.
pub fn discover(root: &Path) -> Result<Vec<PathBuf>, ConfigError> {
    let own = root.join(PIPELINE_FILE);
    if own.is_file() {
        return Ok(vec![own]);
    }
    let entries = std::fs::read_dir(root).map_err(|error| ConfigError::Read {
        path: root.to_path_buf(),
        error,
    })?;
    let mut files: Vec<PathBuf> = entries
        .flatten()
        .map(|e| e.path().join(PIPELINE_FILE))
        .filter(|p| p.is_file())
        .collect();
    files.sort();
    if files.is_empty() {
        return Err(ConfigError::NoPipelines {
            path: root.to_path_buf(),
        });
    }
    Ok(files)
}

/// Refuses `pipeline` when another folder's pipeline has its name: the two would share tables
/// and a consumer group.
pub fn check_unique_name<'a>(
    pipeline: &Pipeline,
    others: impl IntoIterator<Item = &'a Pipeline>,
) -> Result<(), ConfigError> {
    match others
        .into_iter()
        .find(|other| other.name == pipeline.name && other.file != pipeline.file)
    {
        None => Ok(()),
        Some(other) => Err(ConfigError::Invalid {
            path: pipeline.file.clone(),
            line: line_of(&pipeline.text, "name"),
            key: "name".into(),
            message: format!(
                "pipeline `{}` is also the name of {}: each pipeline needs its own name (tables and consumer group go by it)",
                pipeline.name,
                other.file.display()
            ),
        }),
    }
}

/// Reads, expands, parses and checks one pipeline file.
pub fn load(path: &Path, lookup: &dyn Fn(&str) -> Option<String>) -> Result<Pipeline, ConfigError> {
    let text = read_expanded(path, lookup)?;
    let file: PipelineFile = parse(path, &text)?;
    check(path, &text, file)
}

/// A TOML file's text with its `${VAR}`s expanded.
pub(crate) fn read_expanded(path: &Path, lookup: &dyn Fn(&str) -> Option<String>) -> Result<String, ConfigError> {
    let raw = std::fs::read_to_string(path).map_err(|error| ConfigError::Read {
        path: path.to_path_buf(),
        error,
    })?;
    expand(&raw, lookup).map_err(|e| ConfigError::Expand {
        path: path.to_path_buf(),
        line: e.line,
        message: e.message,
    })
}

/// Parses `text` (read from `path`) as `T`; an error names the key and its line.
pub(crate) fn parse<T: serde::de::DeserializeOwned>(path: &Path, text: &str) -> Result<T, ConfigError> {
    let deserializer = toml::Deserializer::parse(text).map_err(|e| parse_error(path, text, String::new(), &e))?;
    serde_path_to_error::deserialize(deserializer).map_err(|e| {
        let key = e.path().to_string();
        parse_error(path, text, key, e.inner())
    })
}

fn parse_error(path: &Path, text: &str, key: String, error: &toml::de::Error) -> ConfigError {
    let leaf = key.rsplit('.').next().unwrap_or_default().to_string();
    let (line, column) = match error.span() {
        Some(span) => line_and_column(text, span.start),
        None => (
            line_of(text, &key)
                .or_else(|| find_line(text, &format!("{leaf} =")))
                .unwrap_or(1),
            1,
        ),
    };
    let key = if key.is_empty() || key == "." {
        "(file)".to_string()
    } else {
        key
    };
    ConfigError::Parse {
        path: path.to_path_buf(),
        line,
        column,
        key,
        message: error.message().trim().to_string(),
    }
}

fn line_and_column(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, column)
}

/// The first line (1-based), not a comment, containing `needle`.
fn find_line(text: &str, needle: &str) -> Option<usize> {
    text.lines()
        .position(|l| !l.trim_start().starts_with('#') && l.contains(needle))
        .map(|i| i + 1)
}

fn check(path: &Path, text: &str, file: PipelineFile) -> Result<Pipeline, ConfigError> {
    // The key's own line from the parser's spans; a text search only when it has none.
    let invalid = |key: &str, needle: &str, message: String| ConfigError::Invalid {
        path: path.to_path_buf(),
        line: line_of(text, key).or_else(|| find_line(text, needle)),
        key: key.to_string(),
        message,
    };
    let dir = path.parent().map(Path::to_path_buf).unwrap_or_default();
    let name = check_name(&file, &dir, &invalid)?;
    check_source(&file.source, &invalid)?;
    let workers = check_workers(file.workers, &invalid)?;
    let (stages, names) = check_stages(&file, &dir, &invalid)?;
    check_tables(&file.tables, &invalid)?;
    check_from_registry(&file.source, &file.tables.silver, &invalid)?;
    let gold = check_gold(&file, &dir, &names, &invalid)?;
    check_commit(&file.commit, &invalid)?;
    check_quarantine(&file.quarantine, &file.source, &invalid)?;
    let upkeep = super::upkeep::check_upkeep(&file.upkeep, &invalid)?;
    Ok(Pipeline {
        name,
        dir,
        file: path.to_path_buf(),
        text: text.to_string(),
        source: file.source,
        workers,
        stages,
        tables: file.tables,
        commit: file.commit,
        gold,
        quarantine: file.quarantine,
        upkeep,
    })
}

#[cfg(test)]
mod tests;
