//! Pipeline configuration: `pipelines/<name>/pipeline.toml`.
//!
//! - `model`: the file's typed settings ([`PipelineFile`] and its tables), refusing unknown keys.
//! - `env`: `${VAR}` / `${VAR:-default}` expansion from the environment, before parsing.
//! - `load`: discovery, parsing with the failing key's path and line; yields a [`Pipeline`]
//!   (`pipeline`) after the checks serde cannot make (`checks`, `gold_checks`).
//! - `span`: the line a key is written on, from the TOML parser's spans.

mod checks;
mod duration;
mod env;
mod error;
mod gold_checks;
mod load;
mod model;
mod pipeline;
mod silver_tables;
mod span;
mod types;
mod upkeep;

pub use duration::parse_micros;
pub use env::{expand, from_env, from_map};
pub use error::ConfigError;
pub use load::{check_unique_name, discover, load};
pub(crate) use load::{parse as parse_toml, read_expanded};
pub use model::{
    CatalogKind, ColumnConfig, ColumnType, CommitPolicy, EpochUnit, FromRegistry, GoldConfig, IcebergConfig, Landing,
    LandingConfig, MAX_DECIMAL_PRECISION, PartitionBy, PartitionTransform, PipelineFile, QuarantineConfig, RouteConfig,
    S3Config, SchemaRegistryConfig, SilverConfig, SilverTables, SourceConfig, StageConfig, StructField, Subscription,
    TableFormat, TablesConfig, ValueFormat, WindowConfig,
};
pub use pipeline::{DEFAULT_MAX_AHEAD_US, GOLD_RESERVED, Gold, PIPELINE_FILE, Pipeline, Stage, WindowSpec};
pub(crate) use span::line_of;
pub use upkeep::{MIN_ORPHAN_AGE_MS, UpkeepAction, UpkeepConfig, UpkeepSchedule, actions_of};
