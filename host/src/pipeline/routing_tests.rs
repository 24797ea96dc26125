//! Routing on in-memory tables: two topics into three silver tables (one in a single format)
//! by a field of each record, with records no route takes and records that are not JSON, and a
//! crash before each table commit. Every silver table must hold exactly its own kind, each key
//! once; quarantine exactly the unroutable (stage `route`, with why) and the unreadable.
#![allow(clippy::unwrap_used)] // a test: panicking is how it fails

use std::collections::{BTreeMap, BTreeSet, HashMap};

use arrow::array::{Array, AsArray, RecordBatch};
use arrow::datatypes::{Int32Type, Int64Type};

use super::data_path::DataPath;
use super::stages::Started;
use crate::config::{self, Pipeline};
use crate::source::{PartitionBatch, SourceRecord, TopicPartition};
use crate::tables::Tables;
use crate::tables::memory::MemoryStore;
use crate::tables::schema::{ORIGIN_OFFSET, ORIGIN_PARTITION, ORIGIN_TOPIC};

const TOPICS: [&str; 2] = ["shop", "web"];
const PARTITIONS: i32 = 2;
const RECORDS: i64 = 60;
const NOW_MS: i64 = 1_800_000_000_000;
/// Bronze 2, quarantine 2, silver_a 2, silver_b 1 (Iceberg only), silver_c 2.
const TABLES: usize = 9;

fn pipeline(dir: &std::path::Path) -> Pipeline {
    let columns = r#"key = ["id"]
columns = [
  { name = "id", type = "string", nullable = false },
  { name = "n", type = "int64" },
  { name = "kind", type = "string" },
]"#;
    let toml = format!(
        r#"
[source]
brokers = "127.0.0.1:1"
topics = ["shop", "web"]
group = "g"

[tables]
location = "{}"
format = ["delta", "iceberg"]

[[tables.silver]]
name = "a"
route = {{ field = "kind", equals = "a" }}
{columns}

[[tables.silver]]
name = "b"
route = {{ field = "kind", equals = ["b", "bee"] }}
format = ["iceberg"]
{columns}

[[tables.silver]]
name = "c"
route = {{ field = "kind", equals = "c" }}
{columns}
"#,
        dir.join("lake").display()
    );
    let folder = dir.join("routed");
    std::fs::create_dir_all(&folder).unwrap();
    std::fs::write(folder.join("pipeline.toml"), toml).unwrap();
    config::load(&folder.join("pipeline.toml"), &config::from_map(&HashMap::new())).unwrap()
}

/// What record `offset` is: its kind (`None`: no `kind`; `Some("")`: not JSON).
fn kind(offset: i64) -> Option<&'static str> {
    match offset % 6 {
        0 => Some("a"),
        1 => Some("b"),
        2 => Some("c"),
        3 => Some(""),
        4 => Some("refund"),
        _ => None,
    }
}

/// The id of record `offset`: each run of 6 offsets (one of each kind) shares one, so the same
/// key is in every table; ids come back after 48 offsets, duplicates within a table. Every
/// commit of [`run`] holds new rows of each kind.
fn id(offset: i64) -> i64 {
    (offset / 6) % 8
}

fn record(topic: &str, partition: i32, offset: i64) -> SourceRecord {
    let id = format!("{topic}-{partition}-{}", id(offset));
    let value = match kind(offset) {
        Some("") => "not json".to_string(),
        Some(kind) => format!(r#"{{"id":"{id}","n":{offset},"kind":"{kind}"}}"#),
        None => format!(r#"{{"id":"{id}","n":{offset}}}"#),
    };
    SourceRecord {
        partition,
        offset,
        timestamp_ms: Some(NOW_MS),
        key: None,
        value: Some(value.into_bytes()),
        headers: Vec::new(),
        malformed: None,
    }
}

fn every_tp() -> Vec<TopicPartition> {
    (TOPICS.iter())
        .flat_map(|t| (0..PARTITIONS).map(|p| TopicPartition::new(t, p)))
        .collect()
}

fn process(path: &mut DataPath, from: &BTreeMap<TopicPartition, i64>, to: i64) {
    for tp in every_tp() {
        let batch = PartitionBatch {
            topic: tp.topic.to_string(),
            partition: tp.partition,
            records: (from[&tp]..to).map(|o| record(&tp.topic, tp.partition, o)).collect(),
        };
        path.process(&batch, NOW_MS).unwrap();
    }
}

async fn start(pipeline: &Pipeline, store: &MemoryStore) -> (DataPath, BTreeMap<TopicPartition, i64>) {
    let tables = Tables::in_memory(pipeline, store);
    let mut path = DataPath::open(pipeline.clone(), Started::default(), tables)
        .await
        .unwrap();
    let mut resume = BTreeMap::new();
    for tp in every_tp() {
        resume.insert(tp.clone(), path.assign(&tp).await.unwrap().unwrap_or(0));
    }
    (path, resume)
}

/// A run in two commits, with a crash before table `crash` in the second and a restart.
async fn run(pipeline: &Pipeline, crash: Option<usize>) -> MemoryStore {
    let store = MemoryStore::default();
    let (mut first, from) = start(pipeline, &store).await;
    process(&mut first, &from, 25);
    first.commit(NOW_MS).await.unwrap();
    let at = every_tp().into_iter().map(|tp| (tp, 25)).collect();
    process(&mut first, &at, 45);
    match crash {
        Some(crash) => {
            store.crash_after(crash);
            assert!(first.commit(NOW_MS).await.is_err(), "crash before table {crash}");
            drop(first);
            store.recover();
            let (mut second, from) = start(pipeline, &store).await;
            process(&mut second, &from, RECORDS);
            second.commit(NOW_MS).await.unwrap();
        }
        None => {
            let at = every_tp().into_iter().map(|tp| (tp, 45)).collect();
            process(&mut first, &at, RECORDS);
            first.commit(NOW_MS).await.unwrap();
        }
    }
    store
}

/// A row as the test reads it: (topic, partition, offset, id or reason).
type Row = (String, i32, i64, String);

/// Every table's rows, sorted, by (table, format).
async fn held(store: &MemoryStore, pipeline: &Pipeline) -> BTreeMap<(String, String), Vec<Row>> {
    let mut tables = Tables::in_memory(pipeline, store);
    let mut out = BTreeMap::new();
    for (id, table) in tables.in_commit_order() {
        let mut rows: Vec<Row> = table.read_all().await.unwrap().iter().flat_map(rows_of).collect();
        rows.sort_unstable();
        out.insert((table.name().to_string(), id.format.name().to_string()), rows);
    }
    out
}

fn rows_of(batch: &RecordBatch) -> Vec<Row> {
    let t = batch.column_by_name(ORIGIN_TOPIC).unwrap().as_string::<i32>();
    let p = batch
        .column_by_name(ORIGIN_PARTITION)
        .unwrap()
        .as_primitive::<Int32Type>();
    let o = batch.column_by_name(ORIGIN_OFFSET).unwrap().as_primitive::<Int64Type>();
    let what = ["id", "reason"].iter().find_map(|c| batch.column_by_name(c));
    let what = what.map(|c| c.as_string::<i32>());
    (0..batch.num_rows())
        .map(|i| {
            let said = what
                .filter(|w| w.is_valid(i))
                .map_or(String::new(), |w| w.value(i).to_string());
            (t.value(i).to_string(), p.value(i), o.value(i), said)
        })
        .collect()
}

/// What each silver table must hold: per topic, partition and id, the first record of its kind.
fn expected_silver(kind_wanted: &str) -> BTreeSet<(String, i32, i64)> {
    let mut seen = BTreeSet::new();
    let mut rows = BTreeSet::new();
    for tp in every_tp() {
        for offset in 0..RECORDS {
            if kind(offset) == Some(kind_wanted) && seen.insert((tp.clone(), id(offset))) {
                rows.insert((tp.topic.to_string(), tp.partition, offset));
            }
        }
    }
    rows
}

#[tokio::test]
async fn three_routed_tables_on_two_topics_are_exact_whatever_commit_a_crash_falls_before() {
    let dir = tempfile::tempdir().unwrap();
    let pipeline = pipeline(dir.path());
    let want = held(&run(&pipeline, None).await, &pipeline).await;
    let names: Vec<&(String, String)> = want.keys().collect();
    assert_eq!(names.len(), TABLES, "{names:?}");
    for (table, kind) in [("silver_a", "a"), ("silver_b", "b"), ("silver_c", "c")] {
        for ((name, format), rows) in want.iter().filter(|((n, _), _)| n == table) {
            let got: BTreeSet<(String, i32, i64)> = rows.iter().map(|(t, p, o, _)| (t.clone(), *p, *o)).collect();
            assert_eq!(got.len(), rows.len(), "{name} {format}: each origin once");
            assert_eq!(got, expected_silver(kind), "{name} {format}: its kind, each key once");
        }
    }
    assert!(
        !want.contains_key(&("silver_b".to_string(), "delta".to_string())),
        "b is Iceberg only"
    );
    let quarantine = &want[&("quarantine".to_string(), "delta".to_string())];
    let route = "no silver table takes";
    for tp in every_tp() {
        for offset in 0..RECORDS {
            let reasons: Vec<&str> = (quarantine.iter())
                .filter(|(t, p, o, _)| **t == *tp.topic && *p == tp.partition && *o == offset)
                .map(|(_, _, _, reason)| reason.as_str())
                .collect();
            match kind(offset) {
                Some("refund") => assert_eq!(reasons, [format!("{route} `kind` = \"refund\"")], "{tp} {offset}"),
                None => assert_eq!(reasons, [format!("{route} a record without `kind`")], "{tp} {offset}"),
                Some("") => assert_eq!(reasons.len(), 1, "{tp} {offset}: not JSON, once"),
                Some(_) => assert!(reasons.is_empty(), "{tp} {offset}: routed, not quarantined"),
            }
        }
    }
    for crash in 0..TABLES {
        let got = held(&run(&pipeline, Some(crash)).await, &pipeline).await;
        for (table, rows) in &want {
            assert_eq!(&got[table], rows, "crash before table {crash}: {table:?}");
        }
    }
}
