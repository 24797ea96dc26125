//! Unit tests of the Delta table on a local folder.
#![allow(clippy::unwrap_used)]

use super::*;
use crate::tables::schema;
use arrow::array::{ArrayRef, BinaryArray, Int32Array, Int64Array, StringArray, TimestampMicrosecondArray};
use std::sync::Arc;

fn bronze_rows(partition: i32, offsets: std::ops::Range<i64>) -> RecordBatch {
    let schema = schema::bronze();
    let n = offsets.clone().count();
    let columns: Vec<ArrayRef> = vec![
        Arc::new(StringArray::from(vec!["posts"; n])),
        Arc::new(Int32Array::from(vec![partition; n])),
        Arc::new(Int64Array::from(offsets.clone().collect::<Vec<_>>())),
        Arc::new(TimestampMicrosecondArray::from(vec![Some(1_700_000_000_000_000); n]).with_timezone("UTC")),
        Arc::new(BinaryArray::from(vec![Some(&b"k"[..]); n])),
        Arc::new(BinaryArray::from(vec![Some(&b"{}"[..]); n])),
        Arc::new(StringArray::from(vec![Some("{}"); n])),
        Arc::new(TimestampMicrosecondArray::from(vec![1_700_000_000_000_000; n]).with_timezone("UTC")),
        Arc::new(Int64Array::from(vec![None; n])),
    ];
    RecordBatch::try_new(schema.arrow.clone(), columns).unwrap()
}

async fn row_count(sink: &DeltaSink) -> usize {
    use deltalake::parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
    let mut rows = 0;
    for uri in sink.table.get_file_uris().unwrap() {
        let path = match Url::parse(&uri) {
            Ok(url) => url.to_file_path().unwrap(),
            Err(_) => std::path::PathBuf::from(uri),
        };
        let reader = ParquetRecordBatchReaderBuilder::try_new(std::fs::File::open(path).unwrap())
            .unwrap()
            .build()
            .unwrap();
        rows += reader.map(|b| b.unwrap().num_rows()).sum::<usize>();
    }
    rows
}

#[tokio::test]
async fn commits_carry_their_offsets_and_survive_a_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let url = Url::from_directory_path(dir.path().join("bronze")).unwrap();
    std::fs::create_dir_all(dir.path().join("bronze")).unwrap();
    let mut sink = DeltaSink::open(url.clone(), HashMap::new(), "bronze", "posts", schema::bronze())
        .await
        .unwrap();
    assert_eq!(sink.next_offset("posts", 0).await.unwrap(), None);

    let data = CommitData {
        batches: vec![bronze_rows(0, 0..10), bronze_rows(1, 0..5)],
        offsets: vec![("posts".into(), 0, 10), ("posts".into(), 1, 5)],
        metadata: [("weir.plugins".to_string(), serde_json::json!({"validate": "abc"}))].into(),
    };
    sink.commit(data).await.unwrap();
    sink.commit(CommitData {
        batches: vec![bronze_rows(0, 10..12)],
        offsets: vec![("posts".into(), 0, 12)],
        ..Default::default()
    })
    .await
    .unwrap();

    let reopened = DeltaSink::open(url, HashMap::new(), "bronze", "posts", schema::bronze())
        .await
        .unwrap();
    assert_eq!(reopened.next_offset("posts", 0).await.unwrap(), Some(12));
    assert_eq!(reopened.next_offset("posts", 1).await.unwrap(), Some(5));
    assert_eq!(reopened.next_offset("posts", 2).await.unwrap(), None);
    assert_eq!(reopened.next_offset("other-topic", 0).await.unwrap(), None);
    assert_eq!(row_count(&reopened).await, 17);
    assert_eq!(reopened.version(), Some(2));
}

#[tokio::test]
async fn an_offset_below_the_one_held_is_refused_and_nothing_is_committed() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("bronze")).unwrap();
    let url = Url::from_directory_path(dir.path().join("bronze")).unwrap();
    let mut sink = DeltaSink::open(url, HashMap::new(), "bronze", "posts", schema::bronze())
        .await
        .unwrap();
    let commit = |range: std::ops::Range<i64>| CommitData {
        offsets: vec![("posts".into(), 0, range.end)],
        batches: vec![bronze_rows(0, range)],
        ..Default::default()
    };
    sink.commit(commit(0..10)).await.unwrap();
    let err = sink.commit(commit(5..8)).await.unwrap_err();
    assert!(
        matches!(err, TableError::OffsetBackwards { held: 10, next: 8, .. }),
        "{err}"
    );
    assert_eq!(sink.version(), Some(1));
    assert_eq!(row_count(&sink).await, 10);
    sink.commit(commit(10..12)).await.unwrap();
    assert_eq!(sink.next_offset("posts", 0).await.unwrap(), Some(12));
}

#[tokio::test]
async fn a_batch_of_the_wrong_shape_is_refused_and_nothing_is_committed() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("q")).unwrap();
    let url = Url::from_directory_path(dir.path().join("q")).unwrap();
    let mut sink = DeltaSink::open(url, HashMap::new(), "quarantine", "posts", schema::quarantine())
        .await
        .unwrap();
    let before = sink.version();
    let err = sink
        .commit(CommitData {
            batches: vec![bronze_rows(0, 0..3)],
            offsets: vec![("posts".into(), 0, 3)],
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert!(
        matches!(err, TableError::Schema { .. } | TableError::Delta { .. }),
        "{err}"
    );
    assert_eq!(sink.version(), before);
    assert_eq!(sink.next_offset("posts", 0).await.unwrap(), None);
}

#[tokio::test]
async fn a_column_another_writer_added_first_is_not_added_twice() {
    use crate::config::{ColumnConfig, ColumnType};
    let declared = |extra: bool| {
        let mut columns = vec![ColumnConfig::new("id", ColumnType::String, false)];
        if extra {
            columns.push(ColumnConfig::new("flair", ColumnType::String, true));
        }
        schema::silver(&columns)
    };
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("silver")).unwrap();
    let url = Url::from_directory_path(dir.path().join("silver")).unwrap();
    let open = |extra: bool| DeltaSink::open(url.clone(), HashMap::new(), "silver", "posts", declared(extra));
    let mut first = open(false).await.unwrap();
    let mut second = open(false).await.unwrap();
    // Both saw the old schema; both now want `flair`. The second finds it added already.
    for sink in [&mut first, &mut second] {
        sink.schema = declared(true);
        evolve(sink).await.unwrap();
        let snapshot = sink.table.snapshot().unwrap();
        let flair = snapshot.schema().fields().filter(|f| f.name() == "flair").count();
        assert_eq!(flair, 1);
    }
    assert_eq!(second.version(), Some(1), "one schema change, not two");
}

/// A new bronze is partitioned by the day of `_ingested_at`; an existing table keeps the layout
/// it was created with whatever is declared now, gains no column, and commits.
#[tokio::test]
async fn a_new_table_takes_the_declared_partitioning_an_existing_one_keeps_its_own() {
    use crate::config::Landing;
    let dir = tempfile::tempdir().unwrap();
    let day = || schema::bronze().partitioned(Landing::Day.of(schema::INGESTED_AT));
    let open = |name: &'static str, schema: TableSchema| {
        let path = dir.path().join(name);
        std::fs::create_dir_all(&path).unwrap();
        let url = Url::from_directory_path(path).unwrap();
        async move {
            DeltaSink::open(url, HashMap::new(), name, "posts", schema)
                .await
                .unwrap()
        }
    };
    let columns = |sink: &DeltaSink| sink.table.snapshot().unwrap().metadata().partition_columns().to_vec();

    let mut new = open("new", day()).await;
    assert_eq!(columns(&new), ["_ingested_at_day"]);
    new.commit(commit_of(0, 0..10)).await.unwrap();
    let files = new.table.get_file_uris().unwrap().collect::<Vec<_>>();
    assert!(
        files.iter().all(|f| f.contains("_ingested_at_day=2023-11-14")),
        "{files:?}"
    );
    let partitioned = open("new", schema::bronze()).await;
    assert_eq!(
        partitioned.schema.partition,
        day().partition,
        "kept when `none` is declared"
    );

    let mut old = open("old", schema::bronze()).await;
    old.commit(commit_of(0, 0..10)).await.unwrap();
    let mut reopened = open("old", day()).await;
    assert_eq!(reopened.schema.partition, None, "an unpartitioned table stays so");
    assert!(
        !reopened.columns().unwrap().contains(&"_ingested_at_day".to_string()),
        "no column added"
    );
    reopened.commit(commit_of(0, 10..20)).await.unwrap();
    assert_eq!(row_count(&reopened).await, 20);
    assert!(columns(&reopened).is_empty());
}

fn commit_of(partition: i32, offsets: std::ops::Range<i64>) -> CommitData {
    CommitData {
        offsets: vec![("posts".into(), partition, offsets.end)],
        batches: vec![bronze_rows(partition, offsets)],
        metadata: HashMap::new(),
    }
}
