//! One medallion table in one format: the operations the pipeline runner needs, whichever
//! format writes it.

use arrow::record_batch::RecordBatch;

use super::commit::CommitData;
use super::delta::DeltaSink;
use super::error::SinkError;
use super::iceberg::IcebergSink;
use super::schema::TableSchema;
use crate::config::TableFormat;

/// A table in Delta or Iceberg format.
#[derive(Debug)]
pub enum TableSink {
    Delta(Box<DeltaSink>),
    Iceberg(Box<IcebergSink>),
}

impl TableSink {
    pub fn format(&self) -> TableFormat {
        match self {
            TableSink::Delta(_) => TableFormat::Delta,
            TableSink::Iceberg(_) => TableFormat::Iceberg,
        }
    }

    /// The table's name (`bronze`, `silver`, `quarantine`, `gold_<name>`).
    pub fn name(&self) -> &str {
        match self {
            TableSink::Delta(t) => t.name(),
            TableSink::Iceberg(t) => t.name(),
        }
    }

    pub fn schema(&self) -> &TableSchema {
        match self {
            TableSink::Delta(t) => t.schema(),
            TableSink::Iceberg(t) => t.schema(),
        }
    }

    /// The next offset of `topic`/`partition` the table holds, if it holds any.
    pub async fn next_offset(&self, topic: &str, partition: i32) -> Result<Option<i64>, SinkError> {
        match self {
            TableSink::Delta(t) => t.next_offset(topic, partition).await,
            TableSink::Iceberg(t) => t.next_offset(topic, partition).await,
        }
    }

    /// Commits `data` and its offsets atomically.
    pub async fn commit(&mut self, data: CommitData) -> Result<(), SinkError> {
        match self {
            TableSink::Delta(t) => t.commit(data).await.map(drop),
            TableSink::Iceberg(t) => t.commit(data).await.map(drop),
        }
    }

    /// Loads what other writers committed.
    pub async fn refresh(&mut self) -> Result<(), SinkError> {
        match self {
            TableSink::Delta(t) => t.refresh().await,
            TableSink::Iceberg(t) => t.refresh().await,
        }
    }

    /// Table upkeep: Delta compacts files smaller than `policy.small_file_bytes` and writes a
    /// checkpoint; Iceberg expires snapshots older than `policy.snapshot_age_ms` beyond the
    /// newest `policy.keep_snapshots`.
    pub async fn maintain(&mut self, policy: &Upkeep) -> Result<UpkeepReport, SinkError> {
        match self {
            TableSink::Delta(t) => {
                let files_before = t.file_count();
                let (removed, added) = t.compact(policy.small_file_bytes).await?;
                t.checkpoint().await?;
                Ok(UpkeepReport {
                    files_before,
                    files_after: t.file_count(),
                    compacted: (removed, added),
                    snapshots_expired: 0,
                })
            }
            TableSink::Iceberg(t) => {
                let cutoff = crate::clock::now_ms() - policy.snapshot_age_ms;
                let expired = t.expire_snapshots(cutoff, policy.keep_snapshots).await?;
                Ok(UpkeepReport {
                    snapshots_expired: expired,
                    ..UpkeepReport::default()
                })
            }
        }
    }

    /// Every row of the current version.
    pub async fn read_all(&self) -> Result<Vec<RecordBatch>, SinkError> {
        match self {
            TableSink::Delta(t) => t.read_all().await,
            TableSink::Iceberg(t) => t.read_all().await,
        }
    }
}

/// What table upkeep does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Upkeep {
    /// Delta data files below this size are rewritten together.
    pub small_file_bytes: i64,
    /// Iceberg snapshots younger than this are kept.
    pub snapshot_age_ms: i64,
    /// Iceberg keeps at least this many snapshots.
    pub keep_snapshots: usize,
}

impl Default for Upkeep {
    fn default() -> Self {
        Upkeep {
            small_file_bytes: 32 << 20,
            snapshot_age_ms: 24 * 3_600_000,
            keep_snapshots: 10,
        }
    }
}

/// What table upkeep did to one table.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct UpkeepReport {
    /// Delta data files before and after.
    pub files_before: usize,
    pub files_after: usize,
    /// Delta files (removed, written) by compaction.
    pub compacted: (usize, usize),
    /// Iceberg snapshots dropped from the metadata.
    pub snapshots_expired: usize,
}
