//! `weir ingest` against a real broker (tansu), read back through `weir run`'s bronze: a
//! 1,000,000-line CSV with 10 bad lines lands 999,990 records, the 10 lines are named with file
//! and line in the report, the exit status says some failed, and records/s is printed. A JSON
//! lines file on a real S3 server (SeaweedFS) is read the same way.
#![allow(clippy::unwrap_used)] // a test crate: panicking is how it fails

mod common;

use std::collections::HashSet;
use std::io::Write;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use arrow::array::AsArray;
use common::pipeline::{sigterm, tables_reached};
use common::services::{S3_ACCESS_KEY, S3_SECRET_KEY, SeaweedFs, Tansu};
use common::weir_run::WeirRun;
use object_store::ObjectStoreExt;
use weir::config;
use weir::pipeline::Tables;

const LINES: usize = 1_000_000;
const PARTITIONS: i32 = 4;

const PIPELINE: &str = r#"
[source]
brokers = "${KAFKA_BROKERS}"
topic = "rows"
group = "ingest-test"
batch_records = 4096

[source.properties]
"auto.offset.reset" = "earliest"

[tables]
location = "${WEIR_LAKEHOUSE}/rows"
format = ["delta"]

[tables.silver]
key = ["id"]
columns = [
  { name = "id", type = "string", nullable = false },
  { name = "n", type = "int64", coerce = true },
]

[commit]
max_interval_ms = 1000
"#;

/// The CSV, and the (line, reason) of each of its 10 bad lines: 5 with a missing field, 3 not
/// UTF-8, 2 with an empty key.
fn write_csv(path: &Path) -> Vec<(u64, &'static str)> {
    let mut out = std::io::BufWriter::new(std::fs::File::create(path).unwrap());
    writeln!(out, "id,n,text").unwrap();
    let mut bad = Vec::new();
    for i in 0..LINES {
        let line = i as u64 + 2; // the header is line 1
        match i % 100_000 {
            500 if i < 500_000 => {
                writeln!(out, "r{i},{i}").unwrap();
                bad.push((line, "2 fields where the header has 3"));
            }
            700 if i < 300_000 => {
                out.write_all(format!("r{i},{i},caf").as_bytes()).unwrap();
                out.write_all(b"\xe9\n").unwrap();
                bad.push((line, "not UTF-8"));
            }
            900 if i < 200_000 => {
                writeln!(out, ",{i},no key").unwrap();
                bad.push((line, "the key field `id` is empty"));
            }
            _ => writeln!(out, "r{i},{i},\"row {i}, quoted\"").unwrap(),
        }
    }
    out.flush().unwrap();
    bad
}

fn ingest(args: &[&str], env: &[(&str, String)]) -> (bool, String, String) {
    let output = Command::new(env!("CARGO_BIN_EXE_weir"))
        .arg("ingest")
        .args(args)
        .envs(env.iter().map(|(k, v)| (k, v)))
        .output()
        .unwrap();
    let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
    (output.status.success(), text(&output.stdout), text(&output.stderr))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_million_csv_lines_land_in_bronze_and_bad_lines_are_named() {
    let tansu = Tansu::start();
    tansu.create_topic("rows", PARTITIONS as u32);
    let s3 = SeaweedFs::start("drop");
    let work = tempfile::tempdir().unwrap();
    let csv = work.path().join("rows.csv");
    let bad = write_csv(&csv);
    assert_eq!(bad.len(), 10);

    let (ok, stdout, stderr) = ingest(
        &[
            csv.to_str().unwrap(),
            "--topic",
            "rows",
            "--key",
            "id",
            "--brokers",
            &tansu.brokers(),
        ],
        &[],
    );
    assert!(!ok, "bad lines make the exit status non-zero: {stdout}{stderr}");
    assert!(
        stdout.contains(&format!("ingested {} records into topic `rows`", LINES - 10)),
        "{stdout}"
    );
    assert!(stdout.contains("records/s"), "{stdout}");
    assert!(stdout.contains("10 bad lines, 0 not acknowledged"), "{stdout}");
    for (line, reason) in &bad {
        let named = format!("{}:{line}: {reason}", csv.display());
        assert!(stdout.contains(&named), "{named} not in\n{stdout}");
    }
    println!("{}", stdout.lines().next().unwrap());

    // 20 JSON lines on S3, one of them not JSON: 19 more records.
    let store = object_store::aws::AmazonS3Builder::new()
        .with_endpoint(s3.endpoint())
        .with_bucket_name("drop")
        .with_access_key_id(S3_ACCESS_KEY)
        .with_secret_access_key(S3_SECRET_KEY)
        .with_region("us-east-1")
        .with_allow_http(true)
        .build()
        .unwrap();
    let jsonl: String = (0..20)
        .map(|i| {
            if i == 7 {
                "{oops\n".to_string()
            } else {
                format!("{{\"id\": \"j{i}\", \"n\": {i}}}\n")
            }
        })
        .collect();
    store
        .put(
            &object_store::path::Path::from("in/more.jsonl"),
            jsonl.into_bytes().into(),
        )
        .await
        .unwrap();
    let s3_env = [
        ("AWS_ENDPOINT_URL", s3.endpoint()),
        ("AWS_ACCESS_KEY_ID", S3_ACCESS_KEY.to_string()),
        ("AWS_SECRET_ACCESS_KEY", S3_SECRET_KEY.to_string()),
        ("AWS_REGION", "us-east-1".to_string()),
        ("AWS_ALLOW_HTTP", "true".to_string()),
    ];
    let (ok, stdout, stderr) = ingest(
        &[
            "s3://drop/in/more.jsonl",
            "--topic",
            "rows",
            "--key",
            "id",
            "--brokers",
            &tansu.brokers(),
        ],
        &s3_env,
    );
    assert!(!ok, "{stdout}{stderr}");
    assert!(stdout.contains("ingested 19 records"), "{stdout}{stderr}");
    assert!(stdout.contains("s3://drop/in/more.jsonl:8: not JSON"), "{stdout}");

    let pipelines = work.path().join("pipelines");
    std::fs::create_dir_all(pipelines.join("rows")).unwrap();
    std::fs::write(pipelines.join("rows/pipeline.toml"), PIPELINE).unwrap();
    let lakehouse = work.path().join("lakehouse");
    let mut host = WeirRun::new(&pipelines, &tansu.brokers())
        .lake(&lakehouse, &work.path().join("cache"))
        .log("warn")
        .log_to(&work.path().join("weir.log"))
        .spawn();
    let vars = [
        ("KAFKA_BROKERS".to_string(), tansu.brokers()),
        ("WEIR_LAKEHOUSE".to_string(), lakehouse.display().to_string()),
    ]
    .into();
    let pipeline = config::load(&pipelines.join("rows/pipeline.toml"), &config::from_map(&vars)).unwrap();
    let total = (LINES - 10 + 19) as i64;
    let started = Instant::now();
    loop {
        if let Ok(mut tables) = Tables::open(&pipeline).await
            && tables_reached(&mut tables, "rows", PARTITIONS, total).await
        {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(900),
            "bronze did not reach {total} rows"
        );
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    sigterm(&mut host);

    let tables = Tables::open(&pipeline).await.unwrap();
    let mut keys = HashSet::new();
    for batch in tables.bronze.read_all().await.unwrap() {
        let column = batch.column_by_name("key").unwrap().as_binary::<i32>();
        keys.extend(column.iter().map(|k| String::from_utf8(k.unwrap().to_vec()).unwrap()));
    }
    assert_eq!(
        keys.len(),
        total as usize,
        "one bronze row per good line, each key once"
    );
    for (line, _) in &bad {
        assert!(
            !keys.contains(&format!("r{}", line - 2)),
            "bad line {line} was produced"
        );
    }
    assert!(keys.contains("r999999") && keys.contains("j19") && !keys.contains("j7"));
    let silver: usize = tables.silver[0]
        .read_all()
        .await
        .unwrap()
        .iter()
        .map(|b| b.num_rows())
        .sum();
    assert_eq!(silver, total as usize, "CSV text goes into silver's int64 with coerce");
}
