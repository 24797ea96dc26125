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
    let count = |table: &str| -> usize {
        let line = stdout.lines().find(|l| l.trim_start().starts_with(table)).unwrap();
        line.split_whitespace().nth(1).unwrap().parse().unwrap()
    };
    assert_eq!(count("bronze"), 3000);
    assert_eq!(count("silver"), expected.silver_rows());
    assert_eq!(count("quarantine"), expected.invalid);
    for table in ["bronze", "silver", "quarantine"] {
        assert!(
            lakehouse.path().join("posts").join(table).join("_delta_log").is_dir(),
            "{table}"
        );
    }
}
