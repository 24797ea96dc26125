//! Tools Weir did not write read what it wrote. The example pipeline runs against a real broker
//! (tansu) and a real S3 server (SeaweedFS) with Delta and Iceberg on; then the pipeline declares
//! a new optional column and runs again on more records. `tests/readers/check_tables.py` reads
//! every table with the Python `deltalake` package, pyiceberg and DuckDB (delta and iceberg
//! extensions) and checks row counts, column types, every silver value (old rows read the new
//! column as null) and that a one-day query reads that day's files only.
#![allow(clippy::unwrap_used)] // a test crate: panicking is how it fails

mod common;

use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::time::Duration;

use common::pipeline::{copy_posts_pipeline, sigterm, wait_for_rows};
use common::readers;
use common::services::{S3_ACCESS_KEY, S3_SECRET_KEY, SeaweedFs, Tansu};
use common::weir_run::WeirRun;
use weir::cli::demo;
use weir::config::{self, Pipeline};

const NEW_COLUMN: &str = "selftext";

struct Setup {
    tansu: Tansu,
    s3: SeaweedFs,
    catalog_uri: String,
    cache: PathBuf,
}

impl Setup {
    fn vars(&self) -> Vec<(&'static str, String)> {
        vec![
            ("KAFKA_BROKERS", self.tansu.brokers()),
            ("POSTS_GROUP", "readers".into()),
            ("WEIR_LAKEHOUSE", "s3://lake".into()),
            ("S3_ENDPOINT", self.s3.endpoint()),
            ("ICEBERG_CATALOG_URI", self.catalog_uri.clone()),
        ]
    }

    /// `weir maintain` on every table, keeping one snapshot past the shortest retention:
    /// its report, one line per table.
    fn maintain(&self, pipelines: &Path) -> String {
        let out = Command::new(env!("CARGO_BIN_EXE_weir"))
            .args(["maintain", "--retention", "1m", "--keep-snapshots", "1"])
            .arg(pipelines)
            .envs(self.vars())
            .env("AWS_ACCESS_KEY_ID", S3_ACCESS_KEY)
            .env("AWS_SECRET_ACCESS_KEY", S3_SECRET_KEY)
            .env("AWS_REGION", "us-east-1")
            .env("WEIR_LOG", "warn,deltalake_core::writer::stats=error")
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        assert!(
            out.status.success(),
            "weir maintain failed:\n{stdout}\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        stdout
    }

    fn run(&self, pipelines: &Path) -> Child {
        WeirRun::new(pipelines, &self.tansu.brokers())
            .listen("127.0.0.1:0")
            .envs(self.vars())
            .s3_credentials()
            .env("WEIR_CACHE_DIR", &self.cache)
            .log("warn,deltalake_core::writer::stats=error")
            .spawn()
    }

    fn pipeline(&self, posts: &Path) -> Pipeline {
        let vars = self.vars().into_iter().map(|(k, v)| (k.to_string(), v)).collect();
        let mut pipeline = config::load(&posts.join("pipeline.toml"), &config::from_map(&vars)).unwrap();
        pipeline.tables.s3.access_key_id = Some(S3_ACCESS_KEY.into());
        pipeline.tables.s3.secret_access_key = Some(S3_SECRET_KEY.into());
        pipeline.tables.s3.region = Some("us-east-1".into());
        pipeline
    }

    /// Runs the pipeline until the tables hold the first `n` posts, then stops it with SIGTERM.
    async fn run_to(&self, pipelines: &Path, n: usize) {
        let pipeline = self.pipeline(&pipelines.join("posts"));
        let mut host = self.run(pipelines);
        wait_for_rows(&pipeline, n, demo::dataset(n).silver_rows()).await;
        tokio::time::sleep(Duration::from_secs(1)).await;
        sigterm(&mut host);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deltalake_pyiceberg_and_duckdb_read_every_table_before_and_after_a_schema_change() {
    let work = tempfile::tempdir().unwrap();
    let setup = Setup {
        tansu: Tansu::start(),
        s3: SeaweedFs::start("lake"),
        catalog_uri: format!("sqlite://{}/catalog.db?mode=rwc", work.path().display()),
        cache: work.path().join("cache"),
    };
    setup.tansu.create_topic("posts", 4);
    let pipelines = copy_posts_pipeline(
        &work.path().join("pipelines"),
        // Many small commits (at most 500 records each), for `weir maintain` to compact.
        &[
            ("max_interval_ms = 5000", "max_interval_ms = 300"),
            ("max_records = 100000", "max_records = 500"),
        ],
    );

    let (first, total) = (3_000, 4_000);
    demo::produce_to(&setup.tansu.brokers(), "posts", 0..first).unwrap();
    setup.run_to(&pipelines, first).await;

    // The schema change: a new optional column, declared; the same tables, more records.
    let file = pipelines.join("posts/pipeline.toml");
    let text = std::fs::read_to_string(&file).unwrap();
    let declared = "  { name = \"_plugin_version\", type = \"string\" },\n";
    assert!(text.contains(declared));
    let text = text.replace(
        declared,
        &format!("{declared}  {{ name = \"{NEW_COLUMN}\", type = \"string\" }},\n"),
    );
    std::fs::write(&file, text).unwrap();
    demo::produce_to(&setup.tansu.brokers(), "posts", first..total).unwrap();
    setup.run_to(&pipelines, total).await;

    // Table upkeep on tables written in many small commits, on S3: fewer files in both formats;
    // the readers below must still read every row.
    let report = setup.maintain(&pipelines);
    println!("{report}");
    for table in ["posts/bronze delta:", "posts/bronze iceberg:", "posts/silver iceberg:"] {
        let line = report.lines().find(|l| l.starts_with(table)).unwrap();
        let counts: Vec<usize> = line.split_whitespace().filter_map(|w| w.parse().ok()).collect();
        assert!(counts[0] >= 8 && counts[1] < counts[0] / 2, "compaction: {line}");
    }

    let expected = demo::dataset(total);
    let silver = readers::expected_silver(total, Some((NEW_COLUMN, first)));
    let gold = readers::gold_as_written(&setup.pipeline(&pipelines.join("posts"))).await;
    assert_eq!(silver.len(), expected.silver_rows());
    let expected = serde_json::json!({
        "bronze": total,
        "quarantine": expected.invalid,
        "silver": silver,
        "gold": gold,
    });
    let mut spec = readers::spec(&setup.s3, &work.path().join("catalog.db"), expected);
    spec.insert("new_column".into(), NEW_COLUMN.into());
    let spec_file = work.path().join("spec.json");
    std::fs::write(&spec_file, serde_json::Value::Object(spec).to_string()).unwrap();
    let stdout = readers::run("check_tables.py", &[&spec_file]);
    assert!(stdout.contains("all readers agree"), "{stdout}");
}
