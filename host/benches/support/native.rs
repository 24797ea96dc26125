//! The pipeline benchmark's native baseline: the posts pipeline's work as a plain Rust program
//! on one thread, in the same run. The normalize and validate plugins' own code compiled natively,
//! the same arrow-json silver decoding, dedup by `id`, the daily average score per subreddit in
//! a `HashMap`, and Parquet files for bronze, silver and quarantine. No sandbox, no Delta or
//! Iceberg metadata, no offsets: what Weir's ratio against it says is what those cost.

use std::collections::{HashMap, HashSet};
use std::fs::File;
use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

use arrow::array::{Array, AsArray, BooleanArray, Int64Array, StringArray};
use arrow::compute::filter_record_batch;
use arrow::datatypes::{DataType, Field, Int64Type, Schema, TimestampMicrosecondType};
use arrow::record_batch::RecordBatch;
use deltalake::parquet::arrow::ArrowWriter;
use weir::config::Pipeline;
use weir::decode::{Origin, SilverDecoder};
use weir_sdk::{Config, Context, Outcome, Record, Transform};

/// Processing time of every batch (fixed: the work must not depend on the clock).
const NOW_MS: i64 = 1_700_000_000_000;

/// Records/s of the native program over `posts` (key, value), writing its files under `dir`;
/// and the silver rows it kept (to check it did the work).
pub fn rate(pipeline: &Pipeline, posts: &[(String, String)], dir: &Path) -> (f64, usize) {
    let config = |name: &str| {
        let text = (pipeline.stages.iter())
            .find(|s| s.name == name)
            .map_or_else(String::new, |s| s.config.clone());
        Config::parse(&text).unwrap()
    };
    let normalize = weir_normalize::Normalize::init(config("normalize")).unwrap();
    let validate = weir_validate::Validate::init(config("validate")).unwrap();
    let decoder = SilverDecoder::new(&pipeline.tables.silver[0].columns);
    let text = |name: &str| Field::new(name, DataType::Utf8, true);
    let offset = Field::new("_kafka_offset", DataType::Int64, false);
    let bronze_schema = Arc::new(Schema::new(vec![text("key"), text("value"), offset.clone()]));
    let quarantine_schema = Arc::new(Schema::new(vec![text("value"), text("reason"), offset]));
    let writer =
        |name: &str, schema| ArrowWriter::try_new(File::create(dir.join(name)).unwrap(), schema, None).unwrap();
    let mut bronze = writer("bronze.parquet", bronze_schema.clone());
    let mut quarantine = writer("quarantine.parquet", quarantine_schema.clone());
    let mut silver = None;
    let context = Context {
        processing_time_ms: NOW_MS,
    };
    let mut ids: HashSet<String> = HashSet::new();
    let mut gold: HashMap<(String, i64), (i64, i64)> = HashMap::new();
    let mut kept = 0;

    let started = Instant::now();
    for (n, chunk) in posts.chunks(1024).enumerate() {
        let offsets: Vec<i64> = (0..chunk.len()).map(|i| (n * 1024 + i) as i64).collect();
        let keys = StringArray::from_iter_values(chunk.iter().map(|(k, _)| k.as_str()));
        let values = StringArray::from_iter_values(chunk.iter().map(|(_, v)| v.as_str()));
        let columns = vec![
            Arc::new(keys) as _,
            Arc::new(values) as _,
            Arc::new(Int64Array::from(offsets.clone())) as _,
        ];
        bronze
            .write(&RecordBatch::try_new(bronze_schema.clone(), columns).unwrap())
            .unwrap();

        let mut refused: Vec<(usize, String)> = Vec::new();
        let mut passed: Vec<(usize, String)> = Vec::new();
        for (i, (key, value)) in chunk.iter().enumerate() {
            let record = Record {
                key: Some(key.as_bytes()),
                value,
                timestamp_ms: Some(NOW_MS),
            };
            let normalized = match normalize.process(&record, &context) {
                Outcome::Pass => value.clone(),
                Outcome::Accepted(mut out) if out.len() == 1 => out.remove(0).value,
                Outcome::Accepted(_) => continue,
                Outcome::Rejected(reason) => {
                    refused.push((i, reason));
                    continue;
                }
            };
            let record = Record {
                value: &normalized,
                ..record
            };
            match validate.process(&record, &context) {
                Outcome::Rejected(reason) => refused.push((i, reason)),
                _ => passed.push((i, normalized)),
            }
        }
        let texts: Vec<&str> = passed.iter().map(|(_, v)| v.as_str()).collect();
        let origins: Vec<Origin<'_>> = (passed.iter())
            .map(|(i, _)| Origin {
                topic: "posts",
                partition: 0,
                offset: offsets[*i],
            })
            .collect();
        let decoded = decoder.decode(&texts, &origins);
        for (index, reason) in &decoded.rejected {
            refused.push((passed[*index].0, reason.clone()));
        }
        let rows = decoded.rows;
        let id = rows.column_by_name("id").unwrap().as_string::<i32>();
        let new: BooleanArray = (0..rows.num_rows())
            .map(|r| Some(ids.insert(id.value(r).to_string())))
            .collect();
        let rows = filter_record_batch(&rows, &new).unwrap();
        fold_gold(&rows, &mut gold);
        kept += rows.num_rows();
        silver
            .get_or_insert_with(|| writer("silver.parquet", rows.schema()))
            .write(&rows)
            .unwrap();
        let q_values = StringArray::from_iter_values(refused.iter().map(|(i, _)| chunk[*i].1.as_str()));
        let reasons = StringArray::from_iter_values(refused.iter().map(|(_, r)| r.as_str()));
        let q_offsets = Int64Array::from_iter_values(refused.iter().map(|(i, _)| offsets[*i]));
        let columns = vec![
            Arc::new(q_values) as _,
            Arc::new(reasons) as _,
            Arc::new(q_offsets) as _,
        ];
        quarantine
            .write(&RecordBatch::try_new(quarantine_schema.clone(), columns).unwrap())
            .unwrap();
    }
    bronze.close().unwrap();
    quarantine.close().unwrap();
    if let Some(silver) = silver {
        silver.close().unwrap();
    }
    let rate = posts.len() as f64 / started.elapsed().as_secs_f64();
    assert!(!gold.is_empty(), "the baseline aggregated");
    (rate, kept)
}

/// Adds the rows' scores to their (subreddit, day) sums and counts.
fn fold_gold(rows: &RecordBatch, gold: &mut HashMap<(String, i64), (i64, i64)>) {
    let subreddit = rows.column_by_name("subreddit").unwrap().as_string::<i32>();
    let score = rows.column_by_name("score").unwrap().as_primitive::<Int64Type>();
    let created = (rows.column_by_name("created_utc").unwrap()).as_primitive::<TimestampMicrosecondType>();
    for r in 0..rows.num_rows() {
        if subreddit.is_null(r) || score.is_null(r) || created.is_null(r) {
            continue;
        }
        let day = created.value(r).div_euclid(86_400_000_000);
        let entry = gold.entry((subreddit.value(r).to_string(), day)).or_default();
        entry.0 += score.value(r);
        entry.1 += 1;
    }
}
