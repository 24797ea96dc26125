//! Unit tests of loading and checking pipeline files.

use super::*;
use crate::config::WindowSpec;
use crate::config::from_map;
use crate::plugin::Limits;
use std::collections::HashMap;

const EXAMPLE: &str = include_str!("../../../../pipelines/posts/pipeline.toml");

/// Writes `text` as a pipeline next to an empty stand-in for each plugin it names.
fn load_text(text: &str, vars: &[(&str, &str)]) -> Result<Pipeline, ConfigError> {
    let dir = tempfile::tempdir().unwrap();
    let pipeline_dir = dir.path().join("posts");
    std::fs::create_dir(&pipeline_dir).unwrap();
    for plugin in ["validate.wasm", "normalize.wasm", "dedup_key.wasm", "avg_score.wasm"] {
        std::fs::write(pipeline_dir.join(plugin), b"").unwrap();
    }
    let file = pipeline_dir.join(PIPELINE_FILE);
    std::fs::write(&file, text).unwrap();
    let vars: HashMap<String, String> = vars.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
    load(&file, &from_map(&vars))
}

#[test]
fn the_example_pipeline_loads_with_defaults_and_overrides() {
    let pipeline = load_text(EXAMPLE, &[("KAFKA_BROKERS", "k1:9092,k2:9092")]).unwrap();
    assert_eq!(pipeline.name, "posts");
    assert_eq!(pipeline.source.brokers, "k1:9092,k2:9092");
    assert_eq!(pipeline.source.topic, "posts");
    assert_eq!(
        pipeline.stages.iter().map(|s| s.name.as_str()).collect::<Vec<_>>(),
        ["normalize", "validate", "dedup-key"]
    );
    assert_eq!(
        pipeline.stages[1].limits,
        Limits {
            deadline_ms: 1000,
            memory_mib: 64,
            ..Limits::default()
        }
    );
    let config: serde_json::Value = serde_json::from_str(&pipeline.stages[2].config).unwrap();
    assert_eq!(config, serde_json::json!({"fields": ["id"]}));
    assert_eq!(pipeline.tables.silver.key, ["id"]);
    assert_eq!(pipeline.commit.max_records, 100_000);
}

fn error_of(from: &str, to: &str) -> String {
    assert!(EXAMPLE.contains(from), "{from}");
    load_text(&EXAMPLE.replacen(from, to, 1), &[]).unwrap_err().to_string()
}

#[test]
fn unknown_keys_and_bad_values_name_the_key_and_the_line() {
    let err = error_of("brokers =", "brokerz =");
    assert!(
        err.contains("pipeline.toml:7:1: `source.brokerz`: unknown field `brokerz`"),
        "{err}"
    );
    let err = error_of("batch_records = 1024", "batch_records = \"many\"");
    assert!(
        err.contains(":11:17: `source.batch_records`: invalid type: string"),
        "{err}"
    );
    let err = error_of("deadline_ms = 1000", "deadline_ms = -5");
    assert!(err.contains("`stages[1].limits.deadline_ms`: invalid value"), "{err}");
    let err = error_of("format = [\"delta\", \"iceberg\"]", "format = [\"delta\", \"parquet\"]");
    assert!(err.contains("`tables.format[1]`: unknown variant `parquet`"), "{err}");
    let err = error_of("transform = \"day\"", "transform = \"week\"");
    assert!(
        err.contains("`tables.silver.partition_by.transform`: unknown variant `week`"),
        "{err}"
    );
}

#[test]
fn missing_environment_variables_name_the_line() {
    let err = error_of("${POSTS_TOPIC:-posts}", "${POSTS_TOPIC}");
    assert!(
        err.ends_with("pipeline.toml:8: environment variable `POSTS_TOPIC` is not set"),
        "{err}"
    );
}

#[test]
fn semantic_errors_name_the_key() {
    let err = error_of("key = [\"id\"]", "key = [\"idd\"]");
    assert!(
        err.contains("`tables.silver.key`: `idd` is not a declared column"),
        "{err}"
    );
    let err = error_of(
        "{ name = \"id\", type = \"string\", nullable = false }",
        "{ name = \"id\", type = \"string\" }",
    );
    assert!(
        err.contains("key column `id` must be declared with `nullable = false`"),
        "{err}"
    );
    let err = error_of("plugin = \"normalize.wasm\"", "plugin = \"nope.wasm\"");
    assert!(
        err.contains("`stages[0].plugin`") && err.contains("nope.wasm does not exist"),
        "{err}"
    );
    let err = error_of("name = \"normalize\"", "name = \"validate\"");
    assert!(err.contains("two stages are named `validate`"), "{err}");
    let err = error_of("column = \"created_utc\"", "column = \"created\"");
    assert!(
        err.contains("`tables.silver.partition_by.column`: `created` is not a declared column"),
        "{err}"
    );
    let err = error_of("column = \"created_utc\", transform = \"day\"", "column = \"author\"");
    assert!(err.contains("`day` of `author` needs a timestamp column"), "{err}");
    let err = load_text(&EXAMPLE.replace("${WEIR_LAKEHOUSE:-lakehouse}", "s3://lake"), &[])
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("`tables.iceberg.uri`: an s3:// location needs an Iceberg catalog"),
        "{err}"
    );
    let err = error_of("max_records = 100000", "max_records = 0");
    assert!(
        err.contains("`commit`: max_records, max_bytes and max_interval_ms must be positive"),
        "{err}"
    );
}

#[test]
fn gold_sections_are_checked_and_resolved() {
    let pipeline = load_text(EXAMPLE, &[]).unwrap();
    let gold = &pipeline.gold[0];
    assert_eq!(gold.table(), "gold_avg_score_daily");
    assert_eq!(
        gold.window,
        WindowSpec {
            size_us: 86_400_000_000,
            slide_us: 86_400_000_000,
            lateness_us: 3_600_000_000,
        }
    );
    assert!(gold.plugin.ends_with("avg_score.wasm"));
    assert!(gold.config.contains("\"group_by\":\"subreddit\""), "{}", gold.config);

    let err = error_of("event_time = \"created_utc\"", "event_time = \"score\"");
    assert!(
        err.contains("`gold[0].event_time`: `score` must be a timestamp column"),
        "{err}"
    );
    let err = error_of("event_time = \"created_utc\"", "event_time = \"created\"");
    assert!(err.contains("`created` is not a declared silver column"), "{err}");
    let err = error_of(
        "window = { size = \"1d\" }",
        "window = { size = \"1d\", slide = \"7h\" }",
    );
    assert!(
        err.contains("`gold[0].window`: size and slide must be positive"),
        "{err}"
    );
    let err = error_of("allowed_lateness = \"1h\"", "allowed_lateness = \"1 hour\"");
    assert!(
        err.contains("`gold[0].allowed_lateness`") && err.contains("unknown unit"),
        "{err}"
    );
    let err = error_of("key_column = \"subreddit\"", "key_column = \"avg_score\"");
    assert!(
        err.contains("column `avg_score` is declared twice or is one the host writes"),
        "{err}"
    );
    let err = error_of(
        "{ name = \"post_count\", type = \"int64\" }",
        "{ name = \"post_count\", type = \"int64\", nullable = false }",
    );
    assert!(err.contains("column `post_count` must be nullable"), "{err}");
    let err = error_of("name = \"avg_score_daily\"", "name = \"validate\"");
    assert!(err.contains("`validate` names another stage or gold table"), "{err}");
    let err = error_of(
        "kind = \"transform\"\n\n[[stages]]\nname = \"validate\"",
        "kind = \"aggregate\"\n\n[[stages]]\nname = \"validate\"",
    );
    assert!(
        err.contains("aggregates run over windows in a [[gold]] section"),
        "{err}"
    );
}

#[test]
fn discovers_pipeline_folders_in_name_order() {
    let dir = tempfile::tempdir().unwrap();
    for name in ["b", "a", "not-a-pipeline"] {
        std::fs::create_dir(dir.path().join(name)).unwrap();
    }
    std::fs::write(dir.path().join("b").join(PIPELINE_FILE), "").unwrap();
    std::fs::write(dir.path().join("a").join(PIPELINE_FILE), "").unwrap();
    let found = discover(dir.path()).unwrap();
    assert_eq!(
        found,
        [dir.path().join("a/pipeline.toml"), dir.path().join("b/pipeline.toml")]
    );
    assert!(matches!(
        discover(&dir.path().join("not-a-pipeline")),
        Err(ConfigError::NoPipelines { .. })
    ));
}

#[test]
fn workers_default_to_the_cores_and_out_of_range_is_refused_at_its_line() {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get().min(64));
    assert_eq!(load_text(EXAMPLE, &[]).unwrap().workers, cores);
    let two = EXAMPLE.replace("[source]\n", "workers = 2\n\n[source]\n");
    assert_eq!(load_text(&two, &[]).unwrap().workers, 2);
    for bad in ["0", "65"] {
        let text = EXAMPLE.replace("[source]\n", &format!("workers = {bad}\n\n[source]\n"));
        let err = load_text(&text, &[]).unwrap_err().to_string();
        let line = text.lines().position(|l| l.starts_with("workers")).unwrap() + 1;
        assert!(err.contains(&format!("pipeline.toml:{line}: ")), "{err}");
        assert!(
            err.contains("`workers`: ") && err.contains("out of range: give 1 to 64"),
            "{err}"
        );
    }
}

#[test]
fn registry_sources_need_a_registry_and_whole_credentials() {
    let as_avro = |registry: &str| {
        let text = EXAMPLE.replacen(r#"format = "json""#, r#"format = "avro""#, 1);
        let section = format!("[source.schema_registry]\n{registry}\n\n[source.properties]");
        load_text(&text.replacen("[source.properties]", &section, 1), &[])
    };
    let e = error_of(r#"format = "json""#, r#"format = "avro""#);
    assert!(e.contains("needs `[source.schema_registry]`"), "{e}");
    let e = as_avro(r#"url = "registry:8081""#).unwrap_err().to_string();
    assert!(e.contains("not an http:// or https:// URL"), "{e}");
    let e = as_avro("url = \"http://r:8081\"\nusername = \"u\"")
        .unwrap_err()
        .to_string();
    assert!(e.contains("both `username` and `password`"), "{e}");
    let e = as_avro("url = \"http://r:8081\"\nusername = \"u\"\npassword = \"p\"\ntoken = \"t\"")
        .unwrap_err()
        .to_string();
    assert!(e.contains("not both"), "{e}");
    let pipeline = as_avro(r#"url = "https://r:8081""#).unwrap();
    assert_eq!(pipeline.source.format, crate::config::ValueFormat::Avro);
    assert_eq!(pipeline.source.schema_registry.unwrap().timeout_ms, 10_000);
}

#[test]
fn column_types_units_and_keys_are_checked_where_they_are_written() {
    let e = error_of(
        r#"{ name = "score", type = "int64" }"#,
        r#"{ name = "score", type = "decimal(40, 2)" }"#,
    );
    assert!(e.contains("precision 40"), "{e}");
    let e = error_of(
        r#"{ name = "score", type = "int64" }"#,
        r#"{ name = "score", type = "int64", unit = "s" }"#,
    );
    assert!(e.contains("`unit` applies to timestamp and date columns"), "{e}");
    let e = error_of(
        r#"{ name = "id", type = "string", nullable = false }"#,
        r#"{ name = "id", type = "list<string>", nullable = false }"#,
    );
    assert!(e.contains("must have a primitive type"), "{e}");
    let e = error_of(r#"unit = "s""#, r#"unit = "days""#);
    assert!(e.contains("unknown variant `days`"), "{e}");
}
