//! Upkeep of one Delta table, in order: compaction (`OPTIMIZE`: small files rewritten, one
//! commit of adds and removes that changes no data), a checkpoint and the cleanup of log files
//! past the table's `delta.logRetentionDuration`, then `VACUUM` in full mode: files the log
//! removed longer ago than the retention, and files it never referenced (orphans) older than it.
//!
//! Delta's vacuum has one age for both: it is the larger of the time travel retention and the
//! orphan safety age, so neither a version within the retention nor a commit in flight loses a
//! file.

use std::collections::BTreeMap;

use deltalake::kernel::Action;
use deltalake::kernel::transaction::CommitBuilder;
use deltalake::operations::vacuum::VacuumMode;
use deltalake::protocol::DeltaOperation;
use deltalake::writer::{DeltaWriter, RecordBatchWriter};

use super::DeltaSink;
use crate::config::PartitionTransform;
use crate::tables::error::TableError;
use crate::tables::upkeep::{Upkeep, UpkeepReport};

/// The small files of one partition, by partition.
type Groups = BTreeMap<String, Vec<deltalake::kernel::LogicalFileView>>;

impl DeltaSink {
    /// Runs `policy` on the table (plans it only with `policy.dry_run`).
    pub async fn upkeep(&mut self, policy: &Upkeep) -> Result<UpkeepReport, TableError> {
        self.refresh().await?;
        let mut report = UpkeepReport {
            dry_run: policy.dry_run,
            files_before: self.file_count(),
            ..UpkeepReport::default()
        };
        let most = self.most_per_partition();
        report.most_per_partition = (most, most);
        if policy.actions.compact {
            let groups = self.small_files(policy)?;
            let inputs: Vec<_> = groups.into_values().flatten().collect();
            report.bytes_rewritten = inputs.iter().map(|f| f.size().max(0) as u64).sum();
            report.compacted = match policy.dry_run {
                true => (inputs.len(), self.planned_outputs(policy)?),
                false => self.compact(policy).await?,
            };
        }
        if policy.actions.expire && !policy.dry_run {
            self.checkpoint().await?;
            report.expired = deltalake::checkpoints::cleanup_metadata(&self.table, None)
                .await
                .map_err(|e| self.error(e))?;
        }
        if policy.actions.orphans {
            report.orphans = self.vacuum(policy).await?;
        }
        report.files_after = match policy.dry_run {
            true => report.files_before - report.compacted.0 + report.compacted.1,
            false => self.file_count(),
        };
        report.most_per_partition.1 = match policy.dry_run {
            true => most.min(report.files_after),
            false => self.most_per_partition(),
        };
        Ok(report)
    }

    /// The partitions holding at least `policy.min_input_files` files below
    /// `policy.small_file_bytes`. A table partitioned by a column's own values is left alone:
    /// those values live only in the file paths, and rows read back would lack them.
    fn small_files(&self, policy: &Upkeep) -> Result<Groups, TableError> {
        let identity = (self.schema.partition.as_ref()).is_some_and(|p| p.transform == PartitionTransform::Identity);
        if identity {
            tracing::info!(table = %self.name, "identity-partitioned Delta table: not compacted");
            return Ok(Groups::new());
        }
        let snapshot = self.table.snapshot().map_err(|e| self.error(e))?;
        let mut groups = Groups::new();
        for file in snapshot.log_data() {
            if file.size() < policy.small_file_bytes {
                let partition = format!("{:?}", file.partition_values());
                groups.entry(partition).or_default().push(file);
            }
        }
        groups.retain(|_, files| files.len() >= policy.min_input_files.max(2));
        Ok(groups)
    }

    /// Files compaction would write: per partition, its small files' bytes over the target.
    fn planned_outputs(&self, policy: &Upkeep) -> Result<usize, TableError> {
        let groups = self.small_files(policy)?;
        let target = policy.target_file_bytes.max(1);
        Ok(groups
            .values()
            .map(|files| {
                (files.iter().map(|f| f.size().max(0)).sum::<i64>() as u64)
                    .div_ceil(target as u64)
                    .max(1) as usize
            })
            .sum())
    }

    /// The most live data files one partition holds.
    fn most_per_partition(&self) -> usize {
        let Ok(snapshot) = self.table.snapshot() else {
            return 0;
        };
        let mut counts: BTreeMap<String, usize> = BTreeMap::new();
        for file in snapshot.log_data() {
            *counts.entry(format!("{:?}", file.partition_values())).or_default() += 1;
        }
        counts.into_values().max().unwrap_or(0)
    }

    /// Rewrites the small files of each partition `small_files` picks (`OPTIMIZE`: no data
    /// changes, so readers and the offsets in `txn` actions are unaffected; the old files stay
    /// for time travel until a vacuum). Returns (files removed, files added).
    pub async fn compact(&mut self, policy: &Upkeep) -> Result<(usize, usize), TableError> {
        let groups = self.small_files(policy)?;
        if groups.is_empty() {
            return Ok((0, 0));
        }
        let snapshot = self.table.snapshot().map_err(|e| self.error(e))?.clone();
        let target = snapshot.snapshot().arrow_schema();
        let mut actions: Vec<Action> = Vec::new();
        let mut removed = 0;
        for files in groups.values() {
            let paths: Vec<String> = files.iter().map(|f| f.path().into_owned()).collect();
            let mut writer = RecordBatchWriter::for_table(&self.table).map_err(|e| self.error(e))?;
            for batch in self.read_files(&paths).await?.iter().filter(|b| b.num_rows() > 0) {
                let rows = self.to_table_rows(batch, &target)?;
                writer.write(rows).await.map_err(|e| self.schema_error(e))?;
            }
            let added = writer.flush().await.map_err(|e| self.error(e))?;
            actions.extend(added.into_iter().map(|mut add| {
                add.data_change = false;
                Action::Add(add)
            }));
            actions.extend(files.iter().map(|f| Action::Remove(f.remove_action(false))));
            removed += files.len();
        }
        let added = actions.len() - removed;
        let operation = DeltaOperation::Optimize {
            predicate: None,
            target_size: policy.target_file_bytes,
        };
        CommitBuilder::default()
            .with_actions(actions)
            .build(Some(&snapshot), self.table.log_store(), operation)
            .await
            .map_err(|e| self.error(e))?;
        self.refresh().await?;
        Ok((removed, added))
    }

    /// Writes a checkpoint of the current version, so readers replay fewer log files.
    pub async fn checkpoint(&self) -> Result<(), TableError> {
        deltalake::checkpoints::create_checkpoint(&self.table, None)
            .await
            .map_err(|e| self.error(e))
    }

    /// `VACUUM` in full mode at the larger of the retention and the orphan age; returns the
    /// files it deleted (or would delete).
    async fn vacuum(&mut self, policy: &Upkeep) -> Result<usize, TableError> {
        let age_ms = policy.retention_ms.max(policy.orphan_age_ms);
        let (table, metrics) = self
            .table
            .clone()
            .vacuum()
            .with_mode(VacuumMode::Full)
            .with_retention_period(chrono::Duration::milliseconds(age_ms))
            .with_enforce_retention_duration(false)
            .with_dry_run(policy.dry_run)
            .await
            .map_err(|e| self.error(e))?;
        if !policy.dry_run {
            self.table = table;
            self.held().clear();
        }
        Ok(metrics.files_deleted.len())
    }
}
