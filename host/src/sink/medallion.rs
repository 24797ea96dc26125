//! One medallion table (a layer) in each configured format, and the layers.

use arrow::record_batch::RecordBatch;

use super::schema::TableSchema;
use super::{IcebergSink, SinkError, TableSink};
use crate::config::TableFormat;

/// A medallion layer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Layer {
    Bronze,
    Quarantine,
    Silver,
    /// The pipeline's n-th `[[gold]]` table.
    Gold(usize),
}

impl Layer {
    pub fn name(self) -> &'static str {
        match self {
            Layer::Bronze => "bronze",
            Layer::Quarantine => "quarantine",
            Layer::Silver => "silver",
            Layer::Gold(_) => "gold",
        }
    }
}

/// One medallion table in each configured format, in the order the formats are listed.
#[derive(Debug)]
pub struct Medallion {
    pub layer: Layer,
    pub sinks: Vec<TableSink>,
}

impl Medallion {
    pub fn schema(&self) -> &TableSchema {
        // `Tables::open` opens at least one format (the configuration requires one).
        self.sinks[0].schema()
    }

    /// Every row, as the first listed format holds it.
    pub async fn read_all(&self) -> Result<Vec<RecordBatch>, SinkError> {
        self.sinks[0].read_all().await
    }

    /// Every row, as `format` holds it.
    pub async fn read(&self, format: TableFormat) -> Result<Vec<RecordBatch>, SinkError> {
        match self.sinks.iter().find(|s| s.format() == format) {
            Some(sink) => sink.read_all().await,
            None => Ok(Vec::new()),
        }
    }

    pub fn iceberg(&self) -> Option<&IcebergSink> {
        self.sinks.iter().find_map(|s| match s {
            TableSink::Iceberg(t) => Some(t.as_ref()),
            TableSink::Delta(_) => None,
        })
    }
}
