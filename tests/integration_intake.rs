//! The produce API (`weir run --intake`, Confluent REST Proxy v2) against a real broker
//! (tansu), with a real HTTP client (reqwest): 10,000 records in 100 requests in the three
//! content types land in bronze at exactly the partition and offset each response gave; every
//! refusal (401, 403, 404 topic and partition, 413 body and batch, 415, 422, 429 while the broker
//! is frozen) answers with its status and v2 error code, and none of them produced anything.
#![allow(clippy::unwrap_used)] // a test crate: panicking is how it fails

mod common;

use std::collections::HashMap;
use std::path::Path;
use std::time::{Duration, Instant};

use arrow::array::{Array, AsArray};
use arrow::datatypes::{Int32Type, Int64Type};
use base64::Engine;
use common::pipeline::{copy_posts_pipeline, sigterm, strip_gold};
use common::services::{Tansu, free_port};
use common::weir_run::WeirRun;
use serde_json::Value;
use weir::config;
use weir::pipeline::Tables;

const TOKEN: &str = "intake-test-token";
const JSON_V2: &str = "application/vnd.kafka.json.v2+json";
const BINARY_V2: &str = "application/vnd.kafka.binary.v2+json";

/// One record as sent: its key and value bytes as Kafka must hold them, the partition asked.
#[derive(Clone)]
struct Sent {
    key: Vec<u8>,
    value: Vec<u8>,
    partition: Option<i32>,
}

fn post_value(i: usize) -> String {
    format!(
        r#"{{"id":"h{i}","subreddit":"s{}","author":"a{}","title":"post {i}","score":{},"created_utc":{}}}"#,
        i % 7,
        i % 13,
        i % 1000,
        1_700_000_000 + i
    )
}

/// The body of one request in `content_type` and the records it carries.
fn request(content_type: &str, ids: std::ops::Range<usize>) -> (String, Vec<Sent>) {
    let b64 = |b: &[u8]| base64::engine::general_purpose::STANDARD.encode(b);
    let mut items = Vec::new();
    let mut sent = Vec::new();
    for i in ids {
        let value = post_value(i);
        let partition = (i % 10 == 0).then_some((i % 4) as i32);
        let at = partition.map(|p| format!(r#","partition":{p}"#)).unwrap_or_default();
        let (item, key) = if content_type == BINARY_V2 {
            let key = format!("h{i}");
            (
                format!(
                    r#"{{"key":"{}","value":"{}"{at}}}"#,
                    b64(key.as_bytes()),
                    b64(value.as_bytes())
                ),
                key,
            )
        } else {
            let key = format!(r#""h{i}""#);
            (format!(r#"{{"key":{key},"value":{value}{at}}}"#), key)
        };
        items.push(item);
        sent.push(Sent {
            key: key.into_bytes(),
            value: value.into_bytes(),
            partition,
        });
    }
    (format!(r#"{{"records":[{}]}}"#, items.join(",")), sent)
}

struct Api {
    client: reqwest::Client,
    base: String,
}

impl Api {
    async fn post(&self, topic: &str, content_type: &str, token: Option<&str>, body: String) -> (u16, Value) {
        let mut request = self
            .client
            .post(format!("{}/topics/{topic}", self.base))
            .header("Content-Type", content_type)
            .header("Accept", "application/vnd.kafka.v2+json")
            .body(body);
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        let response = request.send().await.unwrap();
        let status = response.status().as_u16();
        let text = response.text().await.unwrap();
        (
            status,
            serde_json::from_str(&text).unwrap_or_else(|_| panic!("{status}: {text}")),
        )
    }

    async fn metric(&self, name: &str) -> f64 {
        let text = self.client.get(format!("{}/metrics", self.base)).send().await.unwrap();
        let text = text.text().await.unwrap();
        text.lines()
            .filter(|l| l.starts_with(name))
            .filter_map(|l| l.rsplit_once(' ').and_then(|(_, v)| v.parse::<f64>().ok()))
            .sum()
    }
}

/// Each record's (partition, offset) from a 200 answer; every record must have one.
fn offsets(answer: &Value, sent: &[Sent]) -> Vec<(i32, i64)> {
    let offsets = answer["offsets"].as_array().unwrap();
    assert_eq!(offsets.len(), sent.len(), "{answer}");
    offsets
        .iter()
        .zip(sent)
        .map(|(o, s)| {
            assert!(o["error_code"].is_null(), "{o}");
            let at = (o["partition"].as_i64().unwrap() as i32, o["offset"].as_i64().unwrap());
            if let Some(p) = s.partition {
                assert_eq!(at.0, p, "the partition asked for");
            }
            at
        })
        .collect()
}

fn write_intake(dir: &Path, brokers: &str) -> std::path::PathBuf {
    let path = dir.join("intake.toml");
    let text = format!(
        "brokers = \"{brokers}\"\ntopics = [\"posts\", \"missing\"]\ntoken = \"${{INTAKE_TOKEN}}\"\n\
         max_body_kib = 256\nmax_records = 500\nmax_in_flight_records = 600\n"
    );
    std::fs::write(&path, text).unwrap();
    path
}

async fn wait_until<F: std::future::Future<Output = bool>>(what: &str, limit: Duration, mut done: impl FnMut() -> F) {
    let started = Instant::now();
    while !done().await {
        assert!(started.elapsed() < limit, "{what}: not within {limit:?}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Every refusal, each with its status and code; returns the records posted in the 429 case
/// (accepted once the broker runs again).
async fn refusals(api: &Api, tansu: &Tansu) -> Vec<((i32, i64), Sent)> {
    let t = Some(TOKEN);
    let one = || {
        request(JSON_V2, 900_001..900_002)
            .0
            .replace("\"value\"", "\"partition\":0,\"value\"")
    };
    // (topic, content type, token, body, status, error code)
    type Case<'a> = (&'a str, &'a str, Option<&'a str>, String, u16, u64);
    let cases: Vec<Case> = vec![
        ("posts", JSON_V2, None, one(), 401, 40101),
        ("posts", JSON_V2, Some("wrong"), one(), 401, 40101),
        ("other", JSON_V2, t, one(), 403, 40301),
        ("missing", JSON_V2, t, one(), 404, 40401),
        (
            "posts",
            JSON_V2,
            t,
            r#"{"records":[{"value":1,"partition":9}]}"#.into(),
            404,
            40402,
        ),
        ("posts", "text/plain", t, one(), 415, 415),
        ("posts", "application/vnd.kafka.avro.v2+json", t, one(), 415, 415),
        (
            "posts",
            JSON_V2,
            t,
            format!(
                r#"{{"records":[{{"partition":0,"value":"{}"}}]}}"#,
                "x".repeat(300 * 1024)
            ),
            413,
            413,
        ),
        ("posts", JSON_V2, t, request(JSON_V2, 910_000..910_501).0, 413, 413),
        (
            "posts",
            JSON_V2,
            t,
            r#"{"records":[{"value":1,"partition":0}"#.into(),
            422,
            422,
        ),
        (
            "posts",
            JSON_V2,
            t,
            r#"{"records":[{"value":1,"partition":0,"topic":"x"}]}"#.into(),
            422,
            422,
        ),
        (
            "posts",
            BINARY_V2,
            t,
            r#"{"records":[{"value":"not base64!","partition":0}]}"#.into(),
            422,
            422,
        ),
    ];
    for (topic, content_type, token, body, status, code) in cases {
        let (got, answer) = api.post(topic, content_type, token, body).await;
        assert_eq!(
            (got, answer["error_code"].as_u64()),
            (status, Some(code)),
            "{topic} {content_type}: {answer}"
        );
        assert!(answer["message"].as_str().is_some_and(|m| !m.is_empty()), "{answer}");
    }

    // 429: with the broker frozen, 400 records wait for their acknowledgement; 300 more do not
    // fit the 600 in flight and are refused whole.
    tansu.pause();
    let (body, held) = request(JSON_V2, 920_000..920_400);
    let waiting = {
        let (client, base) = (api.client.clone(), api.base.clone());
        tokio::spawn(async move { Api { client, base }.post("posts", JSON_V2, Some(TOKEN), body).await })
    };
    wait_until("400 records in flight", Duration::from_secs(60), || async {
        api.metric("weir_intake_in_flight_records").await >= 400.0
    })
    .await;
    let (status, answer) = api
        .post("posts", JSON_V2, t, request(JSON_V2, 930_000..930_300).0)
        .await;
    assert_eq!((status, answer["error_code"].as_u64()), (429, Some(429)), "{answer}");
    tansu.resume();
    let (status, answer) = waiting.await.unwrap();
    assert_eq!(status, 200, "{answer}");
    offsets(&answer, &held).into_iter().zip(held).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn produced_records_land_in_bronze_at_their_offsets_and_refusals_produce_nothing() {
    let tansu = Tansu::start();
    tansu.create_topic("posts", 4);
    tansu.create_topic("other", 1);
    let work = tempfile::tempdir().unwrap();
    let pipelines = copy_posts_pipeline(
        &work.path().join("pipelines"),
        &[
            ("max_interval_ms = 5000", "max_interval_ms = 300"),
            ("format = [\"delta\", \"iceberg\"]", "format = [\"delta\"]"),
        ],
    );
    strip_gold(&pipelines);
    let intake = write_intake(work.path(), &tansu.brokers());
    let port = free_port();
    let lakehouse = work.path().join("lakehouse");
    let mut host = WeirRun::new(&pipelines, &tansu.brokers())
        .listen(&format!("127.0.0.1:{port}"))
        .run_args(&["--intake", intake.to_str().unwrap()])
        .lake(&lakehouse, &work.path().join("cache"))
        .env("POSTS_GROUP", "intake")
        .env("INTAKE_TOKEN", TOKEN)
        .log("warn")
        .log_to(&work.path().join("weir.log"))
        .spawn();
    let api = Api {
        client: reqwest::Client::new(),
        base: format!("http://127.0.0.1:{port}"),
    };
    wait_until("/healthz answers", Duration::from_secs(120), || async {
        api.client.get(format!("{}/healthz", api.base)).send().await.is_ok()
    })
    .await;

    // 10,000 records in 100 requests: half JSON v2, a quarter binary v2, a quarter plain JSON.
    let mut landed: Vec<((i32, i64), Sent)> = Vec::new();
    for r in 0..100 {
        let content_type = match r % 4 {
            0 | 1 => JSON_V2,
            2 => BINARY_V2,
            _ => "application/json",
        };
        let (body, sent) = request(content_type, r * 100..(r + 1) * 100);
        let (status, answer) = api.post("posts", content_type, Some(TOKEN), body).await;
        assert_eq!(status, 200, "request {r}: {answer}");
        landed.extend(offsets(&answer, &sent).into_iter().zip(sent));
    }
    landed.extend(refusals(&api, &tansu).await);
    // Last, one record on partition 0, where every refused request asked to go: once bronze
    // holds it, it holds anything a refused request might have produced before it.
    let (body, sentinel) = request(JSON_V2, 999_999..1_000_000);
    let body = body.replace("\"value\"", "\"partition\":0,\"value\"");
    let (status, answer) = api.post("posts", JSON_V2, Some(TOKEN), body).await;
    assert_eq!(status, 200, "{answer}");
    let sentinel_at = offsets(&answer, &sentinel)[0];
    landed.push((sentinel_at, sentinel[0].clone()));
    assert_eq!(sentinel_at.0, 0);
    assert_eq!(
        api.metric("weir_intake_records_total{outcome=\"accepted\",topic=\"posts\"}")
            .await,
        10_401.0
    );
    assert!(
        api.metric("weir_intake_records_total{outcome=\"refused\",topic=\"posts\"}")
            .await
            >= 800.0
    );

    let vars: HashMap<String, String> = [
        ("KAFKA_BROKERS".to_string(), tansu.brokers()),
        ("WEIR_LAKEHOUSE".to_string(), lakehouse.display().to_string()),
    ]
    .into();
    let pipeline = config::load(&pipelines.join("posts/pipeline.toml"), &config::from_map(&vars)).unwrap();
    wait_until("bronze holds the last record", Duration::from_secs(180), || async {
        let Ok(mut tables) = Tables::open(&pipeline).await else {
            return false;
        };
        let mut next = i64::MAX;
        for (_, table) in tables.in_commit_order() {
            next = next.min(table.next_offset("posts", 0).await.unwrap().unwrap_or(0));
        }
        next > sentinel_at.1
    })
    .await;
    sigterm(&mut host);

    let tables = Tables::open(&pipeline).await.unwrap();
    type KeyValue = (Option<Vec<u8>>, Vec<u8>);
    let mut bronze: HashMap<(i32, i64), KeyValue> = HashMap::new();
    for batch in tables.bronze.read_all().await.unwrap() {
        let partitions = batch
            .column_by_name("_kafka_partition")
            .unwrap()
            .as_primitive::<Int32Type>();
        let offsets = batch
            .column_by_name("_kafka_offset")
            .unwrap()
            .as_primitive::<Int64Type>();
        let keys = batch.column_by_name("key").unwrap().as_binary::<i32>();
        let values = batch.column_by_name("value").unwrap().as_binary::<i32>();
        for row in 0..batch.num_rows() {
            let key = keys.is_valid(row).then(|| keys.value(row).to_vec());
            let previous = bronze.insert(
                (partitions.value(row), offsets.value(row)),
                (key, values.value(row).to_vec()),
            );
            assert!(previous.is_none(), "one bronze row per offset");
        }
    }
    assert_eq!(
        bronze.len(),
        landed.len(),
        "bronze holds the accepted records and nothing refused"
    );
    for (at, sent) in &landed {
        let (key, value) = bronze.get(at).unwrap_or_else(|| panic!("no bronze row at {at:?}"));
        assert_eq!(key.as_deref(), Some(sent.key.as_slice()), "key at {at:?}");
        assert_eq!(value, &sent.value, "value at {at:?}");
    }
}
