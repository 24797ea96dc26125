//! The loop of one pipeline: poll a batch per partition, land it in bronze, run the stages,
//! quarantine what they refuse, decode and deduplicate the rest into silver, and commit all three
//! tables with the offsets they now hold. Each table filters by its own committed offsets, so a
//! crash between two table commits duplicates nothing on restart.

use std::collections::{BTreeSet, HashMap};
use std::time::Duration;

use arrow::array::{Array, AsArray, BooleanArray};
use arrow::compute::filter_record_batch;
use arrow::record_batch::RecordBatch;
use thiserror::Error;
use tokio_util::sync::CancellationToken;

use super::batch_stages::{self, Interrupted, StageInputs, StageRun};
use super::buffer::Buffer;
use super::lease::{LeaseError, WriterLease, holder_name};
use super::offsets::TableOffsets;
use super::rows::{self, Rejected};
use super::silver_keys::{Admitted, SilverKeys};
use super::stages::{RunningStage, Started, SwapReceiver, Swapped};
use super::tables::{Layer, Tables};
use crate::config::Pipeline;
use crate::config::TableFormat;
use crate::decode::{Origin, SilverDecoder};
use crate::gold::{GoldAggregator, GoldError, GoldInput, GoldTable};
use crate::metrics::metrics;
use crate::plugin::{BatchContext, PluginEngine, PluginError, short_sha};
use crate::sink::CommitData;
use crate::sink::schema::{ORIGIN_OFFSET, ORIGIN_PARTITION};
use crate::sink::{SinkError, TableSink};
use crate::source::{KafkaSource, PartitionBatch, SourceError, SourceRecord};

/// Why a pipeline stopped.
#[derive(Debug, Error)]
pub enum RunError {
    #[error("pipeline {pipeline}: stage `{stage}`: {source}")]
    Plugin {
        pipeline: String,
        stage: String,
        source: PluginError,
    },
    #[error("pipeline {pipeline}: {source}")]
    Source { pipeline: String, source: SourceError },
    #[error("pipeline {pipeline}: {source}")]
    Sink { pipeline: String, source: SinkError },
    #[error("pipeline {pipeline}: {source}")]
    Gold { pipeline: String, source: GoldError },
    #[error("pipeline {pipeline}: {message}")]
    Unsupported { pipeline: String, message: String },
    #[error("pipeline {pipeline}: {source}")]
    Lease { pipeline: String, source: LeaseError },
    /// Building a batch's rows failed (Arrow): the same input would fail the same way.
    #[error("pipeline {pipeline}: building rows: {source}")]
    Rows {
        pipeline: String,
        #[source]
        source: arrow::error::ArrowError,
    },
    /// The pipeline was told to stop while a plugin was at work on a batch: the batch is
    /// dropped, uncommitted, and read again at the next start.
    #[error("pipeline {pipeline}: stopped in the middle of a batch, which is read again at the next start")]
    Interrupted { pipeline: String },
}

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

/// A running pipeline.
pub struct PipelineRunner {
    pipeline: Pipeline,
    source: KafkaSource,
    stages: Vec<RunningStage>,
    decoder: SilverDecoder,
    tables: Tables,
    /// Per table (in `Tables::in_commit_order`), the next offset of each partition it holds.
    offsets: TableOffsets,
    /// Keys already in silver and buffered for it, each with its row's origin.
    keys: SilverKeys,
    buffer: Buffer,
    stats: RunStats,
    /// Reloaded stages waiting for the next batch boundary.
    swaps: Option<SwapReceiver>,
    /// Every swap applied since start (the newest last).
    swapped: Vec<Swapped>,
    /// The gold tables, in `[[gold]]` order.
    gold: Vec<GoldTable>,
    /// Tests: the commit fails just before this table (in commit order), as a crash would.
    #[cfg(test)]
    pub(crate) crash_before_table: Option<usize>,
    /// Per gold table, the silver column of its event time.
    event_columns: Vec<usize>,
    /// The partitions this host owns now.
    assigned: BTreeSet<i32>,
    /// A pipeline with gold tables writes only while it holds this.
    lease: Option<WriterLease>,
    /// Since when this host has owned no partition, and whether it said so.
    unassigned: (std::time::Instant, bool),
    /// Cancelled when the pipeline must stop: plugin calls in progress end at once.
    interrupt: CancellationToken,
}

impl std::fmt::Debug for PipelineRunner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PipelineRunner")
            .field("pipeline", &self.pipeline.name)
            .field("stats", &self.stats)
            .finish()
    }
}

impl PipelineRunner {
    /// Starts every stage (refusing a pipeline whose plugins do not load or refuse their config),
    /// opens the tables, loads silver's keys, and joins the consumer group.
    pub async fn start(pipeline: Pipeline, engine: &PluginEngine) -> Result<Self, RunError> {
        let started = Self::start_stages(&pipeline, engine)?;
        Self::start_with(pipeline, started).await
    }

    /// Starts the transform stages and gold aggregates of `pipeline` (all, or the first error).
    pub fn start_stages(pipeline: &Pipeline, engine: &PluginEngine) -> Result<Started, RunError> {
        let name = &pipeline.name;
        let mut started = Started::default();
        for stage in &pipeline.stages {
            let running = RunningStage::start(name, stage, engine).map_err(|source| RunError::Plugin {
                pipeline: name.clone(),
                stage: stage.name.clone(),
                source,
            })?;
            started.stages.push(running);
        }
        for gold in &pipeline.gold {
            let aggregator = GoldAggregator::start(name, gold, engine).map_err(|source| RunError::Gold {
                pipeline: name.clone(),
                source,
            })?;
            started.gold.push(aggregator);
        }
        Ok(started)
    }

    /// Starts the pipeline with plugins already started (by [`PipelineRunner::start_stages`]).
    pub async fn start_with(pipeline: Pipeline, started: Started) -> Result<Self, RunError> {
        let Started {
            stages,
            gold: aggregators,
        } = started;
        let name = pipeline.name.clone();
        let decoder = SilverDecoder::new(&pipeline.tables.silver.columns);
        let sink_error = |source| RunError::Sink {
            pipeline: name.clone(),
            source,
        };
        // One writer per gold pipeline: the lease first, then its state and the consumer group.
        let lease = match pipeline.gold.is_empty() {
            true => None,
            false => Some(
                WriterLease::acquire(&pipeline.tables.location, &pipeline.tables.s3, &holder_name())
                    .await
                    .map_err(|source| RunError::Lease {
                        pipeline: name.clone(),
                        source,
                    })?,
            ),
        };
        let mut tables = Tables::open(&pipeline, &decoder).await.map_err(sink_error)?;
        let layers: Vec<Layer> = tables.in_commit_order().map(|(layer, _)| layer).collect();
        let key_columns: Vec<usize> = pipeline
            .tables
            .silver
            .key
            .iter()
            .filter_map(|k| decoder.schema().columns.iter().position(|c| &c.name == k))
            .collect();
        let mut keys = SilverKeys::new(key_columns);
        // From the format committed last, which is never ahead of the others: keys of rows it
        // lacks come back with the records replayed for it.
        let behind = tables.silver.sinks.last().ok_or_else(|| {
            sink_error(SinkError::Schema {
                table: "silver".into(),
                message: "no table format configured".into(),
            })
        })?;
        for batch in behind.read_all().await.map_err(sink_error)? {
            keys.load(&batch);
        }
        let mut gold = Vec::with_capacity(aggregators.len());
        for ((spec, table), aggregator) in pipeline.gold.iter().zip(&mut tables.gold).zip(aggregators) {
            let opened = GoldTable::open(&pipeline, spec, table, aggregator)
                .await
                .map_err(|source| RunError::Gold {
                    pipeline: name.clone(),
                    source,
                })?;
            gold.push(opened);
        }
        let event_columns = pipeline
            .gold
            .iter()
            .map(|g| {
                decoder
                    .schema()
                    .columns
                    .iter()
                    .position(|c| c.name == g.event_time)
                    .unwrap_or(0)
            })
            .collect();
        let source = KafkaSource::connect(&name, &pipeline.source).map_err(|source| RunError::Source {
            pipeline: name.clone(),
            source,
        })?;
        tracing::info!(pipeline = %name, stages = stages.len(), silver_keys = keys.len(), "pipeline started");
        Ok(PipelineRunner {
            pipeline,
            source,
            stages,
            decoder,
            tables,
            offsets: TableOffsets::new(layers),
            keys,
            buffer: Buffer::default(),
            stats: RunStats::default(),
            swaps: None,
            swapped: Vec::new(),
            gold,
            event_columns,
            assigned: BTreeSet::new(),
            lease,
            unassigned: (std::time::Instant::now(), false),
            interrupt: CancellationToken::new(),
            #[cfg(test)]
            crash_before_table: None,
        })
    }

    /// From now on, cancelling `interrupt` ends the plugin calls in progress: the batch they
    /// were for is dropped (not committed) and [`PipelineRunner::run_until`] stops.
    pub fn interrupt_on(&mut self, interrupt: CancellationToken) {
        self.interrupt = interrupt;
        self.arm_interrupts();
    }

    /// Hands the interrupt to every transform stage (again after a swap). Gold aggregates are
    /// never interrupted: a batch half folded into the open windows could not be taken out
    /// again; their calls are bounded by the deadline budget instead.
    fn arm_interrupts(&mut self) {
        for running in &mut self.stages {
            running.stage.interrupt_on(self.interrupt.clone());
        }
    }

    /// Takes reloaded stages from `swaps` between batches from now on.
    pub fn accept_swaps(&mut self, swaps: SwapReceiver) {
        self.swaps = Some(swaps);
    }

    /// The swaps applied so far, oldest first.
    pub fn swapped(&self) -> &[Swapped] {
        &self.swapped
    }

    /// The stages' names and plugin hashes, in order.
    pub fn stage_versions(&self) -> Vec<(String, String)> {
        self.stages.iter().map(|s| (s.name.clone(), s.sha256.clone())).collect()
    }

    /// The gold aggregates' names and plugin hashes, in order.
    pub fn gold_versions(&self) -> Vec<(String, String)> {
        self.gold
            .iter()
            .map(|g| (g.aggregator.gold().name.clone(), g.aggregator.sha256().to_string()))
            .collect()
    }

    /// The open (pane, key) groups of each gold aggregate, in order.
    pub fn gold_groups(&self) -> Vec<usize> {
        self.gold.iter().map(|g| g.aggregator.state().groups()).collect()
    }

    pub fn stats(&self) -> RunStats {
        self.stats
    }

    /// Records processed but not committed yet (lost, and read again, if the process dies now).
    pub fn uncommitted(&self) -> usize {
        self.buffer.records
    }

    pub fn name(&self) -> &str {
        &self.pipeline.name
    }

    /// The pipeline's tables (tests read them back).
    #[cfg(test)]
    pub(crate) fn tables_mut(&mut self) -> &mut Tables {
        &mut self.tables
    }

    /// Runs until `stop` says so (or the interrupt is cancelled), then commits what is buffered
    /// and leaves the group.
    pub async fn run_until(mut self, mut stop: impl FnMut(&RunStats) -> bool) -> Result<RunStats, RunError> {
        while !stop(&self.stats) {
            match self.step().await {
                Err(RunError::Interrupted { .. }) => {
                    tracing::info!(pipeline = %self.pipeline.name, "stopped in the middle of a batch; it is read again at the next start");
                    break;
                }
                other => other?,
            }
        }
        self.commit().await?;
        let stats = self.stats;
        let lease = self.lease.take();
        self.source.close();
        if let Some(lease) = lease {
            lease.release().await;
        }
        tracing::info!(?stats, "pipeline stopped");
        Ok(stats)
    }

    /// One poll: swap in reloaded stages, process what came, resume new partitions, commit when
    /// the policy says so.
    pub async fn step(&mut self) -> Result<(), RunError> {
        if let Some(lease) = &mut self.lease {
            lease.renew_if_due().await.map_err(|source| RunError::Lease {
                pipeline: self.pipeline.name.clone(),
                source,
            })?;
        }
        self.apply_swaps();
        let room = self
            .pipeline
            .commit
            .max_records
            .saturating_sub(self.buffer.records)
            .max(1);
        // librdkafka's poll blocks: off the runtime's worker, so other pipelines and the
        // supervisor keep running however many pipelines there are.
        let batches = tokio::task::block_in_place(|| self.source.poll(Duration::from_millis(100), room))
            .map_err(|source| self.source_error(source))?;
        for batch in batches {
            self.process(batch)?;
        }
        let mut revoked = self.source.take_revoked();
        let mut reread = Vec::new();
        if !revoked.is_empty() && !self.gold.is_empty() {
            // Gold state holds every partition's uncommitted records, with no way to take one
            // partition's out: go back to the last commit for all of them, and read the
            // partitions still owned again from where the tables stand.
            reread = self.assigned.iter().copied().filter(|p| !revoked.contains(p)).collect();
            revoked.extend(&reread);
            for table in &mut self.gold {
                table.reload().await.map_err(|source| RunError::Gold {
                    pipeline: self.pipeline.name.clone(),
                    source,
                })?;
            }
        }
        if !revoked.is_empty() {
            self.drop_partitions(&revoked).map_err(|source| RunError::Rows {
                pipeline: self.pipeline.name.clone(),
                source,
            })?;
        }
        for partition in reread.into_iter().chain(self.source.take_assigned()) {
            let next = self.assign(partition).await?;
            self.source.resume_at(partition, next);
        }
        if self.buffer.is_due(&self.pipeline.commit) {
            self.commit().await?;
        }
        self.watch_assignment();
        tokio::task::yield_now().await;
        Ok(())
    }

    /// Says so (log and `/readyz`) when this host has owned no partition for longer than the
    /// group's session timeout: the group may be waiting out a dead member, or the broker does
    /// not assign; either way an operator should know.
    fn watch_assignment(&mut self) {
        let name = &self.pipeline.name;
        if !self.assigned.is_empty() {
            if self.unassigned.1 {
                crate::health::health().clear_fault(name);
                tracing::info!(pipeline = %name, "partitions assigned at last");
            }
            self.unassigned = (std::time::Instant::now(), false);
            return;
        }
        let session = self.source.session_timeout();
        let waited = self.unassigned.0.elapsed();
        if !self.unassigned.1 && waited > session {
            let why = format!(
                "no partitions after {} s in consumer group `{}` (session timeout {} s): the group may still be waiting out a previous member, or the broker does not assign",
                waited.as_secs(),
                self.pipeline.source.group,
                session.as_secs()
            );
            tracing::warn!(pipeline = %name, "{why}");
            crate::health::health().set_fault(name, why);
            self.unassigned.1 = true;
        }
    }

    /// Puts reloaded stages in place: between two batches, so each batch runs on one version of
    /// every stage. Rows already buffered keep the lineage of the versions that made them.
    pub fn apply_swaps(&mut self) {
        let Some(swaps) = &self.swaps else {
            return;
        };
        let mut aggregators: Vec<&mut GoldAggregator> = self.gold.iter_mut().map(|g| &mut g.aggregator).collect();
        for swapped in swaps.apply(&mut self.stages, &mut aggregators) {
            let pipeline = &self.pipeline.name;
            metrics()
                .swap_pause
                .with_label_values(&[pipeline.as_str()])
                .observe(swapped.pause.as_secs_f64());
            for (stage, old, new) in &swapped.stages {
                metrics().plugin_reload(pipeline, stage, true);
                tracing::info!(
                    pipeline = %pipeline,
                    stage = %stage,
                    old = %short_sha(old),
                    new = %short_sha(new),
                    pause_us = swapped.pause.as_micros() as u64,
                    "plugin reloaded"
                );
            }
            for (gold, new, reason) in &swapped.refused {
                metrics().plugin_reload(pipeline, gold, false);
                tracing::warn!(
                    pipeline = %pipeline,
                    stage = %gold,
                    new = %short_sha(new),
                    error = %reason,
                    "plugin reload failed; the running version stays"
                );
            }
            self.swapped.push(swapped);
        }
        self.arm_interrupts();
    }

    /// Forgets the uncommitted work of partitions this host no longer owns. Committing it later
    /// could race their new owner, who reads it again from where the tables stand.
    fn drop_partitions(&mut self, revoked: &[i32]) -> Result<(), arrow::error::ArrowError> {
        let keep = |batch: &RecordBatch| -> Result<Option<RecordBatch>, arrow::error::ArrowError> {
            let Some(column) = batch.column_by_name(ORIGIN_PARTITION) else {
                return Ok(Some(batch.clone()));
            };
            let partitions = column.as_primitive::<arrow::datatypes::Int32Type>();
            let mask: BooleanArray = partitions
                .iter()
                .map(|p| Some(!p.is_some_and(|p| revoked.contains(&p))))
                .collect();
            let kept = filter_record_batch(batch, &mask)?;
            Ok((kept.num_rows() > 0).then_some(kept))
        };
        let mut dropped = 0;
        for batches in [
            &mut self.buffer.bronze,
            &mut self.buffer.quarantine,
            &mut self.buffer.silver,
        ] {
            let before: usize = batches.iter().map(RecordBatch::num_rows).sum();
            let mut kept = Vec::with_capacity(batches.len());
            for batch in batches.iter() {
                kept.extend(keep(batch)?);
            }
            dropped += before - kept.iter().map(RecordBatch::num_rows).sum::<usize>();
            *batches = kept;
        }
        for partition in revoked {
            self.assigned.remove(partition);
            self.buffer.next.remove(partition);
            self.buffer.first.remove(partition);
            self.offsets.forget(*partition);
        }
        // Keys buffered for silver: only those still in the buffer.
        self.keys.rebuild_pending(&self.buffer.silver);
        if self.buffer.next.is_empty() {
            self.buffer = Buffer::default();
        }
        tracing::info!(pipeline = %self.pipeline.name, ?revoked, dropped, "dropped uncommitted rows of revoked partitions");
        Ok(())
    }

    /// Takes `partition` on: returns where it resumes, the lowest next offset among the tables
    /// (each table then skips what it already holds). Reloads the tables first: another host
    /// may have committed.
    pub(crate) async fn assign(&mut self, partition: i32) -> Result<Option<i64>, RunError> {
        self.assigned.insert(partition);
        self.resume_offset(partition).await
    }

    async fn resume_offset(&mut self, partition: i32) -> Result<Option<i64>, RunError> {
        let topic = self.pipeline.source.topic.clone();
        let mut any = false;
        for (i, (_, table)) in self.tables.in_commit_order().enumerate() {
            table.refresh().await.map_err(|source| RunError::Sink {
                pipeline: self.pipeline.name.clone(),
                source,
            })?;
            let next = table
                .next_offset(&topic, partition)
                .await
                .map_err(|source| RunError::Sink {
                    pipeline: self.pipeline.name.clone(),
                    source,
                })?;
            any |= next.is_some();
            let next = next.unwrap_or(0);
            self.offsets.set(i, partition, next);
        }
        Ok(any.then(|| self.offsets.lowest(partition)))
    }

    /// The lowest next offset of `partition` among the tables of `layer`.
    fn floor(&self, layer: Layer, partition: i32) -> i64 {
        self.offsets.floor(layer, partition)
    }

    /// Processes a batch that did not come from the source (benchmarks, replays): the same path
    /// as polled records, up to the buffer. Commit with [`PipelineRunner::flush`].
    pub fn ingest(&mut self, batch: PartitionBatch) -> Result<(), RunError> {
        self.process(batch)
    }

    /// Commits what is buffered now.
    pub async fn flush(&mut self) -> Result<(), RunError> {
        self.commit().await
    }

    fn process(&mut self, batch: PartitionBatch) -> Result<(), RunError> {
        let partition = batch.partition;
        let topic = batch.topic.clone();
        let lowest = self.offsets.lowest(partition);
        let records: Vec<&SourceRecord> = batch.records.iter().filter(|r| r.offset >= lowest).collect();
        let (Some(first), Some(last)) = (records.first(), records.last()) else {
            return Ok(());
        };
        let first_offset = first.offset;
        let next_offset = last.offset + 1;
        // One clock reading per batch: its rows' stamps and the plugins' processing time agree.
        let now_ms = crate::clock::now_ms();
        let now_us = now_ms * 1_000;
        let arrow_error = |source: arrow::error::ArrowError| RunError::Rows {
            pipeline: self.pipeline.name.clone(),
            source,
        };

        // Bronze: every record it does not hold yet.
        let floor = self.floor(Layer::Bronze, partition);
        let landed: Vec<&SourceRecord> = records.iter().copied().filter(|r| r.offset >= floor).collect();
        let bronze = rows::bronze(self.tables.bronze.schema(), &topic, &landed, now_us).map_err(arrow_error)?;

        // Stages: plugin records in, refusals to quarantine.
        let mut rejected: Vec<Rejected<'_>> = Vec::new();
        let inputs = batch_stages::plugin_inputs(&records, &mut rejected);
        let context = BatchContext {
            processing_time_ms: now_ms,
        };
        let pipeline = self.pipeline.name.as_str();
        let m = metrics();
        m.records_in.with_label_values(&[pipeline]).inc_by(records.len() as u64);
        m.stage(pipeline, "decode", "rejected", rejected.len());
        let run = StageRun {
            pipeline,
            context,
            interrupt: &self.interrupt,
            records: &records,
        };
        let StageInputs { records: inputs, from } = run
            .run(&mut self.stages, &mut self.buffer, inputs, &mut rejected)
            .map_err(|Interrupted| RunError::Interrupted {
                pipeline: self.pipeline.name.clone(),
            })?;

        // Silver: decode, set aside what does not fit, drop keys already there.
        let values: Vec<&str> = inputs.iter().map(|r| r.value.as_str()).collect();
        let origins: Vec<Origin> = from
            .iter()
            .map(|&i| Origin {
                topic: topic.clone(),
                partition,
                offset: records[i].offset,
            })
            .collect();
        let decoded = self.decoder.decode(&values, &origins);
        let mut decoded_ok = vec![true; inputs.len()];
        m.stage(pipeline, "silver", "rejected", decoded.rejected.len());
        m.stage(pipeline, "silver", "accepted", inputs.len() - decoded.rejected.len());
        for (index, reason) in &decoded.rejected {
            decoded_ok[*index] = false;
            rejected.push(Rejected::new(records[from[*index]], "silver", reason, None));
        }
        let silver_floor = self.floor(Layer::Silver, partition);
        let silver_origins: Vec<i64> = from
            .iter()
            .zip(&decoded_ok)
            .filter(|(_, ok)| **ok)
            .map(|(&i, _)| records[i].offset)
            .collect();
        // Whether each decoded row is (or already was) a silver row: what gold counts. Rows at
        // or past silver's offsets go to silver now if their key is new.
        let mut in_silver = Vec::with_capacity(decoded.rows.num_rows());
        let mut duplicates = 0;
        for (row, offset) in silver_origins.iter().enumerate() {
            let key = self.keys.key_of(&decoded.rows, row);
            let admitted = self.keys.admit(key, (partition, *offset), silver_floor);
            duplicates += usize::from(admitted == Admitted::Duplicate);
            // Replays only matter to gold, which counts what silver holds.
            in_silver.push(admitted.in_silver() && (admitted == Admitted::New || !self.gold.is_empty()));
        }
        self.stats.duplicates += duplicates as u64;
        m.duplicates.with_label_values(&[pipeline]).inc_by(duplicates as u64);
        let keep: BooleanArray = silver_origins
            .iter()
            .zip(&in_silver)
            .map(|(offset, new)| Some(*new && *offset >= silver_floor))
            .collect();
        let silver = filter_record_batch(&decoded.rows, &keep).map_err(arrow_error)?;

        // Gold: the silver rows each gold table does not count yet, into its open windows.
        if !self.gold.is_empty() {
            let input_of: Vec<usize> = (0..inputs.len()).filter(|i| decoded_ok[*i]).collect();
            let floors: Vec<i64> = (0..self.gold.len())
                .map(|g| self.floor(Layer::Gold(g), partition))
                .collect();
            for (g, table) in self.gold.iter_mut().enumerate() {
                let times = decoded
                    .rows
                    .column(self.event_columns[g])
                    .as_primitive_opt::<arrow::datatypes::TimestampMicrosecondType>();
                let mut items = Vec::new();
                let mut item_input = Vec::new();
                for (row, &input) in input_of.iter().enumerate() {
                    if !in_silver[row] || silver_origins[row] < floors[g] {
                        continue;
                    }
                    let event_us = times.and_then(|t| t.is_valid(row).then(|| t.value(row)));
                    let arrived_ms = records[from[input]].timestamp_ms.unwrap_or(context.processing_time_ms);
                    items.push(GoldInput {
                        record: &inputs[input],
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
                let refused = tokio::task::block_in_place(|| aggregator.ingest(partition, &items));
                let gold = aggregator.gold().name.as_str();
                m.plugin_call_seconds
                    .with_label_values(&[pipeline, gold])
                    .observe(started.elapsed().as_secs_f64());
                m.stage(pipeline, gold, "accepted", items.len() - refused.len());
                m.stage(pipeline, gold, "rejected", refused.len());
                for (item, reason) in refused {
                    let record = records[from[item_input[item]]];
                    let sha = Some(aggregator.sha256().to_string());
                    rejected.push(Rejected::new(record, &aggregator.gold().name, &reason, sha));
                }
            }
        }

        // Quarantine: what it does not hold yet.
        let floor = self.floor(Layer::Quarantine, partition);
        rejected.retain(|r| r.record.offset >= floor);
        let rejected = rows::one_per_record(rejected);
        let quarantine =
            rows::quarantine(self.tables.quarantine.schema(), &topic, &rejected, now_us).map_err(arrow_error)?;

        self.stats.records_in += records.len() as u64;
        self.stats.bronze_rows += bronze.num_rows() as u64;
        self.stats.silver_rows += silver.num_rows() as u64;
        self.stats.quarantine_rows += quarantine.num_rows() as u64;
        let bytes: u64 = records.iter().map(|r| r.size() as u64).sum();
        self.buffer
            .note(partition, first_offset..next_offset, records.len(), bytes);
        push_nonempty(&mut self.buffer.bronze, bronze);
        push_nonempty(&mut self.buffer.silver, silver);
        push_nonempty(&mut self.buffer.quarantine, quarantine);
        Ok(())
    }

    /// Commits the buffer to every table in commit order (bronze, quarantine, silver, gold; each
    /// in every format), then the consumer group's offsets. Each table gets only the rows it
    /// lacks and records offsets never below those it holds ([`TableOffsets::after`]), so a
    /// crash between two table commits, and any number of commits after it, double nothing.
    async fn commit(&mut self) -> Result<(), RunError> {
        if self.buffer.is_empty() {
            return Ok(());
        }
        if let Some(lease) = &self.lease {
            lease.check().map_err(|source| RunError::Lease {
                pipeline: self.pipeline.name.clone(),
                source,
            })?;
        }
        let buffer = std::mem::take(&mut self.buffer);
        let topic = self.pipeline.source.topic.clone();
        let metadata = self.lineage(&buffer);
        let gold_commits = self.prepare_gold(&buffer, &metadata).await?;
        let name = self.pipeline.name.clone();
        for (i, (layer, table)) in self.tables.in_commit_order().enumerate() {
            #[cfg(test)]
            if self.crash_before_table == Some(i) {
                return Err(RunError::Unsupported {
                    pipeline: name,
                    message: format!("test crash before table {i}"),
                });
            }
            let commit = match layer {
                // Gold rows carry no offsets: a gold format left behind was caught up on start.
                Layer::Gold(g) => gold_commits[g].clone(),
                _ => {
                    let rows = match layer {
                        Layer::Bronze => &buffer.bronze,
                        Layer::Quarantine => &buffer.quarantine,
                        _ => &buffer.silver,
                    };
                    let offsets = self.offsets.after(i, &topic, &buffer.next);
                    // Rows are built from the lowest next offset among a layer's formats: a
                    // table that holds some buffered offsets skips what it has.
                    let batches = if self.offsets.holds_some(i, &buffer.first) {
                        not_yet_in(rows, &self.offsets.next_of(i)).map_err(|e| RunError::Sink {
                            pipeline: name.clone(),
                            source: SinkError::Schema {
                                table: table.name().into(),
                                message: e.to_string(),
                            },
                        })?
                    } else {
                        rows.clone()
                    };
                    if batches.is_empty() && !self.offsets.advances(i, &topic, &offsets) {
                        continue; // the table already holds all of it
                    }
                    CommitData {
                        batches,
                        offsets,
                        metadata: metadata.clone(),
                    }
                }
            };
            let offsets = commit.offsets.clone();
            timed_commit(&name, table, commit).await?;
            self.offsets.committed(i, &topic, &offsets);
        }
        self.keys.commit();
        for table in &mut self.gold {
            if let Err(e) = table.committed().await {
                // Old checkpoints left behind cost space, not correctness.
                tracing::warn!(pipeline = %name, "{e}");
            }
        }
        let group: Vec<(i32, i64)> = buffer.next.keys().map(|p| (*p, self.offsets.lowest(*p))).collect();
        if let Err(e) = self.source.commit(&group) {
            // Only monitoring depends on group offsets; the tables hold the truth.
            tracing::warn!("{e}");
        }
        self.stats.commits += 1;
        tracing::debug!(pipeline = %self.pipeline.name, records = buffer.records, "committed");
        Ok(())
    }

    /// The commit metadata: the pipeline, and each stage's plugin versions that made the
    /// buffered rows (two if a reload fell inside the buffer).
    fn lineage(&self, buffer: &Buffer) -> HashMap<String, serde_json::Value> {
        let plugins: serde_json::Map<String, serde_json::Value> = buffer
            .plugins
            .iter()
            .map(|(stage, versions)| (stage.clone(), serde_json::json!(versions)))
            .collect();
        [
            (
                "weir.pipeline".to_string(),
                serde_json::Value::String(self.pipeline.name.clone()),
            ),
            ("weir.plugins".to_string(), serde_json::Value::Object(plugins)),
        ]
        .into()
    }

    /// Gold: finishes the windows the watermark passed and checkpoints the state, before any
    /// table commits (a crash after this and before the gold commit only orphans the file).
    async fn prepare_gold(
        &mut self,
        buffer: &Buffer,
        metadata: &HashMap<String, serde_json::Value>,
    ) -> Result<Vec<CommitData>, RunError> {
        let now_us = crate::clock::now_ms() * 1_000;
        let topic = &self.pipeline.source.topic;
        let mut commits = Vec::with_capacity(self.gold.len());
        for (g, table) in self.gold.iter_mut().enumerate() {
            let offsets = self.offsets.layer_after(Layer::Gold(g), topic, &buffer.next);
            let data = table
                .prepare(now_us, &self.assigned, &offsets, metadata)
                .await
                .map_err(|source| RunError::Gold {
                    pipeline: self.pipeline.name.clone(),
                    source,
                })?;
            self.stats.gold_rows += data.batches.iter().map(RecordBatch::num_rows).sum::<usize>() as u64;
            commits.push(data);
        }
        Ok(commits)
    }

    fn source_error(&self, source: SourceError) -> RunError {
        RunError::Source {
            pipeline: self.pipeline.name.clone(),
            source,
        }
    }
}

/// Commits `commit` to `table`, counting its rows and timing it.
async fn timed_commit(pipeline: &str, table: &mut TableSink, commit: CommitData) -> Result<(), RunError> {
    let rows: usize = commit.batches.iter().map(RecordBatch::num_rows).sum();
    let format = match table.format() {
        TableFormat::Delta => "delta",
        TableFormat::Iceberg => "iceberg",
    };
    let started = std::time::Instant::now();
    table.commit(commit).await.map_err(|source| RunError::Sink {
        pipeline: pipeline.to_string(),
        source,
    })?;
    let labels = [pipeline, table.name(), format];
    metrics()
        .commit_seconds
        .with_label_values(&labels)
        .observe(started.elapsed().as_secs_f64());
    metrics().rows_committed.with_label_values(&labels).inc_by(rows as u64);
    Ok(())
}

/// The rows of `batches` a table whose next offsets are `next` does not hold yet.
fn not_yet_in(batches: &[RecordBatch], next: &HashMap<i32, i64>) -> Result<Vec<RecordBatch>, arrow::error::ArrowError> {
    let mut out = Vec::with_capacity(batches.len());
    for batch in batches {
        let (Some(partitions), Some(offsets)) = (
            batch.column_by_name(ORIGIN_PARTITION),
            batch.column_by_name(ORIGIN_OFFSET),
        ) else {
            out.push(batch.clone());
            continue;
        };
        let partitions = partitions.as_primitive::<arrow::datatypes::Int32Type>();
        let offsets = offsets.as_primitive::<arrow::datatypes::Int64Type>();
        let keep: BooleanArray = partitions
            .iter()
            .zip(offsets.iter())
            .map(|(p, o)| Some(o.unwrap_or(0) >= p.and_then(|p| next.get(&p).copied()).unwrap_or(0)))
            .collect();
        if keep.true_count() == batch.num_rows() {
            out.push(batch.clone());
        } else if keep.true_count() > 0 {
            out.push(filter_record_batch(batch, &keep)?);
        }
    }
    Ok(out)
}

fn push_nonempty(batches: &mut Vec<RecordBatch>, batch: RecordBatch) {
    if batch.num_rows() > 0 {
        batches.push(batch);
    }
}
