//! Iceberg compaction: the small data files of a partition rewritten into files near a target
//! size, committed as one `replace` snapshot (the spec's operation for "files added and removed
//! without changing table data", which incremental readers skip).
//!
//! iceberg-rust 0.10 has no rewrite action, so it is built here from what the crate gives: the
//! files read with its Arrow reader (columns added since a file was written come back as nulls),
//! written with its Parquet writer, and a snapshot made by hand: one manifest per partition
//! spec listing the new files as added, the replaced ones as deleted and every other live file
//! as existing (so the commit also merges the one-manifest-per-commit a streaming writer
//! leaves), a manifest list, and the snapshot summary with Weir's offsets carried forward. It is
//! committed through [`super::sql_commit`]. A writer committing meanwhile makes the commit
//! conflict; it is then rebuilt on the new snapshot with the same new files, as long as every
//! replaced file is still live.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;

use arrow::record_batch::RecordBatch;
use futures::TryStreamExt;
use iceberg::scan::FileScanTask;
use iceberg::spec::{DataFile, DataFileFormat, FormatVersion, PartitionKey, Struct};
use iceberg::table::Table;
use iceberg::writer::base_writer::data_file_writer::DataFileWriterBuilder;
use iceberg::writer::file_writer::ParquetWriterBuilder;
use iceberg::writer::file_writer::location_generator::{DefaultFileNameGenerator, DefaultLocationGenerator};
use iceberg::writer::file_writer::rolling_writer::RollingFileWriterBuilder;
use iceberg::writer::{IcebergWriter, IcebergWriterBuilder};
use iceberg::{ErrorKind, TableRequirement, TableUpdate};

use super::live::{Live, LiveFile, ManifestCache};
use super::replace::replace_updates;
use super::{IcebergSink, parquet_properties};
use crate::tables::error::TableError;
use crate::tables::schema::align;
use crate::tables::upkeep::Upkeep;

/// A snapshot listing more data manifests than this gets them merged even when no data file
/// needs rewriting (each streaming commit adds one, and a reader opens every one).
pub const MERGE_MANIFESTS_PAST: usize = 16;

/// The small files of one partition, rewritten together.
#[derive(Debug)]
pub struct Group {
    pub partition: Struct,
    pub files: Vec<LiveFile>,
}

/// What a compaction did (or, planned only, would do).
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Compacted {
    pub removed: usize,
    pub added: usize,
    pub bytes: u64,
    /// The live data files of the snapshot it replaced, and of its own.
    pub files_before: usize,
    pub files_after: usize,
    /// Planned only: the most live data files one partition would hold after.
    pub most_after: Option<usize>,
}

/// The partitions (of the default spec) with at least `min_input_files` files below
/// `small_file_bytes`. A table with delete files is left alone.
pub fn plan(live: &Live, policy: &Upkeep, default_spec: i32) -> Vec<Group> {
    if live.has_deletes {
        return Vec::new();
    }
    let mut groups: BTreeMap<String, Group> = BTreeMap::new();
    let small = live
        .files
        .iter()
        .filter(|f| f.spec_id == default_spec && (f.size() as i64) < policy.small_file_bytes);
    for file in small {
        let partition = file.entry.data_file().partition();
        groups
            .entry(format!("{partition:?}"))
            .or_insert_with(|| Group {
                partition: partition.clone(),
                files: Vec::new(),
            })
            .files
            .push(file.clone());
    }
    groups
        .into_values()
        .filter(|g| g.files.len() >= policy.min_input_files.max(2))
        .collect()
}

/// What rewriting `groups` would leave: files written (per group, its bytes over the target,
/// at least one) and the most live files one partition would hold.
fn planned(live: &Live, groups: &[Group], target_bytes: i64) -> (usize, usize) {
    let key = |spec: i32, partition: &Struct| (spec, format!("{partition:?}"));
    let mut counts: HashMap<(i32, String), usize> = HashMap::new();
    for file in &live.files {
        *counts
            .entry(key(file.spec_id, file.entry.data_file().partition()))
            .or_default() += 1;
    }
    let mut added = 0;
    for group in groups {
        let bytes: u64 = group.files.iter().map(|f| f.size()).sum();
        let written = bytes.div_ceil(target_bytes.max(1) as u64).max(1) as usize;
        added += written;
        if let Some(spec) = group.files.first().map(|f| f.spec_id)
            && let Some(count) = counts.get_mut(&key(spec, &group.partition))
        {
            *count = *count - group.files.len() + written;
        }
    }
    (added, counts.into_values().max().unwrap_or(0))
}

impl IcebergSink {
    /// Compacts the current snapshot by `policy` (planning only when `policy.dry_run`).
    pub(super) async fn compact(
        &mut self,
        policy: &Upkeep,
        cache: &mut ManifestCache,
    ) -> Result<Compacted, TableError> {
        let Some(snapshot) = self.table.metadata().current_snapshot().cloned() else {
            return Ok(Compacted::default());
        };
        let live = cache.live(&self.table, &snapshot).await.map_err(|e| self.error(e))?;
        let groups = plan(&live, policy, self.table.metadata().default_partition_spec_id());
        let removed: Vec<&LiveFile> = groups.iter().flat_map(|g| &g.files).collect();
        let mut done = Compacted {
            removed: removed.len(),
            bytes: removed.iter().map(|f| f.size()).sum(),
            files_before: live.files.len(),
            files_after: live.files.len(),
            added: 0,
            most_after: None,
        };
        if groups.is_empty() && live.data_manifests <= MERGE_MANIFESTS_PAST {
            return Ok(done);
        }
        if self.table.metadata().format_version() != FormatVersion::V2 {
            tracing::info!(table = %self.name, "not a format v2 Iceberg table (Weir makes v2): not compacted");
            return Ok(Compacted::default());
        }
        let Some(sql) = self.sql_commit.clone() else {
            tracing::info!(table = %self.name, "Iceberg table of a REST catalog: compaction is left to the catalog");
            return Ok(Compacted::default());
        };
        if policy.dry_run {
            let (added, most) = planned(&live, &groups, policy.target_file_bytes);
            done.added = added;
            done.most_after = Some(most);
            done.files_after = done.files_before - done.removed + done.added;
            return Ok(done);
        }
        let mut added = Vec::new();
        for group in &groups {
            added.extend(self.rewrite(group, policy.target_file_bytes).await?);
        }
        done.added = added.len();
        done.files_after = done.files_before - done.removed + done.added;
        let removed: HashSet<String> = removed.iter().map(|f| f.path().to_string()).collect();
        self.publish_replace(&sql, &removed, &added, cache).await?;
        Ok(done)
    }

    /// Writes the rows of `group`'s files into new files of about `target_bytes`, in its
    /// partition, with the table's current schema.
    async fn rewrite(&self, group: &Group, target_bytes: i64) -> Result<Vec<DataFile>, TableError> {
        let metadata = self.table.metadata();
        let schema = metadata.current_schema().clone();
        let target = Arc::new(iceberg::arrow::schema_to_arrow_schema(&schema).map_err(|e| self.error(e))?);
        let locations = DefaultLocationGenerator::new(metadata).map_err(|e| self.error(e))?;
        let names = DefaultFileNameGenerator::new(
            format!("compacted-{}", uuid::Uuid::new_v4()),
            None,
            DataFileFormat::Parquet,
        );
        let parquet = ParquetWriterBuilder::new(parquet_properties(), schema.clone());
        let size = usize::try_from(target_bytes).unwrap_or(usize::MAX).max(1);
        let rolling = RollingFileWriterBuilder::new(parquet, size, self.table.file_io().clone(), locations, names);
        let spec = metadata.default_partition_spec().as_ref().clone();
        let key = (!spec.is_unpartitioned()).then(|| PartitionKey::new(spec, schema, group.partition.clone()));
        let mut writer = DataFileWriterBuilder::new(rolling)
            .build(key)
            .await
            .map_err(|e| self.error(e))?;
        for file in &group.files {
            for batch in self.read_file(file).await? {
                let rows = align(&batch, &target).map_err(|e| TableError::Schema {
                    table: self.name.clone(),
                    source: e.into(),
                })?;
                writer.write(rows).await.map_err(|e| self.error(e))?;
            }
        }
        writer.close().await.map_err(|e| self.error(e))
    }

    /// The rows of one live data file, in the table's current schema (columns the file lacks
    /// as nulls, by the same rule as [`IcebergSink::read_all`]).
    async fn read_file(&self, file: &LiveFile) -> Result<Vec<RecordBatch>, TableError> {
        let schema = self.table.metadata().current_schema().clone();
        let data = file.entry.data_file();
        let spec = self.table.metadata().partition_spec_by_id(file.spec_id).cloned();
        let mut task = FileScanTask::builder()
            .with_file_size_in_bytes(data.file_size_in_bytes())
            .with_start(0)
            .with_length(data.file_size_in_bytes())
            .with_record_count(Some(data.record_count()))
            .with_data_file_path(data.file_path().to_string())
            .with_data_file_format(data.file_format())
            .with_project_field_ids(schema.as_struct().fields().iter().map(|f| f.id).collect())
            .with_schema(schema)
            .with_partition(Some(data.partition().clone()))
            .with_partition_spec(spec)
            .with_case_sensitive(true)
            .build();
        match self.read_task(task.clone()).await {
            Err(e) if format!("{e:?}").contains("unexpected target column type") => {
                let present = self.field_ids(&task.data_file_path).await?;
                task.project_field_ids.retain(|id| present.contains(id));
                self.read_task(task).await.map_err(|e| self.error(e))
            }
            read => read.map_err(|e| self.error(e)),
        }
    }

    async fn read_task(&self, task: FileScanTask) -> Result<Vec<RecordBatch>, iceberg::Error> {
        let one = Box::pin(futures::stream::iter([Ok(task)]));
        let read = self.table.reader_builder().build().read(one)?;
        read.stream().try_collect().await
    }

    /// Commits `added` in place of `removed` as one `replace` snapshot, rebuilt on each newer
    /// snapshot a writer commits meanwhile. Fails (leaving `added` to the orphan cleanup) when a
    /// file of `removed` is no longer live.
    async fn publish_replace(
        &mut self,
        sql: &super::sql_commit::SqlCommit,
        removed: &HashSet<String>,
        added: &[DataFile],
        cache: &mut ManifestCache,
    ) -> Result<(), TableError> {
        const ATTEMPTS: u32 = 30;
        for attempt in 1..=ATTEMPTS {
            let fresh = self.load().await?;
            let Some(snapshot) = fresh.metadata().current_snapshot().cloned() else {
                return Err(self.conflict("the table lost its snapshot".into()));
            };
            let live = cache.live(&fresh, &snapshot).await.map_err(|e| self.error(e))?;
            if live.has_deletes {
                // The new files' sequence number would put them past those deletes.
                return Err(self.conflict("another writer added delete files".into()));
            }
            let alive: HashSet<&str> = live.files.iter().map(|f| f.path()).collect();
            if let Some(gone) = removed.iter().find(|p| !alive.contains(p.as_str())) {
                return Err(self.conflict(format!("{gone} was removed by another commit")));
            }
            let (requirements, updates) = self.replace_commit(&fresh, &live, removed, added).await?;
            match sql.commit(&fresh, &requirements, updates).await {
                Ok(()) => {
                    self.table = self.load().await?;
                    return Ok(());
                }
                Err(e) if e.kind() == ErrorKind::CatalogCommitConflicts && attempt < ATTEMPTS => {
                    tracing::debug!(table = %self.name, attempt, "compaction raced a writer; rebuilding it on the new snapshot");
                    tokio::time::sleep(std::time::Duration::from_millis(20 * u64::from(attempt))).await;
                }
                Err(e) => return Err(self.error(e)),
            }
        }
        Err(self.conflict(format!("gave up after {ATTEMPTS} attempts")))
    }

    async fn replace_commit(
        &self,
        fresh: &Table,
        live: &Live,
        removed: &HashSet<String>,
        added: &[DataFile],
    ) -> Result<(Vec<TableRequirement>, Vec<TableUpdate>), TableError> {
        let offsets: HashMap<String, String> = self.offset_properties(fresh);
        replace_updates(fresh, live, removed, added, offsets)
            .await
            .map_err(|e| self.error(e))
    }

    async fn load(&self) -> Result<Table, TableError> {
        self.catalog
            .load_table(self.table.identifier())
            .await
            .map_err(|e| self.error(e))
    }

    fn conflict(&self, message: String) -> TableError {
        TableError::Upkeep {
            table: self.name.clone(),
            message: format!("compaction not committed: {message}"),
        }
    }
}
