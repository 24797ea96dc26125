//! Avro and Protobuf topics through a Schema Registry, with real parts: tansu (Kafka protocol),
//! the Python `confluent-kafka` package's `AvroSerializer` and `ProtobufSerializer` as the
//! producers (they register their schemas and frame each record as real producers do), and a
//! stand-in registry (`tests/common/registry.rs`: no Confluent-compatible registry server
//! installs here).
//!
//! 5,000 records with schema v1, then 5,000 with v2 (adds an optional note, a decimal and a
//! nested record with a list), and 40 broken records: JSON text, an unknown id, a wrong magic
//! byte, truncated bodies, bodies that do not match, and valid Avro of a third schema whose
//! values silver refuses (a double into an int32 column, a long into a string column, an epoch
//! number into a timestamp column that declares no unit). Weir is paused while v2 is produced, then the registry is
//! stopped: Weir meets v2's id with no registry to ask and waits (10 s) until it is back. Then
//! every table is exact in both formats (each record once in bronze with its schema id, each
//! broken one in quarantine with the reason, each order once in silver, v1 rows null in v2's
//! columns, each schema fetched once), and deltalake, pyiceberg and DuckDB read the decimals,
//! timestamps, structs and lists back as produced (`tests/registry/check_tables.py`).
#![allow(clippy::unwrap_used)] // a test crate: panicking is how it fails

mod common;

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use arrow::array::{Array, AsArray, RecordBatch};
use arrow::datatypes::Int64Type;
use common::pipeline::{origins, rows, sigterm, tables_reached, unique};
use common::registry::Registry;
use common::services::Tansu;
use common::weir_run::WeirRun;
use weir::config::{self, Pipeline, TableFormat};
use weir::pipeline::Tables;

const TOPIC: &str = "orders";
const PARTITIONS: i32 = 2;
const PER_PHASE: usize = 5_000;
/// Phase 1: JSON text, an unknown id, a wrong magic byte (5 each); phase 2: truncated bodies,
/// mismatched bodies, and three kinds of valid Avro whose values do not fit silver (5 each).
const BROKEN: [usize; 2] = [15, 25];
const TOTAL: usize = 2 * PER_PHASE + BROKEN[0] + BROKEN[1];

const PIPELINE: &str = r#"
[source]
brokers = "${KAFKA_BROKERS}"
topic = "orders"
group = "avro-test"
format = "FORMAT"

[source.schema_registry]
url = "${REGISTRY_URL}"
max_backoff_ms = 1000

[source.properties]
"auto.offset.reset" = "earliest"

STAGES
[tables]
location = "${WEIR_LAKEHOUSE}/orders"
format = ["delta", "iceberg"]

[tables.silver]
key = ["id"]
COLUMNS

[commit]
max_interval_ms = 500
"#;

/// How one encoding differs in the scenario.
struct Encoding {
    format: &'static str,
    /// The producer script under `tests/registry/`.
    script: &'static str,
    /// Silver's columns.
    columns: &'static str,
    /// What the reason of a body that is not a record of its schema says.
    body_error: &'static str,
    /// The pipeline's stages.
    stages: &'static str,
}

/// A plugin takes an Avro or Protobuf record as JSON, as it takes any record.
const DEDUP_STAGE: &str = r#"
[[stages]]
name = "dedup-key"
plugin = "dedup_key.wasm"
kind = "transform"
config = { fields = ["id"] }
"#;

const AVRO: Encoding = Encoding {
    format: "avro",
    script: "produce_avro.py",
    // The key declared, the rest from the registry: v1's fields at the start, v2's added
    // while running.
    columns: r#"columns = [{ name = "id", type = "string", nullable = false }]

[tables.silver.from_registry]
"#,
    body_error: "the body does not match its schema",
    // No stages: silver reads the Avro bodies straight into its columns (`DirectSilver`), and
    // must take and refuse exactly what the JSON way does.
    stages: "",
};

const PROTOBUF: Encoding = Encoding {
    format: "protobuf",
    script: "produce_protobuf.py",
    // Declared. Protobuf writes the decimal as text, which `price` takes by its documented cast.
    columns: r#"columns = [
  { name = "id", type = "string", nullable = false },
  { name = "user", type = "string" },
  { name = "qty", type = "int32" },
  { name = "at", type = "timestamp" },
  { name = "note", type = "string" },
  { name = "price", type = "decimal(10, 2)", coerce = true },
  { name = "ship", type = "struct<city: string, tags: list<string>>" },
  { name = "dedup_key", type = "string" },
]"#,
    body_error: "the body is not a shop.Order message",
    stages: DEDUP_STAGE,
};

/// Runs the encoding's producer script for `phase`; what it produced.
fn produce(encoding: &Encoding, tansu: &Tansu, registry: &Registry, phase: u32, out: &Path) -> serde_json::Value {
    let script = common::repo_root().join("tests/registry").join(encoding.script);
    let status = Command::new(common::readers_python())
        .arg(script)
        .args([
            &tansu.brokers(),
            &registry.url(),
            TOPIC,
            &phase.to_string(),
            &PER_PHASE.to_string(),
        ])
        .arg(out)
        .status()
        .unwrap();
    assert!(status.success(), "producing phase {phase}");
    serde_json::from_str(&std::fs::read_to_string(out).unwrap()).unwrap()
}

fn signal(child: &std::process::Child, name: &str) {
    let status = Command::new("kill")
        .args([&format!("-{name}"), &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success(), "kill -{name}");
}

/// Waits until `log` holds `line` (at most `limit`); whether it did.
fn wait_for_log(log: &Path, line: &str, limit: Duration) -> bool {
    let started = Instant::now();
    while !std::fs::read_to_string(log).unwrap_or_default().contains(line) {
        if started.elapsed() > limit {
            return false;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    true
}

async fn wait_until(pipeline: &Pipeline, what: &str, done: impl AsyncFn(&mut Tables) -> bool) {
    let started = Instant::now();
    loop {
        if let Ok(mut tables) = Tables::open(pipeline).await
            && done(&mut tables).await
        {
            return;
        }
        assert!(started.elapsed() < Duration::from_secs(600), "{what}: not within 600 s");
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

fn strings(batch: &RecordBatch, column: &str) -> Vec<Option<String>> {
    let column = batch.column_by_name(column).unwrap();
    let column = arrow::compute::cast(column, &arrow::datatypes::DataType::Utf8).unwrap();
    column
        .as_string::<i32>()
        .iter()
        .map(|v| v.map(str::to_string))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn avro_records_with_two_schema_versions_land_exactly_and_a_registry_outage_is_waited_out() {
    two_versions_and_an_outage(&AVRO).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn protobuf_records_with_two_schema_versions_land_exactly_and_a_registry_outage_is_waited_out() {
    two_versions_and_an_outage(&PROTOBUF).await;
}

async fn two_versions_and_an_outage(encoding: &Encoding) {
    let tansu = Tansu::start();
    tansu.create_topic(TOPIC, PARTITIONS as u32);
    let mut registry = Registry::start();
    let work = tempfile::tempdir().unwrap();
    let (lake, pipelines) = (work.path().join("lake"), work.path().join("pipelines"));
    std::fs::create_dir_all(pipelines.join("orders")).unwrap();
    let text = PIPELINE
        .replace("FORMAT", encoding.format)
        .replace("STAGES", encoding.stages)
        .replace("COLUMNS", encoding.columns);
    std::fs::write(pipelines.join("orders/pipeline.toml"), text).unwrap();
    std::fs::copy(
        common::plugin_path("weir-dedup-key"),
        pipelines.join("orders/dedup_key.wasm"),
    )
    .unwrap();
    let vars: std::collections::HashMap<String, String> = [
        ("KAFKA_BROKERS", tansu.brokers()),
        ("REGISTRY_URL", registry.url()),
        ("WEIR_LAKEHOUSE", lake.display().to_string()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect();
    let file = pipelines.join("orders/pipeline.toml");
    // Silver's columns as Weir takes them: declared, and from the registry as it stands now.
    let silver_as_now = async || {
        let mut pipeline = config::load(&file, &config::from_map(&vars)).unwrap();
        weir::pipeline::take_from_registry(&mut pipeline).await.unwrap();
        pipeline
    };

    let v1 = produce(encoding, &tansu, &registry, 1, &work.path().join("v1.json"));
    let pipeline = silver_as_now().await;
    let log = work.path().join("weir.log");
    let mut host = WeirRun::new(&pipelines, &tansu.brokers())
        .lake(&lake, &work.path().join("cache"))
        .env("REGISTRY_URL", registry.url())
        .log_to(&log)
        .spawn();
    wait_until(&pipeline, "v1 in silver", async |t| {
        rows(&t.silver[0].read_all().await.unwrap()) > 0
    })
    .await;

    // v2 is produced while Weir is paused; then the registry goes down before Weir meets it.
    signal(&host, "STOP");
    let v2 = produce(encoding, &tansu, &registry, 2, &work.path().join("v2.json"));
    registry.stop();
    signal(&host, "CONT");
    let waited = wait_for_log(&log, "schema registry did not answer", Duration::from_secs(120));
    std::thread::sleep(Duration::from_secs(10));
    registry.start_again();
    if encoding.columns.contains("from_registry") {
        // Weir adds v2's fields to silver itself (the test opens the tables with them only then).
        let added = wait_for_log(&log, "silver columns added from a new schema", Duration::from_secs(300));
        assert!(added, "Weir said it added v2's columns to silver");
    }
    let pipeline = silver_as_now().await;
    wait_until(&pipeline, "every table at the end of the topic", async |t| {
        tables_reached(t, TOPIC, PARTITIONS, TOTAL as i64).await
    })
    .await;
    sigterm(&mut host);
    assert!(host.wait().unwrap().success(), "weir exits 0 after SIGTERM");

    let ids = |v: &serde_json::Value| v["schema_id"].as_u64().unwrap() as u32;
    let (id1, id2) = (ids(&v1), ids(&v2));
    assert_ne!(id1, id2, "two schema versions, two ids");
    let id3 = registry.ids("orders-value")[2];
    let declared: Vec<&str> = pipeline.tables.silver[0]
        .columns
        .iter()
        .map(|c| c.name.as_str())
        .collect();
    for column in ["id", "user", "qty", "at", "note", "price", "ship"] {
        assert!(declared.contains(&column), "silver has `{column}`: {declared:?}");
    }
    let tables = Tables::open(&pipeline).await.unwrap();
    for format in [TableFormat::Delta, TableFormat::Iceberg] {
        check_bronze(&tables.bronze.read(format).await.unwrap(), format, [id1, id2, id3]);
        check_quarantine(&tables.quarantine.read(format).await.unwrap(), format, id2, encoding);
        let silver = tables.silver[0].read(format).await.unwrap();
        let mut want: Vec<String> = [&v1, &v2]
            .iter()
            .flat_map(|v| v["records"].as_object().unwrap().keys().cloned())
            .collect();
        want.sort();
        let mut got: Vec<String> = silver.iter().flat_map(|b| strings(b, "id")).flatten().collect();
        got.sort();
        assert_eq!(got, want, "{format:?} silver: each order once");
    }

    for id in [id1, id2, id3, 999_999] {
        assert_eq!(registry.fetches(id), 1, "schema {id} fetched once (cached)");
    }
    // Checked after the tables, so a host that quarantines instead of waiting fails there.
    assert!(
        waited,
        "Weir met schema v2 while the registry was down, and said it waits"
    );

    let spec = serde_json::json!({
        "delta_silver": lake.join("orders/silver").display().to_string(),
        "catalog": lake.join("orders/iceberg/catalog.db").display().to_string(),
        "namespace": "orders",
        "expected": [&v1["records"], &v2["records"]],
    });
    let spec_path = work.path().join("spec.json");
    std::fs::write(&spec_path, spec.to_string()).unwrap();
    let script = common::repo_root().join("tests/registry/check_tables.py");
    let out = Command::new(common::readers_python())
        .arg(script)
        .arg(&spec_path)
        .output()
        .unwrap();
    print!("{}", String::from_utf8_lossy(&out.stdout));
    assert!(
        out.status.success(),
        "readers: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn check_bronze(batches: &[RecordBatch], format: TableFormat, [id1, id2, id3]: [u32; 3]) {
    let all = origins(batches);
    assert_eq!(
        (all.len(), unique(&all)),
        (TOTAL, TOTAL),
        "{format:?} bronze: every record once"
    );
    let mut by_id: BTreeMap<Option<i64>, usize> = BTreeMap::new();
    for batch in batches {
        let ids = batch.column_by_name("_schema_id").unwrap().as_primitive::<Int64Type>();
        for i in 0..ids.len() {
            *by_id.entry(ids.is_valid(i).then(|| ids.value(i))).or_default() += 1;
        }
    }
    let want: BTreeMap<Option<i64>, usize> = [
        (None, 10),                             // JSON text and a wrong magic byte: no header
        (Some(i64::from(id1)), PER_PHASE),      // v1
        (Some(i64::from(id2)), PER_PHASE + 10), // v2, and its truncated and mismatched bodies
        (Some(i64::from(id3)), 15),             // the schema whose values do not fit silver
        (Some(999_999), 5),                     // an id the registry does not know
    ]
    .into();
    assert_eq!(by_id, want, "{format:?} bronze: the schema id of each record");
}

fn check_quarantine(batches: &[RecordBatch], format: TableFormat, id2: u32, encoding: &Encoding) {
    let mut reasons: BTreeMap<String, (String, String)> = BTreeMap::new();
    for batch in batches {
        let keys = strings(batch, "key");
        let (stages, why) = (strings(batch, "stage"), strings(batch, "reason"));
        for i in 0..batch.num_rows() {
            let entry = (stages[i].clone().unwrap(), why[i].clone().unwrap());
            reasons.insert(keys[i].clone().unwrap(), entry);
        }
    }
    let broken = BROKEN[0] + BROKEN[1];
    assert_eq!(
        reasons.len(),
        broken,
        "{format:?} quarantine: exactly the broken records: {reasons:#?}"
    );
    let v2 = format!("schema id {id2}: {}", encoding.body_error);
    let expected: [(&str, &str, &str); 8] = [
        ("bad1-json", "decode", "wrong magic byte 0x7b"),
        ("bad1-magic", "decode", "wrong magic byte 0x01"),
        ("bad1-unknown id", "decode", "schema id 999999 is not in the registry"),
        ("bad2-truncated", "decode", &v2),
        ("bad2-mismatch", "decode", &v2),
        (
            "bad2-misfit qty",
            "silver",
            "field `qty`: 1.5 is not written as a whole number, which int32 needs",
        ),
        (
            "bad2-misfit user",
            "silver",
            "field `user`: expected a string, found 12345",
        ),
        (
            "bad2-misfit at",
            "silver",
            "field `at`: 253402300799 is an epoch number, and the column declares no unit",
        ),
    ];
    for (key, (stage, reason)) in &reasons {
        let Some((_, want_stage, want)) = expected.iter().find(|(prefix, _, _)| key.starts_with(prefix)) else {
            panic!("{format:?} quarantine holds {key}, which was not broken: {reason}");
        };
        assert_eq!(stage, want_stage, "{format:?} quarantine {key}: {reason}");
        assert!(reason.contains(want), "{format:?} quarantine {key}: {reason}");
    }
}

/// `weir generate --format avro` registers the posts schema and produces the demo's posts as
/// Avro; `pipelines/examples/posts-avro` runs the posts pipeline's plugins on them unchanged:
/// silver holds what it holds for the JSON posts, quarantine the invalid ones.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_avro_example_pipeline_takes_generated_avro_posts_with_the_posts_plugins() {
    const POSTS: usize = 2_000;
    let tansu = Tansu::start();
    tansu.create_topic("posts-avro", PARTITIONS as u32);
    let registry = Registry::start();
    let work = tempfile::tempdir().unwrap();
    let (lake, pipelines) = (work.path().join("lake"), work.path().join("pipelines"));
    let example = common::repo_root().join("pipelines/examples/posts-avro");
    std::fs::create_dir_all(pipelines.join("posts-avro")).unwrap();
    for entry in std::fs::read_dir(&example).unwrap().flatten() {
        // Follows the links to pipelines/posts' components.
        std::fs::copy(entry.path(), pipelines.join("posts-avro").join(entry.file_name())).unwrap();
    }
    let generate = Command::new(env!("CARGO_BIN_EXE_weir"))
        .args([
            "generate",
            "--topic",
            "posts-avro",
            "--format",
            "avro",
            "--records",
            &POSTS.to_string(),
        ])
        .args(["--brokers", &tansu.brokers(), "--schema-registry", &registry.url()])
        .status()
        .unwrap();
    assert!(generate.success(), "weir generate --format avro");
    assert_eq!(
        registry.ids("posts-avro-value").len(),
        1,
        "the posts schema is registered"
    );

    // `weir columns` prints silver's columns from the subject's latest schema.
    let columns = Command::new(env!("CARGO_BIN_EXE_weir"))
        .args([
            "columns",
            "--subject",
            "posts-avro-value",
            "--schema-registry",
            &registry.url(),
        ])
        .output()
        .unwrap();
    assert!(columns.status.success(), "{}", String::from_utf8_lossy(&columns.stderr));
    let text = String::from_utf8(columns.stdout).unwrap();
    #[derive(serde::Deserialize)]
    struct Block {
        columns: Vec<weir::config::ColumnConfig>,
    }
    let block: Block = toml::from_str(&text).unwrap();
    let declared: Vec<(String, String, bool)> = (block.columns.iter())
        .map(|c| (c.name.clone(), c.ty.to_string(), c.nullable))
        .collect();
    let want = [
        ("id", "string", false),
        ("subreddit", "string", false),
        ("author", "string", true),
        ("title", "string", false),
        ("createdUtc", "int64", false),
        ("selftext", "string", true),
    ]
    .map(|(n, t, nullable)| (n.to_string(), t.to_string(), nullable));
    assert_eq!(declared, want, "{text}");
    assert!(text.contains("# left out: `score`: a union of several types"), "{text}");

    let vars: std::collections::HashMap<String, String> = [
        ("KAFKA_BROKERS", tansu.brokers()),
        ("SCHEMA_REGISTRY_URL", registry.url()),
        ("WEIR_LAKEHOUSE", lake.display().to_string()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect();
    let pipeline = config::load(&pipelines.join("posts-avro/pipeline.toml"), &config::from_map(&vars)).unwrap();
    let mut host = WeirRun::new(&pipelines, &tansu.brokers())
        .lake(&lake, &work.path().join("cache"))
        .env("SCHEMA_REGISTRY_URL", registry.url())
        .spawn();
    wait_until(&pipeline, "every table at the end of the topic", async |t| {
        tables_reached(t, "posts-avro", PARTITIONS, POSTS as i64).await
    })
    .await;
    sigterm(&mut host);

    let expected = weir::cli::demo::dataset(POSTS);
    let tables = Tables::open(&pipeline).await.unwrap();
    for format in [TableFormat::Delta, TableFormat::Iceberg] {
        let layer = async |m: &weir::tables::Medallion| rows(&m.read(format).await.unwrap());
        assert_eq!(layer(&tables.bronze).await, POSTS, "{format:?} bronze");
        assert_eq!(
            layer(&tables.silver[0]).await,
            expected.silver_rows(),
            "{format:?} silver"
        );
        assert_eq!(
            layer(&tables.quarantine).await,
            expected.invalid,
            "{format:?} quarantine"
        );
    }
}
