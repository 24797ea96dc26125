//! A batch straight into silver rows, for a pipeline whose records nothing needs as JSON (no
//! stages, no gold) and whose values are Avro: `decode::DirectSilver` reads each body into the
//! declared columns without rendering it. What it refuses goes to quarantine with the stage and
//! reason the JSON way gives (`decode` for an unreadable value, `silver` for one that does not
//! fit), so which way a record took never shows in the tables.

use super::batch_stages::StageInputs;
use super::prepare::{Batch, Decoded, Prepare};
use super::rows::Rejected;
use crate::decode::{DirectSilver, Origin, Unread};
use crate::metrics::metrics;

impl Prepare<'_> {
    /// `batch`'s records as silver rows, or `None` when its values are not read this way.
    pub(super) fn direct<'r>(
        &self,
        batch: &Batch<'r>,
        rejected: &mut Vec<Rejected<'r>>,
    ) -> Option<(StageInputs, Decoded)> {
        let mut direct = DirectSilver::new(self.decoders.first()?, self.values, batch.records.len())?;
        let (mut unreadable, mut unfit) = (0, 0);
        let mut read = Vec::with_capacity(batch.records.len());
        for (i, record) in batch.records.iter().enumerate() {
            let outcome = match (&record.malformed, record.value.as_deref()) {
                (Some(reason), _) => Err(Unread::Unreadable(reason.clone())),
                (None, None) => Err(Unread::Unreadable("message has no value".into())),
                (None, Some(value)) => direct.read(i, value),
            };
            match outcome {
                Ok(()) => read.push(i),
                Err(Unread::Unreadable(reason)) => {
                    unreadable += 1;
                    rejected.push(Rejected::new(record, "decode", &reason, None));
                }
                Err(Unread::Unfit(reason)) => {
                    unfit += 1;
                    rejected.push(Rejected::new(record, "silver", &reason, None));
                }
            }
        }
        let origins: Vec<Origin> = (batch.records.iter())
            .map(|r| Origin {
                topic: &batch.tp.topic,
                partition: batch.tp.partition,
                offset: r.offset,
            })
            .collect();
        let outcome = direct.finish(&origins);
        for (i, reason) in &outcome.rejected {
            rejected.push(Rejected::new(batch.records[*i], "silver", reason, None));
        }
        read.retain(|i| !outcome.rejected.iter().any(|(r, _)| r == i));
        let m = metrics();
        m.records_in
            .with_label_values(&[self.pipeline])
            .inc_by(batch.records.len() as u64);
        m.stage(self.pipeline, "decode", "rejected", unreadable);
        m.stage(self.pipeline, "silver", "rejected", unfit + outcome.rejected.len());
        m.stage(self.pipeline, "silver", "accepted", read.len());
        let decoded = Decoded {
            rows: outcome.rows,
            input_of: (0..read.len()).collect(),
            offsets: read.iter().map(|&i| batch.records[i].offset).collect(),
        };
        // No stage and no gold reads the records themselves: only where each row came from.
        let inputs = StageInputs {
            records: Vec::new(),
            from: read,
        };
        Some((inputs, decoded))
    }
}
