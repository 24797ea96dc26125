//! One gold aggregate at work: records in (late ones refused), state bytes folded per (pane,
//! key) by the plugin, and at commit time one row per key for each window the watermark passed.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use arrow::array::{ArrayRef, RecordBatch, StringArray, TimestampMicrosecondArray};

use super::error::GoldError;
use super::state::GoldState;
use crate::config::Gold;
use crate::decode::{Origin, SilverDecoder};
use crate::plugin::{
    AggregateStage, Allowance, GroupInput, Plugin, PluginEngine, Record, StageSpec, Verdict, short_sha,
};
use crate::source::TopicPartition;
use crate::tables::schema::{self, TableSchema};
use tokio_util::sync::CancellationToken;

/// One record for a gold aggregate: its value after the stages, and its event time (µs).
#[derive(Debug, Clone, Copy)]
pub struct GoldInput<'a> {
    pub record: &'a Record,
    pub event_us: Option<i64>,
    /// When the record reached Kafka (its timestamp; the processing time if it has none): an
    /// event time more than `max_ahead` past it is refused. Stored with the record, so a replay
    /// judges it the same.
    pub arrived_us: i64,
}

/// How many open states a new plugin version must read back before it takes over.
const STATE_PROBES: usize = 64;

/// A running gold aggregate.
pub struct GoldAggregator {
    gold: Gold,
    stage: AggregateStage,
    sha256: String,
    state: GoldState,
    /// The partitions that delivered records to the pipeline since it started (not kept in
    /// checkpoints: after a restart every partition holds windows until heard from again).
    heard: BTreeSet<TopicPartition>,
    /// Decodes `finish` rows into the declared columns.
    decoder: SilverDecoder,
    schema: TableSchema,
}

impl std::fmt::Debug for GoldAggregator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GoldAggregator")
            .field("gold", &self.gold.name)
            .field("sha256", &self.sha256)
            .field("groups", &self.state.groups())
            .finish()
    }
}

impl GoldAggregator {
    /// Loads the plugin and starts it (instantiation and `init`), with no open windows.
    pub fn start(pipeline: &str, gold: &Gold, engine: &PluginEngine) -> Result<Self, GoldError> {
        let plugin = Plugin::load_file(engine, &gold.plugin).map_err(|source| GoldError::Plugin {
            gold: gold.name.clone(),
            source,
        })?;
        Self::start_plugin(pipeline, gold, plugin)
    }

    /// Starts `gold` with an already loaded plugin (an aggregate: another world is refused).
    pub fn start_plugin(pipeline: &str, gold: &Gold, plugin: Arc<Plugin>) -> Result<Self, GoldError> {
        let sha256 = plugin.sha256().to_string();
        let log_name = format!("{pipeline}/{}", gold.name);
        let spec = StageSpec::new(plugin, log_name, gold.config.clone(), gold.limits);
        let mut stage = AggregateStage::start(spec).map_err(|source| GoldError::Plugin {
            gold: gold.name.clone(),
            source,
        })?;
        // Never interrupted, not even when the host stops: a batch half folded into the open
        // windows could not be taken out again. The deadline budget bounds its calls instead.
        stage.interrupt_on(CancellationToken::new());
        Ok(GoldAggregator {
            decoder: SilverDecoder::new(&gold.columns),
            schema: schema::gold(&gold.key_column, &gold.columns),
            gold: gold.clone(),
            stage,
            sha256,
            state: GoldState::default(),
            heard: BTreeSet::new(),
        })
    }

    pub fn gold(&self) -> &Gold {
        &self.gold
    }

    /// The plugin's content hash.
    pub fn sha256(&self) -> &str {
        &self.sha256
    }

    /// Notes that `partition` delivered records to the pipeline (whichever table took them).
    pub fn heard(&mut self, partition: &TopicPartition) {
        if !self.heard.contains(partition) {
            self.heard.insert(partition.clone());
        }
    }

    /// Forgets which partitions were heard from (their records are read again).
    pub fn forget_heard(&mut self) {
        self.heard.clear();
    }

    pub fn state(&self) -> &GoldState {
        &self.state
    }

    /// The gold table's columns.
    pub fn schema(&self) -> &TableSchema {
        &self.schema
    }

    /// Takes over open windows (from a checkpoint, or from the version this one replaces) once
    /// [`GoldAggregator::check`] accepts them.
    pub fn restore(&mut self, state: GoldState) -> Result<(), GoldError> {
        self.check(&state)?;
        self.state = state;
        Ok(())
    }

    /// Whether this plugin reads the state bytes of `state`'s open windows: `finish` is tried
    /// on up to 64 of them, and any error refuses the state rather than let windows fail later.
    pub fn check(&mut self, state: &GoldState) -> Result<(), GoldError> {
        let groups = state.groups();
        let step = (groups / STATE_PROBES).max(1);
        let probes: Vec<Vec<u8>> = state
            .panes
            .values()
            .flat_map(|keys| keys.values())
            .step_by(step)
            .take(STATE_PROBES)
            .cloned()
            .collect();
        let mut allowance = self.stage.allowance();
        let verdicts = self.stage.finish(&probes, &mut allowance);
        match verdicts.iter().find_map(Verdict::reason) {
            None => Ok(()),
            Some(reason) => Err(GoldError::State {
                gold: self.gold.name.clone(),
                message: format!(
                    "plugin {} cannot read the state of the open windows ({reason}); run the \
                     version that wrote it until they close, or make the new one read its state",
                    short_sha(&self.sha256)
                ),
            }),
        }
    }

    /// Puts open windows in place without a check (they came from [`GoldAggregator::take_state`]
    /// of this very aggregator).
    pub fn set_state(&mut self, state: GoldState) {
        self.state = state;
    }

    /// Takes the open windows over from `running`, the version this one replaces, if this one
    /// reads their state ([`GoldAggregator::check`]); else `running` keeps them.
    pub fn take_over(&mut self, running: &mut GoldAggregator) -> Result<(), GoldError> {
        let state = running.take_state();
        match self.check(&state) {
            Ok(()) => {
                self.state = state;
                self.heard = std::mem::take(&mut running.heard);
                Ok(())
            }
            Err(e) => {
                running.state = state;
                Err(e)
            }
        }
    }

    /// Hands the open windows over (to a replacing version).
    pub fn take_state(&mut self) -> GoldState {
        std::mem::take(&mut self.state)
    }

    /// Folds a batch of one partition's records (in offset order) into the open windows. Returns
    /// the records refused, by index, with the reason: no event time, late (every window that
    /// would hold it has passed its partition's watermark), no key, or an `accumulate` error.
    pub fn ingest(&mut self, partition: &TopicPartition, inputs: &[GoldInput<'_>]) -> Vec<(usize, String)> {
        let window = self.gold.window;
        let mut refused = Vec::new();
        // (input index, pane) of each record counted.
        let mut placed: Vec<(usize, i64)> = Vec::with_capacity(inputs.len());
        for (i, input) in inputs.iter().enumerate() {
            let Some(t) = input.event_us else {
                refused.push((i, format!("no event time: `{}` is null", self.gold.event_time)));
                continue;
            };
            if t > input.arrived_us.saturating_add(self.gold.max_ahead_us) {
                refused.push((i, future_reason(t, input.arrived_us, self.gold.max_ahead_us)));
                continue;
            }
            let watermark = self.state.watermark(partition, window.lateness_us);
            if window.is_late(t, watermark) {
                refused.push((i, late_reason(t, watermark, window.lateness_us)));
                continue;
            }
            self.state.observe(partition, t);
            placed.push((i, window.pane_of(t)));
        }
        if placed.is_empty() {
            return refused;
        }
        let records: Vec<Record> = placed.iter().map(|(i, _)| inputs[*i].record.clone()).collect();
        // One allowance for every call of this batch, the one-at-a-time retries included.
        let mut allowance = self.stage.allowance();
        let keys = self.stage.keys(&records, &mut allowance);
        let mut groups: BTreeMap<(i64, String), Vec<usize>> = BTreeMap::new();
        for (j, (verdict, (i, pane))) in keys.into_iter().zip(&placed).enumerate() {
            match verdict {
                Verdict::Ok(key) => groups.entry((*pane, key)).or_default().push(j),
                other => refused.push((*i, format!("key: {}", other.reason().unwrap_or_default()))),
            }
        }
        let mut records: Vec<Option<Record>> = records.into_iter().map(Some).collect();
        let inputs: Vec<GroupInput> = groups
            .iter()
            .map(|((pane, key), members)| GroupInput {
                state: self.state.get(*pane, key).cloned(),
                records: members.iter().filter_map(|&j| records[j].take()).collect(),
            })
            .collect();
        let states = self.stage.accumulate(&inputs, &mut allowance);
        for ((((pane, key), members), verdict), input) in groups.into_iter().zip(states).zip(inputs) {
            let state = match verdict {
                Verdict::Ok(state) => Some(state),
                _ => {
                    let members: Vec<usize> = members.iter().map(|&j| placed[j].0).collect();
                    self.refold(input, &members, &mut allowance, &mut refused)
                }
            };
            if let Some(state) = state {
                self.state.put(pane, key, state);
            }
        }
        refused.sort_by_key(|(i, _)| *i);
        refused
    }

    /// Folds a group's records into its state one at a time, after the group's call failed, so
    /// only the records that fail are refused (`members` are their input indexes). The retries
    /// spend the batch's allowance: once it is spent the rest are refused without a call.
    fn refold(
        &mut self,
        input: GroupInput,
        members: &[usize],
        allowance: &mut Allowance,
        refused: &mut Vec<(usize, String)>,
    ) -> Option<Vec<u8>> {
        let mut state = input.state;
        for (&i, record) in members.iter().zip(input.records) {
            let one = GroupInput {
                state: state.clone(),
                records: vec![record],
            };
            match self.stage.accumulate(&[one], allowance).pop() {
                Some(Verdict::Ok(next)) => state = Some(next),
                other => {
                    let reason = other.and_then(|v| v.reason()).unwrap_or_default();
                    refused.push((i, format!("accumulate: {reason}")));
                }
            }
        }
        state
    }

    /// Finishes every window the watermark (the slowest partition's) has passed since the last
    /// call: one row per key, from the merge of the window's panes, and drops the panes no open
    /// window needs. A window whose merge, `finish` or row does not work out still gets its
    /// row, with the reason in `_error`.
    ///
    /// Nothing is finished while a partition in `assigned` has neither fed this aggregate nor
    /// delivered any record to the pipeline since it started ([`GoldAggregator::heard`]): its
    /// records could be older than the others'. A partition that delivers only records other
    /// tables take (routing) stops holding windows once it was heard from; one not heard from
    /// (a backlog not reached yet, a topic the pattern just took) holds them.
    pub fn finish_windows(
        &mut self,
        now_us: i64,
        assigned: &BTreeSet<TopicPartition>,
    ) -> Result<Vec<RecordBatch>, GoldError> {
        let silent = |p: &TopicPartition| !self.state.newest.contains_key(p) && !self.heard.contains(p);
        if assigned.iter().any(silent) {
            return Ok(Vec::new());
        }
        let window = self.gold.window;
        let Some(watermark) = self.state.global_watermark(window.lateness_us) else {
            return Ok(Vec::new());
        };
        let emitted_to = self.state.emitted_to;
        if emitted_to.is_some_and(|e| watermark <= e) {
            return Ok(Vec::new());
        }
        let due = |start: i64| {
            let end = start.saturating_add(window.size_us);
            end <= watermark && emitted_to.is_none_or(|e| end > e)
        };
        let mut starts = BTreeSet::new();
        for &pane in self.state.panes.keys() {
            if pane >= watermark {
                break;
            }
            starts.extend(window.windows_of_pane(pane).filter(|s| due(*s)));
        }
        // Each (window, key) with the states of its panes in time order.
        let mut groups: Vec<(i64, String, Vec<Vec<u8>>)> = Vec::new();
        for start in starts {
            let mut by_key: BTreeMap<&str, Vec<Vec<u8>>> = BTreeMap::new();
            for pane in window.panes_of_window(start) {
                for (key, state) in self.state.panes.get(&pane).into_iter().flatten() {
                    by_key.entry(key).or_default().push(state.clone());
                }
            }
            groups.extend(by_key.into_iter().map(|(key, states)| (start, key.to_string(), states)));
        }
        let mut allowance = self.stage.allowance();
        let mut results = self.merge_all(
            groups.iter_mut().map(|(_, _, s)| std::mem::take(s)).collect(),
            &mut allowance,
        );
        self.finish_all(&mut results, &mut allowance);
        self.state
            .panes
            .retain(|&pane, _| pane.saturating_add(window.size_us) > watermark);
        self.state.emitted_to = Some(watermark);
        if groups.is_empty() {
            return Ok(Vec::new());
        }
        let batch = self.rows(&groups, results, now_us).map_err(|source| GoldError::Rows {
            gold: self.gold.name.clone(),
            source,
        })?;
        Ok(vec![batch])
    }

    /// Merges each list of states into one, a round of batched `merge` calls per pane.
    fn merge_all(&mut self, lists: Vec<Vec<Vec<u8>>>, allowance: &mut Allowance) -> Vec<Result<Vec<u8>, String>> {
        let longest = lists.iter().map(Vec::len).max().unwrap_or(0);
        let mut lists: Vec<std::vec::IntoIter<Vec<u8>>> = lists.into_iter().map(Vec::into_iter).collect();
        let mut merged: Vec<Result<Vec<u8>, String>> = lists
            .iter_mut()
            .map(|l| l.next().ok_or_else(|| "no state".to_string()))
            .collect();
        for _ in 1..longest {
            let mut at = Vec::new();
            let mut pairs = Vec::new();
            for (i, list) in lists.iter_mut().enumerate() {
                if let (Some(next), Ok(acc)) = (list.next(), &mut merged[i]) {
                    pairs.push((std::mem::take(acc), next));
                    at.push(i);
                }
            }
            let verdicts = self.stage.merge(&pairs, allowance);
            for (i, verdict) in at.into_iter().zip(verdicts) {
                merged[i] = match verdict {
                    Verdict::Ok(state) => Ok(state),
                    other => Err(format!("merge: {}", other.reason().unwrap_or_default())),
                };
            }
        }
        merged
    }

    /// Replaces each merged state with its `finish` row (JSON text).
    fn finish_all(&mut self, results: &mut [Result<Vec<u8>, String>], allowance: &mut Allowance) {
        let (at, states): (Vec<usize>, Vec<Vec<u8>>) = results
            .iter_mut()
            .enumerate()
            .filter_map(|(i, r)| r.as_mut().ok().map(|s| (i, std::mem::take(s))))
            .unzip();
        let verdicts = self.stage.finish(&states, allowance);
        for (i, verdict) in at.into_iter().zip(verdicts) {
            results[i] = match verdict {
                Verdict::Ok(row) => Ok(row.into_bytes()),
                other => Err(format!("finish: {}", other.reason().unwrap_or_default())),
            };
        }
    }

    /// The gold rows of finished windows.
    fn rows(
        &self,
        groups: &[(i64, String, Vec<Vec<u8>>)],
        results: Vec<Result<Vec<u8>, String>>,
        now_us: i64,
    ) -> Result<RecordBatch, arrow::error::ArrowError> {
        let mut errors: Vec<Option<String>> = results.iter().map(|r| r.as_ref().err().cloned()).collect();
        let texts: Vec<String> = results
            .into_iter()
            .map(|r| {
                r.ok()
                    .and_then(|b| String::from_utf8(b).ok())
                    .unwrap_or_else(|| "{}".into())
            })
            .collect();
        let origins = vec![
            Origin {
                topic: "",
                partition: 0,
                offset: 0,
            };
            texts.len()
        ];
        let mut values: Vec<&str> = texts.iter().map(String::as_str).collect();
        let mut decoded = self.decoder.decode(&values, &origins);
        if !decoded.rejected.is_empty() {
            for (i, reason) in &decoded.rejected {
                errors[*i] = Some(format!("finish row: {reason}"));
                values[*i] = "{}";
            }
            decoded = self.decoder.decode(&values, &origins);
        }
        let n = groups.len();
        let timestamps = |values: Vec<i64>| Arc::new(TimestampMicrosecondArray::from(values).with_timezone("UTC"));
        let mut columns: Vec<ArrayRef> = vec![
            Arc::new(StringArray::from_iter_values(groups.iter().map(|(_, key, _)| key))),
            timestamps(groups.iter().map(|(start, _, _)| *start).collect()),
            timestamps(
                groups
                    .iter()
                    .map(|(start, _, _)| start.saturating_add(self.gold.window.size_us))
                    .collect(),
            ),
        ];
        columns.extend(decoded.rows.columns().iter().take(self.gold.columns.len()).cloned());
        columns.push(Arc::new(StringArray::from(errors)));
        columns.push(timestamps(vec![now_us; n]));
        RecordBatch::try_new(self.schema.arrow.clone(), columns)
    }
}

fn late_reason(t: i64, watermark: Option<i64>, lateness_us: i64) -> String {
    format!(
        "late: event time {} is behind the watermark {} (allowed lateness {} s); its windows are closed",
        show(t),
        watermark.map(show).unwrap_or_default(),
        lateness_us / 1_000_000
    )
}

fn future_reason(t: i64, arrived_us: i64, max_ahead_us: i64) -> String {
    format!(
        "future: event time {} is more than {} s ahead of the record's Kafka timestamp {}",
        show(t),
        max_ahead_us / 1_000_000,
        show(arrived_us)
    )
}

/// A time in µs as RFC 3339 text.
fn show(us: i64) -> String {
    arrow::temporal_conversions::timestamp_us_to_datetime(us)
        .map(|t| t.format("%Y-%m-%dT%H:%M:%S%.6fZ").to_string())
        .unwrap_or_else(|| us.to_string())
}
