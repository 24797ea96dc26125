//! The commit: the buffer goes to every table in commit order (bronze, quarantine, silver, gold;
//! each in every format), then the consumer group learns the offsets. Each table gets only the
//! rows it lacks and records offsets never below those it holds ([`TableOffsets`]), so a crash
//! between two table commits, and any number of commits after it, doubles nothing.
//!
//! [`TableOffsets`]: super::offsets::TableOffsets

use std::collections::HashMap;

use arrow::record_batch::RecordBatch;

use super::buffer::Buffer;
use super::data_path::DataPath;
use super::error::RunError;
use crate::metrics::metrics;
use crate::tables::{CommitData, Layer, Table, TableId};

/// The consumer group's offsets after a commit: per partition, where reading resumes.
pub type GroupOffsets = Vec<(i32, i64)>;

impl DataPath {
    /// Commits the buffer to every table, at `now_ms` (gold's processing time); returns the
    /// group offsets to commit to Kafka, or `None` when there was nothing to commit.
    pub async fn commit(&mut self, now_ms: i64) -> Result<Option<GroupOffsets>, RunError> {
        if self.buffer.is_empty() {
            return Ok(None);
        }
        let buffer = std::mem::take(&mut self.buffer);
        let metadata = self.lineage(&buffer);
        let gold_commits = self.prepare_gold(&buffer, &metadata, now_ms).await?;
        let topic = self.pipeline.source.topic.clone();
        let name = self.pipeline.name.clone();
        let crash_before = self.crash_before_table_at();
        for (i, (id, table)) in self.tables.in_commit_order().enumerate() {
            crash_point(&name, crash_before, i)?;
            let commit = match id.layer {
                // Gold rows carry no offsets: a gold format left behind was caught up on start.
                Layer::Gold(g) => gold_commits[g].clone(),
                layer => {
                    let rows = match layer {
                        Layer::Bronze => &buffer.bronze,
                        Layer::Quarantine => &buffer.quarantine,
                        _ => &buffer.silver,
                    };
                    let offsets = self.offsets.after(id, &topic, &buffer.next);
                    let batches = (self.offsets.lacking(id, &buffer.first, rows)).map_err(|source| RunError::Rows {
                        pipeline: name.clone(),
                        source,
                    })?;
                    if batches.is_empty() && !self.offsets.advances(id, &topic, &offsets) {
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
            timed_commit(&name, id, table.as_mut(), commit).await?;
            self.offsets.committed(id, &topic, &offsets);
        }
        self.keys.commit();
        for table in &mut self.gold {
            if let Err(e) = table.committed().await {
                // Old checkpoints left behind cost space, not correctness.
                tracing::warn!(pipeline = %name, "{e}");
            }
        }
        self.stats.commits += 1;
        tracing::debug!(pipeline = %name, records = buffer.records, "committed");
        Ok(Some(
            buffer.next.keys().map(|p| (*p, self.offsets.lowest(*p))).collect(),
        ))
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
        now_ms: i64,
    ) -> Result<Vec<CommitData>, RunError> {
        let topic = &self.pipeline.source.topic;
        let mut commits = Vec::with_capacity(self.gold.len());
        for (g, table) in self.gold.iter_mut().enumerate() {
            let offsets = self.offsets.layer_after(Layer::Gold(g), topic, &buffer.next);
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

/// Commits `commit` to `table`, counting its rows and timing it.
async fn timed_commit(pipeline: &str, id: TableId, table: &mut dyn Table, commit: CommitData) -> Result<(), RunError> {
    let rows: usize = commit.batches.iter().map(RecordBatch::num_rows).sum();
    let started = std::time::Instant::now();
    table.commit(commit).await.map_err(|source| RunError::Table {
        pipeline: pipeline.to_string(),
        source,
    })?;
    let labels = [pipeline, table.name(), id.format.name()];
    let m = metrics();
    (m.commit_seconds.with_label_values(&labels)).observe(started.elapsed().as_secs_f64());
    m.rows_committed.with_label_values(&labels).inc_by(rows as u64);
    Ok(())
}
