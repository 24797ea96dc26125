//! Every row of an Iceberg table, as Weir reads it back (silver's keys at a start, `weir demo`,
//! the tests). iceberg-rust 0.10 fills a column missing from a data file (one added by schema
//! evolution after the file was written) with nulls, except a list, a map, or a struct holding
//! one: that scan fails. Then each file is read on its own, projecting only the columns its
//! Parquet footer has, and `align` fills the rest with nulls of any type, as the spec says a
//! reader must. Each such file is read whole to find its columns; only tables whose schema
//! gained such a column take this path.

use std::collections::HashSet;

use arrow::record_batch::RecordBatch;
use deltalake::parquet::file::reader::{FileReader, SerializedFileReader};
use futures::TryStreamExt;
use iceberg::scan::{FileScanTask, TableScan};

use super::IcebergSink;
use crate::tables::error::TableError;
use crate::tables::schema::align;

impl IcebergSink {
    /// Every row of the table's current snapshot, in the pipeline's column types.
    pub async fn read_all(&self) -> Result<Vec<RecordBatch>, TableError> {
        if self.table.metadata().current_snapshot().is_none() {
            return Ok(Vec::new());
        }
        let scan = self.table.scan().build().map_err(|e| self.error(e))?;
        let whole = match scan.to_arrow().await {
            Ok(stream) => stream.try_collect::<Vec<_>>().await,
            Err(e) => Err(e),
        };
        let batches = match whole {
            Ok(batches) => batches,
            Err(e) if format!("{e:?}").contains("unexpected target column type") => {
                tracing::warn!(table = %self.name, error = %e, "iceberg-rust cannot fill a column older files lack; reading the table file by file");
                self.read_by_file(&scan).await?
            }
            Err(e) => return Err(self.error(e)),
        };
        batches
            .iter()
            .map(|b| align(b, &self.schema.arrow))
            .collect::<Result<_, _>>()
            .map_err(|e| TableError::Schema {
                table: self.name.clone(),
                source: e.into(),
            })
    }

    /// `scan`'s files one by one, each with only the columns it holds.
    async fn read_by_file(&self, scan: &TableScan) -> Result<Vec<RecordBatch>, TableError> {
        let tasks: Vec<FileScanTask> = (scan.plan_files().await.map_err(|e| self.error(e))?)
            .try_collect()
            .await
            .map_err(|e| self.error(e))?;
        let mut batches = Vec::new();
        for mut task in tasks {
            let present = self.field_ids(&task.data_file_path).await?;
            task.project_field_ids.retain(|id| present.contains(id));
            let one = Box::pin(futures::stream::iter([Ok(task)]));
            let read = self
                .table
                .reader_builder()
                .build()
                .read(one)
                .map_err(|e| self.error(e))?;
            batches.extend(read.stream().try_collect::<Vec<_>>().await.map_err(|e| self.error(e))?);
        }
        Ok(batches)
    }

    /// The field ids of the top-level columns of the Parquet file at `path`.
    pub(super) async fn field_ids(&self, path: &str) -> Result<HashSet<i32>, TableError> {
        let input = self.table.file_io().new_input(path).map_err(|e| self.error(e))?;
        let bytes = input.read().await.map_err(|e| self.error(e))?;
        let reader = SerializedFileReader::new(bytes).map_err(|e| TableError::Schema {
            table: self.name.clone(),
            source: format!("data file {path}: {e}").into(),
        })?;
        let schema = reader.metadata().file_metadata().schema_descr();
        Ok((schema.root_schema().get_fields().iter())
            .map(|f| f.get_basic_info())
            .filter(|info| info.has_id())
            .map(|info| info.id())
            .collect())
    }
}
