//! The plugin runner: WebAssembly components implementing `wit/weir-plugin.wit`, run in a
//! sandbox with a deadline per call and a memory cap per instance.
//!
//! - [`PluginEngine`] (`engine`): the one wasmtime engine, linker, epoch ticker; `cache` keeps
//!   compiled components on disk by content hash.
//! - [`Plugin`] (`component`): a loaded, checked, pre-linked `.wasm`; `world` reads which
//!   world it claims before it is compiled.
//! - [`TransformStage`] / [`AggregateStage`]: a running stage; `instance` reuses one instance
//!   across batches and replaces it after a failure; `isolate` splits a failing batch until the
//!   failing records stand alone.
//! - `sandbox`: the deny-all WASI context; `clock`: the call's guard (deadline, interrupt) and
//!   the plugin's clock, whose waits end at the deadline; `log`: the plugin's stdout/stderr/log
//!   lines; `limits`: per-stage deadline, memory cap and output budget; `room`: what one batch's
//!   answers may hold in the host; `failure` / `verdict`: what a call returned.

mod aggregate;
mod batch;
pub mod bindings;
mod cache;
mod clock;
mod component;
mod engine;
mod error;
mod failure;
mod instance;
mod isolate;
mod limits;
mod log;
mod room;
mod sandbox;
mod transform;
mod verdict;
mod world;

pub use aggregate::{AggregateStage, Allowance, GroupInput};
pub use bindings::{BatchContext, Level, Outcome, Record};
pub use component::{Plugin, short_sha};
pub use engine::{DEADLINE_SLACK, PluginEngine};
pub use error::PluginError;
pub use failure::Failure;
pub use instance::StageSpec;
pub use limits::{EPOCH_TICK, Limits, MAX_REASON_BYTES};
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
