//! The exactly-once core on in-memory tables, without Kafka, S3 or plugins: a topic fed from
//! memory through [`DataPath`] into bronze, quarantine and silver, each in two "formats", with
//! crashes injected between table commits ([`MemoryStore::crash_after`]) and rebalances and
//! restarts played by hand. Each test names the rule it guards; every table must end as an
//! uninterrupted run leaves it.
#![allow(clippy::unwrap_used)] // a test: panicking is how it fails

use std::collections::{BTreeMap, HashMap};

use arrow::array::{AsArray, RecordBatch};
use arrow::datatypes::{Int32Type, Int64Type};

use super::data_path::DataPath;
use super::stages::Started;
use crate::config::{self, Pipeline};
use crate::source::{PartitionBatch, SourceRecord, TopicPartition};
use crate::tables::Tables;
use crate::tables::memory::MemoryStore;
use crate::tables::schema::{ORIGIN_OFFSET, ORIGIN_PARTITION, ORIGIN_TOPIC};

pub(super) const TOPIC: &str = "events";
pub(super) const PARTITIONS: i32 = 2;
/// Records per partition.
pub(super) const RECORDS: i64 = 60;
/// Tables in commit order: bronze, quarantine, silver, each in Delta and Iceberg.
const TABLES: usize = 6;
pub(super) const NOW_MS: i64 = 1_800_000_000_000;

/// A pipeline without stages or gold: JSON records to silver `id`/`n`, keyed by `id`.
pub(super) fn pipeline(dir: &std::path::Path) -> Pipeline {
    pipeline_with(dir, "")
}

/// [`pipeline`] with `more` appended to its file.
fn pipeline_with(dir: &std::path::Path, more: &str) -> Pipeline {
    let toml = format!(
        r#"
[source]
brokers = "127.0.0.1:1"
topic = "{TOPIC}"
group = "g"
format = "json"

[tables]
location = "{}"
format = ["delta", "iceberg"]

[tables.silver]
key = ["id"]
columns = [
  {{ name = "id", type = "string", nullable = false }},
  {{ name = "n", type = "int64" }},
]
{more}"#,
        dir.join("lake").display()
    );
    let folder = dir.join("events");
    std::fs::create_dir_all(&folder).unwrap();
    std::fs::write(folder.join("pipeline.toml"), toml).unwrap();
    config::load(&folder.join("pipeline.toml"), &config::from_map(&HashMap::new())).unwrap()
}

/// Record `offset` of `partition`: every 7th is not JSON (quarantine); ids repeat across the
/// topic, so silver keeps the first of each (per partition: ids are partitioned by key).
pub(super) fn record(partition: i32, offset: i64) -> SourceRecord {
    let value = match offset % 7 {
        3 => "not json".to_string(),
        _ => format!(r#"{{"id":"p{partition}-{}","n":{offset}}}"#, offset % 40),
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

pub(super) fn batch(partition: i32, offsets: std::ops::Range<i64>) -> PartitionBatch {
    PartitionBatch {
        topic: TOPIC.to_string(),
        partition,
        records: offsets.map(|o| record(partition, o)).collect(),
    }
}

/// A process: opens the tables held by `store` and takes on `partitions`; returns where each
/// resumes.
pub(super) async fn start(
    pipeline: &Pipeline,
    store: &MemoryStore,
    partitions: &[i32],
) -> (DataPath, BTreeMap<i32, i64>) {
    let tables = Tables::in_memory(pipeline, store);
    let mut path = DataPath::open(pipeline.clone(), Started::default(), tables)
        .await
        .unwrap();
    let mut resume = BTreeMap::new();
    for &p in partitions {
        let tp = TopicPartition::new(TOPIC, p);
        resume.insert(p, path.assign(&tp).await.unwrap().unwrap_or(0));
    }
    (path, resume)
}

/// Feeds `path` `step` records per partition from `from`, committing after each round, until
/// the topic's end. Returns the first commit error, if any.
async fn feed(path: &mut DataPath, from: &BTreeMap<i32, i64>, step: i64) -> Result<(), super::RunError> {
    let mut at = from.clone();
    while at.values().any(|o| *o < RECORDS) {
        for (p, o) in at.iter_mut() {
            let end = (*o + step).min(RECORDS);
            path.process(&batch(*p, *o..end), NOW_MS).unwrap();
            *o = end;
        }
        path.commit(NOW_MS).await?;
    }
    Ok(())
}

/// What a table holds: its rows' (partition, offset) origins, sorted, and its next offsets.
pub(super) type Held = (Vec<(i32, i64)>, Vec<Option<i64>>);

pub(super) async fn held(store: &MemoryStore, pipeline: &Pipeline) -> BTreeMap<(String, String), Held> {
    let mut tables = Tables::in_memory(pipeline, store);
    let mut out = BTreeMap::new();
    for (id, table) in tables.in_commit_order() {
        let mut origins = origins(&table.read_all().await.unwrap());
        origins.sort_unstable();
        let mut next = Vec::new();
        for p in 0..PARTITIONS {
            next.push(table.next_offset(TOPIC, p).await.unwrap());
        }
        out.insert(
            (table.name().to_string(), id.format.name().to_string()),
            (origins, next),
        );
    }
    out
}

fn origins(batches: &[RecordBatch]) -> Vec<(i32, i64)> {
    let mut out = Vec::new();
    for b in batches {
        let p = b.column_by_name(ORIGIN_PARTITION).unwrap().as_primitive::<Int32Type>();
        let o = b.column_by_name(ORIGIN_OFFSET).unwrap().as_primitive::<Int64Type>();
        out.extend(p.values().iter().copied().zip(o.values().iter().copied()));
    }
    out
}

/// The tables after one uninterrupted run over the whole topic.
pub(super) async fn reference(pipeline: &Pipeline) -> BTreeMap<(String, String), Held> {
    let store = MemoryStore::default();
    let (mut path, from) = start(pipeline, &store, &[0, 1]).await;
    feed(&mut path, &from, 25).await.unwrap();
    held(&store, pipeline).await
}

/// Asserts `store`'s tables hold what an uninterrupted run leaves, naming the first difference.
async fn assert_as_reference(store: &MemoryStore, pipeline: &Pipeline, case: &str) {
    let want = reference(pipeline).await;
    let got = held(store, pipeline).await;
    for (table, (rows, next)) in &want {
        let (got_rows, got_next) = &got[table];
        let mut unique = got_rows.clone();
        unique.dedup();
        assert_eq!(unique.len(), got_rows.len(), "{case}: {table:?} holds a row twice");
        assert_eq!(
            got_rows, rows,
            "{case}: {table:?} rows differ from an uninterrupted run"
        );
        assert_eq!(got_next, next, "{case}: {table:?} offsets");
    }
}

#[tokio::test]
async fn a_crash_between_any_two_table_commits_neither_loses_nor_doubles() {
    let dir = tempfile::tempdir().unwrap();
    crash_anywhere(&pipeline(dir.path()), TABLES).await;
}

/// The dead-letter topic is a seventh "table", after both quarantine tables: whatever commit a
/// crash falls before, it ends up with every quarantine row (here exactly once: the in-memory
/// topic commits its rows and cursor in one step; Kafka's may repeat a row, never lose one).
#[tokio::test]
async fn the_dead_letter_topic_gets_every_quarantine_row_whatever_commit_a_crash_falls_before() {
    let dir = tempfile::tempdir().unwrap();
    let pipeline = pipeline_with(dir.path(), "\n[quarantine]\ntopic = \"dead\"\n");
    let want = reference(&pipeline).await;
    let topic = &want[&("quarantine".to_string(), "topic".to_string())];
    assert_eq!(topic, &want[&("quarantine".to_string(), "delta".to_string())]);
    crash_anywhere(&pipeline, TABLES + 1).await;
}

/// Crashes a run before each table commit in turn (and after the last), restarts it, and
/// checks every table against an uninterrupted run.
async fn crash_anywhere(pipeline: &Pipeline, tables: usize) {
    let pipeline = pipeline.clone();
    let want = reference(&pipeline).await;
    assert_eq!(want.len(), tables);
    let silver = &want[&("silver".to_string(), "delta".to_string())].0;
    let quarantine = &want[&("quarantine".to_string(), "delta".to_string())].0;
    assert!(
        !silver.is_empty() && !quarantine.is_empty(),
        "the topic fills silver and quarantine"
    );
    for crash in 0..=tables {
        let store = MemoryStore::default();
        let (mut first, from) = start(&pipeline, &store, &[0, 1]).await;
        for p in 0..PARTITIONS {
            first.process(&batch(p, 0..20), NOW_MS).unwrap();
        }
        first.commit(NOW_MS).await.unwrap();
        for p in 0..PARTITIONS {
            first.process(&batch(p, 20..45), NOW_MS).unwrap();
        }
        store.crash_after(crash);
        let crashed = first.commit(NOW_MS).await;
        assert_eq!(crashed.is_err(), crash < tables, "crash before table {crash}");
        drop((first, from));
        store.recover();
        let (mut second, from) = start(&pipeline, &store, &[0, 1]).await;
        feed(&mut second, &from, 10).await.unwrap();
        assert_as_reference(&store, &pipeline, &format!("crash before table {crash}")).await;
    }
}

#[tokio::test]
async fn a_table_ahead_of_the_others_keeps_its_offsets_and_gets_only_what_it_lacks() {
    let dir = tempfile::tempdir().unwrap();
    let pipeline = pipeline(dir.path());
    let store = MemoryStore::default();
    let (mut first, from) = start(&pipeline, &store, &[0, 1]).await;
    first.process(&batch(0, from[&0]..50), NOW_MS).unwrap();
    // Bronze in Delta commits partition 0; the process dies before bronze in Iceberg.
    store.crash_after(1);
    assert!(first.commit(NOW_MS).await.is_err());
    store.recover();
    let (mut second, from) = start(&pipeline, &store, &[0, 1]).await;
    assert_eq!(
        from,
        BTreeMap::from([(0, 0), (1, 0)]),
        "resumes where the lowest table stands"
    );
    // Many small commits before Iceberg's bronze catches up with Delta's: each gives Delta's
    // bronze partition 1's new rows and none of partition 0's twice, and must leave its
    // partition 0 offset where it is.
    feed(&mut second, &from, 7).await.unwrap();
    assert_as_reference(&store, &pipeline, "bronze in delta ahead").await;
}

#[tokio::test]
async fn a_restart_resumes_at_the_lowest_table_and_loses_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let pipeline = pipeline(dir.path());
    let store = MemoryStore::default();
    let (mut first, from) = start(&pipeline, &store, &[0, 1]).await;
    for p in 0..PARTITIONS {
        first.process(&batch(p, from[&p]..30), NOW_MS).unwrap();
    }
    first.commit(NOW_MS).await.unwrap();
    for p in 0..PARTITIONS {
        first.process(&batch(p, 30..50), NOW_MS).unwrap();
    }
    // Bronze and quarantine (both formats) commit up to 50; silver stays at 30.
    store.crash_after(4);
    assert!(first.commit(NOW_MS).await.is_err());
    store.recover();
    let (mut second, from) = start(&pipeline, &store, &[0, 1]).await;
    assert_eq!(from, BTreeMap::from([(0, 30), (1, 30)]), "silver's offsets, the lowest");
    feed(&mut second, &from, 50).await.unwrap();
    assert_as_reference(&store, &pipeline, "silver behind").await;
}

#[tokio::test]
async fn a_rebalance_drops_the_buffered_rows_of_revoked_partitions() {
    let dir = tempfile::tempdir().unwrap();
    let pipeline = pipeline(dir.path());
    let store = MemoryStore::default();
    let (mut old_owner, from) = start(&pipeline, &store, &[0, 1]).await;
    for p in 0..PARTITIONS {
        old_owner.process(&batch(p, from[&p]..40), NOW_MS).unwrap();
    }
    // Partition 1 moves to another host before the commit; its buffered rows must not be
    // committed by the old owner, who commits partition 0 only.
    let reread = old_owner.revoke(vec![TopicPartition::new(TOPIC, 1)]).await.unwrap();
    assert!(reread.is_empty(), "without gold nothing is read again");
    let (mut new_owner, resume) = start(&pipeline, &store, &[1]).await;
    assert_eq!(resume[&1], 0);
    feed(&mut new_owner, &resume, 15).await.unwrap();
    old_owner.commit(NOW_MS).await.unwrap();
    feed(&mut old_owner, &BTreeMap::from([(0, 40)]), 15).await.unwrap();
    assert_as_reference(&store, &pipeline, "partition 1 revoked").await;
}

#[tokio::test]
async fn silver_keys_come_back_after_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let pipeline = pipeline(dir.path());
    let store = MemoryStore::default();
    let (mut first, from) = start(&pipeline, &store, &[0]).await;
    first.process(&batch(0, from[&0]..40), NOW_MS).unwrap();
    first.commit(NOW_MS).await.unwrap();
    drop(first);
    // Offsets 40.. repeat ids of 0..: after a restart they are duplicates, not new rows.
    let (mut second, from) = start(&pipeline, &store, &[0]).await;
    assert_eq!(from[&0], 40);
    assert!(second.silver_keys() > 0, "silver's keys loaded from the table");
    second.process(&batch(0, 40..RECORDS), NOW_MS).unwrap();
    second.commit(NOW_MS).await.unwrap();
    let valid = |o: i64| o % 7 != 3;
    let repeats = (40..RECORDS).filter(|&o| valid(o) && valid(o - 40)).count() as u64;
    let new = (40..RECORDS).filter(|&o| valid(o) && !valid(o - 40)).count() as u64;
    assert!(repeats > 0 && new > 0);
    assert_eq!(second.stats().duplicates, repeats, "ids silver holds are dropped");
    assert_eq!(second.stats().silver_rows, new, "ids silver lacks are new rows");
}

/// A dead-letter topic set on a pipeline that already ran starts where the quarantine tables
/// stand: it gets the rows quarantined from then on, and nothing is read again for it.
#[tokio::test]
async fn a_dead_letter_topic_set_later_starts_where_quarantine_stands() {
    let dir = tempfile::tempdir().unwrap();
    let before = pipeline(dir.path());
    let store = MemoryStore::default();
    let (mut first, from) = start(&before, &store, &[0, 1]).await;
    for p in 0..PARTITIONS {
        first.process(&batch(p, from[&p]..30), NOW_MS).unwrap();
    }
    first.commit(NOW_MS).await.unwrap();
    drop(first);
    let after = pipeline_with(dir.path(), "\n[quarantine]\ntopic = \"dead\"\n");
    let (mut second, from) = start(&after, &store, &[0, 1]).await;
    assert_eq!(from, BTreeMap::from([(0, 30), (1, 30)]), "nothing is read again");
    feed(&mut second, &from, 10).await.unwrap();
    let held = held(&store, &after).await;
    let (quarantine, _) = &held[&("quarantine".to_string(), "delta".to_string())];
    let (topic, next) = &held[&("quarantine".to_string(), "topic".to_string())];
    let later: Vec<(i32, i64)> = quarantine.iter().copied().filter(|(_, o)| *o >= 30).collect();
    assert!(!later.is_empty() && later.len() < quarantine.len());
    assert_eq!(topic, &later, "the rows quarantined since the topic was set");
    assert_eq!(next, &vec![Some(RECORDS), Some(RECORDS)]);
}

/// The second topic of the two-topic test: the same partition numbers as [`TOPIC`].
const OTHER: &str = "other";

/// Record `offset` of `partition` of `topic`: as [`record`], with ids of its own per topic.
fn record_of(topic: &str, partition: i32, offset: i64) -> SourceRecord {
    let mut record = record(partition, offset);
    if topic != TOPIC
        && let Some(value) = record.value.as_mut()
    {
        let text = String::from_utf8_lossy(value).replace(r#""id":"p"#, &format!(r#""id":"{topic}-p"#));
        *value = text.into_bytes();
    }
    record
}

fn every_tp() -> Vec<TopicPartition> {
    [TOPIC, OTHER]
        .iter()
        .flat_map(|t| (0..PARTITIONS).map(|p| TopicPartition::new(t, p)))
        .collect()
}

/// Takes `offsets` of every partition of both topics through `path`.
fn process_both(path: &mut DataPath, offsets: std::ops::Range<i64>) {
    for tp in every_tp() {
        let batch = PartitionBatch {
            topic: tp.topic.to_string(),
            partition: tp.partition,
            records: offsets.clone().map(|o| record_of(&tp.topic, tp.partition, o)).collect(),
        };
        path.process(&batch, NOW_MS).unwrap();
    }
}

/// Every table's rows by (topic, partition, offset), sorted, and its next offsets per partition.
async fn held_by_topic(
    store: &MemoryStore,
    pipeline: &Pipeline,
) -> BTreeMap<(String, String), (Vec<(String, i32, i64)>, Vec<Option<i64>>)> {
    let mut tables = Tables::in_memory(pipeline, store);
    let mut out = BTreeMap::new();
    for (id, table) in tables.in_commit_order() {
        let mut rows = Vec::new();
        for b in table.read_all().await.unwrap() {
            let t = b.column_by_name(ORIGIN_TOPIC).unwrap().as_string::<i32>();
            let p = b.column_by_name(ORIGIN_PARTITION).unwrap().as_primitive::<Int32Type>();
            let o = b.column_by_name(ORIGIN_OFFSET).unwrap().as_primitive::<Int64Type>();
            rows.extend((0..b.num_rows()).map(|i| (t.value(i).to_string(), p.value(i), o.value(i))));
        }
        rows.sort_unstable();
        let mut next = Vec::new();
        for tp in every_tp() {
            next.push(table.next_offset(&tp.topic, tp.partition).await.unwrap());
        }
        out.insert((table.name().to_string(), id.format.name().to_string()), (rows, next));
    }
    out
}

/// A run over both topics: `crash` (before that table commit, on the second commit) and a
/// restart, or none.
async fn run_both(pipeline: &Pipeline, crash: Option<usize>) -> MemoryStore {
    let store = MemoryStore::default();
    let (mut first, _) = start_on(pipeline, &store, &every_tp()).await;
    process_both(&mut first, 0..20);
    first.commit(NOW_MS).await.unwrap();
    process_both(&mut first, 20..45);
    if let Some(crash) = crash {
        store.crash_after(crash);
        assert!(first.commit(NOW_MS).await.is_err(), "crash before table {crash}");
        drop(first);
        store.recover();
        let (mut second, from) = start_on(pipeline, &store, &every_tp()).await;
        let lowest = from.values().copied().min().unwrap_or(0);
        process_both(&mut second, lowest..RECORDS);
        second.commit(NOW_MS).await.unwrap();
    } else {
        process_both(&mut first, 45..RECORDS);
        first.commit(NOW_MS).await.unwrap();
    }
    store
}

/// As [`start`], taking on `tps` of any topic.
async fn start_on(
    pipeline: &Pipeline,
    store: &MemoryStore,
    tps: &[TopicPartition],
) -> (DataPath, BTreeMap<TopicPartition, i64>) {
    let tables = Tables::in_memory(pipeline, store);
    let mut path = DataPath::open(pipeline.clone(), Started::default(), tables)
        .await
        .unwrap();
    let mut resume = BTreeMap::new();
    for tp in tps {
        resume.insert(tp.clone(), path.assign(tp).await.unwrap().unwrap_or(0));
    }
    (path, resume)
}

/// Two topics whose partitions share numbers: a crash before any table commit, and a restart,
/// leave every table as an uninterrupted run does; each row is told apart by its topic.
#[tokio::test]
async fn two_topics_sharing_partition_numbers_survive_a_crash_anywhere() {
    let dir = tempfile::tempdir().unwrap();
    let pipeline = pipeline(dir.path());
    let want = held_by_topic(&run_both(&pipeline, None).await, &pipeline).await;
    let bronze = &want[&("bronze".to_string(), "delta".to_string())].0;
    assert_eq!(
        bronze.len(),
        2 * PARTITIONS as usize * RECORDS as usize,
        "every record of both topics"
    );
    for crash in 0..TABLES {
        let got = held_by_topic(&run_both(&pipeline, Some(crash)).await, &pipeline).await;
        for (table, (rows, next)) in &want {
            let (got_rows, got_next) = &got[table];
            assert_eq!(got_rows, rows, "crash before table {crash}: {table:?} rows");
            assert_eq!(got_next, next, "crash before table {crash}: {table:?} offsets");
        }
    }
}
