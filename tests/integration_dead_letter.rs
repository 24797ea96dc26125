//! The dead-letter topic against a real Kafka-protocol broker (tansu): the posts pipeline with
//! `[quarantine] topic` set, killed with SIGKILL five times right after (or shortly after) a
//! commit it was seen to make, then run to the end of the topic. Afterwards every quarantine row
//! of both table formats is on the dead-letter topic at least once (matched by the origin
//! headers), nothing else is, each letter says the same stage and reason as its row, and records
//! that came with headers (repeated names, binary and null values) keep them exactly, key and
//! value too. The repeats the kills caused are counted and printed.
#![allow(clippy::unwrap_used)] // a test crate: panicking is how it fails

mod common;

use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::process::Child;
use std::time::{Duration, Instant};

use arrow::array::{AsArray, RecordBatch};
use arrow::datatypes::{Int32Type, Int64Type};
use common::Lcg;
use common::pipeline::{
    copy_posts_pipeline, delta_versions, sigterm, strip_gold, tables_reached, wait_for_delta_commit,
};
use common::services::Tansu;
use common::weir_run::WeirRun;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::{Header, Headers, Message, OwnedHeaders};
use rdkafka::producer::{BaseProducer, BaseRecord, Producer};
use rdkafka::{Offset, TopicPartitionList};
use weir::cli::demo;
use weir::config::{self, Pipeline, S3Config, TableFormat};
use weir::dead_letter::{Cursors, ORIGIN_OFFSET_HEADER, ORIGIN_PARTITION_HEADER, ORIGIN_TOPIC_HEADER, REASON, STAGE};
use weir::pipeline::Tables;

const RECORDS: usize = 20_000;
const CHUNKS: usize = 10;
const PARTITIONS: i32 = 4;
const DEAD: &str = "posts-dead";
const DEAD_PARTITIONS: i32 = 2;
const KILLS: usize = 5;
/// Records sent with headers at the end, none of them a post: each goes to quarantine.
const WITH_HEADERS: usize = 10;

/// A quarantine row or a letter: (origin partition, origin offset) -> (stage, reason).
type Rejects = BTreeMap<(i32, i64), (String, String)>;

fn chunk(i: usize) -> std::ops::Range<usize> {
    let size = RECORDS / CHUNKS;
    i * size..(i + 1) * size
}

fn weir_run(pipelines: &Path, brokers: &str, lakehouse: &Path, log: &Path) -> Child {
    WeirRun::new(pipelines, brokers)
        .lake(lakehouse, &lakehouse.join("cache"))
        .env("POSTS_GROUP", "dead-letter-test")
        .log_to(log)
        .spawn()
}

fn tail(log: &Path) -> String {
    let text = std::fs::read_to_string(log).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(30)..].join("\n")
}

/// The headers of record `i` of those sent with headers: a name twice, a binary value, a null.
fn sent_headers(i: usize) -> Vec<(String, Option<Vec<u8>>)> {
    vec![
        ("trace".into(), Some(format!("t{i}").into_bytes())),
        ("trace".into(), Some(b"second".to_vec())),
        ("bin".into(), Some(vec![0xff, 0x00, 0xfe])),
        ("nothing".into(), None),
    ]
}

fn produce_with_headers(brokers: &str) {
    let producer: BaseProducer = ClientConfig::new().set("bootstrap.servers", brokers).create().unwrap();
    for i in 0..WITH_HEADERS {
        let headers = sent_headers(i).iter().fold(OwnedHeaders::new(), |h, (key, value)| {
            h.insert(Header {
                key,
                value: value.as_deref(),
            })
        });
        let (key, value) = (format!("key-{i}"), format!("not json {i}"));
        let record = BaseRecord::to("posts").key(&key).payload(&value).headers(headers);
        producer.send(record).map_err(|(e, _)| e).unwrap();
    }
    producer.flush(Duration::from_secs(30)).unwrap();
}

/// What the quarantine table holds in `format`, by origin; panics on a row held twice.
fn quarantine_rows(batches: &[RecordBatch]) -> Rejects {
    let mut out = Rejects::new();
    for b in batches {
        let column = |name: &str| b.column_by_name(name).unwrap();
        let partitions = column("_kafka_partition").as_primitive::<Int32Type>();
        let offsets = column("_kafka_offset").as_primitive::<Int64Type>();
        let (stages, reasons) = (column("stage").as_string::<i32>(), column("reason").as_string::<i32>());
        for row in 0..b.num_rows() {
            let origin = (partitions.value(row), offsets.value(row));
            let reject = (stages.value(row).to_string(), reasons.value(row).to_string());
            assert!(
                out.insert(origin, reject).is_none(),
                "quarantine holds {origin:?} twice"
            );
        }
    }
    out
}

/// One letter read back from the dead-letter topic.
struct Letter {
    origin: (i32, i64),
    stage: String,
    reason: String,
    key: Option<Vec<u8>>,
    value: Option<Vec<u8>>,
    /// Every header, in order.
    headers: Vec<(String, Option<Vec<u8>>)>,
}

fn header<'a>(headers: &'a [(String, Option<Vec<u8>>)], name: &str) -> &'a str {
    let found = headers.iter().find(|(k, _)| k == name).and_then(|(_, v)| v.as_deref());
    std::str::from_utf8(found.unwrap_or_else(|| panic!("no header {name}"))).unwrap()
}

/// Every letter on the dead-letter topic, read from the start of each partition to its end.
fn read_letters(brokers: &str) -> Vec<Letter> {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .set("group.id", "dead-letter-reader")
        .set("enable.partition.eof", "true")
        .set("enable.auto.commit", "false")
        .create()
        .unwrap();
    let mut assignment = TopicPartitionList::new();
    for p in 0..DEAD_PARTITIONS {
        assignment.add_partition_offset(DEAD, p, Offset::Beginning).unwrap();
    }
    consumer.assign(&assignment).unwrap();
    let (mut letters, mut ended, started) = (Vec::new(), 0, Instant::now());
    while ended < DEAD_PARTITIONS {
        assert!(started.elapsed() < Duration::from_secs(120), "reading the dead letters");
        match consumer.poll(Duration::from_millis(500)) {
            Some(Ok(m)) => {
                let headers: Vec<(String, Option<Vec<u8>>)> = (m.headers().into_iter())
                    .flat_map(|h| h.iter())
                    .map(|h| (h.key.to_string(), h.value.map(<[u8]>::to_vec)))
                    .collect();
                assert_eq!(header(&headers, ORIGIN_TOPIC_HEADER), "posts");
                letters.push(Letter {
                    origin: (
                        header(&headers, ORIGIN_PARTITION_HEADER).parse().unwrap(),
                        header(&headers, ORIGIN_OFFSET_HEADER).parse().unwrap(),
                    ),
                    stage: header(&headers, STAGE).to_string(),
                    reason: header(&headers, REASON).to_string(),
                    key: m.key().map(<[u8]>::to_vec),
                    value: m.payload().map(<[u8]>::to_vec),
                    headers,
                });
            }
            Some(Err(rdkafka::error::KafkaError::PartitionEOF(_))) => ended += 1,
            Some(Err(e)) => panic!("reading the dead letters: {e}"),
            None => {}
        }
    }
    letters
}

/// True when the dead-letter cursor of every source partition stands at its end (`ends`).
async fn dead_letters_reached(pipeline: &Pipeline, ends: &HashMap<i32, i64>) -> bool {
    let cursors = Cursors::open(&pipeline.tables.location, DEAD, &S3Config::default()).unwrap();
    for (p, end) in ends {
        if cursors.next("posts", *p).await.unwrap().unwrap_or(0) < *end {
            return false;
        }
    }
    true
}

/// Per source partition, the offset after its last record, as bronze counts them.
async fn partition_ends(tables: &mut Tables) -> HashMap<i32, i64> {
    let mut ends = HashMap::new();
    for p in 0..PARTITIONS {
        let next = tables.bronze.sinks[0].next_offset("posts", p).await.unwrap();
        ends.insert(p, next.unwrap_or(0));
    }
    ends
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_quarantined_record_reaches_the_dead_letter_topic_across_five_sigkills() {
    let tansu = Tansu::start();
    tansu.create_topic("posts", PARTITIONS as u32);
    tansu.create_topic(DEAD, DEAD_PARTITIONS as u32);
    let brokers = tansu.brokers();
    let work = tempfile::tempdir().unwrap();
    let (pipelines, lakehouse) = (work.path().join("pipelines"), work.path().join("lakehouse"));
    let tables_dir = lakehouse.join("posts");
    // Commits every 300 ms; a killed member leaves the group after 3 s.
    let reset = "\"auto.offset.reset\" = \"earliest\"";
    let with_timeout = format!("{reset}\n\"session.timeout.ms\" = \"3000\"");
    copy_posts_pipeline(
        &pipelines,
        &[
            ("max_interval_ms = 5000", "max_interval_ms = 300"),
            (reset, &with_timeout),
        ],
    );
    strip_gold(&pipelines);
    let file = pipelines.join("posts/pipeline.toml");
    let text = std::fs::read_to_string(&file).unwrap();
    std::fs::write(&file, format!("{text}\n[quarantine]\ntopic = \"{DEAD}\"\n")).unwrap();
    let seed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64;
    println!("kill schedule seed: {seed}");
    let mut rng = Lcg(seed);

    // Each run gets a chunk to commit; it is killed once it was seen committing bronze.
    let mut produced = 0;
    for kill in 0..KILLS {
        demo::produce_to(&brokers, "posts", chunk(produced)).unwrap();
        produced += 1;
        let log = work.path().join(format!("run-{kill}.log"));
        let before = delta_versions(&tables_dir, "bronze");
        let mut host = weir_run(&pipelines, &brokers, &lakehouse, &log);
        let committed = tokio::task::block_in_place(|| {
            wait_for_delta_commit(&tables_dir, "bronze", before, Duration::from_secs(300))
        });
        if !committed {
            host.kill().unwrap();
            panic!("run {kill}: no bronze commit within 300 s; its log:\n{}", tail(&log));
        }
        // Half right away (while quarantine and the dead-letter topic commit), half later.
        let delay = if kill % 2 == 0 { 0 } else { rng.below(1_500) };
        tokio::time::sleep(Duration::from_millis(delay)).await;
        host.kill().unwrap(); // SIGKILL
        host.wait().unwrap();
        println!("kill {kill}: {delay} ms after a bronze commit");
    }
    while produced < CHUNKS {
        demo::produce_to(&brokers, "posts", chunk(produced)).unwrap();
        produced += 1;
    }
    tokio::task::block_in_place(|| produce_with_headers(&brokers));
    let total = (RECORDS + WITH_HEADERS) as i64;

    let vars = [
        ("KAFKA_BROKERS".to_string(), brokers.clone()),
        ("WEIR_LAKEHOUSE".to_string(), lakehouse.display().to_string()),
    ]
    .into();
    let pipeline = config::load(&file, &config::from_map(&vars)).unwrap();
    let log = work.path().join("final.log");
    let mut host = weir_run(&pipelines, &brokers, &lakehouse, &log);
    let started = Instant::now();
    loop {
        let mut tables = Tables::open(&pipeline).await.unwrap();
        if tables_reached(&mut tables, "posts", PARTITIONS, total).await
            && dead_letters_reached(&pipeline, &partition_ends(&mut tables).await).await
        {
            break;
        }
        if started.elapsed() > Duration::from_secs(600) {
            host.kill().unwrap();
            panic!(
                "the tables and the dead-letter topic did not reach the end within 600 s; log:\n{}",
                tail(&log)
            );
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    sigterm(&mut host);

    let tables = Tables::open(&pipeline).await.unwrap();
    let quarantine = quarantine_rows(&tables.quarantine.read(TableFormat::Delta).await.unwrap());
    let iceberg = quarantine_rows(&tables.quarantine.read(TableFormat::Iceberg).await.unwrap());
    assert_eq!(quarantine, iceberg, "both formats hold the same quarantine rows");
    assert_eq!(quarantine.len(), demo::dataset(RECORDS).invalid + WITH_HEADERS);

    let letters = tokio::task::block_in_place(|| read_letters(&brokers));
    let mut seen = Rejects::new();
    for letter in &letters {
        let row = quarantine.get(&letter.origin);
        let row = row.unwrap_or_else(|| panic!("letter {:?} has no quarantine row", letter.origin));
        assert_eq!(
            row,
            &(letter.stage.clone(), letter.reason.clone()),
            "letter {:?}",
            letter.origin
        );
        seen.insert(letter.origin, row.clone());
    }
    let missing: Vec<_> = quarantine.keys().filter(|o| !seen.contains_key(o)).take(5).collect();
    assert!(
        missing.is_empty(),
        "quarantine rows not on the dead-letter topic, e.g. {missing:?}"
    );
    println!(
        "dead-letter topic: {} letters for {} quarantine rows ({} repeats after {KILLS} SIGKILLs)",
        letters.len(),
        quarantine.len(),
        letters.len() - seen.len()
    );

    // The records sent with headers come out with the same key, value and headers, in order.
    let mut exact = 0;
    for letter in letters
        .iter()
        .filter(|l| l.key.as_deref().is_some_and(|k| k.starts_with(b"key-")))
    {
        let i: usize = std::str::from_utf8(&letter.key.clone().unwrap()[4..])
            .unwrap()
            .parse()
            .unwrap();
        assert_eq!(letter.value.as_deref(), Some(format!("not json {i}").as_bytes()));
        let original = &letter.headers[..4];
        assert_eq!(
            original,
            sent_headers(i).as_slice(),
            "letter of record {i}: original headers"
        );
        assert!(letter.headers[4..].iter().all(|(k, _)| k.starts_with("weir.")));
        exact += 1;
    }
    assert!(
        exact >= WITH_HEADERS,
        "each record sent with headers is on the topic: {exact}"
    );
}
