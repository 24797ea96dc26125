//! A checked pipeline, as the rest of Weir sees it: the file's settings with names resolved,
//! plugin paths made absolute, limits and windows in their units.

use std::path::PathBuf;

use super::model::{ColumnConfig, CommitPolicy, QuarantineConfig, SourceConfig, TablesConfig};
use crate::plugin::{Limits, PluginKind};

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
    /// Parallel workers (see `PipelineFile::workers`).
    pub workers: usize,
    pub stages: Vec<Stage>,
    pub tables: TablesConfig,
    pub commit: CommitPolicy,
    pub gold: Vec<Gold>,
    pub quarantine: QuarantineConfig,
    /// `[upkeep]`, checked.
    pub upkeep: super::upkeep::UpkeepSchedule,
}

/// A checked gold aggregate.
#[derive(Debug, Clone)]
pub struct Gold {
    pub name: String,
    pub plugin: PathBuf,
    /// The `config` table as JSON text, for the plugin's `init`.
    pub config: String,
    pub limits: Limits,
    /// The silver table it reads (an index into `tables.silver`).
    pub silver: usize,
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
