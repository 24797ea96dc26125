//! Helpers of the pipeline integration tests: a copy of the example pipeline to tweak, running
//! and stopping `weir run`, and reading what landed in the tables.
#![allow(dead_code)]

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::time::{Duration, Instant};

use arrow::array::{AsArray, RecordBatch};
use arrow::datatypes::{Int32Type, Int64Type};
use weir::config::Pipeline;
use weir::decode::SilverDecoder;
use weir::pipeline::Tables;

/// Copies pipelines/posts into `dir/posts`, applying each (from, to) text edit to its
/// pipeline.toml; returns `dir` (the pipelines folder to run).
pub fn copy_posts_pipeline(dir: &Path, edits: &[(&str, &str)]) -> PathBuf {
    let posts = dir.join("posts");
    std::fs::create_dir_all(&posts).unwrap();
    for entry in std::fs::read_dir(super::repo_root().join("pipelines/posts"))
        .unwrap()
        .flatten()
    {
        std::fs::copy(entry.path(), posts.join(entry.file_name())).unwrap();
    }
    let mut text = std::fs::read_to_string(posts.join("pipeline.toml")).unwrap();
    for (from, to) in edits {
        assert!(text.contains(from), "{from}");
        text = text.replacen(from, to, 1);
    }
    std::fs::write(posts.join("pipeline.toml"), text).unwrap();
    dir.to_path_buf()
}

/// Removes the `[[gold]]` sections (the file's tail, from the `# Gold:` comment) of the copied
/// posts pipeline: a pipeline with gold tables runs on one host, and group tests run several.
pub fn strip_gold(pipelines: &Path) {
    let file = pipelines.join("posts/pipeline.toml");
    let text = std::fs::read_to_string(&file).unwrap();
    let at = text.find("\n# Gold:").expect("pipelines/posts has a gold section");
    std::fs::write(&file, &text[..at + 1]).unwrap();
}

/// Stops `host` with SIGTERM (graceful: final commit) and waits for it.
pub fn sigterm(host: &mut Child) {
    let _ = Command::new("kill").args(["-TERM", &host.id().to_string()]).status();
    let started = Instant::now();
    while host.try_wait().unwrap().is_none() {
        if started.elapsed() > Duration::from_secs(20) {
            host.kill().unwrap();
            panic!("weir did not stop within 20 s of SIGTERM");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

pub fn rows(batches: &[RecordBatch]) -> usize {
    batches.iter().map(RecordBatch::num_rows).sum()
}

/// The (partition, offset) of every row.
pub fn origins(batches: &[RecordBatch]) -> Vec<(i32, i64)> {
    let mut out = Vec::new();
    for batch in batches {
        let p = batch
            .column_by_name("_kafka_partition")
            .unwrap()
            .as_primitive::<Int32Type>();
        let o = batch
            .column_by_name("_kafka_offset")
            .unwrap()
            .as_primitive::<Int64Type>();
        out.extend(p.values().iter().copied().zip(o.values().iter().copied()));
    }
    out
}

pub fn unique<T: std::hash::Hash + Eq + Clone>(items: &[T]) -> usize {
    items.iter().cloned().collect::<HashSet<_>>().len()
}

/// The `id` of every silver row.
pub fn silver_ids(batches: &[RecordBatch]) -> Vec<String> {
    batches
        .iter()
        .flat_map(|b| {
            b.column_by_name("id")
                .unwrap()
                .as_string::<i32>()
                .iter()
                .flatten()
                .map(str::to_string)
                .collect::<Vec<_>>()
        })
        .collect()
}

/// Waits until bronze and silver hold at least `bronze` and `silver` rows.
pub async fn wait_for_rows(pipeline: &Pipeline, decoder: &SilverDecoder, bronze: usize, silver: usize) {
    let started = Instant::now();
    loop {
        if let Ok(tables) = Tables::open(pipeline, decoder).await {
            let b = rows(&tables.bronze.read_all().await.unwrap());
            let s = rows(&tables.silver.read_all().await.unwrap());
            if b >= bronze && s >= silver {
                return;
            }
            assert!(
                started.elapsed() < Duration::from_secs(120),
                "bronze {b}/{bronze}, silver {s}/{silver} after 120 s"
            );
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}
