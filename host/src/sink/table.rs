//! One medallion table in one format: the operations the pipeline runner needs, whichever
//! format writes it.

use arrow::record_batch::RecordBatch;

use super::delta::{CommitData, DeltaSink};
use super::error::SinkError;
use super::iceberg::IcebergSink;
use super::schema::TableSchema;
use crate::config::TableFormat;

/// A table in Delta or Iceberg format.
#[derive(Debug)]
pub enum TableSink {
    Delta(DeltaSink),
    Iceberg(Box<IcebergSink>),
}

impl TableSink {
    pub fn format(&self) -> TableFormat {
        match self {
            TableSink::Delta(_) => TableFormat::Delta,
            TableSink::Iceberg(_) => TableFormat::Iceberg,
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

    /// Every row of the current version.
    pub async fn read_all(&self) -> Result<Vec<RecordBatch>, SinkError> {
        match self {
            TableSink::Delta(t) => t.read_all().await,
            TableSink::Iceberg(t) => t.read_all().await,
        }
    }
}
