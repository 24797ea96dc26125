//! Errors in pipeline files: each names the file, the key and, when it can be found, the line.

use std::path::PathBuf;

use thiserror::Error;

/// What is wrong with a pipeline file or folder.
#[derive(Debug, Error)]
pub enum ConfigError {
    #[error("cannot read {path}: {error}")]
    Read { path: PathBuf, error: std::io::Error },

    #[error("{path}:{line}: {message}")]
    Expand {
        path: PathBuf,
        line: usize,
        message: String,
    },

    #[error("{path}:{line}:{column}: `{key}`: {message}")]
    Parse {
        path: PathBuf,
        line: usize,
        column: usize,
        key: String,
        message: String,
    },

    #[error("{path}{}: `{key}`: {message}", line.map(|l| format!(":{l}")).unwrap_or_default())]
    Invalid {
        path: PathBuf,
        line: Option<usize>,
        key: String,
        message: String,
    },

    #[error("no pipeline.toml found in {path} or its subfolders")]
    NoPipelines { path: PathBuf },
}
