//! Pipeline configuration: `pipelines/<name>/pipeline.toml`.
//!
//! - `model`: the file's typed settings ([`PipelineFile`] and its tables), refusing unknown keys.
//! - `env`: `${VAR}` / `${VAR:-default}` expansion from the environment, before parsing.
//! - `load`: discovery, parsing with the failing key's path and line, and the checks serde
//!   cannot make; yields a [`Pipeline`].

mod env;
mod error;
mod load;
mod model;

pub use env::{expand, from_env, from_map};
pub use error::ConfigError;
pub use load::{PIPELINE_FILE, Pipeline, Stage, discover, load};
pub use model::{
    CatalogKind, ColumnConfig, ColumnType, CommitPolicy, IcebergConfig, PartitionBy, PartitionTransform, PipelineFile,
    S3Config, SilverConfig, SourceConfig, StageConfig, TableFormat, TablesConfig, ValueFormat,
};
