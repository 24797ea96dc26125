//! Crash test against a real Kafka-protocol broker (tansu, a separate process): while posts are
//! being produced, `weir run` is killed with SIGKILL at random moments, five times, and restarted.
//! At the end every table, in Delta and in Iceberg, holds exactly what an uninterrupted run
//! writes.
#![allow(clippy::unwrap_used)] // a test crate: panicking is how it fails

mod common;

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::pipeline::{copy_posts_pipeline, origins, rows, sigterm, silver_ids, unique};
use common::services::Tansu;
use weir::cli::demo;
use weir::config::{self, TableFormat};
use weir::decode::SilverDecoder;
use weir::pipeline::Tables;

const RECORDS: usize = 12_000;

/// pipelines/posts with commits every 300 ms and a short session timeout.
fn test_pipelines(dir: &Path) {
    let reset = "\"auto.offset.reset\" = \"earliest\"";
    let with_timeout = "\"auto.offset.reset\" = \"earliest\"\n\"session.timeout.ms\" = \"3000\"";
    copy_posts_pipeline(
        dir,
        &[
            ("max_interval_ms = 5000", "max_interval_ms = 300"),
            (reset, with_timeout),
        ],
    );
}

fn weir_run(pipelines: &Path, brokers: &str, lakehouse: &Path) -> Child {
    Command::new(env!("CARGO_BIN_EXE_weir"))
        .args(["run", "--listen", "127.0.0.1:0"])
        .arg(pipelines)
        .env("KAFKA_BROKERS", brokers)
        .env("WEIR_LAKEHOUSE", lakehouse)
        .env("POSTS_GROUP", "crash-test")
        .env("WEIR_CACHE_DIR", lakehouse.join("cache"))
        .env("WEIR_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap()
}

/// A tiny deterministic generator (no extra crate): the seed is printed for replays.
struct Lcg(u64);

impl Lcg {
    fn next_ms(&mut self, low: u64, high: u64) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        low + (self.0 >> 33) % (high - low)
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn five_sigkills_while_producing_lose_and_duplicate_nothing() {
    let tansu = Tansu::start();
    tansu.create_topic("posts", 4);
    let brokers = tansu.brokers();
    let work = tempfile::tempdir().unwrap();
    let pipelines = work.path().join("pipelines");
    let lakehouse = work.path().join("lakehouse");
    test_pipelines(&pipelines);

    // Produce in the background, in steps, while the host is killed and restarted.
    let producer_brokers = brokers.clone();
    let producer = std::thread::spawn(move || {
        for chunk in 0..12 {
            demo::produce_to(&producer_brokers, "posts", chunk * 1_000..(chunk + 1) * 1_000).unwrap();
            std::thread::sleep(Duration::from_millis(2_000));
        }
    });

    let seed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64;
    println!("crash schedule seed: {seed}");
    let mut rng = Lcg(seed);
    let pipeline = {
        let vars = [
            ("KAFKA_BROKERS".to_string(), brokers.clone()),
            ("WEIR_LAKEHOUSE".to_string(), lakehouse.display().to_string()),
        ]
        .into();
        config::load(&pipelines.join("posts/pipeline.toml"), &config::from_map(&vars)).unwrap()
    };
    let decoder = SilverDecoder::new(&pipeline.tables.silver.columns);
    let mut committed = Vec::new();
    for kill in 0..5 {
        let mut host = weir_run(&pipelines, &brokers, &lakehouse);
        let wait = rng.next_ms(3_000, 8_000);
        tokio::time::sleep(Duration::from_millis(wait)).await;
        host.kill().unwrap(); // SIGKILL
        host.wait().unwrap();
        let bronze = match Tables::open(&pipeline, &decoder).await {
            Ok(tables) => rows(&tables.bronze.read_all().await.unwrap()),
            Err(_) => 0,
        };
        println!("kill {kill} after {wait} ms: bronze holds {bronze} rows");
        committed.push(bronze);
    }
    producer.join().unwrap();
    // The killed hosts did commit work (the crashes hit a running pipeline, not an idle one).
    let progressed = committed.windows(2).filter(|w| w[1] > w[0]).count() + usize::from(committed[0] > 0);
    assert!(progressed >= 2, "too few killed runs committed anything: {committed:?}");

    // A last run finishes the work; stop it once bronze and silver hold everything.
    let mut host = weir_run(&pipelines, &brokers, &lakehouse);
    let started = Instant::now();
    loop {
        let tables = Tables::open(&pipeline, &decoder).await.unwrap();
        let bronze = rows(&tables.bronze.read_all().await.unwrap());
        let silver = rows(&tables.silver.read_all().await.unwrap());
        if bronze >= RECORDS && silver >= demo::dataset(RECORDS).silver_rows() {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(120),
            "bronze {bronze}, silver {silver} after 120 s"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    // Let it run a little longer: duplicates would show up now.
    tokio::time::sleep(Duration::from_secs(2)).await;
    sigterm(&mut host);

    let expected = demo::dataset(RECORDS);
    let tables = Tables::open(&pipeline, &decoder).await.unwrap();
    assert_eq!(pipeline.tables.format, [TableFormat::Delta, TableFormat::Iceberg]);
    for format in [TableFormat::Delta, TableFormat::Iceberg] {
        let bronze = origins(&tables.bronze.read(format).await.unwrap());
        let quarantine = origins(&tables.quarantine.read(format).await.unwrap());
        let silver = tables.silver.read(format).await.unwrap();
        assert_eq!(bronze.len(), RECORDS, "{format:?} bronze: every record");
        assert_eq!(
            unique(&bronze),
            RECORDS,
            "{format:?} bronze: each (partition, offset) once"
        );
        assert_eq!(
            quarantine.len(),
            expected.invalid,
            "{format:?} quarantine: each invalid record"
        );
        assert_eq!(
            unique(&quarantine),
            expected.invalid,
            "{format:?} quarantine: once each"
        );
        let ids = silver_ids(&silver);
        assert_eq!(
            ids.len(),
            expected.silver_rows(),
            "{format:?} silver: the valid records"
        );
        assert_eq!(unique(&ids), ids.len(), "{format:?} silver: one row per id");
        assert_eq!(
            unique(&origins(&silver)),
            ids.len(),
            "{format:?} silver: each (partition, offset) once"
        );
    }
}
