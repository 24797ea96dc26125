//! An aggregate stage: the plugin's key / accumulate / merge / finish functions, each called once
//! per batch of items with the same isolation as transforms. Keys, windows and the storage of
//! state bytes belong to the host (see the gold layer).

use super::PluginKind;
use super::batch::columnar;
use super::bindings::Record;
use super::bindings::aggregate::Group;
use super::error::PluginError;
use super::instance::{Exports, InstanceSlot, StageSpec};
use super::isolate::{Answers, Budget, run_isolated};
use super::transform::unreachable_kind;
use super::verdict::Verdict;

/// One group's input to `accumulate`: its state so far and its new records.
#[derive(Debug, Clone)]
pub struct GroupInput {
    pub state: Option<Vec<u8>>,
    pub records: Vec<Record>,
}

/// A running aggregate stage.
pub struct AggregateStage {
    slot: InstanceSlot,
}

impl std::fmt::Debug for AggregateStage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AggregateStage")
            .field("plugin", &self.slot.spec.plugin)
            .finish()
    }
}

impl AggregateStage {
    /// Starts the stage: instantiates the plugin and runs `init`.
    pub fn start(spec: StageSpec) -> Result<Self, PluginError> {
        spec.plugin.expect_kind(PluginKind::Aggregate)?;
        Ok(AggregateStage {
            slot: InstanceSlot::start(spec)?,
        })
    }

    pub fn spec(&self) -> &StageSpec {
        &self.slot.spec
    }

    /// The group key of each record.
    pub fn keys(&mut self, batch: &[Record]) -> Vec<Verdict<String>> {
        let slot = &mut self.slot;
        isolated(batch, &mut |records: &[Record]| -> Answers<String> {
            let batch = columnar(records);
            let keys = slot.call(|store, exports| match exports {
                Exports::Aggregate(a) => a.call_keys(store, &batch),
                Exports::Transform(_) => unreachable_kind(),
            })?;
            Ok(keys.into_iter().map(Verdict::from).collect())
        })
    }

    /// Folds each group's records into its state.
    pub fn accumulate(&mut self, groups: &[GroupInput]) -> Vec<Verdict<Vec<u8>>> {
        let slot = &mut self.slot;
        isolated(groups, &mut |groups: &[GroupInput]| -> Answers<Vec<u8>> {
            let wit: Vec<Group> = groups
                .iter()
                .map(|g| Group {
                    state: g.state.clone(),
                    records: columnar(&g.records),
                })
                .collect();
            let states = slot.call(|store, exports| match exports {
                Exports::Aggregate(a) => a.call_accumulate(store, &wit),
                Exports::Transform(_) => unreachable_kind(),
            })?;
            Ok(states.into_iter().map(Verdict::from).collect())
        })
    }

    /// Combines pairs of partial states.
    pub fn merge(&mut self, pairs: &[(Vec<u8>, Vec<u8>)]) -> Vec<Verdict<Vec<u8>>> {
        let slot = &mut self.slot;
        isolated(pairs, &mut |pairs: &[(Vec<u8>, Vec<u8>)]| -> Answers<Vec<u8>> {
            let states = slot.call(|store, exports| match exports {
                Exports::Aggregate(a) => a.call_merge(store, pairs),
                Exports::Transform(_) => unreachable_kind(),
            })?;
            Ok(states.into_iter().map(Verdict::from).collect())
        })
    }

    /// The output row (a JSON object, as text) of each state.
    pub fn finish(&mut self, states: &[Vec<u8>]) -> Vec<Verdict<String>> {
        let slot = &mut self.slot;
        isolated(states, &mut |states: &[Vec<u8>]| -> Answers<String> {
            let rows = slot.call(|store, exports| match exports {
                Exports::Aggregate(a) => a.call_finish(store, states),
                Exports::Transform(_) => unreachable_kind(),
            })?;
            Ok(rows.into_iter().map(Verdict::from).collect())
        })
    }
}

fn isolated<T, R>(items: &[T], call: &mut dyn FnMut(&[T]) -> Answers<R>) -> Vec<Verdict<R>> {
    let mut out = Vec::with_capacity(items.len());
    run_isolated(items, &mut Budget::default(), call, &mut out);
    out
}
