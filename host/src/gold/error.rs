//! What can go wrong in the gold layer.

use thiserror::Error;

use crate::plugin::PluginError;

#[derive(Debug, Error)]
pub enum GoldError {
    #[error("gold `{gold}`: {source}")]
    Plugin { gold: String, source: PluginError },
    #[error("gold `{gold}`: checkpoint {path}: {source}")]
    Checkpoint {
        gold: String,
        path: String,
        #[source]
        source: crate::tables::BoxError,
    },
    #[error("gold `{gold}`: {message}")]
    State { gold: String, message: String },
    #[error("gold `{gold}`: {source}")]
    Table {
        gold: String,
        source: crate::tables::TableError,
    },
    #[error("gold `{gold}`: building rows: {source}")]
    Rows {
        gold: String,
        source: arrow::error::ArrowError,
    },
}
