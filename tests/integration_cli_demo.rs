//! `weir demo` as the README runs it: embedded broker, example pipeline, tables on disk.
#![allow(clippy::unwrap_used)] // a test crate: panicking is how it fails

mod common;

use std::process::Command;

#[test]
fn the_demo_lands_bronze_silver_and_quarantine_with_the_expected_counts() {
    let lakehouse = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_weir"))
        .args(["demo", "--records", "3000", "--pipelines"])
        .arg(common::repo_root().join("pipelines"))
        .arg("--lakehouse")
        .arg(lakehouse.path())
        .env("WEIR_CACHE_DIR", lakehouse.path().join("cache"))
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let expected = weir::cli::demo::dataset(3000);
    // "  silver  18800  18800 rows ...": the Delta count, then the Iceberg count.
    let count = |table: &str, column: usize| -> usize {
        let line = stdout.lines().find(|l| l.trim_start().starts_with(table)).unwrap();
        line.split_whitespace().nth(column).unwrap().parse().unwrap()
    };
    for column in [1, 2] {
        assert_eq!(count("bronze", column), 3000);
        assert_eq!(count("silver", column), expected.silver_rows());
        assert_eq!(count("quarantine", column), expected.invalid);
    }
    let posts = lakehouse.path().join("posts");
    for table in ["bronze", "silver", "quarantine"] {
        assert!(posts.join(table).join("_delta_log").is_dir(), "{table}");
        let metadata = posts.join("iceberg").join(table).join("metadata");
        let found = std::fs::read_dir(&metadata)
            .unwrap()
            .any(|e| e.unwrap().file_name().to_string_lossy().ends_with(".metadata.json"));
        assert!(found, "{table}: Iceberg metadata beside the data");
    }
    assert!(posts.join("iceberg").join("catalog.db").is_file());
    assert!(stdout.contains("iceberg_scan('"), "{stdout}");
    // Silver is partitioned by day: Delta through its derived column, Iceberg in its data paths.
    assert!(
        std::fs::read_dir(posts.join("silver")).unwrap().any(|e| e
            .unwrap()
            .file_name()
            .to_string_lossy()
            .starts_with("created_utc_day="))
    );
    assert!(
        std::fs::read_dir(posts.join("iceberg/silver/data")).unwrap().any(|e| e
            .unwrap()
            .file_name()
            .to_string_lossy()
            .starts_with("created_utc_day="))
    );
    gold_matches_silver(lakehouse.path(), &stdout);
}

/// The demo's gold table (average score per subreddit and day) against silver: each row is
/// the average and count of the silver rows of its subreddit and day, and every day that ended
/// an hour before the slowest partition's newest post is there.
fn gold_matches_silver(lakehouse: &std::path::Path, stdout: &str) {
    use arrow::array::{AsArray, RecordBatch};
    use arrow::datatypes::{Float64Type, Int32Type, Int64Type, TimestampMicrosecondType};
    use std::collections::{BTreeMap, HashMap};
    const DAY_US: i64 = 86_400_000_000;
    const HOUR_US: i64 = 3_600_000_000;

    let vars = [("WEIR_LAKEHOUSE".to_string(), lakehouse.display().to_string())].into();
    let file = common::repo_root().join("pipelines/posts/pipeline.toml");
    let pipeline = weir::config::load(&file, &weir::config::from_map(&vars)).unwrap();
    let decoder = weir::decode::SilverDecoder::new(&pipeline.tables.silver.columns);
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let (silver, gold): (Vec<RecordBatch>, Vec<Vec<RecordBatch>>) = runtime.block_on(async {
        let tables = weir::pipeline::Tables::open(&pipeline, &decoder).await.unwrap();
        let mut gold = Vec::new();
        for format in [weir::config::TableFormat::Delta, weir::config::TableFormat::Iceberg] {
            gold.push(tables.gold[0].read(format).await.unwrap());
        }
        (tables.silver.read_all().await.unwrap(), gold)
    });
    let mut sums: BTreeMap<(String, i64), (i64, i64)> = BTreeMap::new();
    let mut newest: HashMap<i32, i64> = HashMap::new();
    for batch in &silver {
        let subreddit = batch.column_by_name("subreddit").unwrap().as_string::<i32>();
        let score = batch.column_by_name("score").unwrap().as_primitive::<Int64Type>();
        let created = batch
            .column_by_name("created_utc")
            .unwrap()
            .as_primitive::<TimestampMicrosecondType>();
        let partition = batch
            .column_by_name("_kafka_partition")
            .unwrap()
            .as_primitive::<Int32Type>();
        for row in 0..batch.num_rows() {
            let t = created.value(row);
            let n = newest.entry(partition.value(row)).or_insert(t);
            *n = (*n).max(t);
            let sum = sums
                .entry((subreddit.value(row).to_string(), t - t.rem_euclid(DAY_US)))
                .or_default();
            sum.0 += score.value(row);
            sum.1 += 1;
        }
    }
    let watermark = newest.values().min().unwrap() - HOUR_US;
    sums.retain(|(_, day), _| day + DAY_US <= watermark);
    assert!(sums.len() >= 8, "the demo should finish at least a day: {sums:?}");
    for batches in gold {
        let mut rows = 0;
        for batch in &batches {
            let subreddit = batch.column_by_name("subreddit").unwrap().as_string::<i32>();
            let start = batch
                .column_by_name("window_start")
                .unwrap()
                .as_primitive::<TimestampMicrosecondType>();
            let avg = batch.column_by_name("avg_score").unwrap().as_primitive::<Float64Type>();
            let count = batch.column_by_name("post_count").unwrap().as_primitive::<Int64Type>();
            for row in 0..batch.num_rows() {
                let key = (subreddit.value(row).to_string(), start.value(row));
                let (sum, n) = sums[&key];
                assert_eq!(count.value(row), n, "{key:?}");
                assert!((avg.value(row) - sum as f64 / n as f64).abs() < 1e-9, "{key:?}");
                rows += 1;
            }
        }
        assert_eq!(rows, sums.len(), "one gold row per subreddit and finished day");
    }
    assert!(stdout.contains("A few gold rows (gold_avg_score_daily)"), "{stdout}");
}
