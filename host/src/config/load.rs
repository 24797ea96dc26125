//! Finding pipeline files, expanding `${VAR}`s, parsing, and checking what serde cannot: names
//! unique, keys declared, plugin files present, limits positive.

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use super::env::expand;
use super::error::ConfigError;
use super::model::{
    ColumnConfig, ColumnType, CommitPolicy, PartitionTransform, PipelineFile, SourceConfig, TableFormat, TablesConfig,
};
use super::span::line_of;
use crate::plugin::{Limits, PluginKind};

/// The most records one partition batch may hold.
const MAX_BATCH_RECORDS: usize = 1_000_000;

/// The file name of a pipeline definition inside its folder.
pub const PIPELINE_FILE: &str = "pipeline.toml";

/// A checked pipeline, with plugin paths resolved and stage configs as JSON.
#[derive(Debug, Clone)]
pub struct Pipeline {
    pub name: String,
    /// The pipeline's folder (plugins are relative to it).
    pub dir: PathBuf,
    /// The pipeline.toml it came from.
    pub file: PathBuf,
    /// That file's text as parsed (after `${VAR}` expansion): tells a real edit from a touch.
    pub text: String,
    pub source: SourceConfig,
    pub stages: Vec<Stage>,
    pub tables: TablesConfig,
    pub commit: CommitPolicy,
    pub gold: Vec<Gold>,
}

/// A checked gold aggregate.
#[derive(Debug, Clone)]
pub struct Gold {
    pub name: String,
    pub plugin: PathBuf,
    /// The `config` table as JSON text, for the plugin's `init`.
    pub config: String,
    pub limits: Limits,
    /// The silver timestamp column that places records in windows.
    pub event_time: String,
    pub window: WindowSpec,
    /// How far ahead of its Kafka timestamp a record's event time may be.
    pub max_ahead_us: i64,
    pub key_column: String,
    pub columns: Vec<ColumnConfig>,
}

/// Event times more than this ahead of the record's Kafka timestamp are refused by default.
pub const DEFAULT_MAX_AHEAD_US: i64 = 3_600_000_000;

impl Gold {
    /// The gold table's name.
    pub fn table(&self) -> String {
        format!("gold_{}", self.name)
    }
}

/// Event-time windows, in microseconds: `slide` divides `size` (equal for tumbling windows).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WindowSpec {
    pub size_us: i64,
    pub slide_us: i64,
    /// How far behind its partition's newest event time a record may be and still count.
    pub lateness_us: i64,
}

/// Gold column names the host writes itself.
pub const GOLD_RESERVED: [&str; 4] = ["window_start", "window_end", "_error", "_emitted_at"];

/// A checked stage.
#[derive(Debug, Clone)]
pub struct Stage {
    pub name: String,
    pub plugin: PathBuf,
    pub kind: PluginKind,
    /// The stage's `config` table as JSON text, for the plugin's `init`.
    pub config: String,
    pub limits: Limits,
}

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
    let raw = std::fs::read_to_string(path).map_err(|error| ConfigError::Read {
        path: path.to_path_buf(),
        error,
    })?;
    let text = expand(&raw, lookup).map_err(|e| ConfigError::Expand {
        path: path.to_path_buf(),
        line: e.line,
        message: e.message,
    })?;
    let file = parse(path, &text)?;
    check(path, &text, file)
}

fn parse(path: &Path, text: &str) -> Result<PipelineFile, ConfigError> {
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
    let name = match &file.name {
        Some(name) => name.clone(),
        None => dir
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default(),
    };
    if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_') {
        return Err(invalid(
            "name",
            "name =",
            format!("`{name}` must be letters, digits, `-` or `_`"),
        ));
    }

    let source = &file.source;
    for (key, value) in [
        ("brokers", &source.brokers),
        ("topic", &source.topic),
        ("group", &source.group),
    ] {
        if value.trim().is_empty() {
            return Err(invalid(
                &format!("source.{key}"),
                &format!("{key} ="),
                "must not be empty".into(),
            ));
        }
    }
    if !(1..=MAX_BATCH_RECORDS).contains(&source.batch_records) {
        return Err(invalid(
            "source.batch_records",
            "batch_records",
            format!(
                "{} is out of range: give 1 to {MAX_BATCH_RECORDS}",
                source.batch_records
            ),
        ));
    }

    let mut names = HashSet::new();
    let mut stages = Vec::with_capacity(file.stages.len());
    for (i, stage) in file.stages.iter().enumerate() {
        let key = |field: &str| format!("stages[{i}].{field}");
        let needle = format!("\"{}\"", stage.name);
        if !names.insert(stage.name.as_str()) {
            return Err(invalid(
                &key("name"),
                &needle,
                format!("two stages are named `{}`", stage.name),
            ));
        }
        let (plugin, config) = check_plugin(
            dir.as_path(),
            &stage.plugin,
            &stage.limits,
            &stage.config,
            &key,
            &invalid,
        )?;
        if stage.kind != PluginKind::Transform {
            return Err(invalid(
                &key("kind"),
                &needle,
                format!(
                    "stage `{}` is an aggregate: aggregates run over windows in a [[gold]] section",
                    stage.name
                ),
            ));
        }
        stages.push(Stage {
            name: stage.name.clone(),
            plugin,
            kind: stage.kind,
            config,
            limits: stage.limits,
        });
    }

    let tables = &file.tables;
    if let Err(message) = check_location(&tables.location) {
        return Err(invalid("tables.location", "location", message));
    }
    let formats: HashSet<_> = tables.format.iter().collect();
    if tables.format.is_empty() || formats.len() != tables.format.len() {
        return Err(invalid(
            "tables.format",
            "format",
            "must list each format once, at least one".into(),
        ));
    }
    let silver = &tables.silver;
    let mut columns = HashSet::new();
    for column in &silver.columns {
        if !columns.insert(column.name.as_str()) {
            let needle = format!("\"{}\"", column.name);
            return Err(invalid(
                "tables.silver.columns",
                &needle,
                format!("column `{}` is declared twice", column.name),
            ));
        }
    }
    if silver.columns.is_empty() {
        return Err(invalid(
            "tables.silver.columns",
            "columns",
            "declare at least one column".into(),
        ));
    }
    if silver.key.is_empty() {
        return Err(invalid(
            "tables.silver.key",
            "key",
            "name at least one key column".into(),
        ));
    }
    for key in &silver.key {
        match silver.columns.iter().find(|c| &c.name == key) {
            None => {
                let message = format!("`{key}` is not a declared column");
                return Err(invalid("tables.silver.key", &format!("\"{key}\""), message));
            }
            Some(c) if c.nullable => {
                let message = format!("key column `{key}` must be declared with `nullable = false`");
                return Err(invalid("tables.silver.key", &format!("\"{key}\""), message));
            }
            Some(_) => {}
        }
    }
    if let Some(partition) = &silver.partition_by {
        let needle = format!("\"{}\"", partition.column);
        match silver.columns.iter().find(|c| c.name == partition.column) {
            None => {
                let message = format!("`{}` is not a declared column", partition.column);
                return Err(invalid("tables.silver.partition_by.column", &needle, message));
            }
            Some(c) if partition.transform != PartitionTransform::Identity && c.ty != ColumnType::Timestamp => {
                let message = format!(
                    "`{}` of `{}` needs a timestamp column",
                    partition.transform.name(),
                    partition.column
                );
                return Err(invalid("tables.silver.partition_by.transform", &needle, message));
            }
            Some(_) => {}
        }
    }
    if formats.contains(&TableFormat::Iceberg)
        && tables.location.starts_with("s3://")
        && tables.iceberg.uri.as_deref().is_none_or(str::is_empty)
    {
        return Err(invalid(
            "tables.iceberg.uri",
            "[tables",
            "an s3:// location needs an Iceberg catalog: set `uri` (sqlite://, postgres:// or http://)".into(),
        ));
    }
    let gold = check_gold(&file, &dir, &names, &invalid)?;
    let commit = file.commit;
    if commit.max_records == 0 || commit.max_bytes == 0 || commit.max_interval_ms == 0 {
        return Err(invalid(
            "commit",
            "[commit]",
            "max_records, max_bytes and max_interval_ms must be positive".into(),
        ));
    }

    Ok(Pipeline {
        name,
        dir,
        file: path.to_path_buf(),
        text: text.to_string(),
        source: file.source,
        stages,
        tables: file.tables,
        commit,
        gold,
    })
}

/// A stage's or gold table's plugin file (relative to the pipeline's folder; it must exist),
/// its limits (positive), and its config as JSON for `init`.
fn check_plugin(
    dir: &Path,
    plugin: &Path,
    limits: &Limits,
    config: &toml::Table,
    key: &dyn Fn(&str) -> String,
    invalid: &dyn Fn(&str, &str, String) -> ConfigError,
) -> Result<(PathBuf, String), ConfigError> {
    // A pipeline's plugins live in its folder: no absolute paths, no way out with `..`.
    let inside = plugin
        .components()
        .all(|c| matches!(c, std::path::Component::Normal(_) | std::path::Component::CurDir));
    if !inside {
        return Err(invalid(
            &key("plugin"),
            &plugin.display().to_string(),
            format!(
                "`{}` is outside the pipeline's folder: give a path inside it, like `plugin.wasm`",
                plugin.display()
            ),
        ));
    }
    let path = dir.join(plugin);
    if !path.is_file() {
        let shown = plugin.display().to_string();
        return Err(invalid(
            &key("plugin"),
            &shown,
            format!("{} does not exist", path.display()),
        ));
    }
    check_limits(limits, key, invalid)?;
    let config = serde_json::to_string(config)
        .map_err(|e| invalid(&key("config"), "config", format!("cannot be passed to the plugin: {e}")))?;
    Ok((path, config))
}

/// A table location Weir can write: `s3://bucket[/prefix]` (a valid bucket name), `file://` or
/// a plain path.
fn check_location(location: &str) -> Result<(), String> {
    let location = location.trim();
    if location.is_empty() {
        return Err("must not be empty".into());
    }
    let Some((scheme, rest)) = location.split_once("://") else {
        return Ok(());
    };
    match scheme {
        "file" if !rest.is_empty() => Ok(()),
        "s3" => {
            let bucket = rest.split('/').next().unwrap_or_default();
            let valid = (3..=63).contains(&bucket.len())
                && bucket
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '.')
                && bucket.starts_with(|c: char| c.is_ascii_alphanumeric())
                && bucket.ends_with(|c: char| c.is_ascii_alphanumeric());
            match valid {
                true => Ok(()),
                false => Err(format!(
                    "`{bucket}` is not an S3 bucket name (3 to 63 lowercase letters, digits, `-` or `.`): give `s3://bucket/prefix`"
                )),
            }
        }
        "file" => Err("`file://` needs a path".into()),
        other => Err(format!(
            "`{other}://` is not a supported location: give `s3://bucket/prefix`, `file:///path` or a path"
        )),
    }
}

/// The sandbox limits a plugin can run under.
fn check_limits(
    limits: &Limits,
    key: &dyn Fn(&str) -> String,
    invalid: &dyn Fn(&str, &str, String) -> ConfigError,
) -> Result<(), ConfigError> {
    let ranges: [(&str, u64, u64, u64); 5] = [
        ("deadline_ms", limits.deadline_ms, 1, 3_600_000),
        // A Rust plugin needs about 2 MiB before it does anything; wasm32 addresses 4 GiB.
        ("memory_mib", limits.memory_mib, MIN_MEMORY_MIB, 4_096),
        ("output_mib", limits.output_mib, 1, 16_384),
        ("max_state_kib", limits.max_state_kib, 1, 1 << 20),
        ("max_log_line", limits.max_log_line as u64, 16, 1 << 20),
    ];
    for (field, value, least, most) in ranges {
        if !(least..=most).contains(&value) {
            return Err(invalid(
                &key(&format!("limits.{field}")),
                field,
                format!("{value} is out of range: give {least} to {most}"),
            ));
        }
    }
    Ok(())
}

/// The least memory cap a plugin may be given, in MiB.
const MIN_MEMORY_MIB: u64 = 8;

/// Checks the `[[gold]]` sections: names, plugin files, the event-time column, window lengths
/// and the output columns.
fn check_gold(
    file: &PipelineFile,
    dir: &Path,
    stage_names: &HashSet<&str>,
    invalid: &dyn Fn(&str, &str, String) -> ConfigError,
) -> Result<Vec<Gold>, ConfigError> {
    let silver = &file.tables.silver;
    let mut names = HashSet::new();
    let mut checked = Vec::with_capacity(file.gold.len());
    for (i, gold) in file.gold.iter().enumerate() {
        let key = |field: &str| format!("gold[{i}].{field}");
        let needle = format!("\"{}\"", gold.name);
        let name_ok = !gold.name.is_empty()
            && gold
                .name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
        if !name_ok {
            let message = format!("`{}` must be letters, digits, `-` or `_`", gold.name);
            return Err(invalid(&key("name"), &needle, message));
        }
        if !names.insert(gold.name.as_str()) || stage_names.contains(gold.name.as_str()) {
            let message = format!("`{}` names another stage or gold table", gold.name);
            return Err(invalid(&key("name"), &needle, message));
        }
        let (plugin, config) = check_plugin(dir, &gold.plugin, &gold.limits, &gold.config, &key, invalid)?;
        let event_needle = format!("\"{}\"", gold.event_time);
        match silver.columns.iter().find(|c| c.name == gold.event_time) {
            Some(c) if c.ty == ColumnType::Timestamp => {}
            Some(_) => {
                let message = format!("`{}` must be a timestamp column", gold.event_time);
                return Err(invalid(&key("event_time"), &event_needle, message));
            }
            None => {
                let message = format!("`{}` is not a declared silver column", gold.event_time);
                return Err(invalid(&key("event_time"), &event_needle, message));
            }
        }
        let duration = |field: &str, text: &str| {
            super::duration::parse_micros(text).map_err(|message| invalid(&key(field), text, message))
        };
        let size_us = duration("window.size", &gold.window.size)?;
        let slide_us = match &gold.window.slide {
            Some(slide) => duration("window.slide", slide)?,
            None => size_us,
        };
        let lateness_us = match &gold.allowed_lateness {
            Some(text) => duration("allowed_lateness", text)?,
            None => 0,
        };
        let max_ahead_us = match &gold.max_ahead {
            Some(text) => duration("max_ahead", text)?,
            None => DEFAULT_MAX_AHEAD_US,
        };
        if size_us <= 0 || slide_us <= 0 || size_us % slide_us != 0 || size_us / slide_us > 1_000 {
            return Err(invalid(
                &key("window"),
                "window",
                "size and slide must be positive, and slide must divide size at most 1000 times".into(),
            ));
        }
        if gold.columns.is_empty() {
            return Err(invalid(
                &key("columns"),
                "columns",
                "declare at least one column".into(),
            ));
        }
        let mut columns = HashSet::new();
        for column in &gold.columns {
            let needle = format!("\"{}\"", column.name);
            let reserved = GOLD_RESERVED.contains(&column.name.as_str()) || column.name == gold.key_column;
            if reserved || !columns.insert(column.name.as_str()) {
                let message = format!(
                    "column `{}` is declared twice or is one the host writes ({}, {})",
                    column.name,
                    gold.key_column,
                    GOLD_RESERVED.join(", ")
                );
                return Err(invalid(&key("columns"), &needle, message));
            }
            if !column.nullable {
                let message = format!(
                    "column `{}` must be nullable: a window whose result fails has no value",
                    column.name
                );
                return Err(invalid(&key("columns"), &needle, message));
            }
        }
        if GOLD_RESERVED.contains(&gold.key_column.as_str()) {
            let message = format!("`{}` is a column the host writes", gold.key_column);
            return Err(invalid(&key("key_column"), &gold.key_column, message));
        }
        checked.push(Gold {
            name: gold.name.clone(),
            plugin,
            config,
            limits: gold.limits,
            event_time: gold.event_time.clone(),
            window: WindowSpec {
                size_us,
                slide_us,
                lateness_us,
            },
            max_ahead_us,
            key_column: gold.key_column.clone(),
            columns: gold.columns.clone(),
        });
    }
    Ok(checked)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::from_map;
    use std::collections::HashMap;

    const EXAMPLE: &str = include_str!("../../../pipelines/posts/pipeline.toml");

    /// Writes `text` as a pipeline next to an empty stand-in for each plugin it names.
    fn load_text(text: &str, vars: &[(&str, &str)]) -> Result<Pipeline, ConfigError> {
        let dir = tempfile::tempdir().unwrap();
        let pipeline_dir = dir.path().join("posts");
        std::fs::create_dir(&pipeline_dir).unwrap();
        for plugin in ["validate.wasm", "normalize.wasm", "dedup_key.wasm", "avg_score.wasm"] {
            std::fs::write(pipeline_dir.join(plugin), b"").unwrap();
        }
        let file = pipeline_dir.join(PIPELINE_FILE);
        std::fs::write(&file, text).unwrap();
        let vars: HashMap<String, String> = vars.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        load(&file, &from_map(&vars))
    }

    #[test]
    fn the_example_pipeline_loads_with_defaults_and_overrides() {
        let pipeline = load_text(EXAMPLE, &[("KAFKA_BROKERS", "k1:9092,k2:9092")]).unwrap();
        assert_eq!(pipeline.name, "posts");
        assert_eq!(pipeline.source.brokers, "k1:9092,k2:9092");
        assert_eq!(pipeline.source.topic, "posts");
        assert_eq!(
            pipeline.stages.iter().map(|s| s.name.as_str()).collect::<Vec<_>>(),
            ["normalize", "validate", "dedup-key"]
        );
        assert_eq!(
            pipeline.stages[1].limits,
            Limits {
                deadline_ms: 1000,
                memory_mib: 64,
                ..Limits::default()
            }
        );
        let config: serde_json::Value = serde_json::from_str(&pipeline.stages[2].config).unwrap();
        assert_eq!(config, serde_json::json!({"fields": ["id"]}));
        assert_eq!(pipeline.tables.silver.key, ["id"]);
        assert_eq!(pipeline.commit.max_records, 100_000);
    }

    fn error_of(from: &str, to: &str) -> String {
        assert!(EXAMPLE.contains(from), "{from}");
        load_text(&EXAMPLE.replacen(from, to, 1), &[]).unwrap_err().to_string()
    }

    #[test]
    fn unknown_keys_and_bad_values_name_the_key_and_the_line() {
        let err = error_of("brokers =", "brokerz =");
        assert!(
            err.contains("pipeline.toml:7:1: `source.brokerz`: unknown field `brokerz`"),
            "{err}"
        );
        let err = error_of("batch_records = 1024", "batch_records = \"many\"");
        assert!(
            err.contains(":11:17: `source.batch_records`: invalid type: string"),
            "{err}"
        );
        let err = error_of("deadline_ms = 1000", "deadline_ms = -5");
        assert!(err.contains("`stages[1].limits.deadline_ms`: invalid value"), "{err}");
        let err = error_of("format = [\"delta\", \"iceberg\"]", "format = [\"delta\", \"parquet\"]");
        assert!(err.contains("`tables.format[1]`: unknown variant `parquet`"), "{err}");
        let err = error_of("transform = \"day\"", "transform = \"week\"");
        assert!(
            err.contains("`tables.silver.partition_by.transform`: unknown variant `week`"),
            "{err}"
        );
    }

    #[test]
    fn missing_environment_variables_name_the_line() {
        let err = error_of("${POSTS_TOPIC:-posts}", "${POSTS_TOPIC}");
        assert!(
            err.ends_with("pipeline.toml:8: environment variable `POSTS_TOPIC` is not set"),
            "{err}"
        );
    }

    #[test]
    fn semantic_errors_name_the_key() {
        let err = error_of("key = [\"id\"]", "key = [\"idd\"]");
        assert!(
            err.contains("`tables.silver.key`: `idd` is not a declared column"),
            "{err}"
        );
        let err = error_of(
            "{ name = \"id\", type = \"string\", nullable = false }",
            "{ name = \"id\", type = \"string\" }",
        );
        assert!(
            err.contains("key column `id` must be declared with `nullable = false`"),
            "{err}"
        );
        let err = error_of("plugin = \"normalize.wasm\"", "plugin = \"nope.wasm\"");
        assert!(
            err.contains("`stages[0].plugin`") && err.contains("nope.wasm does not exist"),
            "{err}"
        );
        let err = error_of("name = \"normalize\"", "name = \"validate\"");
        assert!(err.contains("two stages are named `validate`"), "{err}");
        let err = error_of("column = \"created_utc\"", "column = \"created\"");
        assert!(
            err.contains("`tables.silver.partition_by.column`: `created` is not a declared column"),
            "{err}"
        );
        let err = error_of("column = \"created_utc\", transform = \"day\"", "column = \"author\"");
        assert!(err.contains("`day` of `author` needs a timestamp column"), "{err}");
        let err = load_text(&EXAMPLE.replace("${WEIR_LAKEHOUSE:-lakehouse}", "s3://lake"), &[])
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("`tables.iceberg.uri`: an s3:// location needs an Iceberg catalog"),
            "{err}"
        );
        let err = error_of("max_records = 100000", "max_records = 0");
        assert!(
            err.contains("`commit`: max_records, max_bytes and max_interval_ms must be positive"),
            "{err}"
        );
    }

    #[test]
    fn gold_sections_are_checked_and_resolved() {
        let pipeline = load_text(EXAMPLE, &[]).unwrap();
        let gold = &pipeline.gold[0];
        assert_eq!(gold.table(), "gold_avg_score_daily");
        assert_eq!(
            gold.window,
            WindowSpec {
                size_us: 86_400_000_000,
                slide_us: 86_400_000_000,
                lateness_us: 3_600_000_000,
            }
        );
        assert!(gold.plugin.ends_with("avg_score.wasm"));
        assert!(gold.config.contains("\"group_by\":\"subreddit\""), "{}", gold.config);

        let err = error_of("event_time = \"created_utc\"", "event_time = \"score\"");
        assert!(
            err.contains("`gold[0].event_time`: `score` must be a timestamp column"),
            "{err}"
        );
        let err = error_of("event_time = \"created_utc\"", "event_time = \"created\"");
        assert!(err.contains("`created` is not a declared silver column"), "{err}");
        let err = error_of(
            "window = { size = \"1d\" }",
            "window = { size = \"1d\", slide = \"7h\" }",
        );
        assert!(
            err.contains("`gold[0].window`: size and slide must be positive"),
            "{err}"
        );
        let err = error_of("allowed_lateness = \"1h\"", "allowed_lateness = \"1 hour\"");
        assert!(
            err.contains("`gold[0].allowed_lateness`") && err.contains("unknown unit"),
            "{err}"
        );
        let err = error_of("key_column = \"subreddit\"", "key_column = \"avg_score\"");
        assert!(
            err.contains("column `avg_score` is declared twice or is one the host writes"),
            "{err}"
        );
        let err = error_of(
            "{ name = \"post_count\", type = \"int64\" }",
            "{ name = \"post_count\", type = \"int64\", nullable = false }",
        );
        assert!(err.contains("column `post_count` must be nullable"), "{err}");
        let err = error_of("name = \"avg_score_daily\"", "name = \"validate\"");
        assert!(err.contains("`validate` names another stage or gold table"), "{err}");
        let err = error_of(
            "kind = \"transform\"\n\n[[stages]]\nname = \"validate\"",
            "kind = \"aggregate\"\n\n[[stages]]\nname = \"validate\"",
        );
        assert!(
            err.contains("aggregates run over windows in a [[gold]] section"),
            "{err}"
        );
    }

    #[test]
    fn discovers_pipeline_folders_in_name_order() {
        let dir = tempfile::tempdir().unwrap();
        for name in ["b", "a", "not-a-pipeline"] {
            std::fs::create_dir(dir.path().join(name)).unwrap();
        }
        std::fs::write(dir.path().join("b").join(PIPELINE_FILE), "").unwrap();
        std::fs::write(dir.path().join("a").join(PIPELINE_FILE), "").unwrap();
        let found = discover(dir.path()).unwrap();
        assert_eq!(
            found,
            [dir.path().join("a/pipeline.toml"), dir.path().join("b/pipeline.toml")]
        );
        assert!(matches!(
            discover(&dir.path().join("not-a-pipeline")),
            Err(ConfigError::NoPipelines { .. })
        ));
    }
}
