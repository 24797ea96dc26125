//! Every silver type through both formats on a local folder: JSON records decoded by the
//! silver decoder, committed, read back equal; then a nested nullable column added by evolution
//! (old rows read it as null). The readers' check (`tests/readers/`) reads such tables with
//! deltalake, pyiceberg and DuckDB.
#![allow(clippy::unwrap_used)]

use std::collections::HashMap;

use arrow::array::{Array, AsArray, RecordBatch};
use arrow::compute::concat_batches;
use arrow::datatypes::Decimal128Type;
use url::Url;

use super::commit::CommitData;
use super::delta::DeltaSink;
use super::evolve::evolve;
use super::iceberg::IcebergSink;
use super::schema::{self, TableSchema, align};
use super::table::Table;
use crate::config::{ColumnConfig, ColumnType, EpochUnit, IcebergConfig, S3Config};
use crate::decode::{Origin, SilverDecoder};
use crate::tables::catalog;

fn columns(extra: bool) -> Vec<ColumnConfig> {
    let col = |name: &str, ty: &str| ColumnConfig::new(name, ty.parse().unwrap(), true);
    let mut at = col("at", "timestamp");
    at.unit = Some(EpochUnit::Millis);
    let mut out = vec![
        ColumnConfig::new("id", ColumnType::String, false),
        col("price", "decimal(10, 2)"),
        col("ratio", "float32"),
        col("blob", "binary"),
        col("day", "date"),
        at,
        col("local", "timestamp_ntz"),
        col("tags", "list<string>"),
        col("attrs", "map<string, int64>"),
        col("who", "struct<name: string not null, langs: list<string>>"),
    ];
    if extra {
        // A list inside, and a map: iceberg-rust cannot fill these for older files itself.
        out.push(col(
            "added",
            "struct<note: string, n: decimal(5, 1), tags: list<string>>",
        ));
        out.push(col("counts", "map<string, int64>"));
    }
    out
}

const RECORDS: [&str; 2] = [
    r#"{"id":"a","price":12.34,"ratio":0.5,"blob":"aGk=","day":"2024-02-29","at":1700000000123,
        "local":"2024-01-01T08:00:00","tags":["x","y"],"attrs":{"k":1},"who":{"name":"ann","langs":["rust"]}}"#,
    r#"{"id":"b","price":-0.01,"tags":[],"who":null}"#,
];

fn decoded(extra: bool, records: &[&str], first: i64) -> (TableSchema, RecordBatch) {
    let decoder = SilverDecoder::new(&columns(extra));
    let origins: Vec<Origin<'_>> = (0..records.len())
        .map(|i| Origin {
            topic: "t",
            partition: 0,
            offset: first + i as i64,
        })
        .collect();
    let out = decoder.decode(records, &origins);
    assert!(out.rejected.is_empty(), "{:?}", out.rejected);
    (decoder.schema().clone(), out.rows)
}

async fn delta(dir: &std::path::Path, schema: TableSchema) -> Box<dyn Table> {
    std::fs::create_dir_all(dir.join("delta")).unwrap();
    let url = Url::from_directory_path(dir.join("delta")).unwrap();
    Box::new(
        DeltaSink::open(url, HashMap::new(), "silver", "p", schema)
            .await
            .unwrap(),
    )
}

async fn iceberg(dir: &std::path::Path, schema: TableSchema) -> Box<dyn Table> {
    let config = IcebergConfig {
        uri: Some(format!("sqlite://{}/catalog.db?mode=rwc", dir.display())),
        ..IcebergConfig::default()
    };
    let catalog = catalog::connect(&config, None, &S3Config::default()).await.unwrap();
    let location = format!("file://{}/iceberg", dir.display());
    Box::new(
        IcebergSink::open(catalog, "p", location, "silver", "p", schema)
            .await
            .unwrap(),
    )
}

async fn read_sorted(table: &dyn Table, schema: &TableSchema) -> RecordBatch {
    let batches = table.read_all().await.unwrap();
    let batches: Vec<RecordBatch> = batches.iter().map(|b| align(b, &schema.arrow).unwrap()).collect();
    let all = concat_batches(&schema.arrow, &batches).unwrap();
    let offsets = all.column_by_name(schema::ORIGIN_OFFSET).unwrap();
    let order = arrow::compute::sort_to_indices(offsets, None, None).unwrap();
    arrow::compute::take_record_batch(&all, &order).unwrap()
}

async fn round_trip(open: impl AsyncFn(&std::path::Path, TableSchema) -> Box<dyn Table>) {
    let dir = tempfile::tempdir().unwrap();
    let (schema, rows) = decoded(false, &RECORDS, 0);
    let mut table = open(dir.path(), schema.clone()).await;
    let commit = |rows: RecordBatch, next: i64| CommitData {
        batches: vec![rows],
        offsets: vec![("t".into(), 0, next)],
        ..Default::default()
    };
    table.commit(commit(rows.clone(), 2)).await.unwrap();
    let read = read_sorted(table.as_ref(), &schema).await;
    assert_eq!(read, rows, "{:?}", table.format());
    let price = read.column(1).as_primitive::<Decimal128Type>();
    assert_eq!(
        (price.value_as_string(0), price.value_as_string(1)),
        ("12.34".into(), "-0.01".into())
    );

    // v2 of the schema: a nullable struct column. Old rows read null, new rows their values.
    let (schema2, rows2) = decoded(
        true,
        &[r#"{"id":"c","added":{"note":"hi","n":2.5,"tags":["x"]},"counts":{"k":3}}"#],
        2,
    );
    let mut table = open(dir.path(), schema2.clone()).await;
    evolve(table.as_mut()).await.unwrap();
    table.commit(commit(rows2, 3)).await.unwrap();
    let read = read_sorted(table.as_ref(), &schema2).await;
    let added = read.column_by_name("added").unwrap().as_struct();
    assert_eq!(
        (added.is_null(0), added.is_null(1), added.is_valid(2)),
        (true, true, true)
    );
    assert_eq!(added.column(0).as_string::<i32>().value(2), "hi");
    let counts = read.column_by_name("counts").unwrap().as_map();
    assert_eq!((counts.is_null(0), counts.value_length(2)), (true, 1));
    assert_eq!(read.num_rows(), 3);
}

#[tokio::test]
async fn every_type_round_trips_through_delta_and_evolves() {
    round_trip(async |dir, schema| delta(dir, schema).await).await;
}

#[tokio::test]
async fn every_type_round_trips_through_iceberg_and_evolves() {
    round_trip(async |dir, schema| iceberg(dir, schema).await).await;
}
