//! One medallion table (a layer) in each configured format, and the layers.

use arrow::record_batch::RecordBatch;

use super::TableError;
use super::schema::TableSchema;
use super::table::Table;
use crate::config::TableFormat;

/// A medallion layer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Layer {
    Bronze,
    Quarantine,
    /// The pipeline's n-th silver table (`tables.silver`, in file order).
    Silver(usize),
    /// The pipeline's n-th `[[gold]]` table.
    Gold(usize),
}

impl Layer {
    pub fn name(self) -> &'static str {
        match self {
            Layer::Bronze => "bronze",
            Layer::Quarantine => "quarantine",
            Layer::Silver(_) => "silver",
            Layer::Gold(_) => "gold",
        }
    }
}

/// Which table: a layer in one format. Offsets and commits go by it, never by position.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct TableId {
    pub layer: Layer,
    pub format: TableFormat,
}

impl TableId {
    pub fn new(layer: Layer, format: TableFormat) -> Self {
        TableId { layer, format }
    }
}

/// One medallion table in each configured format, in the order the formats are listed.
#[derive(Debug)]
pub struct Medallion {
    pub layer: Layer,
    pub sinks: Vec<Box<dyn Table>>,
}

impl Medallion {
    pub fn schema(&self) -> &TableSchema {
        // `Tables::open` opens at least one format (the configuration requires one).
        self.sinks[0].schema()
    }

    /// Every row, as the first listed format holds it.
    pub async fn read_all(&self) -> Result<Vec<RecordBatch>, TableError> {
        self.sinks[0].read_all().await
    }

    /// Every row, as `format` holds it.
    pub async fn read(&self, format: TableFormat) -> Result<Vec<RecordBatch>, TableError> {
        match self.sinks.iter().find(|s| s.format() == format) {
            Some(sink) => sink.read_all().await,
            None => Ok(Vec::new()),
        }
    }

    /// The table in Iceberg format, if one is configured.
    pub fn iceberg(&self) -> Option<&dyn Table> {
        self.sinks
            .iter()
            .find(|s| s.format() == TableFormat::Iceberg)
            .map(|s| s.as_ref())
    }
}
