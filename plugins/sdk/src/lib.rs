//! The Weir plugin SDK: a plugin is one trait impl plus one export macro.
//!
//! ```
//! use weir_sdk::{Config, Context, Outcome, Record, Transform};
//!
//! struct DropEmpty;
//!
//! impl Transform for DropEmpty {
//!     fn init(_config: Config) -> Result<Self, String> { Ok(DropEmpty) }
//!     fn process(&self, record: &Record, _ctx: &Context) -> Outcome {
//!         if record.value.trim() == "{}" { Outcome::filter() } else { Outcome::pass() }
//!     }
//! }
//!
//! weir_sdk::export_transform!(DropEmpty);
//! ```
//!
//! Map of the crate:
//! - [`Record`] (borrowed input), [`Output`], [`Outcome`], [`Context`], [`Config`]: what a plugin
//!   reads and returns.
//! - [`Transform`] (validate, map, filter, flat-map) and [`Aggregate`] (keyed state): the two
//!   plugin kinds, matching the `transform` and `aggregate` worlds of `wit/weir-plugin.wit`.
//! - [`export_transform!`] / [`export_aggregate!`]: generate the component bindings for one world
//!   inside the plugin crate and route the host's batched calls to the trait.
//! - [`log`]: the host log, the only thing a plugin may reach outside itself.
//! - [`time`]: RFC 3339 formatting, since plugins have no clock of their own to agree on.
//! - [`text`]: string comparison that stays fast in the sandbox (no call into libc's `memcmp`).

mod config;
mod export;
pub mod log;
mod outcome;
mod record;
#[doc(hidden)]
pub mod runtime;
pub mod text;
pub mod time;

pub use config::Config;
pub use outcome::Outcome;
pub use record::{Context, Output, Record, split_batch};
pub use serde_json::{Value as Json, json};

/// A validate / transform / filter / flat-map stage.
///
/// The host calls [`Transform::process`] once per record of each batch, in order, on a value
/// built once by [`Transform::init`]. Keep `process` a pure function of the config and the record:
/// the host may replay a batch after a crash, and must get the same outputs.
pub trait Transform: Sized + 'static {
    /// Builds the stage from the `config` table of its pipeline stage. An error refuses the
    /// config: the pipeline does not start and the message is shown to the user.
    fn init(config: Config) -> Result<Self, String>;

    /// Decides what becomes of one record.
    fn process(&self, record: &Record<'_>, context: &Context) -> Outcome;
}

/// A keyed aggregate stage. The host groups records by [`Aggregate::key`] and by window, stores
/// each group's state bytes, checkpoints them and calls [`Aggregate::finish`] when a window closes.
pub trait Aggregate: Sized + 'static {
    /// Builds the stage from the `config` table of its pipeline stage.
    fn init(config: Config) -> Result<Self, String>;

    /// The group key of a record, or why it has none (the record is then rejected).
    fn key(&self, record: &Record<'_>) -> Result<String, String>;

    /// Folds `records` into `state` (`None` for a new group) and returns the new state.
    fn accumulate(&self, state: Option<&[u8]>, records: &[Record<'_>]) -> Result<Vec<u8>, String>;

    /// Combines two partial states of the same group.
    fn merge(&self, left: &[u8], right: &[u8]) -> Result<Vec<u8>, String>;

    /// The output row of a state: a JSON object whose fields become gold columns.
    fn finish(&self, state: &[u8]) -> Result<Json, String>;
}

#[cfg(test)]
mod tests {
    /// The export macros carry the WIT package inline (the bindings generator needs a literal);
    /// this keeps that copy identical to `wit/weir-plugin.wit`, the contract the host loads.
    #[test]
    fn inline_wit_matches_the_repository_wit() {
        let repo = include_str!("../../../wit/weir-plugin.wit");
        assert_eq!(crate::runtime::WIT, repo);
    }
}
