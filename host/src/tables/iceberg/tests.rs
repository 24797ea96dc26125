//! Unit tests of the Iceberg table on a local folder.
#![allow(clippy::unwrap_used)]

use super::*;
use crate::config::{ColumnType, IcebergConfig, PartitionBy, PartitionTransform, S3Config};
use crate::tables::{catalog, schema};
use arrow::array::{
    Array, ArrayRef, AsArray, BinaryArray, Int32Array, Int64Array, StringArray, TimestampMicrosecondArray,
};

fn bronze_rows(partition: i32, offsets: std::ops::Range<i64>) -> RecordBatch {
    let n = offsets.clone().count();
    let at = |us: i64| Arc::new(TimestampMicrosecondArray::from(vec![us; n]).with_timezone("UTC")) as ArrayRef;
    let columns: Vec<ArrayRef> = vec![
        Arc::new(StringArray::from(vec!["posts"; n])),
        Arc::new(Int32Array::from(vec![partition; n])),
        Arc::new(Int64Array::from(offsets.collect::<Vec<_>>())),
        at(1_700_000_000_000_000),
        Arc::new(BinaryArray::from(vec![Some(&b"k"[..]); n])),
        Arc::new(BinaryArray::from(vec![Some(&b"{}"[..]); n])),
        Arc::new(StringArray::from(vec![Some("{}"); n])),
        at(1_700_000_000_000_000),
        Arc::new(Int64Array::from(vec![None; n])),
    ];
    RecordBatch::try_new(schema::bronze().arrow.clone(), columns).unwrap()
}

pub(super) fn commit(partition: i32, offsets: std::ops::Range<i64>) -> CommitData {
    CommitData {
        offsets: vec![("posts".into(), partition, offsets.end)],
        batches: vec![bronze_rows(partition, offsets)],
        metadata: [("weir.plugins".to_string(), serde_json::json!({"validate": "abc"}))].into(),
    }
}

pub(super) async fn open(dir: &std::path::Path, table_schema: TableSchema) -> IcebergSink {
    let uri = format!("sqlite://{}/catalog.db?mode=rwc", dir.display());
    let config = IcebergConfig {
        uri: Some(uri),
        ..IcebergConfig::default()
    };
    let catalog = catalog::connect(&config, None, &S3Config::default()).await.unwrap();
    let location = format!("file://{}/bronze", dir.display());
    IcebergSink::open(catalog, "posts", location, "bronze", "posts", table_schema)
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_writers_creating_the_same_table_at_once_both_open_it() {
    for _ in 0..5 {
        let dir = tempfile::tempdir().unwrap();
        let (a, b) = tokio::join!(open(dir.path(), schema::bronze()), open(dir.path(), schema::bronze()));
        assert_eq!(a.table.identifier(), b.table.identifier());
    }
}

#[tokio::test]
async fn offsets_ride_in_snapshot_summaries_and_survive_a_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let mut sink = open(dir.path(), schema::bronze()).await;
    assert_eq!(sink.next_offset("posts", 0).await.unwrap(), None);
    sink.commit(commit(0, 0..10)).await.unwrap();
    sink.commit(commit(1, 0..5)).await.unwrap();
    sink.commit(commit(0, 10..12)).await.unwrap();

    let reopened = open(dir.path(), schema::bronze()).await;
    assert_eq!(reopened.next_offset("posts", 0).await.unwrap(), Some(12));
    // Carried forward by the snapshots that did not touch partition 1.
    assert_eq!(reopened.next_offset("posts", 1).await.unwrap(), Some(5));
    assert_eq!(reopened.next_offset("posts", 2).await.unwrap(), None);
    let rows: usize = reopened
        .read_all()
        .await
        .unwrap()
        .iter()
        .map(RecordBatch::num_rows)
        .sum();
    assert_eq!(rows, 17);
    let summary = &reopened
        .table
        .metadata()
        .current_snapshot()
        .unwrap()
        .summary()
        .additional_properties;
    assert_eq!(summary["weir.plugins"], r#"{"validate":"abc"}"#);
}

#[tokio::test]
async fn an_offset_below_the_one_held_is_refused_and_nothing_is_committed() {
    let dir = tempfile::tempdir().unwrap();
    let mut sink = open(dir.path(), schema::bronze()).await;
    sink.commit(commit(0, 0..10)).await.unwrap();
    let err = sink.commit(commit(0, 5..8)).await.unwrap_err();
    assert!(
        matches!(err, TableError::OffsetBackwards { held: 10, next: 8, .. }),
        "{err}"
    );
    let rows: usize = sink.read_all().await.unwrap().iter().map(RecordBatch::num_rows).sum();
    assert_eq!(rows, 10);
    assert_eq!(sink.next_offset("posts", 0).await.unwrap(), Some(10));
}

#[tokio::test]
async fn a_second_writer_of_the_same_partition_is_refused_but_other_partitions_commit() {
    let dir = tempfile::tempdir().unwrap();
    let mut first = open(dir.path(), schema::bronze()).await;
    let mut second = open(dir.path(), schema::bronze()).await;
    first.commit(commit(0, 0..10)).await.unwrap();
    // `second` last saw partition 0 empty: committing 0..10 again would duplicate it.
    let err = second.commit(commit(0, 0..10)).await.unwrap_err();
    assert!(matches!(err, TableError::Conflict { .. }), "{err}");
    // Partition 1 did not move: its commit goes through on top of `first`'s snapshot.
    second.commit(commit(1, 0..7)).await.unwrap();
    let rows: usize = second.read_all().await.unwrap().iter().map(RecordBatch::num_rows).sum();
    assert_eq!(rows, 17);
    assert_eq!(second.next_offset("posts", 0).await.unwrap(), Some(10));
}

/// `id`, `at` (partitioned by day) and, with `extra`, a nullable `flair`.
fn declared(extra: bool) -> TableSchema {
    let mut columns = vec![crate::config::ColumnConfig::new("id", ColumnType::String, false)];
    columns.push(crate::config::ColumnConfig::new("at", ColumnType::Timestamp, true));
    if extra {
        columns.push(crate::config::ColumnConfig::new("flair", ColumnType::String, true));
    }
    schema::silver(&columns).partitioned(Some(PartitionBy {
        column: "at".into(),
        transform: PartitionTransform::Day,
    }))
}

#[tokio::test]
async fn a_column_another_writer_added_first_is_not_added_twice() {
    let dir = tempfile::tempdir().unwrap();
    let mut first = open(dir.path(), declared(false)).await;
    let mut second = open(dir.path(), declared(false)).await;
    // Both saw the old schema; both now want `flair`. The second finds it added already.
    for sink in [&mut first, &mut second] {
        sink.schema = declared(true);
        evolve(sink).await.unwrap();
        let schema = sink.table.metadata().current_schema().clone();
        let flair = schema.as_struct().fields().iter().filter(|f| f.name == "flair").count();
        assert_eq!(flair, 1);
    }
    assert_eq!(
        second.table.metadata().schemas_iter().count(),
        2,
        "one schema change, not two"
    );
}

#[tokio::test]
async fn a_new_nullable_column_is_added_and_old_rows_read_null() {
    let dir = tempfile::tempdir().unwrap();
    let rows = |table: &TableSchema, ids: &[&str]| {
        let n = ids.len();
        let mut columns: Vec<ArrayRef> = vec![
            Arc::new(StringArray::from(ids.to_vec())),
            // Two days apart: two partitions.
            Arc::new(
                TimestampMicrosecondArray::from((0..n as i64).map(|i| i * 2 * 86_400_000_000).collect::<Vec<_>>())
                    .with_timezone("UTC"),
            ),
        ];
        if table.columns.iter().any(|c| c.name == "flair") {
            columns.push(Arc::new(StringArray::from(vec!["new"; n])));
        }
        columns.push(Arc::new(StringArray::from(vec!["posts"; n])));
        columns.push(Arc::new(Int32Array::from(vec![0; n])));
        columns.push(Arc::new(Int64Array::from((0..n as i64).collect::<Vec<_>>())));
        RecordBatch::try_new(table.arrow.clone(), columns).unwrap()
    };
    let old = declared(false);
    let mut sink = open(dir.path(), old.clone()).await;
    let data = CommitData {
        batches: vec![rows(&old, &["a", "b"])],
        offsets: vec![("posts".into(), 0, 2)],
        ..Default::default()
    };
    sink.commit(data).await.unwrap();
    let files_before = std::fs::read_dir(dir.path().join("bronze/data")).unwrap().count();
    assert_eq!(files_before, 2, "one folder per day partition");

    let new = declared(true);
    let mut sink = open(dir.path(), new.clone()).await;
    let data = CommitData {
        batches: vec![rows(&new, &["c"])],
        offsets: vec![("posts".into(), 0, 3)],
        ..Default::default()
    };
    sink.commit(data).await.unwrap();
    let read = sink.read_all().await.unwrap();
    let mut flair: Vec<(String, Option<String>)> = Vec::new();
    for batch in &read {
        let ids = batch.column_by_name("id").unwrap().as_string::<i32>();
        let values = batch.column_by_name("flair").unwrap().as_string::<i32>();
        for row in 0..batch.num_rows() {
            flair.push((
                ids.value(row).to_string(),
                values.is_valid(row).then(|| values.value(row).to_string()),
            ));
        }
    }
    flair.sort();
    assert_eq!(
        flair,
        [("a".into(), None), ("b".into(), None), ("c".into(), Some("new".into()))]
    );

    // Dropping a column is refused with its name.
    let catalog = sink.catalog.clone();
    let location = format!("file://{}/bronze", dir.path().display());
    let err = IcebergSink::open(catalog, "posts", location, "bronze", "posts", old)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("`flair`"), "{err}");
}

#[tokio::test]
async fn data_files_are_snappy_compressed_like_the_delta_ones() {
    use deltalake::parquet::basic::Compression;
    use deltalake::parquet::file::reader::{FileReader, SerializedFileReader};
    let dir = tempfile::tempdir().unwrap();
    let mut sink = open(dir.path(), schema::bronze()).await;
    sink.commit(commit(0, 0..100)).await.unwrap();
    let files: Vec<_> = walk(&dir.path().join("bronze/data"));
    assert!(!files.is_empty(), "no data files under bronze/data");
    for file in files {
        let reader = SerializedFileReader::new(std::fs::File::open(&file).unwrap()).unwrap();
        let group = reader.metadata().row_group(0);
        for column in group.columns() {
            assert_eq!(column.compression(), Compression::SNAPPY, "{}", file.display());
        }
    }
}

/// The Parquet files under `dir`, at any depth.
pub(super) fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let path = entry.path();
        if path.is_dir() {
            found.extend(walk(&path));
        } else if path.extension().is_some_and(|e| e == "parquet") {
            found.push(path);
        }
    }
    found
}

/// A new bronze is partitioned by `day(_ingested_at)`; an existing table keeps the spec it was
/// created with whatever is declared now, and commits.
#[tokio::test]
async fn a_new_table_takes_the_declared_partitioning_an_existing_one_keeps_its_own() {
    use crate::config::Landing;
    let day = || schema::bronze().partitioned(Landing::Day.of(schema::INGESTED_AT));
    let spec_fields = |sink: &IcebergSink| sink.table.metadata().default_partition_spec().fields().len();

    let new_dir = tempfile::tempdir().unwrap();
    let mut new = open(new_dir.path(), day()).await;
    assert_eq!(spec_fields(&new), 1);
    new.commit(commit(0, 0..10)).await.unwrap();
    let partitioned = open(new_dir.path(), schema::bronze()).await;
    assert_eq!(
        partitioned.schema.partition,
        day().partition,
        "kept when `none` is declared"
    );
    let data = walk(&new_dir.path().join("bronze/data"));
    let in_day = |p: &std::path::PathBuf| p.display().to_string().contains("_ingested_at_day=2023-11-14");
    assert!(!data.is_empty() && data.iter().all(in_day), "{data:?}");

    let old_dir = tempfile::tempdir().unwrap();
    let mut old = open(old_dir.path(), schema::bronze()).await;
    old.commit(commit(0, 0..10)).await.unwrap();
    let mut reopened = open(old_dir.path(), day()).await;
    assert_eq!(reopened.schema.partition, None, "an unpartitioned table stays so");
    assert_eq!(spec_fields(&reopened), 0);
    reopened.commit(commit(0, 10..20)).await.unwrap();
    let rows: usize = reopened
        .read_all()
        .await
        .unwrap()
        .iter()
        .map(RecordBatch::num_rows)
        .sum();
    assert_eq!(rows, 20);
}
