//! An Iceberg table written exactly once per Kafka offset. Iceberg has no `txn` action, so each
//! snapshot's summary carries the next offset of every (pipeline, topic, partition) the table
//! holds, copied forward from its parent: the current snapshot alone says where to resume.
//!
//! A commit is a compare-and-swap on the table's current snapshot (the catalog refuses it if
//! another writer committed first) and is never retried blindly: before each attempt, the offsets
//! of its partitions in the freshly loaded table must be those this writer last saw, or the commit
//! is refused as a conflict. Data files get a random name prefix, so two writers never overwrite each other's.

use std::collections::HashMap;
use std::sync::Arc;

use arrow::datatypes::SchemaRef;
use arrow::record_batch::RecordBatch;
use deltalake::parquet::file::properties::WriterProperties;
use iceberg::spec::DataFileFormat;
use iceberg::table::Table;
use iceberg::transaction::{AddColumn, ApplyTransactionAction, Transaction};
use iceberg::writer::base_writer::data_file_writer::DataFileWriterBuilder;
use iceberg::writer::file_writer::ParquetWriterBuilder;
use iceberg::writer::file_writer::location_generator::{DefaultFileNameGenerator, DefaultLocationGenerator};
use iceberg::writer::file_writer::rolling_writer::RollingFileWriterBuilder;
use iceberg::writer::partitioning::PartitioningWriter;
use iceberg::writer::partitioning::fanout_writer::FanoutWriter;
use iceberg::writer::{IcebergWriter, IcebergWriterBuilder};
use iceberg::{Catalog, ErrorKind, NamespaceIdent, TableCreation, TableIdent};

use super::commit::{CommitData, DataFiles, app_id};
use super::error::TableError;
use super::evolve::evolve;
use super::iceberg_schema::{iceberg_schema, iceberg_type, partition_spec};
use super::schema::{TableSchema, align};
use super::table::{Table as WeirTable, Upkeep, UpkeepReport};
use crate::config::{S3Config, TableFormat};

/// Snapshot summary keys of a pipeline's offsets start with this; the rest is the app id.
const OFFSET_PREFIX: &str = "weir.offset.";

/// One Iceberg table of a pipeline.
pub struct IcebergSink {
    name: String,
    pipeline: String,
    catalog: Arc<dyn Catalog>,
    table: Table,
    schema: TableSchema,
    /// Commits what iceberg-rust has no action for (compaction); SQL catalogs only.
    sql_commit: Option<Arc<SqlCommit>>,
    /// The S3 settings, for listing the table's files (orphan cleanup).
    s3: S3Config,
}

impl std::fmt::Debug for IcebergSink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IcebergSink")
            .field("name", &self.name)
            .field("snapshot", &self.table.metadata().current_snapshot_id())
            .finish()
    }
}

impl IcebergSink {
    /// Opens table `name` in `namespace` of `catalog`, creating it (and the namespace) at
    /// `location` when missing, and adding declared columns it lacks.
    pub async fn open(
        catalog: Arc<dyn Catalog>,
        namespace: &str,
        location: String,
        name: &str,
        pipeline: &str,
        schema: TableSchema,
    ) -> Result<Self, TableError> {
        let error = |e: iceberg::Error| TableError::Iceberg {
            table: name.to_string(),
            source: Box::new(e),
        };
        let namespace = NamespaceIdent::from_strs(namespace.split('.')).map_err(error)?;
        if !catalog.namespace_exists(&namespace).await.map_err(error)? {
            match catalog.create_namespace(&namespace, HashMap::new()).await {
                Ok(_) => {}
                Err(e) if e.kind() == ErrorKind::NamespaceAlreadyExists => {}
                Err(_) if catalog.namespace_exists(&namespace).await.unwrap_or(false) => {}
                Err(e) => return Err(error(e)),
            }
        }
        let ident = TableIdent::new(namespace.clone(), name.to_string());
        let table = if catalog.table_exists(&ident).await.map_err(error)? {
            catalog.load_table(&ident).await.map_err(error)?
        } else {
            let iceberg = iceberg_schema(&schema).map_err(error)?;
            let creation = TableCreation::builder()
                .name(name.to_string())
                .location(location)
                .partition_spec(partition_spec(&schema, &iceberg).map_err(error)?)
                .schema(iceberg)
                // A conflict must come back to us, not be retried on top of the other commit.
                .properties([("commit.retry.num-retries".to_string(), "0".to_string())])
                .build();
            match catalog.create_table(&namespace, creation).await {
                Ok(table) => table,
                // Another writer created it first (the SQL catalog reports that as a failed
                // UNIQUE constraint, not as `TableAlreadyExists`): open theirs.
                Err(e) if e.kind() == ErrorKind::TableAlreadyExists => {
                    catalog.load_table(&ident).await.map_err(error)?
                }
                Err(e) if catalog.table_exists(&ident).await.unwrap_or(false) => {
                    tracing::debug!(table = name, error = %e, "table created by another writer meanwhile");
                    catalog.load_table(&ident).await.map_err(error)?
                }
                Err(e) => return Err(error(e)),
            }
        };
        let mut schema = schema;
        if let Some(held) = held_partition(&table) {
            schema.settle_partition(name, held);
        }
        let mut sink = IcebergSink {
            name: name.to_string(),
            pipeline: pipeline.to_string(),
            catalog,
            table,
            schema,
            sql_commit: None,
            s3: S3Config::default(),
        };
        evolve(&mut sink).await?;
        Ok(sink)
    }

    /// What upkeep needs besides the catalog: a SQL catalog's raw commits (for compaction) and
    /// the S3 settings (for listing files).
    pub fn with_upkeep_access(mut self, sql_commit: Option<Arc<SqlCommit>>, s3: S3Config) -> Self {
        self.sql_commit = sql_commit;
        self.s3 = s3;
        self
    }

    /// The table's current snapshot id, if it has one.
    pub fn snapshot_id(&self) -> Option<i64> {
        self.table.metadata().current_snapshot_id()
    }

    /// Drops from the table's metadata the snapshots older than `older_than_ms` (ms since the
    /// epoch) beyond the newest `retain_last` (at least 1; the current snapshot, which carries
    /// every offset, always stays). Data files are not deleted. Returns how many were dropped.
    /// A writer committing meanwhile makes the catalog refuse it (the table retries nothing
    /// itself, see `open`); it is then worked out again on the new metadata.
    pub async fn expire_snapshots(&mut self, older_than_ms: i64, retain_last: usize) -> Result<usize, TableError> {
        const ATTEMPTS: u32 = 20;
        for attempt in 1..=ATTEMPTS {
            self.refresh().await?;
            let before = self.snapshot_count();
            let tx = Transaction::new(&self.table);
            let tx = tx
                .expire_snapshots()
                .expire_older_than_ms(older_than_ms)
                .retain_last(retain_last.max(1))
                .apply(tx)
                .map_err(|e| self.error(e))?;
            match tx.commit(self.catalog.as_ref()).await {
                Ok(table) => {
                    self.table = table;
                    return Ok(before.saturating_sub(self.snapshot_count()));
                }
                Err(e) if e.kind() == ErrorKind::CatalogCommitConflicts && attempt < ATTEMPTS => {
                    tracing::debug!(table = %self.name, attempt, "snapshot expiry raced a writer; retrying");
                    tokio::time::sleep(std::time::Duration::from_millis(20 * u64::from(attempt))).await;
                }
                Err(e) => return Err(self.error(e)),
            }
        }
        Err(TableError::Upkeep {
            table: self.name.clone(),
            message: format!("snapshot expiry gave up after {ATTEMPTS} attempts"),
        })
    }

    /// The snapshots in the table's metadata.
    pub fn snapshot_count(&self) -> usize {
        self.table.metadata().snapshots().count()
    }

    /// Every Weir offset property of `table`'s newest snapshot carrying any, as written: what a
    /// snapshot that changes no data (compaction) carries forward.
    fn offset_properties(&self, table: &Table) -> HashMap<String, String> {
        newest_properties(table, |key| key.starts_with(OFFSET_PREFIX))
    }

    /// The offsets `table` holds: the summary of its newest snapshot that carries any. Each of
    /// Weir's snapshots carries them all forward, so the walk stops there; it only goes further
    /// back past snapshots another tool committed.
    fn offsets_in(&self, table: &Table) -> HashMap<String, i64> {
        let prefix = format!("{OFFSET_PREFIX}weir/{}/", self.pipeline);
        (newest_properties(table, |key| key.starts_with(&prefix)).into_iter())
            .filter_map(|(key, value)| Some((key[OFFSET_PREFIX.len()..].to_string(), value.parse::<i64>().ok()?)))
            .collect()
    }

    /// The next offset of `topic`/`partition` this table holds, if it holds any.
    pub async fn next_offset(&self, topic: &str, partition: i32) -> Result<Option<i64>, TableError> {
        Ok(self
            .offsets_in(&self.table)
            .get(&app_id(&self.pipeline, topic, partition))
            .copied())
    }

    /// Loads commits made since this table was last loaded (by this or another host).
    pub async fn refresh(&mut self) -> Result<(), TableError> {
        self.table = self
            .catalog
            .load_table(self.table.identifier())
            .await
            .map_err(|e| self.error(e))?;
        Ok(())
    }

    /// Writes `data` as one snapshot with its offsets. Nothing is visible unless all of it is.
    ///
    /// Another host committing other partitions in between makes the catalog refuse the swap;
    /// the append is then tried again on the new snapshot, as long as the partitions of `data`
    /// still stand where this writer last saw them.
    pub async fn commit(&mut self, data: CommitData) -> Result<Option<i64>, TableError> {
        let files = self.write_files(&data.batches).await?;
        self.publish(files, &data.offsets, &data.metadata).await
    }

    /// Appends `files` as one snapshot whose summary holds `offsets` and `metadata`; returns
    /// the snapshot's id. Retried on a catalog conflict as [`IcebergSink::commit`] says.
    pub async fn publish(
        &mut self,
        files: Vec<iceberg::spec::DataFile>,
        offsets: &[(String, i32, i64)],
        metadata: &HashMap<String, serde_json::Value>,
    ) -> Result<Option<i64>, TableError> {
        const ATTEMPTS: u32 = 20;
        let seen = self.offsets_in(&self.table);
        for attempt in 1..=ATTEMPTS {
            let fresh = self
                .catalog
                .load_table(self.table.identifier())
                .await
                .map_err(|e| self.error(e))?;
            let now = self.offsets_in(&fresh);
            for (topic, partition, next) in offsets {
                let id = app_id(&self.pipeline, topic, *partition);
                if let Some(&held) = now.get(&id)
                    && held > *next
                {
                    return Err(TableError::OffsetBackwards {
                        table: self.name.clone(),
                        id,
                        held,
                        next: *next,
                    });
                }
                if seen.get(&id) != now.get(&id) {
                    return Err(TableError::Conflict {
                        table: self.name.clone(),
                        message: format!(
                            "{id} moved from {:?} to {:?} under this writer",
                            seen.get(&id),
                            now.get(&id)
                        ),
                    });
                }
            }
            let mut properties: HashMap<String, String> = now
                .into_iter()
                .map(|(id, next)| (format!("{OFFSET_PREFIX}{id}"), next.to_string()))
                .collect();
            for (topic, partition, next) in offsets {
                let id = app_id(&self.pipeline, topic, *partition);
                properties.insert(format!("{OFFSET_PREFIX}{id}"), next.to_string());
            }
            for (key, value) in metadata {
                let text = match value {
                    serde_json::Value::String(s) => s.clone(),
                    other => other.to_string(),
                };
                properties.insert(key.clone(), text);
            }
            let tx = Transaction::new(&fresh);
            let tx = tx
                .fast_append()
                .with_check_duplicate(false)
                .add_data_files(files.clone())
                .set_snapshot_properties(properties)
                .apply(tx)
                .map_err(|e| self.error(e))?;
            match tx.commit(self.catalog.as_ref()).await {
                Ok(table) => {
                    self.table = table;
                    return Ok(self.snapshot_id());
                }
                Err(e) if e.kind() == ErrorKind::CatalogCommitConflicts && attempt < ATTEMPTS => {
                    tracing::debug!(table = %self.name, attempt, "iceberg commit raced another writer; retrying");
                    tokio::time::sleep(std::time::Duration::from_millis(10 * u64::from(attempt))).await;
                }
                Err(e) => return Err(self.error(e)),
            }
        }
        Err(TableError::Conflict {
            table: self.name.clone(),
            message: format!("gave up after {ATTEMPTS} attempts"),
        })
    }

    /// Writes `batches` as Parquet data files of the current schema, split by partition.
    pub async fn write_files(&self, batches: &[RecordBatch]) -> Result<Vec<iceberg::spec::DataFile>, TableError> {
        let metadata = self.table.metadata();
        let schema = metadata.current_schema().clone();
        let target: SchemaRef = Arc::new(iceberg::arrow::schema_to_arrow_schema(&schema).map_err(|e| self.error(e))?);
        let rows: Vec<RecordBatch> = batches
            .iter()
            .filter(|b| b.num_rows() > 0)
            .map(|b| align(b, &target))
            .collect::<Result<_, _>>()
            .map_err(|e| TableError::Schema {
                table: self.name.clone(),
                source: e.into(),
            })?;
        if rows.is_empty() {
            return Ok(Vec::new());
        }
        let locations = DefaultLocationGenerator::new(metadata).map_err(|e| self.error(e))?;
        // Unique per commit: a name generator's counter restarts with each writer.
        let names = DefaultFileNameGenerator::new(uuid::Uuid::new_v4().to_string(), None, DataFileFormat::Parquet);
        let parquet = ParquetWriterBuilder::new(parquet_properties(), schema.clone());
        let rolling = RollingFileWriterBuilder::new_with_default_file_size(
            parquet,
            self.table.file_io().clone(),
            locations,
            names,
        );
        let builder = DataFileWriterBuilder::new(rolling);
        let spec = metadata.default_partition_spec().clone();
        let files = if spec.is_unpartitioned() {
            let mut writer = builder.build(None).await.map_err(|e| self.error(e))?;
            for batch in rows {
                writer.write(batch).await.map_err(|e| self.error(e))?;
            }
            writer.close().await.map_err(|e| self.error(e))?
        } else {
            let splitter = iceberg::arrow::RecordBatchPartitionSplitter::try_new_with_computed_values(schema, spec)
                .map_err(|e| self.error(e))?;
            let mut writer = FanoutWriter::new(builder);
            for batch in rows {
                for (key, part) in splitter.split(&batch).map_err(|e| self.error(e))? {
                    writer.write(key, part).await.map_err(|e| self.error(e))?;
                }
            }
            writer.close().await.map_err(|e| self.error(e))?
        };
        Ok(files)
    }

    fn error(&self, e: iceberg::Error) -> TableError {
        TableError::Iceberg {
            table: self.name.clone(),
            source: Box::new(e),
        }
    }
}

/// The summary properties `wanted` picks from `table`'s newest snapshot that has any, walking
/// back from the current one.
fn newest_properties(table: &Table, wanted: impl Fn(&str) -> bool) -> HashMap<String, String> {
    let metadata = table.metadata();
    let mut next = metadata.current_snapshot().cloned();
    while let Some(snapshot) = next {
        let found: HashMap<String, String> = (snapshot.summary().additional_properties.iter())
            .filter(|(key, _)| wanted(key))
            .map(|(key, value)| (key.clone(), value.clone()))
            .collect();
        if !found.is_empty() {
            return found;
        }
        next = snapshot
            .parent_snapshot_id()
            .and_then(|id| metadata.snapshot_by_id(id).cloned());
    }
    HashMap::new()
}

/// Parquet files compressed with Snappy, as the Delta writer writes them (iceberg-rust's
/// default writes them uncompressed: several times the bytes to store and to read back).
fn parquet_properties() -> WriterProperties {
    WriterProperties::builder()
        .set_compression(deltalake::parquet::basic::Compression::SNAPPY)
        .build()
}

#[async_trait::async_trait]
impl WeirTable for IcebergSink {
    fn name(&self) -> &str {
        &self.name
    }

    fn format(&self) -> TableFormat {
        TableFormat::Iceberg
    }

    fn schema(&self) -> &TableSchema {
        &self.schema
    }

    fn schema_mut(&mut self) -> &mut TableSchema {
        &mut self.schema
    }

    async fn next_offset(&self, topic: &str, partition: i32) -> Result<Option<i64>, TableError> {
        IcebergSink::next_offset(self, topic, partition).await
    }

    async fn write(&self, batches: &[RecordBatch]) -> Result<DataFiles, TableError> {
        self.write_files(batches).await.map(DataFiles::Iceberg)
    }

    async fn publish(
        &mut self,
        files: DataFiles,
        offsets: &[(String, i32, i64)],
        metadata: &HashMap<String, serde_json::Value>,
    ) -> Result<(), TableError> {
        let files = files.iceberg(&self.name)?;
        IcebergSink::publish(self, files, offsets, metadata).await.map(drop)
    }

    async fn refresh(&mut self) -> Result<(), TableError> {
        IcebergSink::refresh(self).await
    }

    async fn read_all(&self) -> Result<Vec<RecordBatch>, TableError> {
        IcebergSink::read_all(self).await
    }

    /// Compaction, snapshot expiry, orphan files (`iceberg/upkeep.rs`).
    async fn maintain(&mut self, policy: &Upkeep) -> Result<UpkeepReport, TableError> {
        self.upkeep(policy).await
    }

    fn columns(&self) -> Result<Vec<String>, TableError> {
        let current = self.table.metadata().current_schema();
        Ok(current.as_struct().fields().iter().map(|f| f.name.clone()).collect())
    }

    /// Adds them as optional columns: Iceberg's field ids keep old data files valid without
    /// rewriting them.
    async fn add_columns(&mut self, names: &[String]) -> Result<(), TableError> {
        let tx = Transaction::new(&self.table);
        let mut action = tx.update_schema();
        for column in self.schema.columns.iter().filter(|c| names.contains(&c.name)) {
            action = action.add_column(AddColumn::optional(&column.name, iceberg_type(column)));
        }
        let tx = action.apply(tx).map_err(|e| self.error(e))?;
        self.table = tx.commit(self.catalog.as_ref()).await.map_err(|e| self.error(e))?;
        Ok(())
    }

    /// The table's current metadata file: what a reader opens the table from.
    fn metadata_location(&self) -> Option<&str> {
        self.table.metadata_location()
    }
}

mod compact;
mod live;
mod orphans;
mod read;
mod replace;
pub mod sql_commit;
#[cfg(test)]
mod tests;
mod upkeep;
#[cfg(test)]
mod upkeep_tests;

pub use replace::COMPACTION_KEY;
use sql_commit::SqlCommit;

/// The partitioning `table`'s default spec gives, as Weir declares one; `None` when it is not
/// one Weir makes (several fields, another transform).
fn held_partition(table: &Table) -> Option<Option<crate::config::PartitionBy>> {
    use crate::config::{PartitionBy, PartitionTransform};
    use iceberg::spec::Transform;
    let metadata = table.metadata();
    let [field] = metadata.default_partition_spec().fields() else {
        return metadata.default_partition_spec().fields().is_empty().then_some(None);
    };
    let transform = match field.transform {
        Transform::Day => PartitionTransform::Day,
        Transform::Hour => PartitionTransform::Hour,
        Transform::Identity => PartitionTransform::Identity,
        _ => return None,
    };
    let column = metadata.current_schema().field_by_id(field.source_id)?.name.clone();
    Some(Some(PartitionBy { column, transform }))
}
