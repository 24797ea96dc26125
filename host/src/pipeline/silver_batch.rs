//! Silver for one batch: the stages' output decoded into typed rows (what does not fit goes to
//! quarantine), each row admitted by silver's key set, and the new ones kept for the commit.

use arrow::array::BooleanArray;
use arrow::compute::filter_record_batch;
use arrow::record_batch::RecordBatch;

use super::batch_stages::StageInputs;
use super::data_path::{Batch, DataPath};
use super::error::RunError;
use super::rows::Rejected;
use super::silver_keys::Admitted;
use crate::decode::Origin;
use crate::metrics::metrics;
use crate::tables::Layer;

/// One batch's silver rows.
pub(super) struct SilverBatch {
    /// Every stage output that decoded, in input order.
    pub decoded: RecordBatch,
    /// Per decoded row: the index of its stage input.
    pub input_of: Vec<usize>,
    /// Per decoded row: its record's Kafka offset.
    pub offsets: Vec<i64>,
    /// Per decoded row: whether it is (or already was) a silver row: what gold counts.
    pub in_silver: Vec<bool>,
    /// The rows silver does not hold yet: new keys at or past silver's offsets.
    pub new_rows: RecordBatch,
}

impl DataPath {
    /// Decodes the stages' output of `batch` into silver rows and drops keys silver holds.
    pub(super) fn decode_silver<'r>(
        &mut self,
        batch: &Batch<'r>,
        inputs: &StageInputs,
        rejected: &mut Vec<Rejected<'r>>,
    ) -> Result<SilverBatch, RunError> {
        let StageInputs { records: inputs, from } = inputs;
        let values: Vec<&str> = inputs.iter().map(|r| r.value.as_str()).collect();
        let origins: Vec<Origin> = (from.iter())
            .map(|&i| Origin {
                topic: batch.topic.to_string(),
                partition: batch.partition,
                offset: batch.records[i].offset,
            })
            .collect();
        let decoded = self.decoder.decode(&values, &origins);
        let pipeline = self.pipeline.name.as_str();
        let m = metrics();
        m.stage(pipeline, "silver", "rejected", decoded.rejected.len());
        m.stage(pipeline, "silver", "accepted", inputs.len() - decoded.rejected.len());
        let mut decoded_ok = vec![true; inputs.len()];
        for (index, reason) in &decoded.rejected {
            decoded_ok[*index] = false;
            rejected.push(Rejected::new(batch.records[from[*index]], "silver", reason, None));
        }
        let input_of: Vec<usize> = (0..inputs.len()).filter(|i| decoded_ok[*i]).collect();
        let offsets: Vec<i64> = input_of.iter().map(|&i| batch.records[from[i]].offset).collect();
        let floor = self.offsets.floor(Layer::Silver, batch.partition);
        // Rows at or past silver's offsets go to silver now if their key is new. Replays only
        // matter to gold, which counts what silver holds.
        let count_replays = !self.gold.is_empty();
        let mut in_silver = Vec::with_capacity(offsets.len());
        let mut duplicates = 0;
        for (row, offset) in offsets.iter().enumerate() {
            let key = self.keys.key_of(&decoded.rows, row);
            let admitted = self.keys.admit(key, (batch.partition, *offset), floor);
            duplicates += usize::from(admitted == Admitted::Duplicate);
            in_silver.push(admitted.in_silver() && (admitted == Admitted::New || count_replays));
        }
        self.stats.duplicates += duplicates as u64;
        m.duplicates.with_label_values(&[pipeline]).inc_by(duplicates as u64);
        let keep: BooleanArray = (offsets.iter().zip(&in_silver))
            .map(|(offset, new)| Some(*new && *offset >= floor))
            .collect();
        let new_rows = filter_record_batch(&decoded.rows, &keep).map_err(|e| self.arrow_error(e))?;
        Ok(SilverBatch {
            decoded: decoded.rows,
            input_of,
            offsets,
            in_silver,
            new_rows,
        })
    }
}
