//! `weir check`, run as a user runs it, on the committed example pipelines and on broken copies.
#![allow(clippy::unwrap_used)] // a test crate: panicking is how it fails

mod common;

use std::path::Path;
use std::process::Command;

fn check(path: &Path) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_weir"))
        .args(["check", &path.display().to_string()])
        .env("WEIR_CACHE_DIR", std::env::temp_dir().join("weir-cli-test-cache"))
        .output()
        .expect("weir runs");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// A copy of pipelines/posts with `from` replaced by `to` in its pipeline.toml.
fn broken_copy(from: &str, to: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let posts = dir.path().join("posts");
    std::fs::create_dir(&posts).unwrap();
    let source = common::repo_root().join("pipelines/posts");
    for entry in std::fs::read_dir(&source).unwrap().flatten() {
        std::fs::copy(entry.path(), posts.join(entry.file_name())).unwrap();
    }
    let text = std::fs::read_to_string(posts.join("pipeline.toml")).unwrap();
    assert!(text.contains(from), "{from}");
    std::fs::write(posts.join("pipeline.toml"), text.replacen(from, to, 1)).unwrap();
    dir
}

#[test]
fn the_committed_pipelines_pass() {
    let (code, stdout, stderr) = check(&common::repo_root().join("pipelines"));
    assert_eq!(code, 0, "{stdout}{stderr}");
    assert!(stdout.starts_with("ok: posts ("), "{stdout}");
}

#[test]
fn a_config_the_plugin_refuses_fails_the_check_and_names_the_stage() {
    let dir = broken_copy(
        "ranges = { score = { min = 0,",
        "ranges = { score = { min = 100, max = 1 }, other = { min = 0,",
    );
    let (code, stdout, _) = check(dir.path());
    assert_eq!(code, 1);
    assert!(
        stdout.contains("stage `validate`") && stdout.contains("refused its config: range of `score`"),
        "{stdout}"
    );
}

#[test]
fn a_gold_config_the_aggregate_refuses_fails_the_check_and_names_the_gold_stage() {
    let dir = broken_copy(
        r#"config = { group_by = "subreddit", field = "score" }"#,
        r#"config = { group_by = "subreddit", field = "score", colour = "red" }"#,
    );
    let (code, stdout, _) = check(dir.path());
    assert_eq!(code, 1, "{stdout}");
    assert!(
        stdout.contains("gold `avg_score_daily`") && stdout.contains("colour"),
        "{stdout}"
    );
}

#[test]
fn a_typo_fails_the_check_with_file_key_and_line() {
    let dir = broken_copy("group =", "groop =");
    let (code, stdout, _) = check(dir.path());
    assert_eq!(code, 1);
    assert!(
        stdout.contains("posts/pipeline.toml:9:1: `source.groop`: unknown field `groop`"),
        "{stdout}"
    );
}

/// The line (1-based) of the first line of `dir`'s posts/pipeline.toml starting with `start`.
fn line_of(dir: &Path, start: &str) -> usize {
    let text = std::fs::read_to_string(dir.join("posts/pipeline.toml")).unwrap();
    text.lines().position(|l| l.starts_with(start)).unwrap() + 1
}

/// `weir check` on a copy with `from` replaced by `to` refuses it at `key`, on the line that
/// starts with `line_start`, with a message containing `says`.
fn refused_at(from: &str, to: &str, key: &str, line_start: &str, says: &str) {
    let dir = broken_copy(from, to);
    let (code, stdout, _) = check(dir.path());
    assert_eq!(code, 1, "{to}: {stdout}");
    let line = line_of(dir.path(), line_start);
    let expected = format!("posts/pipeline.toml:{line}: `{key}`: ");
    assert!(stdout.contains(&expected), "{to}: expected `{expected}` in {stdout}");
    assert!(stdout.contains(says), "{to}: expected `{says}` in {stdout}");
}

#[test]
fn a_bad_tables_format_is_reported_at_its_own_line() {
    refused_at(
        r#"format = ["delta", "iceberg"]"#,
        r#"format = ["delta", "delta"]"#,
        "tables.format",
        r#"format = ["delta", "delta"]"#,
        "each format once",
    );
}

#[test]
fn a_bad_gold_column_is_reported_at_the_gold_columns_line() {
    let dir = broken_copy(
        r#"  { name = "post_count", type = "int64" },"#,
        r#"  { name = "_error", type = "int64" },"#,
    );
    let (code, stdout, _) = check(dir.path());
    assert_eq!(code, 1, "{stdout}");
    // The gold section's `columns`, the last in the file (silver's comes first).
    let text = std::fs::read_to_string(dir.path().join("posts/pipeline.toml")).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    let line = lines.iter().rposition(|l| l.starts_with("columns = [")).unwrap() + 1;
    let expected = format!("posts/pipeline.toml:{line}: `gold[0].columns`: ");
    assert!(stdout.contains(&expected), "expected `{expected}` in {stdout}");
}

#[test]
fn plugin_paths_outside_the_pipeline_folder_are_refused() {
    for path in ["../../outside/normalize.wasm", "/etc/hostname"] {
        refused_at(
            r#"plugin = "normalize.wasm""#,
            &format!(r#"plugin = "{path}""#),
            "stages[0].plugin",
            &format!(r#"plugin = "{path}""#),
            "outside the pipeline's folder",
        );
    }
}

#[test]
fn table_locations_weir_cannot_write_are_refused() {
    for (location, says) in [
        ("s3://", "is not an S3 bucket name"),
        ("s3://bad bucket/x", "`bad bucket` is not an S3 bucket name"),
        ("ftp://host/x", "`ftp://` is not a supported location"),
    ] {
        let to = format!(r#"location = "{location}""#);
        refused_at(
            r#"location = "${WEIR_LAKEHOUSE:-lakehouse}/posts""#,
            &to,
            "tables.location",
            &to,
            says,
        );
    }
}

#[test]
fn limits_and_batch_sizes_out_of_range_are_refused_with_their_key() {
    refused_at(
        "memory_mib = 64",
        "memory_mib = 1",
        "stages[1].limits.memory_mib",
        "limits = { deadline_ms = 1000, memory_mib = 1 }",
        "1 is out of range: give 8 to 4096",
    );
    refused_at(
        "batch_records = 1024",
        "batch_records = 9223372036854775807",
        "source.batch_records",
        "batch_records",
        "out of range",
    );
}

#[test]
fn two_folders_with_the_same_pipeline_name_are_refused() {
    let dir = broken_copy("[source]", "name = \"posts\"\n\n[source]");
    let other = dir.path().join("other");
    std::fs::create_dir(&other).unwrap();
    for entry in std::fs::read_dir(dir.path().join("posts")).unwrap().flatten() {
        std::fs::copy(entry.path(), other.join(entry.file_name())).unwrap();
    }
    let (code, stdout, _) = check(dir.path());
    assert_eq!(code, 1, "{stdout}");
    let line = line_of(dir.path(), "name = \"posts\"");
    assert!(
        stdout.contains(&format!(
            "pipeline.toml:{line}: `name`: pipeline `posts` is also the name of"
        )),
        "{stdout}"
    );
}

#[test]
fn a_route_an_earlier_table_takes_is_reported_at_its_line() {
    let tables = r#"[[tables.silver]]
name = "rust"
route = { field = "subreddit", equals = ["rust", "go"] }
key = ["id"]
columns = [{ name = "id", type = "string", nullable = false }]

[[tables.silver]]
name = "posts"
route = { field = "subreddit", equals = "go" }"#;
    refused_at(
        "[tables.silver]",
        tables,
        "tables.silver[1].route",
        r#"route = { field = "subreddit", equals = "go" }"#,
        "no record reaches this table with `subreddit` = \"go\": silver_rust",
    );
}

#[test]
fn a_gold_table_reading_a_silver_table_that_does_not_exist_is_reported_at_its_line() {
    refused_at(
        r#"event_time = "created_utc""#,
        "source = \"nope\"\nevent_time = \"created_utc\"",
        "gold[0].source",
        r#"source = "nope""#,
        "`nope` is not a silver table (there are: silver)",
    );
}

#[test]
fn the_routed_example_passes_and_names_its_topics_and_tables() {
    let (code, stdout, stderr) = check(&common::repo_root().join("pipelines/examples/events"));
    assert_eq!(code, 0, "{stdout}{stderr}");
    assert!(
        stdout.contains("topics shop, web, silver tables silver_orders, silver_payments, silver_other"),
        "{stdout}"
    );
}
