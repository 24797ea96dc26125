//! A Delta table written exactly once per Kafka offset: every commit carries, in the same atomic
//! commit, a `txn` action per (pipeline, topic, partition) whose version is the next offset to
//! read. On start the versions are read back and consumption resumes there; two writers racing
//! with the same offsets cannot both commit (Delta's optimistic concurrency rejects the second).

use std::collections::HashMap;

use arrow::record_batch::RecordBatch;
use deltalake::kernel::transaction::{CommitBuilder, CommitProperties};
use deltalake::kernel::{Action, Add, Transaction};
use deltalake::protocol::{DeltaOperation, SaveMode};
use deltalake::writer::{DeltaWriter, RecordBatchWriter};
use deltalake::{DeltaTable, DeltaTableError};
use url::Url;

use super::commit::{CommitData, DataFiles, app_id};
use super::error::TableError;
use super::evolve::evolve;
use super::schema::{Column, TableSchema, align, derive_partition};
use super::table::{Table, Upkeep, UpkeepReport};
use crate::config::TableFormat;

/// One Delta table of a pipeline.
pub struct DeltaSink {
    name: String,
    pipeline: String,
    table: DeltaTable,
    schema: TableSchema,
    /// The `txn` versions known for the loaded snapshot, per app id (reading one scans the log):
    /// filled on first read, set by this sink's commits, emptied when other commits are loaded.
    held: std::sync::Mutex<HashMap<String, Option<i64>>>,
}

impl std::fmt::Debug for DeltaSink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DeltaSink")
            .field("name", &self.name)
            .field("version", &self.table.version())
            .finish()
    }
}

/// Makes `schema` partitioned as `table` is: a table keeps the layout it was created with.
/// A table an older Weir gave the derived column unpartitioned (`partition_by` declared later)
/// keeps getting it filled, as before.
fn settle_partition(table: &DeltaTable, schema: &mut TableSchema, name: &str) -> Result<(), DeltaTableError> {
    let snapshot = table.snapshot()?;
    let held: Vec<String> = snapshot.metadata().partition_columns().to_vec();
    let derived = schema.delta_partition_column();
    let has_plain_derived =
        held.is_empty() && derived.is_some_and(|c| snapshot.schema().fields().any(|f| f.name() == &c.name));
    match schema.delta_partition_of(&held) {
        Some(held) if !has_plain_derived => schema.settle_partition(name, held),
        _ => {}
    }
    Ok(())
}

impl DeltaSink {
    /// Opens the table at `url`, creating it with `schema` when there is none yet.
    pub async fn open(
        url: Url,
        storage_options: HashMap<String, String>,
        name: &str,
        pipeline: &str,
        schema: TableSchema,
    ) -> Result<Self, TableError> {
        let error = |e: DeltaTableError| TableError::Delta {
            table: name.to_string(),
            source: Box::new(e),
        };
        let mut table = DeltaTable::try_from_url_with_storage_options(url.clone(), storage_options.clone())
            .await
            .map_err(error)?;
        if table.version().is_none() {
            let partition_columns: Vec<String> = schema.delta_partition_column().into_iter().map(|c| c.name).collect();
            let fields = schema.delta_fields().map_err(|e| TableError::Schema {
                table: name.to_string(),
                source: e.into(),
            })?;
            let created = table
                .create()
                .with_columns(fields)
                .with_partition_columns(partition_columns)
                .with_table_name(name)
                .with_save_mode(SaveMode::Ignore)
                .await;
            table = match created {
                Ok(table) => table,
                // Another writer created it first: open theirs.
                Err(_) => DeltaTable::try_from_url_with_storage_options(url, storage_options)
                    .await
                    .map_err(error)?,
            };
        }
        let mut schema = schema;
        settle_partition(&table, &mut schema, name).map_err(error)?;
        let mut sink = DeltaSink {
            name: name.to_string(),
            pipeline: pipeline.to_string(),
            table,
            schema,
            held: std::sync::Mutex::default(),
        };
        evolve(&mut sink).await?;
        Ok(sink)
    }

    /// A batch as the table stores it: with the derived partition column, in the table's order.
    fn to_table_rows(
        &self,
        batch: &RecordBatch,
        target: &arrow::datatypes::SchemaRef,
    ) -> Result<RecordBatch, TableError> {
        let arrow_error = |e: arrow::error::ArrowError| TableError::Schema {
            table: self.name.clone(),
            source: e.into(),
        };
        let mut batch = batch.clone();
        if let (Some(partition), Some(column)) = (&self.schema.partition, self.schema.delta_partition_column())
            && let Some(values) = derive_partition(&batch, partition).map_err(arrow_error)?
        {
            let mut fields: Vec<_> = batch.schema().fields().iter().cloned().collect();
            fields.push(std::sync::Arc::new(arrow::datatypes::Field::new(
                &column.name,
                column.arrow_type(),
                true,
            )));
            let mut columns = batch.columns().to_vec();
            columns.push(values);
            batch = RecordBatch::try_new(std::sync::Arc::new(arrow::datatypes::Schema::new(fields)), columns)
                .map_err(arrow_error)?;
        }
        align(&batch, target).map_err(arrow_error)
    }

    /// The table version, if it has any commit.
    pub fn version(&self) -> Option<u64> {
        self.table.version()
    }

    /// The next offset of `topic`/`partition` this table holds, if it holds any.
    pub async fn next_offset(&self, topic: &str, partition: i32) -> Result<Option<i64>, TableError> {
        let id = app_id(&self.pipeline, topic, partition);
        if let Some(known) = self.held().get(&id) {
            return Ok(*known);
        }
        let snapshot = self.table.snapshot().map_err(|e| self.error(e))?;
        let version = snapshot
            .transaction_version(self.table.log_store().as_ref(), id.clone())
            .await
            .map_err(|e| self.error(e))?;
        self.held().insert(id, version);
        Ok(version)
    }

    fn held(&self) -> std::sync::MutexGuard<'_, HashMap<String, Option<i64>>> {
        self.held.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Writes `data` as one commit with its offsets. Nothing is visible unless all of it is.
    pub async fn commit(&mut self, data: CommitData) -> Result<u64, TableError> {
        let files = self.write(&data.batches).await?;
        self.publish(files, &data.offsets, &data.metadata).await
    }

    /// Writes `batches` as Parquet files of the table, not yet in its log.
    pub async fn write(&self, batches: &[RecordBatch]) -> Result<Vec<Add>, TableError> {
        if !batches.iter().any(|b| b.num_rows() > 0) {
            return Ok(Vec::new());
        }
        let mut writer = RecordBatchWriter::for_table(&self.table).map_err(|e| self.error(e))?;
        let target = self
            .table
            .snapshot()
            .map_err(|e| self.error(e))?
            .snapshot()
            .arrow_schema();
        for batch in batches.iter().filter(|b| b.num_rows() > 0) {
            let rows = self.to_table_rows(batch, &target)?;
            writer.write(rows).await.map_err(|e| self.schema_error(e))?;
        }
        writer.flush().await.map_err(|e| self.error(e))
    }

    /// Adds `files` to the log with `offsets` as `txn` actions and `metadata` in the commit
    /// info, as one version; returns it.
    pub async fn publish(
        &mut self,
        files: Vec<Add>,
        offsets: &[(String, i32, i64)],
        metadata: &HashMap<String, serde_json::Value>,
    ) -> Result<u64, TableError> {
        for (topic, partition, next) in offsets {
            if let Some(held) = self.next_offset(topic, *partition).await?
                && held > *next
            {
                return Err(TableError::OffsetBackwards {
                    table: self.name.clone(),
                    id: app_id(&self.pipeline, topic, *partition),
                    held,
                    next: *next,
                });
            }
        }
        let transactions = offsets
            .iter()
            .map(|(topic, p, next)| Transaction::new(app_id(&self.pipeline, topic, *p), *next))
            .collect();
        let properties = CommitProperties::default()
            .with_application_transactions(transactions)
            .with_metadata(metadata.clone());
        let operation = DeltaOperation::Write {
            mode: SaveMode::Append,
            partition_by: None,
            predicate: None,
        };
        let snapshot = self.table.snapshot().map_err(|e| self.error(e))?;
        let finalized = CommitBuilder::from(properties)
            .with_actions(files.into_iter().map(Action::Add).collect())
            .build(Some(snapshot), self.table.log_store(), operation)
            .await
            .map_err(|e| self.error(e))?;
        let version = finalized.version();
        // Versions in between (another writer's, of other partitions) may move other ids.
        self.refresh().await?;
        let mut held = self.held();
        for (topic, partition, next) in offsets {
            held.insert(app_id(&self.pipeline, topic, *partition), Some(*next));
        }
        drop(held);
        Ok(version)
    }

    /// Loads commits made since this table was opened (by this or another host).
    pub async fn refresh(&mut self) -> Result<(), TableError> {
        self.table.update_incremental(None).await.map_err(|e| self.error(e))?;
        self.held().clear();
        Ok(())
    }

    /// Every row of the table's current version (for rebuilding in-memory state on start).
    pub async fn read_all(&self) -> Result<Vec<RecordBatch>, TableError> {
        let Ok(snapshot) = self.table.snapshot() else {
            return Ok(Vec::new());
        };
        let paths: Vec<String> = snapshot.log_data().into_iter().map(|f| f.path().into_owned()).collect();
        self.read_files(&paths).await
    }

    /// The rows of the data files at `paths` (relative to the table).
    async fn read_files(&self, paths: &[String]) -> Result<Vec<RecordBatch>, TableError> {
        use deltalake::parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
        use object_store::ObjectStoreExt as _;
        use object_store::path::Path;
        let store = self.table.object_store();
        let mut batches = Vec::new();
        for raw in paths {
            let path = Path::parse(raw).unwrap_or_else(|_| Path::from(raw.as_str()));
            let read = async { store.get(&path).await?.bytes().await };
            let bytes = read.await.map_err(|e| self.error(DeltaTableError::from(e)))?;
            let reader = ParquetRecordBatchReaderBuilder::try_new(bytes)
                .and_then(|b| b.build())
                .map_err(|e| self.error(DeltaTableError::from(e)))?;
            for batch in reader {
                batches.push(batch.map_err(|e| self.error(DeltaTableError::from(e)))?);
            }
        }
        Ok(batches)
    }

    /// The number of data files in the current version.
    pub fn file_count(&self) -> usize {
        self.table.snapshot().map_or(0, |s| s.log_data().into_iter().count())
    }

    fn error(&self, e: DeltaTableError) -> TableError {
        TableError::Delta {
            table: self.name.clone(),
            source: Box::new(e),
        }
    }

    fn schema_error(&self, e: DeltaTableError) -> TableError {
        TableError::Schema {
            table: self.name.clone(),
            source: e.into(),
        }
    }
}

#[async_trait::async_trait]
impl Table for DeltaSink {
    fn name(&self) -> &str {
        &self.name
    }

    fn format(&self) -> TableFormat {
        TableFormat::Delta
    }

    fn schema(&self) -> &TableSchema {
        &self.schema
    }

    fn schema_mut(&mut self) -> &mut TableSchema {
        &mut self.schema
    }

    async fn next_offset(&self, topic: &str, partition: i32) -> Result<Option<i64>, TableError> {
        DeltaSink::next_offset(self, topic, partition).await
    }

    async fn write(&self, batches: &[RecordBatch]) -> Result<DataFiles, TableError> {
        DeltaSink::write(self, batches).await.map(DataFiles::Delta)
    }

    async fn publish(
        &mut self,
        files: DataFiles,
        offsets: &[(String, i32, i64)],
        metadata: &HashMap<String, serde_json::Value>,
    ) -> Result<(), TableError> {
        let files = files.delta(&self.name)?;
        DeltaSink::publish(self, files, offsets, metadata).await.map(drop)
    }

    async fn refresh(&mut self) -> Result<(), TableError> {
        DeltaSink::refresh(self).await
    }

    async fn read_all(&self) -> Result<Vec<RecordBatch>, TableError> {
        DeltaSink::read_all(self).await
    }

    /// Compaction, checkpoint and log cleanup, vacuum (`delta/upkeep.rs`).
    async fn maintain(&mut self, policy: &Upkeep) -> Result<UpkeepReport, TableError> {
        self.upkeep(policy).await
    }

    fn columns(&self) -> Result<Vec<String>, TableError> {
        let snapshot = self.table.snapshot().map_err(|e| self.error(e))?;
        Ok(snapshot.schema().fields().map(|f| f.name().clone()).collect())
    }

    /// The declared columns and the derived partition column, if any.
    fn declared_columns(&self) -> Vec<(String, bool)> {
        self.schema
            .delta_columns()
            .into_iter()
            .map(|c| (c.name, c.nullable))
            .collect()
    }

    async fn add_columns(&mut self, names: &[String]) -> Result<(), TableError> {
        let fields = self
            .schema
            .delta_columns()
            .iter()
            .filter(|c| names.contains(&c.name))
            .map(Column::delta_field)
            .collect::<Result<Vec<_>, String>>()
            .map_err(|e| TableError::Schema {
                table: self.name.clone(),
                source: e.into(),
            })?;
        self.table = self
            .table
            .clone()
            .add_columns()
            .with_fields(fields)
            .await
            .map_err(|e| self.error(e))?;
        Ok(())
    }
}

#[cfg(test)]
mod tests;
mod upkeep;
