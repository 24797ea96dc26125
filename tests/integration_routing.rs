//! One pipeline, two topics, three routed silver tables, against a real Kafka-protocol broker
//! (tansu): topic `shop` carries orders and payments (routed by their declared `event_type`),
//! refunds (no route takes them), orders that do not fit silver and lines that are not JSON;
//! topic `web` carries page views, whose `event_type` the `set-field` plugin sets, and clicks
//! (no route). `weir run` is killed with SIGKILL five times after observed commits, then runs
//! until every table holds both topics. Then, in Delta and Iceberg: each silver table holds
//! exactly its own kind (each origin once, each key once, the first version of a repeated key);
//! quarantine holds exactly the unroutable and the invalid records with their reasons; bronze
//! every record once with its topic; gold over `silver_orders` equals a reference computed from
//! it. The readers (deltalake, pyiceberg, DuckDB) read every routed table, and a one-day query on
//! bronze (partitioned by ingest day) reads that day's files only.
#![allow(clippy::unwrap_used)] // a test crate: panicking is how it fails

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::process::{Child, Command};
use std::sync::Arc;
use std::time::{Duration, Instant};

use arrow::array::{Array, ArrayRef, AsArray, RecordBatch};
use arrow::datatypes::{DataType, Int32Type, Int64Type};
use common::Lcg;
use common::pipeline::{DailyAverage, assert_daily_average, delta_versions, sigterm, wait_for_delta_commit};
use common::services::Tansu;
use common::weir_run::WeirRun;
use rdkafka::ClientConfig;
use rdkafka::producer::{BaseProducer, BaseRecord, Producer};
use weir::config::{self, Pipeline, TableFormat};
use weir::pipeline::Tables;
use weir::tables::CommitData;

const PARTITIONS: i32 = 4;
const ORDERS: usize = 1_200;
const KILLS: usize = 5;
const CHUNKS: usize = 8;
/// 2026-11-01T00:00:00Z: orders are 10 minutes apart from here, over about 8 days.
const BASE_S: i64 = 1_793_491_200;

const PIPELINE: &str = r#"
[source]
brokers = "${KAFKA_BROKERS}"
topics = ["shop", "web"]
group = "routing-test"

[source.properties]
"auto.offset.reset" = "earliest"
"session.timeout.ms" = "3000"

[[stages]]
name = "tag"
kind = "transform"
plugin = "set_field.wasm"
config = { field = "event_type", to = "view", if_has = "page" }

[tables]
location = "${WEIR_LAKEHOUSE}/events"
format = ["delta", "iceberg"]

[[tables.silver]]
name = "orders"
route = { field = "event_type", equals = "order" }
key = ["order_id"]
columns = [
  { name = "order_id", type = "string", nullable = false },
  { name = "customer", type = "string" },
  { name = "amount", type = "int64" },
  { name = "created_at", type = "timestamp", unit = "s" },
]
partition_by = { column = "created_at", transform = "day" }

[[tables.silver]]
name = "payments"
route = { field = "event_type", equals = ["payment", "settlement"] }
key = ["payment_id"]
columns = [
  { name = "payment_id", type = "string", nullable = false },
  { name = "order_id", type = "string" },
  { name = "amount", type = "int64" },
]

[[tables.silver]]
name = "views"
route = { field = "event_type", equals = "view" }
key = ["view_id"]
columns = [
  { name = "view_id", type = "string", nullable = false },
  { name = "page", type = "string" },
]

[commit]
max_interval_ms = 300

[[gold]]
name = "spend_daily"
source = "orders"
plugin = "avg_score.wasm"
config = { group_by = "customer", field = "amount", output = "avg_amount", count_output = "orders" }
event_time = "created_at"
window = { size = "1d" }
allowed_lateness = "1h"
key_column = "customer"
columns = [
  { name = "avg_amount", type = "float64" },
  { name = "orders", type = "int64" },
]
"#;

/// One record to produce, and what should become of it.
struct Event {
    topic: &'static str,
    partition: i32,
    value: String,
    fate: Fate,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Fate {
    /// Silver table `table` gets it under `key` (unless an earlier record has that key).
    Silver { table: &'static str, key: String },
    /// Quarantined at `stage` with a reason containing `reason`.
    Quarantine { stage: &'static str, reason: String },
}

/// Every record, in the order produced. Keys `k<i>` are shared between payments and views;
/// every tenth order is sent again later with another amount (silver keeps the first).
fn events() -> Vec<Event> {
    let silver = |table, key: String| Fate::Silver { table, key };
    let quarantine = |stage, reason: &str| Fate::Quarantine {
        stage,
        reason: reason.to_string(),
    };
    let mut out = Vec::new();
    for i in 0..ORDERS {
        let p = (i % PARTITIONS as usize) as i32;
        let created = BASE_S + i as i64 * 600;
        let order = |amount: i64| {
            format!(
                r#"{{"event_type":"order","order_id":"o{i}","customer":"c{}","amount":{amount},"created_at":{created}}}"#,
                i % 7
            )
        };
        out.push(Event {
            topic: "shop",
            partition: p,
            value: order(100 + (i % 50) as i64),
            fate: silver("silver_orders", format!("o{i}")),
        });
        if i % 10 == 9 {
            // The same order again, later, in its own partition: a duplicate, dropped.
            let again = order(9_999);
            out.push(Event {
                topic: "shop",
                partition: p,
                value: again,
                fate: silver("silver_orders", format!("o{i}")),
            });
        }
        if i % 2 == 0 {
            let kind = if i % 4 == 0 { "payment" } else { "settlement" };
            out.push(Event {
                topic: "shop",
                partition: (p + 1) % PARTITIONS,
                value: format!(r#"{{"event_type":"{kind}","payment_id":"k{i}","order_id":"o{i}","amount":{i}}}"#),
                fate: silver("silver_payments", format!("k{i}")),
            });
        }
        out.push(Event {
            topic: "web",
            partition: p,
            value: format!(r#"{{"page":"/p{}","view_id":"k{i}"}}"#, i % 13),
            fate: silver("silver_views", format!("k{i}")),
        });
        match i % 25 {
            3 => out.push(Event {
                topic: "shop",
                partition: p,
                value: format!(r#"{{"event_type":"refund","refund_id":"r{i}"}}"#),
                fate: quarantine("route", "no silver table takes `event_type` = \"refund\""),
            }),
            7 => out.push(Event {
                topic: "web",
                partition: p,
                value: format!(r#"{{"event_type":"click","page":"/p{i}"}}"#),
                fate: quarantine("route", "no silver table takes `event_type` = \"click\""),
            }),
            11 => out.push(Event {
                topic: "shop",
                partition: p,
                value: format!(r#"{{"event_type":"order","order_id":"bad{i}","amount":"lots"}}"#),
                fate: quarantine("silver", "amount"),
            }),
            17 => out.push(Event {
                topic: "shop",
                partition: p,
                value: format!("not json {i}"),
                fate: quarantine("tag", "JSON"),
            }),
            21 => out.push(Event {
                topic: "web",
                partition: p,
                value: format!(r#"{{"view_id":"lost{i}"}}"#),
                fate: quarantine("route", "no silver table takes a record without `event_type`"),
            }),
            _ => {}
        }
    }
    out
}

fn produce(brokers: &str, events: &[Event]) {
    let producer: BaseProducer = ClientConfig::new().set("bootstrap.servers", brokers).create().unwrap();
    for event in events {
        let record = BaseRecord::<(), String>::to(event.topic)
            .partition(event.partition)
            .payload(&event.value);
        producer.send(record).map_err(|(e, _)| e).unwrap();
        producer.poll(Duration::ZERO);
    }
    producer.flush(Duration::from_secs(60)).unwrap();
}

fn write_pipeline(dir: &Path) {
    let folder = dir.join("events");
    std::fs::create_dir_all(&folder).unwrap();
    std::fs::write(folder.join("pipeline.toml"), PIPELINE).unwrap();
    for (plugin, name) in [
        ("weir_set_field", "set_field.wasm"),
        ("weir_avg_score", "avg_score.wasm"),
    ] {
        std::fs::copy(common::plugin_path(plugin), folder.join(name)).unwrap();
    }
}

fn load(pipelines: &Path, brokers: &str, lakehouse: &Path) -> Pipeline {
    let vars = [
        ("KAFKA_BROKERS".to_string(), brokers.to_string()),
        ("WEIR_LAKEHOUSE".to_string(), lakehouse.display().to_string()),
    ]
    .into();
    config::load(&pipelines.join("events/pipeline.toml"), &config::from_map(&vars)).unwrap()
}

fn spawn(pipelines: &Path, brokers: &str, lakehouse: &Path, log: &Path) -> Child {
    WeirRun::new(pipelines, brokers)
        .lake(lakehouse, &lakehouse.join("cache"))
        .log_to(log)
        .spawn()
}

fn tail(log: &Path) -> String {
    let text = std::fs::read_to_string(log).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(30)..].join("\n")
}

/// Bronze rows of topic `planted` (which the pipeline does not read), taken in a day before
/// the run: the bronze table then holds two ingest days, for the pruning checks.
async fn plant_an_earlier_day(pipeline: &Pipeline) -> usize {
    const ROWS: usize = 7;
    let yesterday_us = (weir::clock::now_ms() - 86_400_000) * 1_000;
    let mut tables = Tables::open(pipeline).await.unwrap();
    for sink in &mut tables.bronze.sinks {
        let schema = sink.schema().arrow.clone();
        let columns: Vec<ArrayRef> = (schema.fields().iter())
            .map(|f| planted_column(f.name(), f.data_type(), ROWS, yesterday_us))
            .collect();
        let batch = RecordBatch::try_new(schema, columns).unwrap();
        let data = CommitData {
            batches: vec![batch],
            offsets: Vec::new(),
            metadata: Default::default(),
        };
        sink.commit(data).await.unwrap();
    }
    ROWS
}

fn planted_column(name: &str, ty: &DataType, n: usize, at_us: i64) -> ArrayRef {
    use arrow::array::{BinaryArray, Int32Array, Int64Array, StringArray, TimestampMicrosecondArray};
    match (name, ty) {
        ("_kafka_topic", _) => Arc::new(StringArray::from(vec!["planted"; n])),
        ("_kafka_partition", _) => Arc::new(Int32Array::from(vec![0; n])),
        ("_kafka_offset", _) => Arc::new(Int64Array::from((0..n as i64).collect::<Vec<_>>())),
        (_, DataType::Timestamp(_, _)) => {
            Arc::new(TimestampMicrosecondArray::from(vec![at_us; n]).with_timezone("UTC"))
        }
        (_, DataType::Binary) => Arc::new(BinaryArray::from(vec![Some(&b"{}"[..]); n])),
        (_, DataType::Int64) => Arc::new(Int64Array::from(vec![None; n])),
        (_, DataType::Date32) => Arc::new(arrow::array::Date32Array::from(vec![
            (at_us / 86_400_000_000) as i32;
            n
        ])),
        _ => Arc::new(StringArray::from(vec![None::<&str>; n])),
    }
}

/// True when every table holds all of both topics.
async fn reached(pipeline: &Pipeline, totals: &BTreeMap<&str, i64>) -> bool {
    let Ok(mut tables) = Tables::open(pipeline).await else {
        return false;
    };
    for (_, table) in tables.in_commit_order() {
        for (topic, total) in totals {
            let mut held = 0;
            for partition in 0..PARTITIONS {
                held += table.next_offset(topic, partition).await.unwrap().unwrap_or(0);
            }
            if held < *total {
                return false;
            }
        }
    }
    true
}

/// (topic, partition, offset) of each row, with the string `column`'s value.
fn rows_with(batches: &[RecordBatch], column: &str) -> Vec<((String, i32, i64), String)> {
    let mut out = Vec::new();
    for b in batches {
        let t = b.column_by_name("_kafka_topic").unwrap().as_string::<i32>();
        let p = b
            .column_by_name("_kafka_partition")
            .unwrap()
            .as_primitive::<Int32Type>();
        let o = b.column_by_name("_kafka_offset").unwrap().as_primitive::<Int64Type>();
        let c = b.column_by_name(column).unwrap().as_string::<i32>();
        for row in 0..b.num_rows() {
            let value = if c.is_valid(row) {
                c.value(row).to_string()
            } else {
                String::new()
            };
            out.push(((t.value(row).to_string(), p.value(row), o.value(row)), value));
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_topics_into_three_routed_tables_are_exact_after_five_sigkills() {
    let tansu = Tansu::start();
    tansu.create_topic("shop", PARTITIONS as u32);
    tansu.create_topic("web", PARTITIONS as u32);
    let brokers = tansu.brokers();
    let work = tempfile::tempdir().unwrap();
    let pipelines = work.path().join("pipelines");
    let lakehouse = work.path().join("lakehouse");
    let tables_dir = lakehouse.join("events");
    write_pipeline(&pipelines);
    let pipeline = load(&pipelines, &brokers, &lakehouse);
    let planted = plant_an_earlier_day(&pipeline).await;

    let events = events();
    let chunk = events.len().div_ceil(CHUNKS);
    let mut chunks = events.chunks(chunk);
    let mut rng = Lcg(std::time::UNIX_EPOCH.elapsed().unwrap().as_nanos() as u64);
    for kill in 0..KILLS {
        produce(&brokers, chunks.next().unwrap());
        let log = work.path().join(format!("run-{kill}.log"));
        let before = delta_versions(&tables_dir, "silver_views");
        let mut host = spawn(&pipelines, &brokers, &lakehouse, &log);
        let committed = tokio::task::block_in_place(|| {
            wait_for_delta_commit(&tables_dir, "silver_views", before, Duration::from_secs(300))
        });
        if !committed {
            host.kill().unwrap();
            panic!("run {kill}: no commit within 300 s; its log:\n{}", tail(&log));
        }
        let delay = if kill % 2 == 0 { 0 } else { rng.below(1_000) };
        tokio::time::sleep(Duration::from_millis(delay)).await;
        host.kill().unwrap(); // SIGKILL
        host.wait().unwrap();
        println!("kill {kill}: {delay} ms after a commit of silver_views");
    }
    for rest in chunks {
        produce(&brokers, rest);
    }
    let mut totals: BTreeMap<&str, i64> = BTreeMap::new();
    for event in &events {
        *totals.entry(event.topic).or_default() += 1;
    }
    let log = work.path().join("final.log");
    let mut host = spawn(&pipelines, &brokers, &lakehouse, &log);
    let started = Instant::now();
    while !reached(&pipeline, &totals).await {
        if started.elapsed() > Duration::from_secs(600) {
            host.kill().unwrap();
            panic!(
                "the tables did not reach the end of both topics within 600 s; log:\n{}",
                tail(&log)
            );
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    sigterm(&mut host);

    let tables = Tables::open(&pipeline).await.unwrap();
    let silver_names: Vec<&str> = tables.silver.iter().map(|m| m.sinks[0].name()).collect();
    assert_eq!(silver_names, ["silver_orders", "silver_payments", "silver_views"]);
    for format in [TableFormat::Delta, TableFormat::Iceberg] {
        check_bronze(&tables, format, &totals, planted).await;
        check_silver(&tables, format, &events).await;
        check_quarantine(&tables, format, &events).await;
        let spec = DailyAverage {
            silver: 0,
            gold: 0,
            group: "customer",
            value: "amount",
            time: "created_at",
            avg: "avg_amount",
            count: "orders",
        };
        let gold = assert_daily_average(&tables, format, &spec).await;
        println!("{format:?}: gold_spend_daily holds {gold} rows, equal to the reference from silver_orders");
    }
    let bronze = tables.bronze.read(TableFormat::Delta).await.unwrap();
    check_readers(&tables_dir, &events, ingest_days(&bronze), planted);
}

/// Bronze rows per UTC day of `_ingested_at`.
fn ingest_days(bronze: &[RecordBatch]) -> BTreeMap<String, usize> {
    use arrow::datatypes::TimestampMicrosecondType;
    let mut days = BTreeMap::new();
    for b in bronze {
        let at = b
            .column_by_name("_ingested_at")
            .unwrap()
            .as_primitive::<TimestampMicrosecondType>();
        for us in at.values().iter() {
            let day = chrono::DateTime::from_timestamp_micros(*us).unwrap().date_naive();
            *days.entry(day.to_string()).or_default() += 1;
        }
    }
    days
}

async fn check_bronze(tables: &Tables, format: TableFormat, totals: &BTreeMap<&str, i64>, planted: usize) {
    let rows = rows_with(&tables.bronze.read(format).await.unwrap(), "_kafka_topic");
    let origins: BTreeSet<_> = rows.iter().map(|(origin, _)| origin.clone()).collect();
    assert_eq!(origins.len(), rows.len(), "{format:?} bronze: each record once");
    for (topic, total) in totals {
        let n = rows.iter().filter(|((t, _, _), _)| t == topic).count();
        assert_eq!(n as i64, *total, "{format:?} bronze: every record of {topic}");
    }
    assert_eq!(rows.len(), totals.values().sum::<i64>() as usize + planted);
}

/// Each silver table: exactly the keys routed to it, each once, the first version of each.
async fn check_silver(tables: &Tables, format: TableFormat, events: &[Event]) {
    for (t, (table, key)) in [
        ("silver_orders", "order_id"),
        ("silver_payments", "payment_id"),
        ("silver_views", "view_id"),
    ]
    .into_iter()
    .enumerate()
    {
        let batches = tables.silver[t].read(format).await.unwrap();
        let rows = rows_with(&batches, key);
        let keys: BTreeSet<&str> = rows.iter().map(|(_, k)| k.as_str()).collect();
        let origins: BTreeSet<_> = rows.iter().map(|(o, _)| o).collect();
        assert_eq!(keys.len(), rows.len(), "{format:?} {table}: each key once");
        assert_eq!(origins.len(), rows.len(), "{format:?} {table}: each origin once");
        let expected: BTreeSet<&str> = (events.iter())
            .filter_map(|e| match &e.fate {
                Fate::Silver { table: t, key } if *t == table => Some(key.as_str()),
                _ => None,
            })
            .collect();
        assert_eq!(keys, expected, "{format:?} {table}: exactly its own kind");
        if table == "silver_orders" {
            let amounts = batches.iter().flat_map(|b| {
                let a = b.column_by_name("amount").unwrap().as_primitive::<Int64Type>();
                a.values().to_vec()
            });
            assert!(
                amounts.into_iter().all(|a| a < 9_999),
                "{format:?}: a repeated order kept its first version"
            );
        }
        println!("{format:?} {table}: {} rows, exactly its own", rows.len());
    }
}

/// Quarantine: exactly the records no route takes and the invalid ones, each with its stage and
/// reason.
async fn check_quarantine(tables: &Tables, format: TableFormat, events: &[Event]) {
    let batches = tables.quarantine.read(format).await.unwrap();
    let mut got: BTreeMap<String, (String, String)> = BTreeMap::new();
    for b in &batches {
        let value = b.column_by_name("value").unwrap();
        let stage = b.column_by_name("stage").unwrap().as_string::<i32>();
        let reason = b.column_by_name("reason").unwrap().as_string::<i32>();
        for row in 0..b.num_rows() {
            let text = match value.data_type() {
                DataType::Binary => String::from_utf8_lossy(value.as_binary::<i32>().value(row)).into_owned(),
                _ => value.as_string::<i32>().value(row).to_string(),
            };
            let said = (stage.value(row).to_string(), reason.value(row).to_string());
            assert!(
                got.insert(text.clone(), said).is_none(),
                "{format:?}: {text} quarantined twice"
            );
        }
    }
    let expected: BTreeMap<&str, (&str, &str)> = (events.iter())
        .filter_map(|e| match &e.fate {
            Fate::Quarantine { stage, reason } => Some((e.value.as_str(), (*stage, reason.as_str()))),
            Fate::Silver { .. } => None,
        })
        .collect();
    let values: BTreeSet<&str> = got.keys().map(String::as_str).collect();
    assert_eq!(
        values,
        expected.keys().copied().collect(),
        "{format:?}: quarantine holds exactly these"
    );
    for (value, (stage, reason)) in &expected {
        let (got_stage, got_reason) = &got[*value];
        assert_eq!(got_stage, stage, "{format:?}: {value}");
        assert!(
            got_reason.contains(reason),
            "{format:?}: {value}: `{got_reason}` lacks `{reason}`"
        );
    }
    println!(
        "{format:?} quarantine: the {} unroutable and invalid records, with reasons",
        got.len()
    );
}

/// The readers: every routed table's keys through deltalake, pyiceberg and DuckDB, and bronze's
/// one-day query reading that day's files only.
fn check_readers(tables_dir: &Path, events: &[Event], days: BTreeMap<String, usize>, planted: usize) {
    // The run's own day (most rows; the planted ones are a day earlier).
    let (day, day_rows) = days.iter().max_by_key(|(_, n)| **n).unwrap();
    assert!(days.len() >= 2, "bronze holds the planted day and the run's: {days:?}");
    let mut silver = serde_json::Map::new();
    for (table, key) in [
        ("silver_orders", "order_id"),
        ("silver_payments", "payment_id"),
        ("silver_views", "view_id"),
    ] {
        let keys: BTreeSet<&str> = (events.iter())
            .filter_map(|e| match &e.fate {
                Fate::Silver { table: t, key } if *t == table => Some(key.as_str()),
                _ => None,
            })
            .collect();
        silver.insert(table.into(), serde_json::json!({ "key": key, "keys": keys }));
    }
    let spec = serde_json::json!({
        "root": tables_dir,
        "catalog_uri": format!("sqlite:///{}", tables_dir.join("iceberg/catalog.db").display()),
        "namespace": "events",
        "silver": silver,
        "bronze": {
            "rows": days.values().sum::<usize>(),
            "planted": planted,
            "day": day,
            "day_rows": day_rows,
        },
    });
    let spec_file = tables_dir.join("readers-spec.json");
    std::fs::write(&spec_file, spec.to_string()).unwrap();
    let script = common::repo_root().join("tests/readers/check_routed.py");
    let out = Command::new(common::readers_python())
        .arg(script)
        .arg(&spec_file)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    println!("{stdout}");
    assert!(
        out.status.success(),
        "the readers disagree:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("all readers agree"), "{stdout}");
}
