//! An aggregate stage: the plugin's key / accumulate / merge / finish functions, each called once
//! per batch of items with the same isolation as transforms. Keys, windows and the storage of
//! state bytes belong to the host (see the gold layer). All the calls made for one batch share
//! one [`Allowance`]: one isolation budget and one output budget.

use tokio_util::sync::CancellationToken;

use super::PluginKind;
use super::batch::columnar;
use super::bindings::Record;
use super::bindings::aggregate::Group;
use super::error::PluginError;
use super::failure::Failure;
use super::instance::{Exports, InstanceSlot, StageSpec};
use super::isolate::{Answers, Budget, run_isolated};
use super::limits::MAX_REASON_BYTES;
use super::room::{Room, cut_reason};
use super::transform::unreachable_kind;
use super::verdict::Verdict;

/// One group's input to `accumulate`: its state so far and its new records.
#[derive(Debug, Clone)]
pub struct GroupInput {
    pub state: Option<Vec<u8>>,
    pub records: Vec<Record>,
}

/// What the calls of one batch may still spend: failed calls and deadlines, and bytes of answers.
#[derive(Debug, Clone)]
pub struct Allowance {
    budget: Budget,
    room: Room,
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

    /// From now on, a call in progress ends when `interrupt` is cancelled, and the items not yet
    /// answered get [`Failure::Interrupted`] (the caller must not keep them).
    pub fn interrupt_on(&mut self, interrupt: CancellationToken) {
        self.slot.interrupt_on(interrupt);
    }

    /// A fresh allowance for the calls of one batch.
    pub fn allowance(&self) -> Allowance {
        let limits = &self.slot.spec.limits;
        Allowance {
            budget: Budget::new(limits.deadline()),
            room: Room::new(limits),
        }
    }

    /// The group key of each record.
    pub fn keys(&mut self, batch: &[Record], allowance: &mut Allowance) -> Vec<Verdict<String>> {
        let slot = &mut self.slot;
        let Allowance { budget, room } = allowance;
        isolated(batch, budget, &mut |records: &[Record]| -> Answers<String> {
            let batch = columnar(records);
            let keys = slot.call(room.left(), |store, exports| match exports {
                Exports::Aggregate(a) => a.call_keys(store, &batch),
                Exports::Transform(_) => unreachable_kind(),
            })?;
            let keys: Vec<Verdict<String>> = keys.into_iter().map(text_verdict).collect();
            room.take(keys.iter().map(text_bytes).sum())?;
            Ok(keys)
        })
    }

    /// Folds each group's records into its state. A state past `max_state_kib` fails its group.
    pub fn accumulate(&mut self, groups: &[GroupInput], allowance: &mut Allowance) -> Vec<Verdict<Vec<u8>>> {
        let slot = &mut self.slot;
        let Allowance { budget, room } = allowance;
        isolated(groups, budget, &mut |groups: &[GroupInput]| -> Answers<Vec<u8>> {
            let wit: Vec<Group> = groups
                .iter()
                .map(|g| Group {
                    state: g.state.clone(),
                    records: columnar(&g.records),
                })
                .collect();
            let copy = state_copy(groups.len(), &slot.spec, room);
            let states = slot
                .call(copy, |store, exports| match exports {
                    Exports::Aggregate(a) => a.call_accumulate(store, &wit),
                    Exports::Transform(_) => unreachable_kind(),
                })
                .map_err(|f| state_failure(f, copy, &slot.spec, room))?;
            states_verdicts(states, &slot.spec, room)
        })
    }

    /// Combines pairs of partial states.
    pub fn merge(&mut self, pairs: &[(Vec<u8>, Vec<u8>)], allowance: &mut Allowance) -> Vec<Verdict<Vec<u8>>> {
        let slot = &mut self.slot;
        let Allowance { budget, room } = allowance;
        isolated(pairs, budget, &mut |pairs: &[(Vec<u8>, Vec<u8>)]| -> Answers<Vec<u8>> {
            let copy = state_copy(pairs.len(), &slot.spec, room);
            let states = slot
                .call(copy, |store, exports| match exports {
                    Exports::Aggregate(a) => a.call_merge(store, pairs),
                    Exports::Transform(_) => unreachable_kind(),
                })
                .map_err(|f| state_failure(f, copy, &slot.spec, room))?;
            states_verdicts(states, &slot.spec, room)
        })
    }

    /// The output row (a JSON object, as text) of each state.
    pub fn finish(&mut self, states: &[Vec<u8>], allowance: &mut Allowance) -> Vec<Verdict<String>> {
        let slot = &mut self.slot;
        let Allowance { budget, room } = allowance;
        isolated(states, budget, &mut |states: &[Vec<u8>]| -> Answers<String> {
            let rows = slot.call(room.left(), |store, exports| match exports {
                Exports::Aggregate(a) => a.call_finish(store, states),
                Exports::Transform(_) => unreachable_kind(),
            })?;
            let rows: Vec<Verdict<String>> = rows.into_iter().map(text_verdict).collect();
            room.take(rows.iter().map(text_bytes).sum())?;
            Ok(rows)
        })
    }
}

fn isolated<T, R>(items: &[T], budget: &mut Budget, call: &mut dyn FnMut(&[T]) -> Answers<R>) -> Vec<Verdict<R>> {
    let mut out = Vec::with_capacity(items.len());
    run_isolated(items, budget, call, &mut out);
    out
}

/// A key or row, or the plugin's reason (cut to size) for not giving one.
fn text_verdict(answer: Result<String, String>) -> Verdict<String> {
    match answer {
        Ok(text) => Verdict::Ok(text),
        Err(reason) => Verdict::Rejected(cut_reason(reason)),
    }
}

fn text_bytes(verdict: &Verdict<String>) -> usize {
    match verdict {
        Verdict::Ok(text) | Verdict::Rejected(text) => text.len(),
        Verdict::Failed(_) => 0,
    }
}

/// What a call returning `n` states may copy out: `n` states of the largest size allowed (and
/// their reasons), within the batch's room. A larger state then fails while it is being read,
/// before the host holds any of it.
fn state_copy(n: usize, spec: &StageSpec, room: &Room) -> usize {
    let per_state = spec.limits.max_state_bytes().max(MAX_REASON_BYTES) + 64;
    room.left().min(n.saturating_mul(per_state))
}

/// A call that copied out more than its states may hold failed for a state too large, unless
/// it was the batch's room that ran out.
fn state_failure(failure: Failure, copy: usize, spec: &StageSpec, room: &Room) -> Failure {
    match failure {
        Failure::Outputs { .. } if copy < room.left() => Failure::Contract {
            message: format!(
                "a state is larger than the {} KiB a group may hold (`max_state_kib`)",
                spec.limits.max_state_kib
            ),
        },
        other => other,
    }
}

/// New states, each within `max_state_kib`, counted against the batch's room. A larger state
/// fails the whole call, so isolation finds its group and spends the batch's budget on it.
fn states_verdicts(
    states: Vec<Result<Vec<u8>, String>>,
    spec: &StageSpec,
    room: &mut Room,
) -> Result<Vec<Verdict<Vec<u8>>>, Failure> {
    let max = spec.limits.max_state_bytes();
    if let Some(large) = states.iter().flatten().find(|state| state.len() > max) {
        return Err(Failure::Contract {
            message: format!(
                "a state of {} bytes is larger than the {} KiB a group may hold (`max_state_kib`)",
                large.len(),
                spec.limits.max_state_kib
            ),
        });
    }
    let verdicts: Vec<Verdict<Vec<u8>>> = states
        .into_iter()
        .map(|state| match state {
            Ok(state) => Verdict::Ok(state),
            Err(reason) => Verdict::Rejected(cut_reason(reason)),
        })
        .collect();
    let bytes = verdicts
        .iter()
        .map(|v| match v {
            Verdict::Ok(state) => state.len(),
            Verdict::Rejected(reason) => reason.len(),
            Verdict::Failed(_) => 0,
        })
        .sum();
    room.take(bytes)?;
    Ok(verdicts)
}
