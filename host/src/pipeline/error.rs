//! Why a pipeline stopped, by cause (the plugin, the source, a table, gold, the writer lease,
//! building rows, or an interrupt).

use thiserror::Error;

use super::lease::LeaseError;
use crate::gold::GoldError;
use crate::plugin::PluginError;
use crate::source::SourceError;
use crate::tables::TableError;

/// Why a pipeline stopped.
#[derive(Debug, Error)]
pub enum RunError {
    #[error("pipeline {pipeline}: stage `{stage}`: {source}")]
    Plugin {
        pipeline: String,
        stage: String,
        source: PluginError,
    },
    #[error("pipeline {pipeline}: {source}")]
    Source { pipeline: String, source: SourceError },
    #[error("pipeline {pipeline}: {source}")]
    Table { pipeline: String, source: TableError },
    #[error("pipeline {pipeline}: {source}")]
    Gold { pipeline: String, source: GoldError },
    #[error("pipeline {pipeline}: {message}")]
    Unsupported { pipeline: String, message: String },
    #[error("pipeline {pipeline}: {source}")]
    Lease { pipeline: String, source: LeaseError },
    /// Building a batch's rows failed (Arrow): the same input would fail the same way.
    #[error("pipeline {pipeline}: building rows: {source}")]
    Rows {
        pipeline: String,
        #[source]
        source: arrow::error::ArrowError,
    },
    /// The pipeline was told to stop while a plugin was at work on a batch: the batch is
    /// dropped, uncommitted, and read again at the next start.
    #[error("pipeline {pipeline}: stopped in the middle of a batch, which is read again at the next start")]
    Interrupted { pipeline: String },
}
