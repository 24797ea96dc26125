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
    assert_eq!(pipeline.source.topic.as_deref(), Some("posts"));
    assert_eq!(pipeline.source.subscription().to_string(), "topic posts");
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
    assert_eq!(pipeline.tables.silver[0].key, ["id"]);
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
    assert!(err.contains("`created` is not a declared column of silver"), "{err}");
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

#[test]
fn topics_come_as_one_a_list_or_a_pattern_and_each_refusal_names_its_line() {
    let topic = "topic = \"${POSTS_TOPIC:-posts}\"";
    let two = load_text(&EXAMPLE.replacen(topic, "topics = [\"shop\", \"web\"]", 1), &[]).unwrap();
    assert_eq!(two.source.subscription().to_string(), "topics shop, web");
    assert_eq!(two.source.single_topic(), None);
    assert!(two.source.subscription().takes("web") && !two.source.subscription().takes("posts"));
    let one = load_text(&EXAMPLE.replacen(topic, "topics = [\"shop\"]", 1), &[]).unwrap();
    assert_eq!(one.source.single_topic(), Some("shop"));
    let pattern = load_text(&EXAMPLE.replacen(topic, r#"topic_pattern = 'events\.[a-z]+'"#, 1), &[]).unwrap();
    let subscription = pattern.source.subscription();
    assert_eq!(subscription.to_string(), r"topic pattern events\.[a-z]+");
    assert!(subscription.takes("events.orders") && !subscription.takes("events.orders.old"));
    assert!(!subscription.takes("xevents.orders"), "the whole name matches");

    let err = error_of(topic, &format!("{topic}\ntopics = [\"web\"]"));
    assert!(
        err.contains(":6: `source`: give exactly one of `topic`, `topics` and `topic_pattern`"),
        "{err}"
    );
    let err = error_of(topic, "");
    assert!(err.contains("`source`: give exactly one of"), "{err}");
    let err = error_of(topic, "topics = [\"shop\", \"web\", \"shop\"]");
    assert!(err.contains(":8: `source.topics[2]`: `shop` is listed twice"), "{err}");
    let err = error_of(topic, "topics = [\"shop\", \"a b\"]");
    assert!(
        err.contains("`source.topics[1]`: `a b` is not a Kafka topic name"),
        "{err}"
    );
    let err = error_of(topic, "topic_pattern = \"events.(\"");
    assert!(
        err.contains(":8: `source.topic_pattern`: not a regular expression"),
        "{err}"
    );
    let err = error_of(topic, "topic_pattern = '(?i)events'");
    assert!(
        err.contains("`source.topic_pattern`: flags, named groups and Unicode classes"),
        "{err}"
    );
    let dead_letter = "\n[quarantine]\ntopic = \"events.dead\"\n";
    let text = EXAMPLE.replacen(topic, r#"topic_pattern = 'events\..*'"#, 1) + dead_letter;
    let err = load_text(&text, &[]).unwrap_err().to_string();
    assert!(
        err.contains("`quarantine.topic`: the dead-letter topic is one the pipeline reads"),
        "{err}"
    );
    let text = EXAMPLE.replacen(topic, "topics = [\"shop\", \"events.dead\"]", 1) + dead_letter;
    let err = load_text(&text, &[]).unwrap_err().to_string();
    assert!(err.contains("the dead-letter topic is one the pipeline reads"), "{err}");
}

/// The example's silver table as `[[tables.silver]]` entries: `orders` (routed on `subreddit`)
/// with `extra` lines, then the example's own table as `posts` with `rest` lines.
fn routed(extra: &str, rest: &str) -> String {
    let tables = format!(
        "[[tables.silver]]\nname = \"orders\"\n{extra}\nkey = [\"id\"]\n\
         columns = [{{ name = \"id\", type = \"string\", nullable = false }}]\n\n\
         [[tables.silver]]\nname = \"posts\"\n{rest}"
    );
    EXAMPLE.replacen("[tables.silver]", &tables, 1)
}

#[test]
fn several_silver_tables_each_with_a_route_or_the_default_and_gold_naming_its_own() {
    let route = "route = { field = \"subreddit\", equals = \"orders\" }";
    let gold = "[[gold]]\nname = \"avg_score_daily\"\nsource = \"posts\"";
    let text = routed(route, "default = true").replacen("[[gold]]\nname = \"avg_score_daily\"", gold, 1);
    let pipeline = load_text(&text, &[]).unwrap();
    let names: Vec<String> = pipeline.tables.silver.iter().map(|s| s.table()).collect();
    assert_eq!(names, ["silver_orders", "silver_posts"]);
    assert!(pipeline.tables.silver[1].default);
    assert_eq!(pipeline.gold[0].silver, 1, "gold reads silver_posts");

    let err = load_text(&routed(route, "default = true"), &[])
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("`gold[0].name`: there are several silver tables: name the one it reads (orders, posts)"),
        "{err}"
    );
    let err = load_text(&routed(route, ""), &[]).unwrap_err().to_string();
    assert!(
        err.contains(
            "`tables.silver[1].name`: there are several silver tables: give this one a `route` or `default = true`"
        ),
        "{err}"
    );
    let err = load_text(&routed(route, route), &[]).unwrap_err().to_string();
    assert!(err.contains("`tables.silver[1].route`: no record reaches this table with `subreddit` = \"orders\": silver_orders (`tables.silver[0].route`) takes it first"), "{err}");
    let err = load_text(&routed("default = true", "default = true"), &[])
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("`tables.silver[1].default`: only one silver table may be the default"),
        "{err}"
    );
    let score = "route = { field = \"score\", equals = \"high\" }";
    let err = load_text(&routed(route, score), &[]).unwrap_err().to_string();
    assert!(
        err.contains("`tables.silver[1].route`: routes on `score`, a string, but declares it `int64`"),
        "{err}"
    );
    let text = routed(route, "default = true").replacen("name = \"posts\"", "name = \"orders\"", 1);
    let err = load_text(&text, &[]).unwrap_err().to_string();
    assert!(
        err.contains("`tables.silver[1].name`: two silver tables are named `orders`"),
        "{err}"
    );
    let err = load_text(&routed("route = { field = \"t\", equals = [] }", "default = true"), &[])
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("`tables.silver[0].route`: give the `field` and at least one value"),
        "{err}"
    );
    let err = load_text(&routed(&format!("{route}\nformat = []"), "default = true"), &[])
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("`tables.silver[0].format`: must list each format once"),
        "{err}"
    );
    let text =
        routed(route, "default = true").replacen("key = [\"id\"]\ncolumns = [\n", "key = [\"idd\"]\ncolumns = [\n", 1);
    let err = load_text(&text, &[]).unwrap_err().to_string();
    assert!(
        err.contains("`tables.silver[1].key`: `idd` is not a declared column"),
        "{err}"
    );
}
