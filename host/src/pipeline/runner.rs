//! The loop of one pipeline: poll a batch per partition from Kafka, take it through the data
//! path ([`DataPath`]), and commit when the policy says so; between batches, swap in reloaded
//! plugins, follow the group's assignment, and keep the writer lease of a gold pipeline.

use std::time::Duration;

use tokio_util::sync::CancellationToken;

use super::data_path::{DataPath, RunStats};
use super::error::RunError;
use super::lease::{WriterLease, holder_name};
use super::stages::{RunningStage, Started, SwapReceiver, Swapped, retire};
use crate::config::Pipeline;
use crate::gold::GoldAggregator;
use crate::metrics::metrics;
use crate::plugin::{PluginEngine, short_sha};
use crate::source::{KafkaSource, PartitionBatch};
use crate::status::{Reload, status};
use crate::tables::Tables;

/// A running pipeline.
pub struct PipelineRunner {
    source: KafkaSource,
    path: DataPath,
    /// Reloaded stages waiting for the next batch boundary.
    swaps: Option<SwapReceiver>,
    /// Every swap applied since start (the newest last).
    swapped: Vec<Swapped>,
    /// A pipeline with gold tables writes only while it holds this.
    lease: Option<WriterLease>,
    /// Since when this host has owned no partition, and whether it said so.
    unassigned: (std::time::Instant, bool),
}

impl std::fmt::Debug for PipelineRunner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PipelineRunner")
            .field("pipeline", &self.path.pipeline.name)
            .field("stats", &self.path.stats)
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
    pub async fn start_with(mut pipeline: Pipeline, started: Started) -> Result<Self, RunError> {
        let name = pipeline.name.clone();
        super::silver_columns::take_from_registry(&mut pipeline).await?;
        // One writer per gold pipeline: the lease first, then its state and the consumer group.
        let lease = match pipeline.gold.is_empty() {
            true => None,
            false => {
                let holder = holder_name();
                let acquired = WriterLease::acquire(&pipeline.tables.location, &pipeline.tables.s3, &holder);
                Some(acquired.await.map_err(|source| RunError::Lease {
                    pipeline: name.clone(),
                    source,
                })?)
            }
        };
        let table_error = |source| RunError::Table {
            pipeline: name.clone(),
            source,
        };
        let mut tables = Tables::open(&pipeline).await.map_err(table_error)?;
        tables.attach_dead_letter(&pipeline).await.map_err(table_error)?;
        let names: Vec<(String, &str)> = (tables.in_commit_order())
            .map(|(id, t)| (t.name().to_string(), id.format.name()))
            .collect();
        let stages: Vec<&str> = pipeline.stages.iter().map(|s| s.name.as_str()).collect();
        metrics().zero_errors(&name, names.iter().map(|(t, f)| (t.as_str(), *f)), &stages);
        let stages = started.stages.len();
        let path = DataPath::open(pipeline, started, tables).await?;
        let source = KafkaSource::connect(&name, &path.pipeline.source).map_err(|source| RunError::Source {
            pipeline: name.clone(),
            source,
        })?;
        let workers = path.workers.count();
        tracing::info!(pipeline = %name, stages, workers, silver_keys = path.silver_keys(), "pipeline started");
        crate::status::status().started(&name);
        Ok(PipelineRunner {
            source,
            path,
            swaps: None,
            swapped: Vec::new(),
            lease,
            unassigned: (std::time::Instant::now(), false),
        })
    }

    /// From now on, cancelling `interrupt` ends the plugin calls in progress: the batch they
    /// were for is dropped (not committed) and [`PipelineRunner::run_until`] stops.
    pub fn interrupt_on(&mut self, interrupt: CancellationToken) {
        self.path.interrupt = interrupt;
        self.arm_interrupts();
    }

    /// Hands the interrupt to every transform stage (again after a swap). Gold aggregates are
    /// never interrupted: a batch half folded into the open windows could not be taken out
    /// again; their calls are bounded by the deadline budget instead.
    fn arm_interrupts(&mut self) {
        let interrupt = self.path.interrupt.clone();
        for running in self.path.workers.all_mut() {
            running.stage.interrupt_on(interrupt.clone());
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
        (self.path.workers.primary().iter())
            .map(|s| (s.name.clone(), s.sha256.clone()))
            .collect()
    }

    /// The gold aggregates' names and plugin hashes, in order.
    pub fn gold_versions(&self) -> Vec<(String, String)> {
        (self.path.gold.iter())
            .map(|g| (g.aggregator.gold().name.clone(), g.aggregator.sha256().to_string()))
            .collect()
    }

    /// The open (pane, key) groups of each gold aggregate, in order.
    pub fn gold_groups(&self) -> Vec<usize> {
        self.path.gold.iter().map(|g| g.aggregator.state().groups()).collect()
    }

    pub fn stats(&self) -> RunStats {
        self.path.stats()
    }

    /// Records processed but not committed yet (lost, and read again, if the process dies now).
    pub fn uncommitted(&self) -> usize {
        self.path.uncommitted()
    }

    pub fn name(&self) -> &str {
        &self.path.pipeline.name
    }

    /// The data path (tests crash its commits).
    #[cfg(test)]
    pub(crate) fn path_mut(&mut self) -> &mut DataPath {
        &mut self.path
    }

    /// The pipeline's tables (tests read them back).
    #[cfg(test)]
    pub(crate) fn tables_mut(&mut self) -> &mut Tables {
        &mut self.path.tables
    }

    /// Runs until `stop` says so (or the interrupt is cancelled), then commits what is buffered
    /// and leaves the group.
    pub async fn run_until(mut self, mut stop: impl FnMut(&RunStats) -> bool) -> Result<RunStats, RunError> {
        while !stop(&self.path.stats) {
            match self.step().await {
                Err(RunError::Interrupted { .. }) => {
                    tracing::info!(pipeline = %self.name(), "stopped in the middle of a batch; it is read again at the next start");
                    break;
                }
                other => other?,
            }
        }
        self.commit().await?;
        let stats = self.path.stats;
        let lease = self.lease.take();
        self.source.close();
        if let Some(lease) = lease {
            lease.release().await;
        }
        tracing::info!(?stats, "pipeline stopped");
        Ok(stats)
    }

    /// One poll: swap in reloaded stages, process what came (one clock reading for all of it),
    /// follow the assignment, commit when the policy says so.
    pub async fn step(&mut self) -> Result<(), RunError> {
        if let Some(lease) = &mut self.lease {
            lease.renew_if_due().await.map_err(|source| RunError::Lease {
                pipeline: self.path.pipeline.name.clone(),
                source,
            })?;
        }
        self.apply_swaps();
        let policy = &self.path.pipeline.commit;
        let room = policy.max_records.saturating_sub(self.path.uncommitted()).max(1);
        // librdkafka's poll blocks: off the runtime's worker, so other pipelines and the
        // supervisor keep running however many pipelines there are.
        let batches =
            tokio::task::block_in_place(|| self.source.poll(Duration::from_millis(100), room)).map_err(|source| {
                RunError::Source {
                    pipeline: self.path.pipeline.name.clone(),
                    source,
                }
            })?;
        self.path.fetch_schemas(&batches).await?;
        let added = self.path.registry_additions();
        if !added.is_empty() {
            // The buffer's rows have silver's columns as they were: committed first.
            self.commit().await?;
            self.path.add_silver_columns(added).await?;
        }
        let now_ms = crate::clock::now_ms();
        self.path.process_all(&batches, now_ms)?;
        let reread = self.path.revoke(self.source.take_revoked()).await?;
        for tp in reread.into_iter().chain(self.source.take_assigned()) {
            let next = self.path.assign(&tp).await?;
            self.source.resume_at(&tp, next);
        }
        if self.path.buffer.is_due(&self.path.pipeline.commit) {
            self.commit().await?;
        }
        self.watch_assignment();
        tokio::task::yield_now().await;
        Ok(())
    }

    /// Commits the buffer to every table (while the writer lease holds), then tells the
    /// consumer group where the tables stand.
    async fn commit(&mut self) -> Result<(), RunError> {
        if self.path.buffer.is_empty() {
            return Ok(());
        }
        if let Some(lease) = &self.lease {
            lease.check().map_err(|source| RunError::Lease {
                pipeline: self.path.pipeline.name.clone(),
                source,
            })?;
        }
        if let Some(group) = self.path.commit(crate::clock::now_ms()).await?
            && let Err(e) = self.source.commit(&group)
        {
            // Only monitoring depends on group offsets; the tables hold the truth.
            tracing::warn!("{e}");
        }
        Ok(())
    }

    /// Says so (log and `/readyz`) when this host has owned no partition for longer than the
    /// group's session timeout: the group may be waiting out a dead member, or the broker does
    /// not assign; either way an operator should know.
    fn watch_assignment(&mut self) {
        let name = &self.path.pipeline.name;
        if !self.path.assigned.is_empty() {
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
                self.path.pipeline.source.group,
                session.as_secs()
            );
            tracing::warn!(pipeline = %name, "{why}");
            crate::health::health().set_fault(name, crate::health::Fault::Unassigned, why);
            self.unassigned.1 = true;
        }
    }

    /// Puts reloaded stages in place: between two batches, so each batch runs on one version of
    /// every stage. Rows already buffered keep the lineage of the versions that made them.
    pub fn apply_swaps(&mut self) {
        let Some(swaps) = &self.swaps else {
            return;
        };
        let mut aggregators: Vec<&mut GoldAggregator> = self.path.gold.iter_mut().map(|g| &mut g.aggregator).collect();
        for swapped in swaps.apply(self.path.workers.primary_mut(), &mut aggregators) {
            let pipeline = &self.path.pipeline.name;
            metrics()
                .swap_pause
                .with_label_values(&[pipeline.as_str()])
                .observe(swapped.pause.as_secs_f64());
            for (stage, old, new) in &swapped.stages {
                metrics().plugin_reload(pipeline, stage, true);
                status().reloaded(pipeline, Reload::swapped(stage, old, new));
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
                status().reloaded(pipeline, Reload::failed(gold, Some(new), reason));
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
        retire(self.path.workers.follow_primary());
        self.arm_interrupts();
    }

    /// Tests: takes `partition` on, as an assignment would (see [`DataPath::assign`]).
    #[cfg(test)]
    pub(crate) async fn assign(&mut self, partition: i32) -> Result<Option<i64>, RunError> {
        let topic = self.path.pipeline.source.single_topic().unwrap_or_default();
        let tp = crate::source::TopicPartition::new(topic, partition);
        self.path.assign(&tp).await
    }

    /// Processes a batch that did not come from the source (benchmarks, replays): the same path
    /// as polled records, up to the buffer. Commit with [`PipelineRunner::flush`].
    pub fn ingest(&mut self, batch: PartitionBatch) -> Result<(), RunError> {
        self.path.process(&batch, crate::clock::now_ms())
    }

    /// Fetches the writer schemas `batches` name that are not held yet, as `step` does before
    /// processing a poll (benchmarks feed `ingest_all` without a broker).
    pub async fn fetch_schemas(&mut self, batches: &[PartitionBatch]) -> Result<(), RunError> {
        self.path.fetch_schemas(batches).await
    }

    /// As [`PipelineRunner::ingest`] for the batches of one poll (shared among the workers).
    pub fn ingest_all(&mut self, batches: &[PartitionBatch]) -> Result<(), RunError> {
        self.path.process_all(batches, crate::clock::now_ms())
    }

    /// Commits what is buffered now.
    pub async fn flush(&mut self) -> Result<(), RunError> {
        self.commit().await
    }
}
