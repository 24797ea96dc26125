//! `weir demo`: the example pipeline end to end with nothing installed. An in-process
//! Kafka-protocol broker (librdkafka's mock cluster) is filled with generated posts shaped like
//! seed 000's (a known share invalid, a known share repeating an id), `pipelines/posts` runs with
//! its committed plugins, and the tables land under `./lakehouse/posts` in Delta and Iceberg.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use arrow::record_batch::RecordBatch;
use rdkafka::mocking::MockCluster;

use crate::config::{self, TableFormat};
use crate::pipeline::{PipelineRunner, Tables};
use crate::plugin::PluginEngine;

const TOPIC: &str = "posts";
pub use crate::sample::{Dataset, dataset, post};

/// Produces the first `n` demo posts to the `posts` topic at `brokers`.
pub fn produce(brokers: &str, n: usize) -> anyhow::Result<()> {
    produce_to(brokers, TOPIC, 0..n)
}

/// Produces demo posts `range` to `topic` at `brokers` (keyed by post id), as JSON.
pub fn produce_to(brokers: &str, topic: &str, range: std::ops::Range<usize>) -> anyhow::Result<()> {
    super::generate::json(brokers, topic, range)
}

fn rows(batches: &[RecordBatch]) -> usize {
    batches.iter().map(RecordBatch::num_rows).sum()
}

/// Runs the demo: `records` posts through `pipelines_dir/posts` into `lakehouse/posts`.
pub async fn run(
    pipelines_dir: &Path,
    lakehouse: &Path,
    records: usize,
    out: &mut dyn std::io::Write,
) -> anyhow::Result<Dataset> {
    let started = Instant::now();
    let cluster = MockCluster::new(1).context("starting the embedded Kafka broker")?;
    cluster.create_topic(TOPIC, 4, 1).context("creating the posts topic")?;
    let brokers = cluster.bootstrap_servers();
    writeln!(
        out,
        "embedded Kafka broker at {brokers}; producing {records} posts to `{TOPIC}` (4 partitions)"
    )?;
    tokio::task::block_in_place(|| produce(&brokers, records))?;
    let expected = dataset(records);

    let target: PathBuf = lakehouse.join("posts");
    if target.exists() {
        std::fs::remove_dir_all(&target).with_context(|| format!("clearing {}", target.display()))?;
    }
    let vars: HashMap<String, String> = [
        ("KAFKA_BROKERS", brokers.as_str()),
        ("WEIR_LAKEHOUSE", &lakehouse.display().to_string()),
        ("POSTS_GROUP", "weir-demo"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    let lookup = |name: &str| vars.get(name).cloned().or_else(|| config::from_env(name));
    let mut pipeline = config::load(&pipelines_dir.join("posts").join(config::PIPELINE_FILE), &lookup)?;
    pipeline.commit.max_interval_ms = 1_000;
    pipeline
        .source
        .properties
        .insert("session.timeout.ms".into(), "6000".into());
    let engine = PluginEngine::new(PluginEngine::default_cache_dir())?;
    let runner = PipelineRunner::start(pipeline.clone(), &engine).await?;
    let deadline = Instant::now() + Duration::from_secs(120);
    let stats = runner
        .run_until(|stats| stats.records_in as usize >= records || Instant::now() > deadline)
        .await?;
    anyhow::ensure!(
        stats.records_in as usize >= records,
        "timed out after {} of {records} records",
        stats.records_in
    );

    let tables = Tables::open(&pipeline).await?;
    let silver = tables.silver[0].read_all().await?;
    let quarantine = tables.quarantine.read_all().await?;
    writeln!(out, "\nTables under {}:", target.display())?;
    writeln!(out, "  {:<11} {:>7} {:>9}", "", "delta", "iceberg")?;
    let layers = [
        (
            &tables.bronze,
            format!("every record as landed; produced {}", expected.records),
        ),
        (
            &tables.silver[0],
            format!("valid, one per id; expected {}", expected.silver_rows()),
        ),
        (
            &tables.quarantine,
            format!("rejected with stage and reason; expected {}", expected.invalid),
        ),
    ];
    let gold_notes: Vec<(&crate::pipeline::Medallion, String)> = tables
        .gold
        .iter()
        .zip(&pipeline.gold)
        .map(|(table, gold)| {
            (
                table,
                format!("{}: one row per {} and finished window", gold.table(), gold.key_column),
            )
        })
        .collect();
    for (table, note) in layers
        .iter()
        .map(|(t, n)| (*t, n))
        .chain(gold_notes.iter().map(|(t, n)| (*t, n)))
    {
        let mut counts = Vec::new();
        for format in [TableFormat::Delta, TableFormat::Iceberg] {
            counts.push(match table.sinks.iter().any(|s| s.format() == format) {
                true => rows(&table.read(format).await?).to_string(),
                false => "-".to_string(),
            });
        }
        writeln!(
            out,
            "  {:<11} {:>7} {:>9} rows   ({note})",
            table.layer.name(),
            counts[0],
            counts[1]
        )?;
    }
    if let Some(batch) = silver.first() {
        let columns = ["id", "subreddit", "author", "score", "created_utc", "_processed_at"];
        let indices: Vec<usize> = columns.iter().filter_map(|c| batch.schema().index_of(c).ok()).collect();
        let sample = batch.project(&indices)?.slice(0, batch.num_rows().min(5));
        writeln!(
            out,
            "\nA few silver rows:\n{}",
            arrow::util::pretty::pretty_format_batches(&[sample])?
        )?;
    }
    if let Some(batch) = quarantine.first() {
        let indices: Vec<usize> = ["_kafka_offset", "stage", "reason"]
            .iter()
            .filter_map(|c| batch.schema().index_of(c).ok())
            .collect();
        let sample = batch.project(&indices)?.slice(0, batch.num_rows().min(4));
        writeln!(
            out,
            "\nA few quarantined records:\n{}",
            arrow::util::pretty::pretty_format_batches(&[sample])?
        )?;
    }
    if let Some(gold) = tables.gold.first() {
        let batches = gold.read_all().await?;
        if let Some(batch) = batches.iter().find(|b| b.num_rows() > 0) {
            let indices: Vec<usize> = (0..batch.num_columns().saturating_sub(2)).collect();
            let sample = batch.project(&indices)?.slice(0, batch.num_rows().min(5));
            writeln!(
                out,
                "\nA few gold rows ({}):\n{}",
                pipeline.gold[0].table(),
                arrow::util::pretty::pretty_format_batches(&[sample])?
            )?;
        }
    }
    writeln!(out, "\nQuery them with tools Weir did not write, for example:")?;
    writeln!(
        out,
        "  Delta (Python deltalake):  deltalake.DeltaTable(\"{}\").to_pandas()",
        target.join("silver").display()
    )?;
    if let Some(iceberg) = tables.silver[0].iceberg() {
        writeln!(
            out,
            "  Iceberg (pyiceberg):       SqlCatalog(\"{}\", uri=\"sqlite:///{}\").load_table(\"{}.silver\").scan().to_pandas()",
            crate::tables::catalog::CATALOG_NAME,
            target.join("iceberg").join("catalog.db").display(),
            pipeline.tables.iceberg.namespace.as_deref().unwrap_or(&pipeline.name),
        )?;
        if let Some(metadata) = iceberg.metadata_location() {
            writeln!(
                out,
                "  Iceberg (DuckDB):          SELECT count(*) FROM iceberg_scan('{}')",
                metadata.trim_start_matches("file://")
            )?;
        }
    }
    writeln!(out, "done in {:.1} s", started.elapsed().as_secs_f64())?;
    Ok(expected)
}
