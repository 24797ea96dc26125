//! The data path of one pipeline, without its Kafka consumer: a partition batch lands in bronze,
//! runs through the stages and is decoded (on the parallel workers, `prepare`), then is
//! deduplicated into silver and folded into gold, and what was refused goes to quarantine (in
//! batch order); all of it is buffered until [`DataPath::commit`]. Fed by the runner from
//! Kafka, and by the unit tests from memory onto in-memory tables.

use std::collections::BTreeSet;

use arrow::record_batch::RecordBatch;
use tokio_util::sync::CancellationToken;

use super::buffer::Buffer;
use super::error::RunError;
use super::offsets::TableOffsets;
use super::prepare::{Batch, Prepare, Prepared, Unprepared};
use super::rows;
use super::silver_keys::SilverKeys;
use super::stages::Started;
use super::workers::Workers;
use crate::config::Pipeline;
use crate::decode::{Router, SilverDecoder, ValueDecoder};
use crate::gold::GoldTable;
use crate::source::{PartitionBatch, SourceRecord, TopicPartition};
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
    /// Per worker, an instance of every transform stage.
    pub(super) workers: Workers,
    /// Per silver table, its decoder.
    pub(super) decoders: Vec<SilverDecoder>,
    /// Which silver table takes a record.
    pub(super) router: Router,
    /// Record values to JSON text (Avro through the registry's schemas).
    pub(super) values: ValueDecoder,
    pub(super) tables: Tables,
    /// Per table, the next offset of each partition it holds.
    pub(super) offsets: TableOffsets,
    /// Per silver table, the keys it holds and those buffered for it, each with its row's origin.
    pub(super) keys: Vec<SilverKeys>,
    pub(super) buffer: Buffer,
    pub(super) stats: RunStats,
    /// The gold tables, in `[[gold]]` order.
    pub(super) gold: Vec<GoldTable>,
    /// Per gold table, the silver column of its event time.
    pub(super) event_columns: Vec<usize>,
    /// The partitions this host owns now.
    pub(super) assigned: BTreeSet<TopicPartition>,
    /// Cancelled when the pipeline must stop: plugin calls in progress end at once.
    pub(super) interrupt: CancellationToken,
    /// Tests: the commit fails just before this table (in commit order), as a crash would.
    #[cfg(test)]
    pub(crate) crash_before_table: Option<usize>,
}

impl DataPath {
    /// Over `tables` (opened), with the plugins already started: loads silver's keys and
    /// resumes each gold aggregate from its checkpoint.
    pub async fn open(pipeline: Pipeline, started: Started, mut tables: Tables) -> Result<Self, RunError> {
        let name = pipeline.name.clone();
        let decoders = SilverDecoder::for_tables(&pipeline.tables.silver);
        let values = ValueDecoder::new(&pipeline.source).map_err(|e| RunError::Unsupported {
            pipeline: name.clone(),
            message: e.to_string(),
        })?;
        let table_error = |source| RunError::Table {
            pipeline: name.clone(),
            source,
        };
        let ids: Vec<_> = tables.in_commit_order().map(|(id, _)| id).collect();
        let mut keys = Vec::with_capacity(decoders.len());
        for ((config, decoder), medallion) in pipeline.tables.silver.iter().zip(&decoders).zip(&tables.silver) {
            let columns = &decoder.schema().columns;
            let key_columns = (config.key.iter())
                .filter_map(|k| columns.iter().position(|c| &c.name == k))
                .collect();
            let mut table_keys = SilverKeys::new(key_columns);
            // From the format committed last, which is never ahead of the others: keys of rows
            // it lacks come back with the records replayed for it.
            let behind = medallion.sinks.last().ok_or_else(|| {
                table_error(TableError::Schema {
                    table: config.table(),
                    source: "no table format configured".into(),
                })
            })?;
            for batch in behind.read_all().await.map_err(table_error)? {
                table_keys.load(&batch);
            }
            keys.push(table_keys);
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
            .map(|g| {
                let columns = decoders.get(g.silver).map_or(&[][..], |d| &d.schema().columns);
                columns.iter().position(|c| c.name == g.event_time).unwrap_or(0)
            })
            .collect();
        let router = Router::new(&pipeline.tables.silver);
        let workers = Workers::new(started.stages, pipeline.workers);
        Ok(DataPath {
            pipeline,
            workers,
            decoders,
            router,
            values,
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

    /// Silver keys known (committed and buffered), over every silver table.
    pub fn silver_keys(&self) -> usize {
        self.keys.iter().map(SilverKeys::len).sum()
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
    /// `now_ms` (see [`DataPath::process_all`]).
    /// Fetches the writer schemas `batches` name that are not held yet, waiting while the
    /// registry does not answer (so no record is quarantined because it blinked). Fails only
    /// when the pipeline is told to stop first.
    pub async fn fetch_schemas(&mut self, batches: &[PartitionBatch]) -> Result<(), RunError> {
        let values = batches
            .iter()
            .flat_map(|b| &b.records)
            .filter_map(|r| r.value.as_deref());
        if self.values.ensure(values, &self.interrupt).await {
            Ok(())
        } else {
            Err(RunError::Interrupted {
                pipeline: self.pipeline.name.clone(),
            })
        }
    }

    pub fn process(&mut self, batch: &PartitionBatch, now_ms: i64) -> Result<(), RunError> {
        self.process_all(std::slice::from_ref(batch), now_ms)
    }

    /// Takes the batches of one poll through the data path into the buffer: bronze rows, the
    /// stages and silver decoding on the workers in parallel, then, in batch order, silver's
    /// key set, gold, quarantine and the buffer. Records every table already holds are skipped;
    /// so is each table's part of the rest that it holds.
    pub fn process_all(&mut self, batches: &[PartitionBatch], now_ms: i64) -> Result<(), RunError> {
        let jobs: Vec<Batch<'_>> = batches.iter().filter_map(|b| self.unheld(b, now_ms)).collect();
        if jobs.is_empty() {
            return Ok(());
        }
        let shared = Prepare {
            pipeline: &self.pipeline.name,
            decoders: &self.decoders,
            router: &self.router,
            values: &self.values,
            offsets: &self.offsets,
            bronze: self.tables.bronze.schema(),
            interrupt: &self.interrupt,
            direct: self.gold.is_empty() && self.router.is_trivial(),
        };
        let workers = &mut self.workers;
        let prepared = off_the_runtime(|| workers.map(jobs, |stages, batch| shared.prepare(stages, batch)));
        for batch in prepared {
            match batch {
                Ok(batch) => self.absorb(batch)?,
                Err(Unprepared::Rows(e)) => return Err(self.arrow_error(e)),
                Err(Unprepared::Interrupted) => {
                    return Err(RunError::Interrupted {
                        pipeline: self.pipeline.name.clone(),
                    });
                }
            }
        }
        Ok(())
    }

    /// The records of `batch` that some table does not hold yet (`None`: every table holds all).
    fn unheld<'r>(&self, batch: &'r PartitionBatch, now_ms: i64) -> Option<Batch<'r>> {
        let tp = batch.tp();
        let lowest = self.offsets.lowest(&tp);
        let records: Vec<&SourceRecord> = batch.records.iter().filter(|r| r.offset >= lowest).collect();
        (!records.is_empty()).then_some(Batch { tp, records, now_ms })
    }

    /// The second half of a batch's way, in batch order: silver's key set, gold, quarantine,
    /// and the buffer.
    fn absorb(&mut self, prepared: Prepared<'_>) -> Result<(), RunError> {
        let Prepared {
            batch,
            bronze,
            mut rejected,
            inputs,
            silver,
        } = prepared;
        for stage in self.workers.primary() {
            self.buffer.used(&stage.name, &stage.sha256);
        }
        // Silver: per table, drop keys already there.
        let mut admitted = Vec::with_capacity(silver.len());
        for (t, decoded) in silver.iter().enumerate() {
            admitted.push(self.admit_silver(&batch, t, decoded)?);
        }
        // Gold: the silver rows each gold table does not count yet, into its open windows.
        let in_silver: Vec<&[bool]> = admitted.iter().map(|a| a.in_silver.as_slice()).collect();
        self.feed_gold(&batch, &inputs, &silver, &in_silver, &mut rejected);
        // Quarantine: what it does not hold yet.
        let floor = self.offsets.floor(Layer::Quarantine, &batch.tp);
        rejected.retain(|r| r.record.offset >= floor);
        let rejected = rows::one_per_record(rejected);
        let schema = self.tables.quarantine.schema();
        let quarantine = rows::quarantine(schema, &batch.tp.topic, &rejected, batch.now_ms * 1_000)
            .map_err(|e| self.arrow_error(e))?;

        let records = &batch.records;
        let (first, next) = match (records.first(), records.last()) {
            (Some(first), Some(last)) => (first.offset, last.offset + 1),
            _ => return Ok(()),
        };
        self.stats.records_in += records.len() as u64;
        (crate::status::status()).records_in(&self.pipeline.name, &batch.tp.topic, batch.tp.partition, records.len());
        self.stats.bronze_rows += bronze.num_rows() as u64;
        self.stats.silver_rows += admitted.iter().map(|a| a.new_rows.num_rows() as u64).sum::<u64>();
        self.stats.quarantine_rows += quarantine.num_rows() as u64;
        let bytes: u64 = records.iter().map(|r| r.size() as u64).sum();
        (self.buffer).note(&batch.tp, first..next, records.len(), bytes);
        push_nonempty(&mut self.buffer.bronze, bronze);
        for (t, admission) in admitted.into_iter().enumerate() {
            push_nonempty(self.buffer.silver_mut(t), admission.new_rows);
        }
        push_nonempty(&mut self.buffer.quarantine, quarantine);
        Ok(())
    }
}

/// Runs `f`, which blocks (plugin calls), off the runtime's worker when on a multi-threaded
/// runtime, so other pipelines and the supervisor keep running.
fn off_the_runtime<R>(f: impl FnOnce() -> R) -> R {
    use tokio::runtime::{Handle, RuntimeFlavor};
    match Handle::try_current().map(|h| h.runtime_flavor()) {
        Ok(RuntimeFlavor::MultiThread) => tokio::task::block_in_place(f),
        _ => f(),
    }
}

fn push_nonempty(batches: &mut Vec<RecordBatch>, batch: RecordBatch) {
    if batch.num_rows() > 0 {
        batches.push(batch);
    }
}
