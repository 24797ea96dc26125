//! The data path of one pipeline, without its Kafka consumer: a partition batch lands in bronze,
//! runs through the stages, is decoded and deduplicated into silver and folded into gold, and
//! what was refused goes to quarantine; all of it is buffered until [`DataPath::commit`]. Fed
//! by the runner from Kafka, and by the unit tests from memory onto in-memory tables.

use std::collections::BTreeSet;

use arrow::record_batch::RecordBatch;
use tokio_util::sync::CancellationToken;

use super::batch_stages::{self, Interrupted, StageInputs, StageRun};
use super::buffer::Buffer;
use super::error::RunError;
use super::offsets::TableOffsets;
use super::rows::{self, Rejected};
use super::silver_keys::SilverKeys;
use super::stages::{RunningStage, Started};
use crate::config::Pipeline;
use crate::decode::SilverDecoder;
use crate::gold::GoldTable;
use crate::metrics::metrics;
use crate::plugin::BatchContext;
use crate::source::{PartitionBatch, SourceRecord};
use crate::tables::{Layer, TableError, Tables};

/// Counts since start.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct RunStats {
    /// Records taken from Kafka (and not already in every table).
    pub records_in: u64,
    pub bronze_rows: u64,
    pub silver_rows: u64,
    pub quarantine_rows: u64,
    /// Silver rows dropped because their key was already there.
    pub duplicates: u64,
    /// Gold rows written (one per key and finished window), over all gold tables.
    pub gold_rows: u64,
    pub commits: u64,
}

/// Batches in, table commits out: everything between the consumer and the tables.
pub struct DataPath {
    pub(super) pipeline: Pipeline,
    pub(super) stages: Vec<RunningStage>,
    pub(super) decoder: SilverDecoder,
    pub(super) tables: Tables,
    /// Per table, the next offset of each partition it holds.
    pub(super) offsets: TableOffsets,
    /// Keys already in silver and buffered for it, each with its row's origin.
    pub(super) keys: SilverKeys,
    pub(super) buffer: Buffer,
    pub(super) stats: RunStats,
    /// The gold tables, in `[[gold]]` order.
    pub(super) gold: Vec<GoldTable>,
    /// Per gold table, the silver column of its event time.
    pub(super) event_columns: Vec<usize>,
    /// The partitions this host owns now.
    pub(super) assigned: BTreeSet<i32>,
    /// Cancelled when the pipeline must stop: plugin calls in progress end at once.
    pub(super) interrupt: CancellationToken,
    /// Tests: the commit fails just before this table (in commit order), as a crash would.
    #[cfg(test)]
    pub(crate) crash_before_table: Option<usize>,
}

/// One partition batch on its way: the records no table holds yet, and the batch's one clock
/// reading (its rows' stamps and the plugins' processing time agree).
pub(super) struct Batch<'r> {
    pub topic: &'r str,
    pub partition: i32,
    pub records: Vec<&'r SourceRecord>,
    pub now_ms: i64,
}

impl DataPath {
    /// Over `tables` (opened), with the plugins already started: loads silver's keys and
    /// resumes each gold aggregate from its checkpoint.
    pub async fn open(pipeline: Pipeline, started: Started, mut tables: Tables) -> Result<Self, RunError> {
        let name = pipeline.name.clone();
        let decoder = SilverDecoder::new(&pipeline.tables.silver.columns);
        let table_error = |source| RunError::Table {
            pipeline: name.clone(),
            source,
        };
        let ids: Vec<_> = tables.in_commit_order().map(|(id, _)| id).collect();
        let columns = &decoder.schema().columns;
        let key_columns = (pipeline.tables.silver.key.iter())
            .filter_map(|k| columns.iter().position(|c| &c.name == k))
            .collect();
        let mut keys = SilverKeys::new(key_columns);
        // From the format committed last, which is never ahead of the others: keys of rows it
        // lacks come back with the records replayed for it.
        let behind = tables.silver.sinks.last().ok_or_else(|| {
            table_error(TableError::Schema {
                table: "silver".into(),
                source: "no table format configured".into(),
            })
        })?;
        for batch in behind.read_all().await.map_err(table_error)? {
            keys.load(&batch);
        }
        let mut gold = Vec::with_capacity(started.gold.len());
        for ((spec, table), aggregator) in pipeline.gold.iter().zip(&mut tables.gold).zip(started.gold) {
            let opened = GoldTable::open(&pipeline, spec, table, aggregator).await;
            gold.push(opened.map_err(|source| RunError::Gold {
                pipeline: name.clone(),
                source,
            })?);
        }
        let event_columns = (pipeline.gold.iter())
            .map(|g| columns.iter().position(|c| c.name == g.event_time).unwrap_or(0))
            .collect();
        Ok(DataPath {
            pipeline,
            stages: started.stages,
            decoder,
            tables,
            offsets: TableOffsets::new(ids),
            keys,
            buffer: Buffer::default(),
            stats: RunStats::default(),
            gold,
            event_columns,
            assigned: BTreeSet::new(),
            interrupt: CancellationToken::new(),
            #[cfg(test)]
            crash_before_table: None,
        })
    }

    pub fn pipeline(&self) -> &Pipeline {
        &self.pipeline
    }

    pub fn stats(&self) -> RunStats {
        self.stats
    }

    /// Silver keys known (committed and buffered).
    pub fn silver_keys(&self) -> usize {
        self.keys.len()
    }

    /// Records processed but not committed yet.
    pub fn uncommitted(&self) -> usize {
        self.buffer.records
    }

    /// Tests: the table (in commit order) the next commit fails before.
    pub(super) fn crash_before_table_at(&self) -> Option<usize> {
        #[cfg(test)]
        return self.crash_before_table;
        #[cfg(not(test))]
        None
    }

    pub(super) fn arrow_error(&self, source: arrow::error::ArrowError) -> RunError {
        RunError::Rows {
            pipeline: self.pipeline.name.clone(),
            source,
        }
    }

    /// Takes one partition batch through the data path into the buffer, with one clock reading,
    /// `now_ms`. Records every table already holds are skipped; so is each table's part of the
    /// rest that it holds.
    pub fn process(&mut self, batch: &PartitionBatch, now_ms: i64) -> Result<(), RunError> {
        let lowest = self.offsets.lowest(batch.partition);
        let records: Vec<&SourceRecord> = batch.records.iter().filter(|r| r.offset >= lowest).collect();
        let (Some(first), Some(last)) = (records.first(), records.last()) else {
            return Ok(());
        };
        let (first_offset, next_offset) = (first.offset, last.offset + 1);
        let batch = Batch {
            topic: &batch.topic,
            partition: batch.partition,
            records,
            now_ms,
        };
        let bronze = self.land_bronze(&batch)?;

        // Stages: plugin records in, refusals to quarantine.
        let mut rejected: Vec<Rejected<'_>> = Vec::new();
        let inputs = self.run_stages(&batch, &mut rejected)?;

        // Silver: decode, set aside what does not fit, drop keys already there.
        let silver = self.decode_silver(&batch, &inputs, &mut rejected)?;

        // Gold: the silver rows each gold table does not count yet, into its open windows.
        self.feed_gold(&batch, &inputs, &silver, &mut rejected);

        // Quarantine: what it does not hold yet.
        let floor = self.offsets.floor(Layer::Quarantine, batch.partition);
        rejected.retain(|r| r.record.offset >= floor);
        let rejected = rows::one_per_record(rejected);
        let schema = self.tables.quarantine.schema();
        let quarantine =
            rows::quarantine(schema, batch.topic, &rejected, now_ms * 1_000).map_err(|e| self.arrow_error(e))?;

        let records = &batch.records;
        self.stats.records_in += records.len() as u64;
        self.stats.bronze_rows += bronze.num_rows() as u64;
        self.stats.silver_rows += silver.new_rows.num_rows() as u64;
        self.stats.quarantine_rows += quarantine.num_rows() as u64;
        let bytes: u64 = records.iter().map(|r| r.size() as u64).sum();
        (self.buffer).note(batch.partition, first_offset..next_offset, records.len(), bytes);
        push_nonempty(&mut self.buffer.bronze, bronze);
        push_nonempty(&mut self.buffer.silver, silver.new_rows);
        push_nonempty(&mut self.buffer.quarantine, quarantine);
        Ok(())
    }

    /// Bronze: the rows of every record it does not hold yet.
    fn land_bronze(&self, batch: &Batch<'_>) -> Result<RecordBatch, RunError> {
        let floor = self.offsets.floor(Layer::Bronze, batch.partition);
        let landed: Vec<&SourceRecord> = batch.records.iter().copied().filter(|r| r.offset >= floor).collect();
        let schema = self.tables.bronze.schema();
        rows::bronze(schema, batch.topic, &landed, batch.now_ms * 1_000).map_err(|e| self.arrow_error(e))
    }

    /// The batch's plugin records through every stage: what the last one accepted, each with the
    /// index of its Kafka record.
    fn run_stages<'r>(&mut self, batch: &Batch<'r>, rejected: &mut Vec<Rejected<'r>>) -> Result<StageInputs, RunError> {
        let inputs = batch_stages::plugin_inputs(&batch.records, rejected);
        let pipeline = self.pipeline.name.as_str();
        let m = metrics();
        m.records_in
            .with_label_values(&[pipeline])
            .inc_by(batch.records.len() as u64);
        m.stage(pipeline, "decode", "rejected", rejected.len());
        let run = StageRun {
            pipeline,
            context: BatchContext {
                processing_time_ms: batch.now_ms,
            },
            interrupt: &self.interrupt,
            records: &batch.records,
        };
        run.run(&mut self.stages, &mut self.buffer, inputs, rejected)
            .map_err(|Interrupted| RunError::Interrupted {
                pipeline: self.pipeline.name.clone(),
            })
    }
}

fn push_nonempty(batches: &mut Vec<RecordBatch>, batch: RecordBatch) {
    if batch.num_rows() > 0 {
        batches.push(batch);
    }
}
