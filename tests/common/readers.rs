//! The Python table readers (`tests/readers/*.py`: deltalake, pyiceberg, DuckDB) run on what a
//! test's posts pipeline wrote on SeaweedFS: the spec they read, the rows the example data
//! should leave, and running a script.
#![allow(dead_code)]

use std::path::Path;
use std::process::Command;

use serde_json::{Map, Value, json};
use weir::cli::demo;
use weir::config::{self, Pipeline};

use super::services::{S3_ACCESS_KEY, S3_SECRET_KEY, SeaweedFs};

/// The readers' spec for the posts pipeline's tables in bucket `lake` under `posts/`, with the
/// SQLite catalog `catalog_db` and the `expected` rows.
pub fn spec(s3: &SeaweedFs, catalog_db: &Path, expected: Value) -> Map<String, Value> {
    let spec = json!({
        "s3": {
            "endpoint": s3.endpoint(),
            "key": S3_ACCESS_KEY,
            "secret": S3_SECRET_KEY,
            "region": "us-east-1",
        },
        "delta": {
            "bronze": "s3://lake/posts/bronze",
            "silver": "s3://lake/posts/silver",
            "quarantine": "s3://lake/posts/quarantine",
            "gold_avg_score_daily": "s3://lake/posts/gold_avg_score_daily",
        },
        "catalog_uri": format!("sqlite:///{}", catalog_db.display()),
        "namespace": "posts",
        "expected": expected,
    });
    match spec {
        Value::Object(map) => map,
        _ => unreachable!("a JSON object literal"),
    }
}

/// Runs `tests/readers/<script>` with `args`; its stdout, or the test fails with its output.
pub fn run(script: &str, args: &[&Path]) -> String {
    let path = super::repo_root().join("tests/readers").join(script);
    let out = Command::new(super::readers_python())
        .arg(path)
        .args(args)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{script} found the tables wrong:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

/// The gold rows as Weir reads its Delta table back: [subreddit, window start (µs), count,
/// average] each. Their correctness is the gold tests' business; here the readers must agree.
pub async fn gold_as_written(pipeline: &Pipeline) -> Vec<Value> {
    use arrow::array::AsArray;
    use arrow::datatypes::{Float64Type, Int64Type, TimestampMicrosecondType};
    let tables = weir::pipeline::Tables::open(pipeline).await.unwrap();
    let mut rows = Vec::new();
    for batch in tables.gold[0].read(config::TableFormat::Delta).await.unwrap() {
        let subreddit = batch.column_by_name("subreddit").unwrap().as_string::<i32>();
        let start = batch
            .column_by_name("window_start")
            .unwrap()
            .as_primitive::<TimestampMicrosecondType>();
        let count = batch.column_by_name("post_count").unwrap().as_primitive::<Int64Type>();
        let avg = batch.column_by_name("avg_score").unwrap().as_primitive::<Float64Type>();
        for row in 0..batch.num_rows() {
            rows.push(json!([
                subreddit.value(row),
                start.value(row),
                count.value(row),
                avg.value(row)
            ]));
        }
    }
    assert!(!rows.is_empty(), "the readers test wants gold rows to compare");
    rows
}

/// The silver row each valid post of the first `n` should become: the first post of each id;
/// with `new_column` = (name, i), the column declared from post i on (null before).
pub fn expected_silver(n: usize, new_column: Option<(&str, usize)>) -> Map<String, Value> {
    let mut rows = Map::new();
    for i in 0..n {
        let (id, value, invalid) = demo::post(i);
        if invalid.is_some() || rows.contains_key(&id) {
            continue;
        }
        let post: Value = serde_json::from_str(&value).unwrap();
        let mut row = json!({
            "subreddit": post["subreddit"],
            "author": post["author"],
            "score": post["score"],
            "created_utc": post["createdUtc"],
        });
        if let Some((name, from)) = new_column {
            row[name] = if i >= from { post[name].clone() } else { Value::Null };
        }
        rows.insert(id, row);
    }
    rows
}
