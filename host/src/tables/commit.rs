//! What one table commit carries, whichever the format: the rows, the Kafka offsets they cover
//! (stored inside the same atomic commit) and their lineage; the data files a table wrote for a
//! commit before publishing them; and the id each partition's offsets go by in a table.

use std::collections::HashMap;

use arrow::record_batch::RecordBatch;

use super::error::TableError;

/// The application id of a partition's offsets in a table's `txn` actions.
pub fn app_id(pipeline: &str, topic: &str, partition: i32) -> String {
    format!("weir/{pipeline}/{topic}/{partition}")
}

/// What one commit holds: data, the offsets it covers, and its lineage.
#[derive(Debug, Default, Clone)]
pub struct CommitData {
    pub batches: Vec<RecordBatch>,
    /// (topic, partition, next offset) for each partition whose records this commit covers.
    pub offsets: Vec<(String, i32, i64)>,
    /// Recorded in the commit's info: e.g. the sha256 of each plugin that produced the rows.
    pub metadata: HashMap<String, serde_json::Value>,
}

/// Data files a table wrote for a commit ([`Table::write`]) that are not part of it yet: no
/// reader sees them until [`Table::publish`]. A crash in between leaves them unreferenced.
///
/// [`Table::write`]: super::Table::write
/// [`Table::publish`]: super::Table::publish
#[derive(Debug, Default)]
pub enum DataFiles {
    /// No rows to write: the commit only moves offsets.
    #[default]
    None,
    Delta(Vec<deltalake::kernel::Add>),
    Iceberg(Vec<iceberg::spec::DataFile>),
    /// The rows themselves: the in-memory table of the unit tests, and the dead-letter topic
    /// (its rows are produced when it publishes).
    Memory(Vec<RecordBatch>),
}

impl DataFiles {
    /// The Delta files (none for [`DataFiles::None`]); another format's files are refused.
    pub fn delta(self, table: &str) -> Result<Vec<deltalake::kernel::Add>, TableError> {
        match self {
            DataFiles::None => Ok(Vec::new()),
            DataFiles::Delta(files) => Ok(files),
            _ => Err(foreign(table)),
        }
    }

    /// The Iceberg files (none for [`DataFiles::None`]); another format's files are refused.
    pub fn iceberg(self, table: &str) -> Result<Vec<iceberg::spec::DataFile>, TableError> {
        match self {
            DataFiles::None => Ok(Vec::new()),
            DataFiles::Iceberg(files) => Ok(files),
            _ => Err(foreign(table)),
        }
    }

    /// The in-memory rows (none for [`DataFiles::None`]); another format's files are refused.
    pub fn memory(self, table: &str) -> Result<Vec<RecordBatch>, TableError> {
        match self {
            DataFiles::None => Ok(Vec::new()),
            DataFiles::Memory(rows) => Ok(rows),
            _ => Err(foreign(table)),
        }
    }
}

fn foreign(table: &str) -> TableError {
    TableError::ForeignFiles {
        table: table.to_string(),
    }
}
