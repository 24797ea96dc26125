//! Errors of the plugin runner: loading a plugin and running its `init` are the only steps that
//! fail outright. Failures during a batch never escape as errors: they become per-record verdicts.

use std::path::PathBuf;

use thiserror::Error;

use super::PluginKind;

/// Why a plugin cannot be used.
#[derive(Debug, Error)]
pub enum PluginError {
    // The io error is part of the message and deliberately not a `source`, so a printed error
    // chain does not say it twice.
    #[error("cannot read plugin {path}: {error}")]
    Read { path: PathBuf, error: std::io::Error },

    #[error("{name} is not a WebAssembly file (it does not start with the `\\0asm` magic bytes)")]
    NotWasm { name: String },

    #[error(
        "{name} is a core WebAssembly module, not a component: build it with \
         `cargo build --target wasm32-wasip2` or `cargo component build`"
    )]
    CoreModule { name: String },

    #[error("{name} is not a valid WebAssembly component: {reason}")]
    Invalid { name: String, reason: String },

    #[error(
        "{name} does not implement a Weir plugin world (weir:plugin/transform or weir:plugin/aggregate): \
         it exports [{exports}]"
    )]
    NotAPlugin { name: String, exports: String },

    #[error("{name} is {} plugin, but this stage needs {} plugin", found.with_article(), expected.with_article())]
    WrongKind {
        name: String,
        expected: PluginKind,
        found: PluginKind,
    },

    #[error(
        "{name} imports `{import}`, which Weir does not provide (plugins may import only \
         weir:plugin/host and WASI)"
    )]
    UnsupportedImport { name: String, import: String },

    #[error("{name} does not match weir:plugin/{kind}@0.1.0: {reason}")]
    Mismatch {
        name: String,
        kind: PluginKind,
        reason: String,
    },

    #[error("{name} refused its config: {message}")]
    ConfigRefused { name: String, message: String },

    #[error("{name} failed while starting: {failure}")]
    StartFailed { name: String, failure: super::Failure },

    #[error("cannot set up the plugin engine: {0}")]
    Engine(String),
}
