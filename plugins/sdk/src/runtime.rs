//! Glue between the generated component bindings and the SDK traits. Not part of the API: the
//! export macros call into it, so plugin crates need no dependency on wit-bindgen.

use std::cell::RefCell;
use std::thread::LocalKey;

use crate::{Aggregate, Config, Context, Json, Outcome, Record, Transform};

pub use wit_bindgen;

/// The stage value built by `init`, one per plugin instance (wasm is single-threaded).
pub type Slot<T> = LocalKey<RefCell<Option<T>>>;

const NOT_INITIALISED: &str = "plugin called before init";

/// Runs `T::init` and keeps the stage for later calls.
pub fn init<T, F>(slot: &'static Slot<T>, config: String, build: F) -> Result<(), String>
where
    F: FnOnce(Config) -> Result<T, String>,
{
    let stage = build(Config::parse(&config)?)?;
    slot.with(|cell| *cell.borrow_mut() = Some(stage));
    Ok(())
}

/// The records of a column-wise batch, or one error for all of them.
pub type Batch<'a> = Result<Vec<Record<'a>>, String>;

/// Runs `process` on each record of a batch, in order, each outcome turned into the bindings'
/// type by `wit` as it comes (one pass, one vector).
pub fn process<T: Transform, W>(
    slot: &'static Slot<T>,
    batch: Batch<'_>,
    len: usize,
    context: &Context,
    wit: impl Fn(Outcome) -> W,
) -> Vec<W> {
    slot.with(|cell| match (cell.borrow().as_ref(), batch) {
        (Some(stage), Ok(records)) => records
            .iter()
            .map(|record| wit(stage.process(record, context)))
            .collect(),
        (None, _) => (0..len).map(|_| wit(Outcome::reject(NOT_INITIALISED))).collect(),
        (_, Err(e)) => (0..len).map(|_| wit(Outcome::reject(e.clone()))).collect(),
    })
}

/// Calls `f` with the aggregate stage, or fails every item when `init` has not run.
pub fn with_aggregate<T: Aggregate, R>(
    slot: &'static Slot<T>,
    len: usize,
    f: impl FnOnce(&T) -> Vec<Result<R, String>>,
) -> Vec<Result<R, String>> {
    slot.with(|cell| match cell.borrow().as_ref() {
        Some(stage) => f(stage),
        None => (0..len).map(|_| Err(NOT_INITIALISED.to_string())).collect(),
    })
}

/// The JSON text of an aggregate's output row.
pub fn finish_json<T: Aggregate>(stage: &T, state: &[u8]) -> Result<String, String> {
    match stage.finish(state)? {
        Json::Object(map) => Ok(Json::Object(map).to_string()),
        other => Err(format!("finish must return a JSON object, got {other}")),
    }
}

/// Passes the WIT package text, as a literal, to the macro `$cb` of this crate.
#[doc(hidden)]
#[macro_export]
macro_rules! __weir_wit {
    ($cb:ident { $($args:tt)* }) => {
        $crate::$cb! { $($args)* wit = r#"/// The contract between the Weir host and its plugins.
///
/// Calls are batched: the host hands a plugin a batch of records per call and
/// gets back exactly one outcome per input record, in input order. Plugins are
/// pure functions of their `init` config and their input: the host owns
/// offsets, keys, windows, state storage and checkpoints.
package weir:plugin@0.1.0;

/// Types shared by every plugin world.
interface types {
    /// The records of one call, stored column by column (as Arrow stores
    /// them), so a whole batch crosses into the plugin in a few copies instead
    /// of a few per record. The SDK hands plugins one record at a time.
    record record-batch {
        /// Every record's value, a JSON document, concatenated.
        values: string,
        /// Where each value ends in `values`, in bytes: record i spans
        /// value-ends[i-1]..value-ends[i] (record 0 starts at 0).
        value-ends: list<u32>,
        /// Every record's Kafka key, concatenated. A record without a key has
        /// an empty one.
        keys: list<u8>,
        /// Where each key ends in `keys`, as for `value-ends`.
        key-ends: list<u32>,
        /// Each record's event or Kafka timestamp, ms since the Unix epoch.
        timestamps: list<option<s64>>,
    }

    /// A record a plugin produces.
    record %record {
        /// The Kafka key to keep with it, if any.
        key: option<list<u8>>,
        /// The record's value: one JSON document, as UTF-8 text.
        value: string,
        /// Event timestamp, milliseconds since the Unix epoch.
        timestamp-ms: option<s64>,
    }

    /// Facts about the batch, the same for every record in it.
    record batch-context {
        /// When the host started this batch, milliseconds since the Unix epoch.
        /// Use it instead of a clock so that a batch's outputs agree.
        processing-time-ms: s64,
    }

    /// What became of one input record.
    variant outcome {
        /// Accepted unchanged: the input record is the one output. Nothing is
        /// copied back, so validations and filters should prefer it to
        /// `accepted([record])`.
        pass,
        /// Accepted, producing zero or more output records: one for a
        /// map stage, none to filter the record out, several to flat-map it.
        accepted(list<%record>),
        /// Rejected: the record goes to quarantine with this reason.
        rejected(string),
    }

    /// Severity of a plugin's log line.
    enum level { trace, debug, info, warn, error }
}

/// What the host offers every plugin: a log, and nothing else.
interface host {
    use types.{level};
    /// Writes a line to the host's log, tagged with the pipeline and stage.
    log: func(level: level, message: string);
}

/// A validate / transform / filter / flat-map stage.
world transform {
    use types.{record-batch, batch-context, outcome};
    import host;

    /// Receives the stage's `config` table from pipeline.toml, as JSON text.
    /// An error refuses the config: the stage does not start.
    export init: func(config: string) -> result<_, string>;

    /// Processes one batch; returns one outcome per input record, in order.
    export process: func(batch: record-batch, context: batch-context) -> list<outcome>;
}

/// A keyed aggregate stage. The host groups records by key and window, keeps
/// each group's state bytes, checkpoints them, and asks for a result when a
/// window closes. The plugin owns the meaning of the state bytes.
world aggregate {
    use types.{record-batch};
    import host;

    /// One group's slice of a batch: its current state (none for a new group)
    /// and its new records.
    record group {
        state: option<list<u8>>,
        records: record-batch,
    }

    /// Receives the stage's `config` table from pipeline.toml, as JSON text.
    export init: func(config: string) -> result<_, string>;

    /// The group key of each record (ok), or why it has none (err: the record
    /// is rejected to quarantine). One result per input record, in order.
    export keys: func(batch: record-batch) -> list<result<string, string>>;

    /// Folds each group's records into its state; one new state per group, in
    /// order, or an error for the group.
    export accumulate: func(groups: list<group>) -> list<result<list<u8>, string>>;

    /// Combines pairs of partial states (for hopping windows and for merging
    /// the work of several partitions).
    export merge: func(pairs: list<tuple<list<u8>, list<u8>>>) -> list<result<list<u8>, string>>;

    /// The final output row of each state, as a JSON object, in order.
    export finish: func(states: list<list<u8>>) -> list<result<string, string>>;
}
"# }
    };
}

#[doc(hidden)]
#[macro_export]
macro_rules! __weir_literal {
    (wit = $text:literal) => {
        $text
    };
}

/// Generates the component bindings of one world of the WIT package.
#[doc(hidden)]
#[macro_export]
macro_rules! __weir_bindings {
    (world = $world:literal wit = $wit:literal) => {
        $crate::runtime::wit_bindgen::generate!({
            inline: $wit,
            world: $world,
            runtime_path: "::weir_sdk::runtime::wit_bindgen::rt",
        });
    };
}

/// The WIT package the export macros generate bindings from.
pub const WIT: &str = crate::__weir_wit!(__weir_literal {});
