//! One medallion table in one format, as the data path sees it: a name, a schema, the next
//! offsets it holds, and atomic commits of rows with their offsets. Delta, Iceberg and the
//! in-memory table of the unit tests implement it; schema evolution is written once on top
//! (`evolve`).

use std::collections::HashMap;

use arrow::record_batch::RecordBatch;

use super::commit::{CommitData, DataFiles};
use super::error::TableError;
use super::schema::TableSchema;
pub use super::upkeep::{Upkeep, UpkeepReport};
use crate::config::TableFormat;

/// A table in one format.
#[async_trait::async_trait]
pub trait Table: Send + Sync + std::fmt::Debug {
    /// The table's name (`bronze`, `silver`, `quarantine`, `gold_<name>`).
    fn name(&self) -> &str;

    fn format(&self) -> TableFormat;

    /// The columns the pipeline declares for it.
    fn schema(&self) -> &TableSchema;

    /// Replaces the declared columns (columns added while running); [`super::evolve::redeclare`]
    /// then adds them to the table.
    fn schema_mut(&mut self) -> &mut TableSchema;

    /// The next offset of `topic`/`partition` the table holds, if it holds any.
    async fn next_offset(&self, topic: &str, partition: i32) -> Result<Option<i64>, TableError>;

    /// Writes `batches` as data files that are not part of the table yet (no reader sees them
    /// before [`Table::publish`]). Takes `&self`: the data path writes the files of all its
    /// tables at once, then publishes them one table after the other.
    async fn write(&self, batches: &[RecordBatch]) -> Result<DataFiles, TableError>;

    /// Makes `files` part of the table, with the `offsets` (topic, partition, next offset) they
    /// cover and `metadata` (lineage), in one atomic commit: nothing is visible unless all of it
    /// is. An offset lower than one the table holds is refused ([`TableError::OffsetBackwards`]).
    async fn publish(
        &mut self,
        files: DataFiles,
        offsets: &[(String, i32, i64)],
        metadata: &HashMap<String, serde_json::Value>,
    ) -> Result<(), TableError>;

    /// Commits `data` and its offsets atomically: [`Table::write`], then [`Table::publish`].
    async fn commit(&mut self, data: CommitData) -> Result<(), TableError> {
        let files = self.write(&data.batches).await?;
        self.publish(files, &data.offsets, &data.metadata).await
    }

    /// Loads what other writers committed.
    async fn refresh(&mut self) -> Result<(), TableError>;

    /// Every row of the current version.
    async fn read_all(&self) -> Result<Vec<RecordBatch>, TableError>;

    /// Table upkeep (see [`Upkeep`]); with `policy.dry_run`, what it would do.
    async fn maintain(&mut self, policy: &Upkeep) -> Result<UpkeepReport, TableError>;

    /// The names of the columns the table has now.
    fn columns(&self) -> Result<Vec<String>, TableError>;

    /// The columns the table should have, with whether each may be null (the declared ones,
    /// plus any the format derives).
    fn declared_columns(&self) -> Vec<(String, bool)> {
        self.schema()
            .columns
            .iter()
            .map(|c| (c.name.clone(), c.nullable))
            .collect()
    }

    /// Adds the named declared columns, as nullable (old rows read them as null). Fails when
    /// another writer changed the schema meanwhile; [`super::evolve`] then reloads and retries.
    async fn add_columns(&mut self, names: &[String]) -> Result<(), TableError>;

    /// Where a reader opens the table from, when that is a file of its own (Iceberg metadata).
    fn metadata_location(&self) -> Option<&str> {
        None
    }
}
