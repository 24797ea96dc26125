//! JSON against Avro, in one run: the demo's posts, the same values in both encodings (Avro in
//! the Confluent wire format, its schema from a stand-in registry), fed from memory into the
//! posts pipeline (no broker: what is measured is Weir's decoding, not the network) through
//! the posts pipeline's stages (normalize, validate, dedup-key) and with no stages. Each path is
//! timed in turns, round by round (best of `ROUNDS`), up to the buffer (no table commits: the
//! tables cost the same for both encodings); plus the value decoding alone (`ValueDecoder::text`:
//! what rendering Avro as JSON costs per record), Avro straight into silver rows alone
//! (`DirectSilver`). Prints records/s, `ratio` lines and peak memory. Run: `scripts/bench.sh avro`.
#![allow(clippy::unwrap_used)] // a benchmark: panicking is how it fails

#[allow(dead_code)]
#[path = "../../tests/common/services.rs"]
mod services;

#[path = "../../tests/common/registry.rs"]
mod registry;

#[path = "support/memory.rs"]
mod memory;

use std::collections::HashMap;
use std::path::Path;
use std::time::Instant;

use weir::cli::generate;
use weir::config::{self, Pipeline, SchemaRegistryConfig, TableFormat, ValueFormat};
use weir::decode::{DirectSilver, Origin, SilverDecoder, ValueDecoder};
use weir::pipeline::PipelineRunner;
use weir::plugin::PluginEngine;
use weir::sample::post;
use weir::source::{PartitionBatch, SourceRecord};

const PARTITIONS: usize = 4;
const ROUNDS: usize = 3;

/// Posts per run: 100,000, or `WEIR_BENCH_RECORDS` (a quick check of a debug build).
fn records() -> usize {
    std::env::var("WEIR_BENCH_RECORDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100_000)
}

fn pipeline(dir: &Path, format: ValueFormat, stages: bool, registry: &str) -> Pipeline {
    let posts = dir.join("posts");
    std::fs::create_dir_all(&posts).unwrap();
    let repo = Path::new(env!("CARGO_MANIFEST_DIR")).join("../pipelines/posts");
    for entry in std::fs::read_dir(&repo).unwrap().flatten() {
        std::fs::copy(entry.path(), posts.join(entry.file_name())).unwrap();
    }
    let vars: HashMap<String, String> = [
        ("KAFKA_BROKERS", "127.0.0.1:1".to_string()),
        ("WEIR_LAKEHOUSE", dir.join("lake").display().to_string()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect();
    let mut p = config::load(&posts.join("pipeline.toml"), &config::from_map(&vars)).unwrap();
    p.source.format = format;
    p.source.schema_registry = Some(SchemaRegistryConfig {
        max_backoff_ms: 1_000,
        ..SchemaRegistryConfig::new(registry)
    });
    if !stages {
        // No plugins: silver takes the source's records as they are. The JSON posts spell the
        // timestamp `createdUtc` (normalize renames it); declare what both encodings hold.
        p.stages.clear();
        p.gold.clear();
        for column in &mut p.tables.silver[0].columns {
            if column.name == "created_utc" {
                column.name = "createdUtc".into();
            }
        }
        p.tables.silver[0]
            .columns
            .retain(|c| !c.name.starts_with('_') && c.name != "dedup_key");
        p.tables.silver[0].partition_by = None;
    }
    p.tables.format = vec![TableFormat::Delta];
    p.workers = 1;
    p.commit.max_records = usize::MAX;
    p
}

fn batches(values: &[(String, Vec<u8>)]) -> Vec<PartitionBatch> {
    let mut next = [0i64; PARTITIONS];
    values
        .chunks(1024)
        .enumerate()
        .map(|(n, chunk)| {
            let partition = n % PARTITIONS;
            let records = chunk
                .iter()
                .map(|(key, value)| {
                    let offset = next[partition];
                    next[partition] += 1;
                    SourceRecord {
                        partition: partition as i32,
                        offset,
                        timestamp_ms: Some(1_700_000_000_000),
                        key: Some(key.clone().into_bytes()),
                        value: Some(value.clone()),
                        headers: Vec::new(),
                        malformed: None,
                    }
                })
                .collect();
            PartitionBatch {
                topic: "posts".into(),
                partition: partition as i32,
                records,
            }
        })
        .collect()
}

/// Records/s of one run of `p` over `input`, up to the buffer.
async fn run(engine: &PluginEngine, p: Pipeline, input: &[PartitionBatch]) -> f64 {
    let mut runner = PipelineRunner::start(p, engine).await.unwrap();
    runner.fetch_schemas(input).await.unwrap();
    let started = Instant::now();
    for poll in input.chunks(PARTITIONS) {
        runner.ingest_all(poll).unwrap();
    }
    let records = input.iter().map(|b| b.records.len()).sum::<usize>();
    let rate = records as f64 / started.elapsed().as_secs_f64();
    assert_eq!(runner.stats().bronze_rows as usize, records);
    rate
}

/// Records/s of `ValueDecoder::text` alone over `input`.
async fn decode_only(decoder: &mut ValueDecoder, input: &[PartitionBatch]) -> f64 {
    let values = input.iter().flat_map(|b| &b.records).filter_map(|r| r.value.as_deref());
    assert!(
        decoder
            .ensure(values, &tokio_util::sync::CancellationToken::new())
            .await
    );
    let started = Instant::now();
    let mut ok = 0usize;
    for record in input.iter().flat_map(|b| &b.records) {
        ok += usize::from(decoder.text(record.value.as_deref().unwrap()).is_ok());
    }
    let records = input.iter().map(|b| b.records.len()).sum::<usize>();
    let rate = records as f64 / started.elapsed().as_secs_f64();
    assert!(ok > records * 9 / 10);
    rate
}

/// Records/s of Avro bodies read straight into silver rows (`DirectSilver`, what a pipeline
/// with no stages does), `values` holding the schemas.
fn direct_only(silver: &SilverDecoder, values: &ValueDecoder, input: &[PartitionBatch]) -> f64 {
    let started = Instant::now();
    let mut rows = 0;
    for batch in input {
        let mut direct = DirectSilver::new(silver, values, batch.records.len()).unwrap();
        let mut origins = Vec::with_capacity(batch.records.len());
        for (i, record) in batch.records.iter().enumerate() {
            let _ = direct.read(i, record.value.as_deref().unwrap());
            origins.push(Origin {
                topic: &batch.topic,
                partition: batch.partition,
                offset: record.offset,
            });
        }
        rows += direct.finish(&origins).rows.num_rows();
    }
    let records = input.iter().map(|b| b.records.len()).sum::<usize>();
    let rate = records as f64 / started.elapsed().as_secs_f64();
    assert!(rows > records * 9 / 10);
    rate
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let n = records();
    let registry = registry::Registry::start();
    let work = tempfile::tempdir().unwrap();
    let engine = PluginEngine::new(work.path().join("components")).unwrap();
    let json: Vec<(String, Vec<u8>)> = (0..n)
        .map(|i| {
            let (key, value, _) = post(i);
            (key, value.into_bytes())
        })
        .collect();
    let id = weir::registry::Registry::new(&SchemaRegistryConfig::new(&registry.url()))
        .unwrap()
        .register("posts-value", generate::POST_SCHEMA)
        .await
        .unwrap();
    let avro = generate::avro_records(0..n, id).unwrap();
    let json_bytes: usize = json.iter().map(|(_, v)| v.len()).sum();
    let avro_bytes: usize = avro.iter().map(|(_, v)| v.len()).sum();
    println!(
        "{n} posts: JSON {:.0} bytes/record, Avro {:.0} bytes/record",
        json_bytes as f64 / n as f64,
        avro_bytes as f64 / n as f64
    );
    let (json, avro) = (batches(&json), batches(&avro));

    let paths = [
        ("json_stages", ValueFormat::Json, true),
        ("avro_stages", ValueFormat::Avro, true),
        ("json_no_stages", ValueFormat::Json, false),
        ("avro_no_stages", ValueFormat::Avro, false),
    ];
    let mut best: HashMap<&str, f64> = HashMap::new();
    let mut decode: HashMap<&str, f64> = HashMap::new();
    for round in 0..ROUNDS {
        for (n, (name, format, stages)) in paths.iter().enumerate() {
            let dir = work.path().join(format!("r{round}-{n}"));
            let input = if *format == ValueFormat::Avro { &avro } else { &json };
            let rate = run(&engine, pipeline(&dir, *format, *stages, &registry.url()), input).await;
            println!("round {round}: {name:<15} {rate:>10.0} records/s");
            let slot = best.entry(name).or_default();
            *slot = slot.max(rate);
        }
        for (name, format, input) in [("json", ValueFormat::Json, &json), ("avro", ValueFormat::Avro, &avro)] {
            let dir = work.path().join(format!("d{round}-{name}"));
            let p = pipeline(&dir, format, false, &registry.url());
            let mut decoder = ValueDecoder::new(&p.source).unwrap();
            let rate = decode_only(&mut decoder, input).await;
            println!("round {round}: decode {name:<8} {rate:>10.0} records/s");
            let slot = decode.entry(name).or_default();
            *slot = slot.max(rate);
            if format == ValueFormat::Avro {
                let silver = SilverDecoder::new(&p.tables.silver[0].columns);
                let rate = direct_only(&silver, &decoder, input);
                println!("round {round}: avro straight to silver rows {rate:>10.0} records/s");
                let slot = decode.entry("direct").or_default();
                *slot = slot.max(rate);
            }
        }
    }
    println!("best of {ROUNDS}, records/s (decoding, stages and silver, up to the buffer):");
    for (name, _, _) in &paths {
        println!("  {name:<15} {:>10.0}", best[name]);
    }
    println!(
        "  value decoding alone: json {:.0}, avro {:.0}",
        decode["json"], decode["avro"]
    );
    println!(
        "  avro rendered as JSON: {:.2} µs/record",
        1e6 / decode["avro"] - 1e6 / decode["json"]
    );
    println!(
        "ratio avro_vs_json_stages {:.3}",
        best["avro_stages"] / best["json_stages"]
    );
    println!(
        "ratio avro_vs_json_no_stages {:.3}",
        best["avro_no_stages"] / best["json_no_stages"]
    );
    println!("ratio avro_vs_json_decode {:.3}", decode["avro"] / decode["json"]);
    println!("  avro straight to silver rows: {:.0}", decode["direct"]);
    println!("peak_mib weir {:.1}", memory::peak_rss_mib());
}
