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

/// The demo's gold table (average score per subreddit and day) against silver, in both formats.
fn gold_matches_silver(lakehouse: &std::path::Path, stdout: &str) {
    let vars = [("WEIR_LAKEHOUSE".to_string(), lakehouse.display().to_string())].into();
    let file = common::repo_root().join("pipelines/posts/pipeline.toml");
    let pipeline = weir::config::load(&file, &weir::config::from_map(&vars)).unwrap();
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let tables = weir::pipeline::Tables::open(&pipeline).await.unwrap();
        for format in [weir::config::TableFormat::Delta, weir::config::TableFormat::Iceberg] {
            let rows = common::pipeline::assert_gold_matches_silver(&tables, format).await;
            assert!(rows >= 8, "the demo should finish at least a day: {rows} rows");
        }
    });
    assert!(stdout.contains("A few gold rows (gold_avg_score_daily)"), "{stdout}");
}
