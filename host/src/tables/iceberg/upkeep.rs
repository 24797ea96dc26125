//! Upkeep of one Iceberg table, in order: compaction (`compact.rs`), snapshot expiry, orphan
//! files (`orphans.rs`). Expiry comes before the orphan pass so that files only expired
//! snapshots held become orphans in the same run (once old enough).

use super::IcebergSink;
use super::live::{ManifestCache, most_per_partition};
use crate::tables::error::TableError;
use crate::tables::upkeep::{Upkeep, UpkeepReport};

impl IcebergSink {
    /// Runs `policy` on the table (plans it only with `policy.dry_run`).
    pub async fn upkeep(&mut self, policy: &Upkeep) -> Result<UpkeepReport, TableError> {
        self.refresh().await?;
        let mut cache = ManifestCache::default();
        let mut report = UpkeepReport {
            dry_run: policy.dry_run,
            ..UpkeepReport::default()
        };
        let (files, most) = self.live_counts(&mut cache).await?;
        report.files_before = files;
        report.most_per_partition = (most, most);
        if policy.actions.compact {
            let done = self.compact(policy, &mut cache).await?;
            report.compacted = (done.removed, done.added);
            report.bytes_rewritten = done.bytes;
            report.most_per_partition.1 = done.most_after.unwrap_or(most);
        }
        let cutoff = crate::clock::now_ms() - policy.retention_ms;
        if policy.actions.expire {
            report.expired = match policy.dry_run {
                true => self.expirable(cutoff, policy.keep_snapshots),
                false => self.expire_snapshots(cutoff, policy.keep_snapshots).await?,
            };
        }
        if policy.actions.orphans {
            (report.orphans, report.orphan_bytes) = self
                .delete_orphans(policy.orphan_age_ms, policy.dry_run, &mut cache)
                .await?;
        }
        if policy.dry_run {
            report.files_after = report.files_before - report.compacted.0 + report.compacted.1;
        } else {
            let (files, most) = self.live_counts(&mut cache).await?;
            report.files_after = files;
            report.most_per_partition.1 = most;
        }
        Ok(report)
    }

    /// Live data files of the current snapshot, and the most in one partition.
    async fn live_counts(&self, cache: &mut ManifestCache) -> Result<(usize, usize), TableError> {
        let Some(snapshot) = self.table.metadata().current_snapshot().cloned() else {
            return Ok((0, 0));
        };
        let live = cache.live(&self.table, &snapshot).await.map_err(|e| self.error(e))?;
        Ok((live.files.len(), most_per_partition(&live.files)))
    }

    /// How many snapshots an expiry at `older_than_ms` keeping `retain_last` would drop: those
    /// older than the cutoff beyond the newest `retain_last`, never the current one.
    fn expirable(&self, older_than_ms: i64, retain_last: usize) -> usize {
        let metadata = self.table.metadata();
        let current = metadata.current_snapshot_id();
        let mut times: Vec<(i64, i64)> = metadata
            .snapshots()
            .map(|s| (s.timestamp_ms(), s.snapshot_id()))
            .collect();
        times.sort_unstable_by(|a, b| b.cmp(a));
        times
            .iter()
            .skip(retain_last.max(1))
            .filter(|(t, id)| *t < older_than_ms && Some(*id) != current)
            .count()
    }
}
