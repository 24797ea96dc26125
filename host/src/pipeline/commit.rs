//! The commit: the buffer goes to every table (its data files written at once, `table_writes`;
//! then published in commit order: bronze, quarantine, silver, gold, each in every format), then
//! the consumer group learns the offsets. Each table gets only the rows it lacks and records
//! offsets never below those it holds ([`TableOffsets`]), so a crash between two table commits,
//! and any number of commits after it, doubles nothing.
//!
//! [`TableOffsets`]: super::offsets::TableOffsets

use std::collections::HashMap;

use arrow::record_batch::RecordBatch;

use super::buffer::Buffer;
use super::data_path::DataPath;
use super::error::RunError;
use super::silver_keys::SilverKeys;
use super::table_writes::{WriteJob, Written, write_all};
use crate::metrics::metrics;
use crate::source::TopicPartition;
use crate::tables::{CommitData, Layer, Table, TableId};

/// The commit metadata key of the rows' lineage: stage -> the plugin versions that made them.
const PLUGINS_KEY: &str = "weir.plugins";

/// The consumer group's offsets after a commit: per partition, where reading resumes.
pub type GroupOffsets = Vec<(TopicPartition, i64)>;

impl DataPath {
    /// Commits the buffer to every table, at `now_ms` (gold's processing time); returns the
    /// group offsets to commit to Kafka, or `None` when there was nothing to commit.
    ///
    /// The tables' data files are written at once (on the workers' threads), then published one
    /// table after the other in commit order: a crash in between only leaves files unreferenced.
    pub async fn commit(&mut self, now_ms: i64) -> Result<Option<GroupOffsets>, RunError> {
        if self.buffer.is_empty() {
            return Ok(None);
        }
        let buffer = std::mem::take(&mut self.buffer);
        let metadata = self.lineage(&buffer);
        let gold_commits = self.prepare_gold(&buffer, &metadata, now_ms).await?;
        let commits = self.table_commits(&buffer, &metadata, gold_commits)?;
        let name = self.pipeline.name.clone();
        let crash_before = self.crash_before_table_at();
        let threads = self.workers.count();
        let mut tables: Vec<(TableId, &mut Box<dyn Table>)> = self.tables.in_commit_order().collect();
        let jobs = (tables.iter().zip(&commits))
            .filter_map(|((_, table), commit)| {
                let batches = &commit.as_ref()?.batches;
                Some(WriteJob {
                    table: &***table,
                    batches,
                })
            })
            .collect();
        let mut written = write_all(jobs, threads).await.into_iter();
        for (i, ((id, table), commit)) in tables.iter_mut().zip(commits).enumerate() {
            crash_point(&name, crash_before, i)?;
            let Some(commit) = commit else {
                continue; // the table already holds all of it
            };
            let Some(files) = written.next() else {
                continue; // not reached: every commit was written
            };
            publish(&name, *id, table.as_mut(), files, &commit).await?;
            self.offsets.committed(*id, &commit.offsets);
        }
        self.keys.iter_mut().for_each(SilverKeys::commit);
        for table in &mut self.gold {
            if let Err(e) = table.committed().await {
                // Old checkpoints left behind cost space, not correctness.
                tracing::warn!(pipeline = %name, "{e}");
            }
        }
        self.stats.commits += 1;
        tracing::debug!(pipeline = %name, records = buffer.records, "committed");
        Ok(Some(
            buffer
                .next
                .keys()
                .map(|tp| (tp.clone(), self.offsets.lowest(tp)))
                .collect(),
        ))
    }

    /// What each table gets, in commit order: the buffered rows it lacks and the offsets after
    /// them; `None` for a table that already holds all of it.
    fn table_commits(
        &mut self,
        buffer: &Buffer,
        metadata: &HashMap<String, serde_json::Value>,
        gold_commits: Vec<CommitData>,
    ) -> Result<Vec<Option<CommitData>>, RunError> {
        let ids: Vec<TableId> = self.tables.in_commit_order().map(|(id, _)| id).collect();
        let mut commits = Vec::with_capacity(ids.len());
        for id in ids {
            let rows = match id.layer {
                // Gold rows carry no offsets: a gold format left behind was caught up on start.
                // The same rows for each format.
                Layer::Gold(g) => {
                    commits.push(gold_commits.get(g).cloned());
                    continue;
                }
                Layer::Bronze => buffer.bronze.as_slice(),
                Layer::Quarantine => buffer.quarantine.as_slice(),
                Layer::Silver(t) => buffer.silver(t),
            };
            let offsets = self.offsets.after(id, &buffer.next);
            let batches = (self.offsets.lacking(id, &buffer.first, rows)).map_err(|source| RunError::Rows {
                pipeline: self.pipeline.name.clone(),
                source,
            })?;
            let holds_all = batches.is_empty() && !self.offsets.advances(id, &offsets);
            commits.push((!holds_all).then(|| CommitData {
                batches,
                offsets,
                metadata: metadata.clone(),
            }));
        }
        Ok(commits)
    }

    /// The commit metadata: the pipeline, and each stage's plugin versions that made the
    /// buffered rows (two if a reload fell inside the buffer).
    fn lineage(&self, buffer: &Buffer) -> HashMap<String, serde_json::Value> {
        let plugins: serde_json::Map<String, serde_json::Value> = (buffer.plugins.iter())
            .map(|(stage, versions)| (stage.clone(), serde_json::json!(versions)))
            .collect();
        let pipeline = serde_json::Value::String(self.pipeline.name.clone());
        [
            ("weir.pipeline".to_string(), pipeline),
            (PLUGINS_KEY.to_string(), serde_json::Value::Object(plugins)),
        ]
        .into()
    }

    /// Gold: finishes the windows the watermark passed and checkpoints the state, before any
    /// table commits (a crash after this and before the gold commit only orphans the file).
    async fn prepare_gold(
        &mut self,
        buffer: &Buffer,
        metadata: &HashMap<String, serde_json::Value>,
        now_ms: i64,
    ) -> Result<Vec<CommitData>, RunError> {
        let mut commits = Vec::with_capacity(self.gold.len());
        for (g, table) in self.gold.iter_mut().enumerate() {
            let offsets = self.offsets.layer_after(Layer::Gold(g), &buffer.next);
            let prepared = table.prepare(now_ms * 1_000, &self.assigned, &offsets, metadata).await;
            let data = prepared.map_err(|source| RunError::Gold {
                pipeline: self.pipeline.name.clone(),
                source,
            })?;
            self.stats.gold_rows += data.batches.iter().map(RecordBatch::num_rows).sum::<usize>() as u64;
            commits.push(data);
        }
        Ok(commits)
    }
}

/// Tests: fails before table `position` (in commit order) when told to, as a crash would.
fn crash_point(pipeline: &str, crash_before: Option<usize>, position: usize) -> Result<(), RunError> {
    match crash_before == Some(position) {
        true => Err(RunError::Unsupported {
            pipeline: pipeline.to_string(),
            message: format!("test crash before table {position}"),
        }),
        false => Ok(()),
    }
}

/// Publishes the `written` files of `commit` to `table`, counting its rows and timing the write
/// and the publishing.
async fn publish(
    pipeline: &str,
    id: TableId,
    table: &mut dyn Table,
    written: Written,
    commit: &CommitData,
) -> Result<(), RunError> {
    let name = table.name().to_string();
    let labels = [pipeline, name.as_str(), id.format.name()];
    let m = metrics();
    let error = |source| {
        m.commit_errors.with_label_values(&labels).inc();
        RunError::Table {
            pipeline: pipeline.to_string(),
            source,
        }
    };
    let rows: usize = commit.batches.iter().map(RecordBatch::num_rows).sum();
    let started = std::time::Instant::now();
    let files = written.files.map_err(error)?;
    let published = table.publish(files, &commit.offsets, &commit.metadata).await;
    published.map_err(error)?;
    let seconds = (written.took + started.elapsed()).as_secs_f64();
    m.commit_seconds.with_label_values(&labels).observe(seconds);
    m.rows_committed.with_label_values(&labels).inc_by(rows as u64);
    let lineage = commit.metadata.get(PLUGINS_KEY);
    crate::status::status().committed(pipeline, &name, id.format.name(), rows, lineage);
    if id.layer == Layer::Quarantine {
        crate::status::status().quarantined(pipeline, &commit.batches);
    }
    Ok(())
}
