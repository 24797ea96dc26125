//! The transform stages over one partition batch: the Kafka records become plugin records (or
//! quarantine rows, stage `decode`), each stage runs in order on what the one before accepted,
//! and what a stage refuses goes to quarantine with its reason and the plugin's hash. Counted
//! per stage in the metrics.

use tokio_util::sync::CancellationToken;

use super::rows::Rejected;
use super::stages::RunningStage;
use crate::decode::ValueDecoder;
use crate::metrics::metrics;
use crate::plugin::{BatchContext, Outputs, Record, TransformVerdict, Verdict};
use crate::source::SourceRecord;

/// The records a stage sees, and for each the index of the Kafka record it came from (parallel
/// vectors, so a stage reads the batch in place).
#[derive(Debug, Default)]
pub struct StageInputs {
    pub records: Vec<Record>,
    pub from: Vec<usize>,
}

/// The pipeline was told to stop while a stage was at work on the batch.
#[derive(Debug)]
pub struct Interrupted;

/// The plugin records of `records`; the malformed, those without a value and those whose value
/// `values` cannot read (not UTF-8; an Avro record without its header or schema, or whose body
/// does not match it) go to `rejected` instead.
pub fn plugin_inputs<'a>(
    records: &[&'a SourceRecord],
    values: &ValueDecoder,
    rejected: &mut Vec<Rejected<'a>>,
) -> StageInputs {
    let mut inputs = StageInputs {
        records: Vec::with_capacity(records.len()),
        from: Vec::with_capacity(records.len()),
    };
    for (i, record) in records.iter().enumerate() {
        if let Some(reason) = &record.malformed {
            rejected.push(Rejected::new(record, "decode", reason, None));
            continue;
        }
        let Some(value) = record.value.as_deref() else {
            rejected.push(Rejected::new(record, "decode", "message has no value", None));
            continue;
        };
        match values.text(value) {
            Ok(text) => {
                inputs.records.push(Record {
                    key: record.key.clone(),
                    value: text,
                    timestamp_ms: record.timestamp_ms,
                });
                inputs.from.push(i);
            }
            Err(reason) => rejected.push(Rejected::new(record, "decode", &reason, None)),
        }
    }
    inputs
}

/// One batch's pass through the stages.
pub struct StageRun<'s, 'r> {
    pub pipeline: &'s str,
    pub context: BatchContext,
    pub interrupt: &'s CancellationToken,
    /// The batch's Kafka records, which `from` indexes.
    pub records: &'s [&'r SourceRecord],
}

impl<'r> StageRun<'_, 'r> {
    /// Runs `stages` in order (the caller is off the async runtime: these calls block). What
    /// the last stage accepted, or [`Interrupted`] (the batch must then be dropped).
    pub fn run(
        &self,
        stages: &mut [RunningStage],
        mut inputs: StageInputs,
        rejected: &mut Vec<Rejected<'r>>,
    ) -> Result<StageInputs, Interrupted> {
        for running in stages {
            let started = std::time::Instant::now();
            let verdicts = running.stage.process(&inputs.records, self.context);
            if self.interrupt.is_cancelled() {
                return Err(Interrupted);
            }
            metrics()
                .plugin_call_seconds
                .with_label_values(&[self.pipeline, running.name.as_str()])
                .observe(started.elapsed().as_secs_f64());
            inputs = self.apply(running, inputs, verdicts, rejected);
        }
        Ok(inputs)
    }

    /// The records the stage passed on, in order; the refused ones to `rejected`.
    fn apply(
        &self,
        stage: &RunningStage,
        inputs: StageInputs,
        verdicts: Vec<TransformVerdict>,
        rejected: &mut Vec<Rejected<'r>>,
    ) -> StageInputs {
        let m = metrics();
        let mut next = StageInputs {
            records: Vec::with_capacity(inputs.records.len()),
            from: Vec::with_capacity(inputs.from.len()),
        };
        let (mut accepted, mut refused, mut failed) = (0, 0, 0);
        for ((input, i), verdict) in inputs.records.into_iter().zip(inputs.from).zip(verdicts) {
            match verdict {
                Verdict::Ok(Outputs::Unchanged) => {
                    accepted += 1;
                    next.records.push(input);
                    next.from.push(i);
                }
                Verdict::Ok(Outputs::Records(outputs)) => {
                    accepted += 1;
                    next.from.extend(std::iter::repeat_n(i, outputs.len()));
                    next.records.extend(outputs);
                }
                other => {
                    if let Verdict::Failed(failure) = &other {
                        failed += 1;
                        m.plugin_failures
                            .with_label_values(&[self.pipeline, stage.name.as_str(), failure.kind()])
                            .inc();
                    } else {
                        refused += 1;
                    }
                    let reason = other.reason().unwrap_or_default();
                    let sha = Some(stage.sha256.clone());
                    rejected.push(Rejected::new(self.records[i], &stage.name, &reason, sha));
                }
            }
        }
        m.stage(self.pipeline, &stage.name, "accepted", accepted);
        m.stage(self.pipeline, &stage.name, "rejected", refused);
        m.stage(self.pipeline, &stage.name, "failed", failed);
        next
    }
}
