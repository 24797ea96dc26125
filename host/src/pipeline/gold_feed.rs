//! Gold for one batch: the silver rows each gold table does not count yet go into its
//! aggregate's open windows; what the aggregate refuses (late, bad event time, plugin refusal)
//! goes to quarantine.

use arrow::array::{Array, AsArray};
use arrow::datatypes::TimestampMicrosecondType;

use super::batch_stages::StageInputs;
use super::data_path::DataPath;
use super::prepare::{Batch, Decoded};
use super::rows::Rejected;
use crate::gold::GoldInput;
use crate::metrics::metrics;
use crate::tables::Layer;

impl DataPath {
    /// Folds the decoded rows that are silver rows (per silver table, `in_silver`) into every
    /// gold aggregate that lacks them, each reading its own silver table.
    pub(super) fn feed_gold<'r>(
        &mut self,
        batch: &Batch<'r>,
        inputs: &StageInputs,
        decoded: &[Decoded],
        in_silver: &[&[bool]],
        rejected: &mut Vec<Rejected<'r>>,
    ) {
        let pipeline = self.pipeline.name.as_str();
        let m = metrics();
        for (g, table) in self.gold.iter_mut().enumerate() {
            table.aggregator.heard(&batch.tp);
            let source = self.pipeline.gold[g].silver;
            let (Some(silver), Some(in_silver)) = (decoded.get(source), in_silver.get(source)) else {
                continue;
            };
            let floor = self.offsets.floor(Layer::Gold(g), &batch.tp);
            let times = (silver.rows.column(self.event_columns[g])).as_primitive_opt::<TimestampMicrosecondType>();
            let mut items = Vec::new();
            let mut item_input = Vec::new();
            for (row, &input) in silver.input_of.iter().enumerate() {
                if !in_silver[row] || silver.offsets[row] < floor {
                    continue;
                }
                let event_us = times.and_then(|t| t.is_valid(row).then(|| t.value(row)));
                let record = batch.records[inputs.from[input]];
                let arrived_ms = record.timestamp_ms.unwrap_or(batch.now_ms);
                items.push(GoldInput {
                    record: &inputs.records[input],
                    event_us,
                    arrived_us: arrived_ms.saturating_mul(1_000),
                });
                item_input.push(input);
            }
            if items.is_empty() {
                continue;
            }
            let aggregator = &mut table.aggregator;
            self.buffer.used(&aggregator.gold().name, aggregator.sha256());
            let started = std::time::Instant::now();
            let refused = tokio::task::block_in_place(|| aggregator.ingest(&batch.tp, &items));
            let gold = aggregator.gold().name.as_str();
            (m.plugin_call_seconds.with_label_values(&[pipeline, gold])).observe(started.elapsed().as_secs_f64());
            m.stage(pipeline, gold, "accepted", items.len() - refused.len());
            m.stage(pipeline, gold, "rejected", refused.len());
            for (item, reason) in refused {
                let record = batch.records[inputs.from[item_input[item]]];
                let sha = Some(aggregator.sha256().to_string());
                rejected.push(Rejected::new(record, gold, &reason, sha));
            }
        }
    }
}
