//! A validate / transform stage: one plugin instance reused across batches, one call per batch,
//! failures isolated to the records that cause them.

use super::PluginKind;
use super::batch::{chunk_len, columnar};
use super::bindings::{BatchContext, Outcome, Record};
use super::error::PluginError;
use super::failure::Failure;
use super::instance::{Exports, InstanceSlot, StageSpec};
use super::isolate::{Budget, run_isolated};
use super::room::{Room, cut_reason, record_bytes};
use super::verdict::Verdict;
use tokio_util::sync::CancellationToken;

/// The verdict on one input record of a transform: its outputs, or why it has none.
pub type TransformVerdict = Verdict<Outputs>;

/// What an accepted record became.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outputs {
    /// The input record itself, unchanged (the plugin said `pass`; nothing was copied back).
    Unchanged,
    /// These records instead: one maps, none filters, several flat-map.
    Records(Vec<Record>),
}

impl Outputs {
    /// How many records come out.
    pub fn len(&self) -> usize {
        match self {
            Outputs::Unchanged => 1,
            Outputs::Records(records) => records.len(),
        }
    }

    /// True when the record was filtered out.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The output records, given the input they came from.
    pub fn resolve<'a>(&'a self, input: &'a Record) -> Vec<&'a Record> {
        match self {
            Outputs::Unchanged => vec![input],
            Outputs::Records(records) => records.iter().collect(),
        }
    }
}

/// A running transform stage.
pub struct TransformStage {
    slot: InstanceSlot,
}

impl std::fmt::Debug for TransformStage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TransformStage")
            .field("plugin", &self.slot.spec.plugin)
            .finish()
    }
}

impl TransformStage {
    /// Starts the stage: instantiates the plugin and runs `init`. A plugin of the wrong world, a
    /// refused config or a failing `init` is an error here, before any record is touched.
    pub fn start(spec: StageSpec) -> Result<Self, PluginError> {
        spec.plugin.expect_kind(PluginKind::Transform)?;
        Ok(TransformStage {
            slot: InstanceSlot::start(spec)?,
        })
    }

    /// Another instance of this stage for a parallel worker: the same plugin, config and limits,
    /// started at its first call (the config was accepted by this one's `init`).
    pub fn replica(&self) -> TransformStage {
        TransformStage {
            slot: self.slot.replica(),
        }
    }

    pub fn spec(&self) -> &StageSpec {
        &self.slot.spec
    }

    /// From now on, a call in progress ends when `interrupt` is cancelled, and the records not
    /// yet answered get [`Failure::Interrupted`] (the caller must not keep them).
    pub fn interrupt_on(&mut self, interrupt: CancellationToken) {
        self.slot.interrupt_on(interrupt);
    }

    /// Processes one batch: exactly one verdict per input record, in order. Never fails: a trap,
    /// deadline, memory overrun or too much output discards the instance and fails only the
    /// records that cause it (see `isolate`); reasons are cut to `MAX_REASON_BYTES`.
    pub fn process(&mut self, batch: &[Record], context: BatchContext) -> Vec<TransformVerdict> {
        let mut out = Vec::with_capacity(batch.len());
        let limits = self.slot.spec.limits;
        let mut budget = Budget::new(limits.deadline());
        let mut room = Room::new(&limits);
        let slot = &mut self.slot;
        let mut call = |records: &[Record]| -> Result<Vec<TransformVerdict>, Failure> {
            let batch = columnar(records);
            let outcomes = slot.call(room.left(), |store, exports| match exports {
                Exports::Transform(t) => t.call_process(store, &batch, context),
                Exports::Aggregate(_) => unreachable_kind(),
            })?;
            let verdicts: Vec<TransformVerdict> = outcomes.into_iter().map(into_verdict).collect();
            room.take(verdicts.iter().map(held).sum())?;
            Ok(verdicts)
        };
        let mut rest = batch;
        while !rest.is_empty() {
            let (chunk, tail) = rest.split_at(chunk_len(rest));
            run_isolated(chunk, &mut budget, &mut call, &mut out);
            rest = tail;
        }
        out
    }
}

fn into_verdict(outcome: Outcome) -> TransformVerdict {
    match outcome {
        Outcome::Pass => Verdict::Ok(Outputs::Unchanged),
        Outcome::Accepted(records) => Verdict::Ok(Outputs::Records(records)),
        Outcome::Rejected(reason) => Verdict::Rejected(cut_reason(reason)),
    }
}

/// What a verdict holds in the host.
fn held(verdict: &TransformVerdict) -> usize {
    std::mem::size_of::<TransformVerdict>()
        + match verdict {
            Verdict::Ok(Outputs::Records(records)) => records.iter().map(record_bytes).sum(),
            Verdict::Rejected(reason) => reason.len(),
            Verdict::Ok(Outputs::Unchanged) | Verdict::Failed(_) => 0,
        }
}

/// `start` checked the kind; an instance of the other world cannot be in this slot.
pub(crate) fn unreachable_kind<R>() -> wasmtime::Result<R> {
    Err(wasmtime::format_err!(
        "internal error: instance of the wrong plugin kind"
    ))
}
