//! The half of a batch's way that needs nothing but the batch: bronze rows, the stages, and
//! silver decoding. It runs on the pipeline's workers in parallel (`workers`), one batch per
//! worker at a time; what needs the pipeline's shared state (silver's key set, gold, the
//! buffer) follows in batch order (`DataPath::absorb`).

use arrow::error::ArrowError;
use arrow::record_batch::RecordBatch;
use tokio_util::sync::CancellationToken;

use super::batch_stages::{self, Interrupted, StageInputs, StageRun};
use super::offsets::TableOffsets;
use super::rows::{self, Rejected};
use super::stages::RunningStage;
use crate::decode::{Origin, Router, SilverDecoder, ValueDecoder};
use crate::metrics::metrics;
use crate::plugin::BatchContext;
use crate::source::{SourceRecord, TopicPartition};
use crate::tables::Layer;
use crate::tables::schema::TableSchema;

/// One partition batch on its way: the records no table holds yet, and the batch's one clock
/// reading (its rows' stamps and the plugins' processing time agree).
pub(super) struct Batch<'r> {
    /// The partition the records are of.
    pub tp: TopicPartition,
    pub records: Vec<&'r SourceRecord>,
    pub now_ms: i64,
}

/// What the workers share, read-only.
pub(super) struct Prepare<'c> {
    pub pipeline: &'c str,
    /// Per silver table, its decoder.
    pub decoders: &'c [SilverDecoder],
    pub router: &'c Router,
    pub values: &'c ValueDecoder,
    pub offsets: &'c TableOffsets,
    pub bronze: &'c TableSchema,
    pub interrupt: &'c CancellationToken,
    /// Whether silver may be read straight from the values when there are no stages (nothing
    /// else, no gold table and no route, needs the records as JSON).
    pub direct: bool,
}

/// A batch after its workers' half.
pub(super) struct Prepared<'r> {
    pub batch: Batch<'r>,
    pub bronze: RecordBatch,
    /// Refused so far (decode, stages, silver), each with its reason.
    pub rejected: Vec<Rejected<'r>>,
    /// What the last stage passed on.
    pub inputs: StageInputs,
    /// Per silver table, the stage outputs it takes, decoded.
    pub silver: Vec<Decoded>,
}

/// The stage outputs that decoded into one silver table's rows.
pub(super) struct Decoded {
    /// Every stage output routed to the table that decoded, in input order.
    pub rows: RecordBatch,
    /// Per row: the index of its stage input.
    pub input_of: Vec<usize>,
    /// Per row: its record's Kafka offset.
    pub offsets: Vec<i64>,
}

/// Why a batch's workers' half did not finish.
pub(super) enum Unprepared {
    /// The pipeline was told to stop while a stage was at work on it.
    Interrupted,
    Rows(ArrowError),
}

impl Prepare<'_> {
    /// Bronze rows, the stages and silver decoding for `batch`, with one worker's `stages`.
    pub fn prepare<'r>(&self, stages: &mut [RunningStage], batch: Batch<'r>) -> Result<Prepared<'r>, Unprepared> {
        let floor = self.offsets.floor(Layer::Bronze, &batch.tp);
        let landed: Vec<&SourceRecord> = batch.records.iter().copied().filter(|r| r.offset >= floor).collect();
        let bronze = rows::bronze(self.bronze, &batch.tp.topic, &landed, batch.now_ms * 1_000, self.values)
            .map_err(Unprepared::Rows)?;
        let mut rejected = Vec::new();
        let direct = (stages.is_empty() && self.direct)
            .then(|| self.direct(&batch, &mut rejected))
            .flatten();
        let (inputs, silver) = match direct {
            Some((inputs, decoded)) => (inputs, vec![decoded]),
            None => {
                let inputs = self.run_stages(stages, &batch, &mut rejected)?;
                let routed = self.route(&batch, &inputs, &mut rejected);
                let silver = (self.decoders.iter().zip(&routed))
                    .map(|(decoder, taken)| self.decode(&batch, &inputs, decoder, taken, &mut rejected))
                    .collect();
                (inputs, silver)
            }
        };
        Ok(Prepared {
            batch,
            bronze,
            rejected,
            inputs,
            silver,
        })
    }

    /// The batch's plugin records through every stage: what the last one accepted, each with the
    /// index of its Kafka record.
    fn run_stages<'r>(
        &self,
        stages: &mut [RunningStage],
        batch: &Batch<'r>,
        rejected: &mut Vec<Rejected<'r>>,
    ) -> Result<StageInputs, Unprepared> {
        let inputs = batch_stages::plugin_inputs(&batch.records, self.values, rejected);
        let m = metrics();
        m.records_in
            .with_label_values(&[self.pipeline])
            .inc_by(batch.records.len() as u64);
        m.stage(self.pipeline, "decode", "rejected", rejected.len());
        let run = StageRun {
            pipeline: self.pipeline,
            context: BatchContext {
                processing_time_ms: batch.now_ms,
            },
            interrupt: self.interrupt,
            records: &batch.records,
        };
        run.run(stages, inputs, rejected)
            .map_err(|Interrupted| Unprepared::Interrupted)
    }

    /// Per silver table, the indices of the stage outputs it takes; what no table takes goes to
    /// `rejected` with stage `route` and why.
    fn route<'r>(&self, batch: &Batch<'r>, inputs: &StageInputs, rejected: &mut Vec<Rejected<'r>>) -> Vec<Vec<usize>> {
        let mut routed = vec![Vec::new(); self.decoders.len()];
        if self.router.is_trivial() {
            if let Some(all) = routed.first_mut() {
                all.extend(0..inputs.records.len());
            }
            return routed;
        }
        let mut unrouted = 0;
        for (i, record) in inputs.records.iter().enumerate() {
            match self.router.route(&record.value) {
                Ok(t) if t < routed.len() => routed[t].push(i),
                Ok(_) => {} // not reached: routes name tables of this pipeline
                Err(reason) => {
                    unrouted += 1;
                    rejected.push(Rejected::new(batch.records[inputs.from[i]], "route", &reason, None));
                }
            }
        }
        metrics().stage(self.pipeline, "route", "rejected", unrouted);
        routed
    }

    /// Decodes the stage outputs `taken` (indices into `inputs`) into one silver table's typed
    /// rows with its `decoder`; what does not fit goes to `rejected`.
    fn decode<'r>(
        &self,
        batch: &Batch<'r>,
        inputs: &StageInputs,
        decoder: &SilverDecoder,
        taken: &[usize],
        rejected: &mut Vec<Rejected<'r>>,
    ) -> Decoded {
        let StageInputs { records: inputs, from } = inputs;
        let values: Vec<&str> = taken.iter().map(|&i| inputs[i].value.as_str()).collect();
        let origins: Vec<Origin> = (taken.iter())
            .map(|&i| Origin {
                topic: &batch.tp.topic,
                partition: batch.tp.partition,
                offset: batch.records[from[i]].offset,
            })
            .collect();
        let decoded = decoder.decode(&values, &origins);
        let m = metrics();
        m.stage(self.pipeline, "silver", "rejected", decoded.rejected.len());
        m.stage(
            self.pipeline,
            "silver",
            "accepted",
            taken.len() - decoded.rejected.len(),
        );
        let mut decoded_ok = vec![true; taken.len()];
        for (index, reason) in &decoded.rejected {
            decoded_ok[*index] = false;
            rejected.push(Rejected::new(
                batch.records[from[taken[*index]]],
                "silver",
                reason,
                None,
            ));
        }
        let input_of: Vec<usize> = (0..taken.len()).filter(|i| decoded_ok[*i]).map(|i| taken[i]).collect();
        let offsets = input_of.iter().map(|&i| batch.records[from[i]].offset).collect();
        Decoded {
            rows: decoded.rows,
            input_of,
            offsets,
        }
    }
}
