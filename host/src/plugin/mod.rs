//! The plugin runner: WebAssembly components implementing `wit/weir-plugin.wit`, run in a
//! sandbox with a deadline per call and a memory cap per instance.
//!
//! - [`PluginEngine`] (`engine`): the one wasmtime engine, linker, epoch ticker; `cache` keeps
//!   compiled components on disk by content hash.
//! - [`Plugin`] (`component`): a loaded, checked, pre-linked `.wasm`.
//! - [`TransformStage`] / [`AggregateStage`]: a running stage; `instance` reuses one instance
//!   across batches and replaces it after a failure; `isolate` splits a failing batch until the
//!   failing records stand alone.
//! - `sandbox`: the deny-all WASI context; `log`: the plugin's stdout/stderr/log lines;
//!   `limits`: per-stage deadline and memory cap; `failure` / `verdict`: what a call returned.

mod aggregate;
mod batch;
pub mod bindings;
mod cache;
mod component;
mod engine;
mod error;
mod failure;
mod instance;
mod isolate;
mod limits;
mod log;
mod sandbox;
mod transform;
mod verdict;

pub use aggregate::{AggregateStage, GroupInput};
pub use bindings::{BatchContext, Level, Outcome, Record};
pub use component::{Plugin, short_sha};
pub use engine::{DEADLINE_SLACK, PluginEngine};
pub use error::PluginError;
pub use failure::Failure;
pub use instance::StageSpec;
pub use limits::{EPOCH_TICK, Limits};
pub use log::{LogLine, LogSource, PluginLog};
pub use transform::{Outputs, TransformStage, TransformVerdict};
pub use verdict::Verdict;

use serde::{Deserialize, Serialize};

/// The two plugin worlds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PluginKind {
    /// `weir:plugin/transform`: validate, map, filter, flat-map.
    Transform,
    /// `weir:plugin/aggregate`: keyed accumulate / merge / finish.
    Aggregate,
}

impl PluginKind {
    /// "a transform" / "an aggregate", for messages.
    pub fn with_article(self) -> &'static str {
        match self {
            PluginKind::Transform => "a transform",
            PluginKind::Aggregate => "an aggregate",
        }
    }
}

impl std::fmt::Display for PluginKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            PluginKind::Transform => "transform",
            PluginKind::Aggregate => "aggregate",
        })
    }
}
