//! A table held in memory, standing in for a table of one format in unit tests of the data path
//! (no Kafka, no S3). Its rows and offsets live in a [`MemoryStore`] shared by every handle, so a
//! "restart" opens the same tables again and sees what was committed; the store can be told to
//! fail commits from some point on, as a crash there would.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use arrow::record_batch::RecordBatch;

use super::commit::{DataFiles, app_id};
use super::error::TableError;
use super::schema::TableSchema;
use super::table::{Table, Upkeep, UpkeepReport};
use crate::config::TableFormat;

/// The committed state of every memory table of a test, shared by all their handles.
#[derive(Debug, Clone, Default)]
pub struct MemoryStore(Arc<Mutex<Stored>>);

#[derive(Debug, Default)]
struct Stored {
    tables: HashMap<(String, TableFormat), Held>,
    /// Commits still allowed before every further one fails (`None`: no limit).
    allowed: Option<usize>,
}

/// One table's committed rows and offsets (by app id).
#[derive(Debug, Default, Clone)]
struct Held {
    rows: Vec<RecordBatch>,
    offsets: HashMap<String, i64>,
    columns: Vec<String>,
}

impl MemoryStore {
    fn lock(&self) -> MutexGuard<'_, Stored> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// From now on, `commits` more table commits succeed; every later one fails, as if the
    /// process died there.
    pub fn crash_after(&self, commits: usize) {
        self.lock().allowed = Some(commits);
    }

    /// Commits succeed again (the process was restarted).
    pub fn recover(&self) {
        self.lock().allowed = None;
    }

    /// Opens table `name` in `format` (created empty, with the schema's columns, when new).
    pub fn open(&self, pipeline: &str, name: &str, format: TableFormat, schema: TableSchema) -> MemoryTable {
        let columns = schema.columns.iter().map(|c| c.name.clone()).collect();
        self.lock()
            .tables
            .entry((name.to_string(), format))
            .or_insert_with(|| Held {
                columns,
                ..Held::default()
            });
        MemoryTable {
            name: name.to_string(),
            pipeline: pipeline.to_string(),
            format,
            schema,
            store: self.clone(),
        }
    }
}

/// One table in a [`MemoryStore`].
#[derive(Debug)]
pub struct MemoryTable {
    name: String,
    pipeline: String,
    format: TableFormat,
    schema: TableSchema,
    store: MemoryStore,
}

impl MemoryTable {
    fn with<T>(&self, f: impl FnOnce(&mut Held) -> T) -> T {
        let mut stored = self.store.lock();
        let held = stored.tables.entry((self.name.clone(), self.format)).or_default();
        f(held)
    }
}

#[async_trait::async_trait]
impl Table for MemoryTable {
    fn name(&self) -> &str {
        &self.name
    }

    fn format(&self) -> TableFormat {
        self.format
    }

    fn schema(&self) -> &TableSchema {
        &self.schema
    }

    fn schema_mut(&mut self) -> &mut TableSchema {
        &mut self.schema
    }

    async fn next_offset(&self, topic: &str, partition: i32) -> Result<Option<i64>, TableError> {
        let id = app_id(&self.pipeline, topic, partition);
        Ok(self.with(|held| held.offsets.get(&id).copied()))
    }

    async fn write(&self, batches: &[RecordBatch]) -> Result<DataFiles, TableError> {
        let rows: Vec<RecordBatch> = batches.iter().filter(|b| b.num_rows() > 0).cloned().collect();
        Ok(DataFiles::Memory(rows))
    }

    async fn publish(
        &mut self,
        files: DataFiles,
        offsets: &[(String, i32, i64)],
        _metadata: &HashMap<String, serde_json::Value>,
    ) -> Result<(), TableError> {
        let rows = files.memory(&self.name)?;
        let mut stored = self.store.lock();
        if let Some(allowed) = &mut stored.allowed {
            if *allowed == 0 {
                return Err(TableError::Conflict {
                    table: self.name.clone(),
                    message: "the test crashed the process before this commit".into(),
                });
            }
            *allowed -= 1;
        }
        let held = stored.tables.entry((self.name.clone(), self.format)).or_default();
        for (topic, partition, next) in offsets {
            let id = app_id(&self.pipeline, topic, *partition);
            if let Some(&held) = held.offsets.get(&id)
                && held > *next
            {
                return Err(TableError::OffsetBackwards {
                    table: self.name.clone(),
                    id,
                    held,
                    next: *next,
                });
            }
        }
        held.rows.extend(rows);
        for (topic, partition, next) in offsets {
            held.offsets.insert(app_id(&self.pipeline, topic, *partition), *next);
        }
        Ok(())
    }

    /// Nothing to load: every handle reads the shared store.
    async fn refresh(&mut self) -> Result<(), TableError> {
        Ok(())
    }

    async fn read_all(&self) -> Result<Vec<RecordBatch>, TableError> {
        Ok(self.with(|held| held.rows.clone()))
    }

    async fn maintain(&mut self, _policy: &Upkeep) -> Result<UpkeepReport, TableError> {
        Ok(UpkeepReport::default())
    }

    fn columns(&self) -> Result<Vec<String>, TableError> {
        Ok(self.with(|held| held.columns.clone()))
    }

    async fn add_columns(&mut self, names: &[String]) -> Result<(), TableError> {
        self.with(|held| held.columns.extend(names.iter().cloned()));
        Ok(())
    }
}
