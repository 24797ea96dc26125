//! Silver for one batch, in batch order: each decoded row is admitted by silver's key set, and
//! the new ones are kept for the commit.

use arrow::array::BooleanArray;
use arrow::compute::filter_record_batch;
use arrow::record_batch::RecordBatch;

use super::data_path::DataPath;
use super::error::RunError;
use super::prepare::{Batch, Decoded};
use super::silver_keys::Admitted;
use crate::metrics::metrics;
use crate::tables::Layer;

/// What silver made of one batch's decoded rows.
pub(super) struct Admission {
    /// Per decoded row: whether it is (or already was) a silver row: what gold counts.
    pub in_silver: Vec<bool>,
    /// The rows silver does not hold yet: new keys at or past silver's offsets.
    pub new_rows: RecordBatch,
}

impl DataPath {
    /// Admits `decoded`'s rows into silver table `t` by its key: duplicates are dropped and
    /// counted.
    pub(super) fn admit_silver(
        &mut self,
        batch: &Batch<'_>,
        t: usize,
        decoded: &Decoded,
    ) -> Result<Admission, RunError> {
        let floor = self.offsets.floor(Layer::Silver(t), &batch.tp);
        let keys = &mut self.keys[t];
        // Rows at or past silver's offsets go to silver now if their key is new. Replays only
        // matter to gold, which counts what silver holds.
        let count_replays = !self.gold.is_empty();
        let mut in_silver = Vec::with_capacity(decoded.offsets.len());
        let mut duplicates = 0;
        for (row, offset) in decoded.offsets.iter().enumerate() {
            let key = keys.key_of(&decoded.rows, row);
            let origin = keys.origin(&batch.tp.topic, batch.tp.partition, *offset);
            let admitted = keys.admit(key, origin, floor);
            duplicates += usize::from(admitted == Admitted::Duplicate);
            in_silver.push(admitted.in_silver() && (admitted == Admitted::New || count_replays));
        }
        self.stats.duplicates += duplicates as u64;
        let pipeline = self.pipeline.name.as_str();
        metrics()
            .duplicates
            .with_label_values(&[pipeline])
            .inc_by(duplicates as u64);
        let keep: BooleanArray = (decoded.offsets.iter().zip(&in_silver))
            .map(|(offset, new)| Some(*new && *offset >= floor))
            .collect();
        let new_rows = filter_record_batch(&decoded.rows, &keep).map_err(|e| self.arrow_error(e))?;
        Ok(Admission { in_silver, new_rows })
    }
}
