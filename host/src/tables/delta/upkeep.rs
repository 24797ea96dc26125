//! Upkeep of one Delta table, in order: compaction (`OPTIMIZE`: small files rewritten, one
//! commit of adds and removes that changes no data), a checkpoint and the cleanup of log files
//! past the table's `delta.logRetentionDuration`, then the files nothing needs any more:
//! `VACUUM` (lite) deletes the files the log removed longer ago than the retention (the time
//! travel window), and the orphan pass here deletes files the log never mentions (commits that
//! did not land), once older than the orphan age.
//!
//! deltalake's full-mode vacuum does both with one age; the orphan age guards commits in flight
//! and the retention guards time travel, and a user sets them apart (3 days and 7 by default),
//! so the orphan pass is written here: the table's files listed, minus the live ones and every
//! file a remove action of the log still names, minus log and hidden files.

use std::collections::{BTreeMap, HashMap, HashSet};

use deltalake::kernel::Action;
use deltalake::kernel::transaction::CommitBuilder;
use deltalake::operations::vacuum::VacuumMode;
use deltalake::protocol::DeltaOperation;
use deltalake::writer::{DeltaWriter, RecordBatchWriter};

use super::DeltaSink;
use crate::config::PartitionTransform;
use crate::tables::error::TableError;
use crate::tables::orphan_sweep::Sweep;
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
            let inputs = groups.values().flatten();
            report.bytes_rewritten = inputs.map(|f| f.size().max(0) as u64).sum();
            report.compacted = match policy.dry_run {
                true => (groups.values().map(Vec::len).sum(), planned_outputs(&groups, policy)),
                false => self.compact(&groups, policy).await?,
            };
        }
        if policy.actions.expire && !policy.dry_run {
            self.checkpoint().await?;
            report.expired = deltalake::checkpoints::cleanup_metadata(&self.table, None)
                .await
                .map_err(|e| self.error(e))?;
        }
        if policy.actions.orphans {
            let removed = self.removed_files().await?;
            let (vacuumed, vacuumed_bytes) = self.vacuum(policy, &removed).await?;
            let (orphans, bytes) = self
                .delete_orphans(removed, policy.orphan_age_ms, policy.dry_run)
                .await?;
            (report.orphans, report.orphan_bytes) = (vacuumed + orphans, vacuumed_bytes + bytes);
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

    /// Rewrites the small files of `groups` (the partitions `small_files` picks; `OPTIMIZE`: no data
    /// changes, so readers and the offsets in `txn` actions are unaffected; the old files stay
    /// for time travel until a vacuum). Returns (files removed, files added).
    pub async fn compact(&mut self, groups: &Groups, policy: &Upkeep) -> Result<(usize, usize), TableError> {
        if groups.is_empty() {
            return Ok((0, 0));
        }
        let snapshot = self.table.snapshot().map_err(|e| self.error(e))?.clone();
        let target = snapshot.snapshot().arrow_schema();
        let mut actions: Vec<Action> = Vec::new();
        let mut removed = 0;
        for files in groups.values() {
            actions.extend(self.rewrite(files, &target, policy.target_file_bytes).await?);
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

    /// The rows of `files` (one partition) written anew, a file each time about `target_bytes`
    /// of input went in; the adds, marked as changing no data. One input file is in memory at
    /// a time.
    async fn rewrite(
        &self,
        files: &[deltalake::kernel::LogicalFileView],
        target: &arrow::datatypes::SchemaRef,
        target_bytes: i64,
    ) -> Result<Vec<Action>, TableError> {
        let mut adds = Vec::new();
        let mut writer = RecordBatchWriter::for_table(&self.table).map_err(|e| self.error(e))?;
        let mut pending = 0;
        for file in files {
            for batch in self.read_files(&[file.path().into_owned()]).await? {
                if batch.num_rows() > 0 {
                    let rows = self.to_table_rows(&batch, target)?;
                    writer.write(rows).await.map_err(|e| self.schema_error(e))?;
                }
            }
            pending += file.size();
            if pending >= target_bytes {
                adds.extend(writer.flush().await.map_err(|e| self.error(e))?);
                pending = 0;
            }
        }
        adds.extend(writer.flush().await.map_err(|e| self.error(e))?);
        Ok(adds
            .into_iter()
            .map(|mut add| {
                add.data_change = false;
                Action::Add(add)
            })
            .collect())
    }

    /// Writes a checkpoint of the current version, so readers replay fewer log files.
    pub async fn checkpoint(&self) -> Result<(), TableError> {
        deltalake::checkpoints::create_checkpoint(&self.table, None)
            .await
            .map_err(|e| self.error(e))
    }

    /// `VACUUM` (lite): the files removed longer ago than the retention; returns how many it
    /// deleted (or would delete) and their bytes (as the remove actions give them).
    /// `removed` is what the log still names as removed, with sizes ([`Self::removed_files`]).
    async fn vacuum(&mut self, policy: &Upkeep, removed: &HashMap<String, u64>) -> Result<(usize, u64), TableError> {
        let (table, metrics) = self
            .table
            .clone()
            .vacuum()
            .with_mode(VacuumMode::Lite)
            .with_retention_period(chrono::Duration::milliseconds(policy.retention_ms))
            .with_enforce_retention_duration(false)
            .with_dry_run(policy.dry_run)
            .await
            .map_err(|e| self.error(e))?;
        if !policy.dry_run {
            self.table = table;
            self.held().clear();
        }
        let bytes = (metrics.files_deleted.iter())
            .filter_map(|path| removed.get(&store_key(path)))
            .sum();
        Ok((metrics.files_deleted.len(), bytes))
    }

    /// Every file a remove action of the log still names, with its size.
    async fn removed_files(&self) -> Result<HashMap<String, u64>, TableError> {
        use futures::TryStreamExt;
        let snapshot = self.table.snapshot().map_err(|e| self.error(e))?;
        let log_store = self.table.log_store();
        (snapshot.all_tombstones(log_store.as_ref()))
            .map_ok(|t| (store_key(&t.path()), t.size().unwrap_or(0).max(0) as u64))
            .try_collect()
            .await
            .map_err(|e| self.error(e))
    }

    /// Deletes (or with `dry_run` counts) the table's files that neither the current version
    /// nor a remove action names, older than `min_age_ms`; returns how many and their bytes.
    async fn delete_orphans(
        &self,
        removed: HashMap<String, u64>,
        min_age_ms: i64,
        dry_run: bool,
    ) -> Result<(usize, u64), TableError> {
        use futures::TryStreamExt;
        let snapshot = self.table.snapshot().map_err(|e| self.error(e))?;
        let live: Vec<String> = (snapshot.log_data().into_iter())
            .map(|f| store_key(&f.path()))
            .collect();
        let mut known: HashSet<String> = removed.into_keys().collect();
        known.extend(live.iter().cloned());
        let store = self.table.object_store();
        let listed: Vec<object_store::ObjectMeta> =
            (store.list(None).try_collect().await).map_err(|e| self.error(deltalake::DeltaTableError::from(e)))?;
        let files: Vec<_> = listed.into_iter().filter(|m| !hidden(m.location.as_ref())).collect();
        let location = self.table.table_url().to_string();
        let sweep = Sweep {
            table: &self.name,
            location: &location,
            known: &known,
            required: &live,
            min_age_ms,
            dry_run,
        };
        sweep.run(store.as_ref(), files).await
    }
}

/// A path as the log gives it (relative to the table, decoded), as the table's store lists it.
fn store_key(path: &str) -> String {
    object_store::path::Path::parse(path)
        .unwrap_or_else(|_| object_store::path::Path::from(path))
        .to_string()
}

/// Files compaction would write: per partition, its small files' bytes over the target.
fn planned_outputs(groups: &Groups, policy: &Upkeep) -> usize {
    let target = policy.target_file_bytes.max(1);
    groups
        .values()
        .map(|files| {
            (files.iter().map(|f| f.size().max(0)).sum::<i64>() as u64)
                .div_ceil(target as u64)
                .max(1) as usize
        })
        .sum()
}

/// The log and hidden files: a segment starting with `.`, or with `_` unless it is a partition
/// folder (`_col=value`).
fn hidden(key: &str) -> bool {
    key.split('/')
        .any(|segment| segment.starts_with('.') || (segment.starts_with('_') && !segment.contains('=')))
}

#[cfg(test)]
mod tests {
    use super::{hidden, store_key};

    #[test]
    fn log_and_hidden_files_are_never_orphans_partition_folders_are_looked_at() {
        assert!(hidden("_delta_log/00000000000000000000.json"));
        assert!(hidden("day=2026-01-01/.part-0.parquet.crc"));
        assert!(!hidden("_ingest_day=2026-01-01/part-0.parquet"));
        assert!(!hidden("part-0.parquet"));
        assert_eq!(store_key("d=1/part-0.parquet"), "d=1/part-0.parquet");
    }
}
