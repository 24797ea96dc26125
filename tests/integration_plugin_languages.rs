//! Plugins in Python (componentize-py) and JavaScript (componentize-js), built from
//! plugins/examples and plugins/hostile by scripts/build-plugins.sh: the examples give the Rust
//! ones' outcomes on the same inputs, and hostile ones are contained as Rust ones are.
#![allow(clippy::unwrap_used)] // a test crate: panicking is how it fails

mod common;

use std::collections::HashMap;
use std::net::TcpListener;
use std::sync::{Arc, Mutex, OnceLock};

use common::{context, record, spec};
use serde_json::Value;
use weir::plugin::{Failure, Limits, LogSource, Outputs, Plugin, PluginEngine, Record, TransformStage, Verdict};

/// One engine for the whole test binary, on the persistent compile cache (`$WEIR_CACHE_DIR`, as
/// scripts/env.sh sets it): a Python or JavaScript component (an interpreter inside) compiles
/// once per machine, about 25 s in a debug build, instead of once per test.
fn shared_engine() -> &'static PluginEngine {
    static ENGINE: OnceLock<PluginEngine> = OnceLock::new();
    ENGINE.get_or_init(|| PluginEngine::new(PluginEngine::default_cache_dir()).unwrap())
}

/// The component built from `crate_name`, loaded once for the test binary (tests running side by
/// side wait for one compile instead of each doing it).
fn load(crate_name: &str) -> Arc<Plugin> {
    static LOADED: OnceLock<Mutex<HashMap<String, Arc<Plugin>>>> = OnceLock::new();
    let mut loaded = LOADED.get_or_init(Default::default).lock().unwrap();
    loaded
        .entry(crate_name.to_string())
        .or_insert_with(|| common::load(shared_engine(), crate_name))
        .clone()
}

/// The posts pipeline's validate config (pipelines/posts/pipeline.toml).
const POSTS_RULES: &str = r#"{"required":["id","subreddit","author","title","score","created_utc"],
  "types":{"id":"string","score":"integer","created_utc":"integer"},
  "ranges":{"score":{"min":0,"max":10000000}}}"#;

/// Inputs that pass and that break each rule, in several ways, escapes and non-ASCII text
/// included.
fn varied_posts() -> Vec<Record> {
    let good = r#""subreddit":"rust","author":"ann","title":"t","score":5,"created_utc":1700000000"#;
    let mut values: Vec<String> = vec![
        format!(r#"{{"id":"a",{good}}}"#),
        format!(r#"{{"i\u0064":"escaped","note":"é ü 漢",{good}}}"#),
        r#"{"subreddit":"rust"}"#.into(),
        format!(r#"{{"id":null,{good}}}"#),
        format!(r#"{{"id":7,{good}}}"#),
        r#"{"id":"b","subreddit":"r","author":"a","title":"t","score":-1,"created_utc":1}"#.into(),
        r#"{"id":"c","subreddit":"r","author":"a","title":"t","score":10000001,"created_utc":1}"#.into(),
        r#"{"id":"d","subreddit":"r","author":"a","title":"t","score":1.5,"created_utc":1}"#.into(),
        r#"{"id":"e","subreddit":"r","author":"a","title":"t","score":"5","created_utc":1}"#.into(),
        r#"{"id":"f","subreddit":"r","author":"a","title":"t","score":2e3,"created_utc":1}"#.into(),
        r#"[1,2]"#.into(),
        r#""text""#.into(),
        r#"{"id":"g","id":"h","subreddit":"r","author":"a","title":"t","score":0,"created_utc":0}"#.into(),
    ];
    values.extend(
        (0..50).map(|i| {
            format!(r#"{{"id":"n{i}","subreddit":"s","author":"a","title":"t","score":{i},"created_utc":{i}}}"#)
        }),
    );
    values.iter().map(|v| record(v)).collect()
}

fn run(crate_name: &str, config: &str, batch: &[Record]) -> Vec<Verdict<Outputs>> {
    let mut stage = TransformStage::start(spec(load(crate_name), config, Limits::default())).unwrap();
    stage.process(batch, context())
}

#[test]
fn the_python_and_javascript_validate_give_the_rust_outcomes_record_by_record() {
    let batch = varied_posts();
    let rust = run("weir-validate", POSTS_RULES, &batch);
    assert_eq!(rust.len(), batch.len());
    let rejected = rust.iter().filter(|v| matches!(v, Verdict::Rejected(_))).count();
    assert!(rejected >= 9, "the inputs break rules: {rust:?}");
    for other in ["weir-validate-py", "weir-validate-js"] {
        let outcomes = run(other, POSTS_RULES, &batch);
        assert_eq!(outcomes.len(), batch.len(), "{other}");
        for (i, (r, o)) in rust.iter().zip(&outcomes).enumerate() {
            assert_eq!(r, o, "{other}, record {i}: {}", batch[i].value);
        }
    }
}

/// An output's JSON value, without the version field (each language's plugin names itself).
fn normalized(verdict: &Verdict<Outputs>) -> Result<Vec<Value>, String> {
    match verdict {
        Verdict::Ok(Outputs::Records(records)) => Ok(records
            .iter()
            .map(|r| {
                let mut value: Value = serde_json::from_str(&r.value).unwrap();
                value.as_object_mut().unwrap().remove("_plugin_version");
                as_doubles(value)
            })
            .collect()),
        other => Err(format!("{other:?}")),
    }
}

/// Every number as a double: JavaScript has no other (`-3.5e2` is written `-350`).
fn as_doubles(value: Value) -> Value {
    match value {
        Value::Number(n) => serde_json::json!(n.as_f64().unwrap()),
        Value::Array(items) => Value::Array(items.into_iter().map(as_doubles).collect()),
        Value::Object(map) => Value::Object(map.into_iter().map(|(k, v)| (k, as_doubles(v))).collect()),
        other => other,
    }
}

#[test]
fn the_javascript_normalize_gives_the_rust_outputs_record_by_record() {
    let values = [
        r#"{"postId":"a","createdUtc":1700000000,"score":-3.5e2,"ok":true,"none":null}"#,
        r#"{"authorInfo":{"userName":"x","Tags":[{"tagName":"t"},1,[{"innerKey":2}]]},"e":[]}"#,
        r#"{"post\u0049d":"escaped key","quote\"Key":"q","text":"caf\u00e9 \"x\" 漢字"}"#,
        r#"{"HTTPStatus":200,"PostID":"p","score2Value":2,"ÉtéDay":1}"#,
        r#"{}"#,
        r#"{"postId":"first","post_id":"second"}"#,
        r#"{"_processed_at":"mine","x":1}"#,
        r#"[1,2]"#,
        r#""text""#,
    ];
    let batch: Vec<Record> = values.iter().map(|v| record(v)).collect();
    let rust = run("weir-normalize", "{}", &batch);
    let js = run("weir-normalize-js", "{}", &batch);
    for (i, (r, j)) in rust.iter().zip(&js).enumerate() {
        match (normalized(r), normalized(j)) {
            (Ok(r), Ok(j)) => assert_eq!(r, j, "record {i}: {}", values[i]),
            _ => assert_eq!(r, j, "record {i}: {}", values[i]),
        }
    }
    let Verdict::Ok(Outputs::Records(first)) = &js[0] else {
        panic!("{:?}", js[0])
    };
    assert!(
        first[0]
            .value
            .contains(r#""_plugin_version":"weir-normalize-js@0.1.0""#)
    );
    assert!(first[0].value.contains(r#""_processed_at":"2023-11-14T22:13:20.000Z""#));
}

/// The hostile plugin of each language, under the same sandbox as Rust's.
const HOSTILE: [&str; 2] = ["weir-hostile-py", "weir-hostile-js"];

fn normal(i: usize) -> Record {
    record(&format!(r#"{{"id":{i}}}"#))
}

fn passes(verdict: &Verdict<Outputs>, input: &Record) -> bool {
    match verdict {
        Verdict::Ok(Outputs::Records(out)) => out.len() == 1 && out[0].value == input.value,
        _ => false,
    }
}

#[test]
fn an_infinite_loop_is_stopped_by_the_deadline_and_its_neighbours_pass() {
    for name in HOSTILE {
        let limits = Limits {
            deadline_ms: 300,
            ..Limits::default()
        };
        let mut stage = TransformStage::start(spec(load(name), "{}", limits)).unwrap();
        let batch = vec![normal(1), record(r#"{"spin":true}"#), normal(2)];
        let verdicts = stage.process(&batch, context());
        assert!(passes(&verdicts[0], &batch[0]), "{name}: {verdicts:?}");
        assert_eq!(
            verdicts[1],
            Verdict::Failed(Failure::Deadline { deadline_ms: 300 }),
            "{name}"
        );
        assert!(passes(&verdicts[2], &batch[2]), "{name}: {verdicts:?}");
        let next: Vec<Record> = (0..10).map(normal).collect();
        let verdicts = stage.process(&next, context());
        assert!(
            verdicts.iter().zip(&next).all(|(v, r)| passes(v, r)),
            "{name} serves the next batch"
        );
    }
}

#[test]
fn a_memory_bomb_is_stopped_at_the_cap_and_its_neighbours_pass() {
    for name in HOSTILE {
        let limits = Limits {
            memory_mib: 96,
            ..Limits::default()
        };
        let mut stage = TransformStage::start(spec(load(name), "{}", limits)).unwrap();
        let batch = vec![normal(1), record(r#"{"bomb":true}"#), normal(2)];
        let verdicts = stage.process(&batch, context());
        assert!(passes(&verdicts[0], &batch[0]), "{name}: {verdicts:?}");
        assert_eq!(
            verdicts[1],
            Verdict::Failed(Failure::MemoryLimit { limit_mib: 96 }),
            "{name}"
        );
        assert!(passes(&verdicts[2], &batch[2]), "{name}: {verdicts:?}");
    }
}

#[test]
fn an_exception_on_one_record_in_a_thousand_rejects_only_that_record() {
    for (name, poison, reason) in [
        (
            "weir-hostile-py",
            r#"{"raise":true}"#,
            "plugin raised RuntimeError: poison record",
        ),
        (
            "weir-hostile-js",
            r#"{"throw":true}"#,
            "plugin threw Error: poison record",
        ),
    ] {
        let mut stage = TransformStage::start(spec(load(name), "{}", Limits::default())).unwrap();
        let at = 613;
        let batch: Vec<Record> = (0..1000)
            .map(|i| if i == at { record(poison) } else { normal(i) })
            .collect();
        let verdicts = stage.process(&batch, context());
        assert_eq!(verdicts.len(), 1000);
        for (i, (verdict, input)) in verdicts.iter().zip(&batch).enumerate() {
            if i == at {
                let Verdict::Rejected(why) = verdict else {
                    panic!("{name}: {verdict:?}")
                };
                assert!(why.starts_with(reason), "{name}: {why}");
            } else {
                assert!(passes(verdict, input), "{name} record {i}: {verdict:?}");
            }
        }
    }
}

#[test]
fn python_gets_no_file_environment_or_socket() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let port = listener.local_addr().unwrap().port();
    let secret = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(secret.path(), "top secret").unwrap();
    let config = serde_json::json!({"file": secret.path(), "port": port}).to_string();
    let mut stage = TransformStage::start(spec(load("weir-hostile-py"), &config, Limits::default())).unwrap();
    let verdicts = stage.process(&[record(r#"{"escape":true}"#)], context());
    let Verdict::Ok(Outputs::Records(outputs)) = &verdicts[0] else {
        panic!("{:?}", verdicts[0])
    };
    let report: Value = serde_json::from_str(&outputs[0].value).unwrap();
    for attempt in ["file", "root", "socket", "lookup"] {
        assert!(
            report[attempt].get("ok").is_none(),
            "{attempt} reached the host: {report}"
        );
        assert!(report[attempt]["err"].is_string(), "{attempt}: {report}");
    }
    assert!(!report.to_string().contains("top secret"));
    assert_eq!(report["env"], serde_json::json!([]), "no environment variables");
    assert_eq!(report["home"], Value::Null);
    assert_eq!(report["args"], serde_json::json!([]), "no arguments");
    assert!(listener.accept().is_err(), "the plugin opened a connection");
    let lines = stage.spec().log.recent();
    assert!(
        lines
            .iter()
            .any(|l| l.source == LogSource::Stdout && l.text == "hostile-py: stdout line")
    );
    assert!(
        lines
            .iter()
            .any(|l| l.source == LogSource::Stderr && l.text == "hostile-py: stderr line")
    );
}

#[test]
fn javascript_gets_no_environment_and_its_fetch_reaches_nothing() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let port = listener.local_addr().unwrap().port();
    let config = serde_json::json!({ "port": port }).to_string();
    let mut stage = TransformStage::start(spec(load("weir-hostile-js"), &config, Limits::default())).unwrap();
    let batch = [
        normal(1),
        record(r#"{"escape":true}"#),
        record(r#"{"fetch":true}"#),
        normal(2),
    ];
    let verdicts = stage.process(&batch, context());
    assert!(
        passes(&verdicts[0], &batch[0]) && passes(&verdicts[3], &batch[3]),
        "{verdicts:?}"
    );
    let Verdict::Ok(Outputs::Records(outputs)) = &verdicts[1] else {
        panic!("{:?}", verdicts[1])
    };
    let report: Value = serde_json::from_str(&outputs[0].value).unwrap();
    assert_eq!(report["process"], "undefined", "{report}");
    assert_eq!(report["require"], "undefined", "{report}");
    assert_eq!(report["env"], serde_json::json!([]), "{report}");
    // The fetch stops the instance (the component has no HTTP to send with), or fails.
    match &verdicts[2] {
        Verdict::Failed(Failure::Trap { .. }) | Verdict::Rejected(_) => {}
        Verdict::Ok(Outputs::Records(out)) => assert!(out[0].value.contains(r#""err""#), "{out:?}"),
        other => panic!("{other:?}"),
    }
    assert!(listener.accept().is_err(), "the plugin opened a connection");
    let lines = stage.spec().log.recent();
    assert!(
        lines
            .iter()
            .any(|l| l.source == LogSource::Stdout && l.text == "hostile-js: stdout line")
    );
    assert!(
        lines
            .iter()
            .any(|l| l.source == LogSource::Stderr && l.text == "hostile-js: stderr line")
    );
}

/// The posts pipeline (pipelines/posts) on librdkafka's in-process broker, its `stages` plugins
/// replaced by the named components, into tables under `lake`.
fn posts(brokers: &str, lake: &std::path::Path, group: &str, plugins: &[(&str, &str)]) -> weir::config::Pipeline {
    let vars: std::collections::HashMap<String, String> = [
        ("KAFKA_BROKERS", brokers.to_string()),
        ("WEIR_LAKEHOUSE", lake.display().to_string()),
        ("POSTS_GROUP", group.to_string()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect();
    let file = common::repo_root().join("pipelines/posts/pipeline.toml");
    let mut pipeline = weir::config::load(&file, &weir::config::from_map(&vars)).unwrap();
    pipeline.gold.clear();
    pipeline.commit.max_interval_ms = 200;
    for (stage, component) in plugins {
        let stage = pipeline.stages.iter_mut().find(|s| s.name == *stage).unwrap();
        stage.plugin = common::plugin_path(component);
    }
    pipeline
}

/// Every row of `batches` as text, its columns by name except the `skip`ped ones, sorted.
fn row_texts(batches: &[arrow::array::RecordBatch], skip: &[&str]) -> Vec<String> {
    use arrow::util::display::array_value_to_string;
    let mut rows = Vec::new();
    for batch in batches {
        let schema = batch.schema();
        for row in 0..batch.num_rows() {
            let mut fields: Vec<String> = schema
                .fields()
                .iter()
                .enumerate()
                .filter(|(_, f)| !skip.contains(&f.name().as_str()))
                .map(|(i, f)| format!("{}={}", f.name(), array_value_to_string(batch.column(i), row).unwrap()))
                .collect();
            fields.sort();
            rows.push(fields.join(" "));
        }
    }
    rows.sort();
    rows
}

/// The parser's own words after this prefix differ by language (serde_json, JSON.parse).
const NOT_JSON: &str = "value is not valid JSON for this stage: ";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_posts_pipeline_with_python_validate_and_js_normalize_lands_the_rust_rows() {
    use weir::pipeline::{PipelineRunner, Tables};
    let n = 2_000u64;
    let cluster = rdkafka::mocking::MockCluster::new(1).unwrap();
    cluster.create_topic("posts", 2, 1).unwrap();
    let brokers = cluster.bootstrap_servers();
    weir::cli::demo::produce(&brokers, n as usize).unwrap();
    let expected = weir::cli::demo::dataset(n as usize);
    let lake = tempfile::tempdir().unwrap();
    let engine = shared_engine().clone();
    let rust = posts(&brokers, &lake.path().join("rust"), "rust", &[]);
    let poly = posts(
        &brokers,
        &lake.path().join("poly"),
        "poly",
        &[("normalize", "weir-normalize-js"), ("validate", "weir-validate-py")],
    );

    let mut landed = Vec::new();
    for pipeline in [&rust, &poly] {
        let mut runner = PipelineRunner::start(pipeline.clone(), &engine).await.unwrap();
        let started = std::time::Instant::now();
        while runner.stats().records_in < n {
            runner.step().await.unwrap();
            // Generous: the first compile of an 18 MB component is slow in a debug build.
            assert!(
                started.elapsed() < std::time::Duration::from_secs(600),
                "{:?}",
                runner.stats()
            );
        }
        runner.run_until(|_| true).await.unwrap();
        let tables = Tables::open(pipeline).await.unwrap();
        let silver = tables.silver[0].read_all().await.unwrap();
        let quarantine = tables.quarantine.read_all().await.unwrap();
        landed.push((
            row_texts(&silver, &["_processed_at", "_plugin_version"]),
            row_texts(
                &quarantine,
                &["_quarantined_at", "_quarantined_at_day", "reason", "plugin_sha256"],
            ),
            reasons(&quarantine),
        ));
    }
    let (rust, poly) = (&landed[0], &landed[1]);
    assert_eq!(rust.0.len(), expected.silver_rows(), "the Rust silver rows");
    assert_eq!(rust.1.len(), expected.invalid, "the Rust quarantine rows");
    assert_eq!(
        rust.2.len(),
        poly.2.len(),
        "quarantined rows; the first with the others: {:?}",
        poly.2.first()
    );
    assert_same_rows(
        "silver rows (all columns but the plugin's version and times)",
        &rust.0,
        &poly.0,
    );
    assert_same_rows("quarantine rows (origin, value, stage)", &rust.1, &poly.1);
    for (r, p) in rust.2.iter().zip(&poly.2) {
        match (r.1.strip_prefix(NOT_JSON), p.1.strip_prefix(NOT_JSON)) {
            (Some(_), Some(_)) => assert_eq!(r.0, p.0),
            _ => assert_eq!(r, p, "reasons by origin"),
        }
    }
}

/// Equal row lists, or a short account of how they differ.
fn assert_same_rows(what: &str, rust: &[String], other: &[String]) {
    if rust != other {
        let first = rust.iter().zip(other).find(|(r, o)| r != o);
        panic!(
            "{what}: {} rows with the Rust plugins, {} with the others; first difference: {first:#?}; \
             first rows: {:#?}",
            rust.len(),
            other.len(),
            (rust.first(), other.first())
        );
    }
}

/// ((partition, offset), reason) of every quarantined row, by origin.
fn reasons(batches: &[arrow::array::RecordBatch]) -> Vec<((i32, i64), String)> {
    use arrow::array::AsArray;
    let mut out = Vec::new();
    for (batch, origins) in batches.iter().zip(
        batches
            .iter()
            .map(|b| common::pipeline::origins(std::slice::from_ref(b))),
    ) {
        let reason = batch.column_by_name("reason").unwrap().as_string::<i32>();
        out.extend(
            origins
                .into_iter()
                .zip(reason.iter().map(|r| r.unwrap_or_default().to_string())),
        );
    }
    out.sort();
    out
}
