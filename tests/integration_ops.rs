//! The operations endpoints of `weir run` against a real Kafka-protocol broker (tansu):
//! `/metrics` counts exactly what was produced, accepted and rejected, `/readyz` goes ready once
//! the pipeline consumes and not ready when the broker stops, `/healthz` answers throughout; a
//! real Prometheus scrapes it with `deploy/`'s scrape config and the dashboard's queries return
//! series; the status page, loaded by headless Chromium, shows the pipeline, its tables and a
//! quarantined record's reason.
#![allow(clippy::unwrap_used)] // a test crate: panicking is how it fails

mod common;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::pipeline::copy_posts_pipeline;
use common::prometheus::Prometheus;
use common::services::{Tansu, free_port};
use common::weir_run::WeirRun;
use weir::cli::demo;

const RECORDS: usize = 2_000;

use common::http_get as get;

/// The value of the sample `name` whose labels include every (label, value) of `labels`,
/// summed over the samples that match (e.g. every stage).
fn sample(text: &str, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    let mut found = None;
    for line in text.lines().filter(|l| !l.starts_with('#')) {
        let Some((series, value)) = line.rsplit_once(' ') else {
            continue;
        };
        let (metric, rest) = series.split_once('{').unwrap_or((series, ""));
        if metric != name {
            continue;
        }
        if labels.iter().all(|(k, v)| rest.contains(&format!("{k}=\"{v}\""))) {
            *found.get_or_insert(0.0) += value.parse::<f64>().unwrap();
        }
    }
    found
}

fn wait_for(what: &str, limit: Duration, mut done: impl FnMut() -> bool) {
    let started = Instant::now();
    while !done() {
        assert!(started.elapsed() < limit, "{what}: not within {limit:?}");
        std::thread::sleep(Duration::from_millis(250));
    }
}

#[test]
fn metrics_count_what_was_produced_and_readiness_follows_the_broker() {
    let tansu = Tansu::start();
    tansu.create_topic("posts", 4);
    let work = tempfile::tempdir().unwrap();
    let pipelines = copy_posts_pipeline(
        &work.path().join("pipelines"),
        &[("max_interval_ms = 5000", "max_interval_ms = 300")],
    );
    let port = free_port();
    let log = std::fs::File::create(work.path().join("weir.log")).unwrap();
    let mut host = WeirRun::new(&pipelines, &tansu.brokers())
        .listen(&format!("127.0.0.1:{port}"))
        .lake(&work.path().join("lakehouse"), &work.path().join("cache"))
        .env("POSTS_GROUP", "ops")
        .log("warn")
        .stderr(log)
        .spawn();
    let log = || std::fs::read_to_string(work.path().join("weir.log")).unwrap_or_default();

    wait_for("/healthz answers", Duration::from_secs(60), || {
        get(port, "/healthz").is_some_and(|(status, _)| status == 200)
    });
    wait_for("/readyz says ready", Duration::from_secs(60), || {
        get(port, "/readyz").is_some_and(|(status, _)| status == 200)
    });
    let (_, ready) = get(port, "/readyz").unwrap();
    assert!(ready.contains("posts: consuming"), "{ready}");

    demo::produce_to(&tansu.brokers(), "posts", 0..RECORDS).unwrap();
    let expected = demo::dataset(RECORDS);
    let committed = |text: &str, table: &str, format: &str| {
        sample(
            text,
            "weir_rows_committed_total",
            &[("pipeline", "posts"), ("table", table), ("format", format)],
        )
    };
    let mut text = String::new();
    wait_for("every record committed", Duration::from_secs(120), || {
        text = get(port, "/metrics").map(|(_, body)| body).unwrap_or_default();
        committed(&text, "silver", "iceberg") == Some(expected.silver_rows() as f64)
    });
    let posts = [("pipeline", "posts")];
    assert_eq!(
        sample(&text, "weir_records_in_total", &posts),
        Some(RECORDS as f64),
        "{}",
        log()
    );
    for format in ["delta", "iceberg"] {
        assert_eq!(committed(&text, "bronze", format), Some(RECORDS as f64), "{format}");
        assert_eq!(
            committed(&text, "silver", format),
            Some(expected.silver_rows() as f64),
            "{format}"
        );
        assert_eq!(
            committed(&text, "quarantine", format),
            Some(expected.invalid as f64),
            "{format}"
        );
    }
    // Every rejection is counted against the stage that made it: invalid posts only.
    let rejected = sample(
        &text,
        "weir_stage_records_total",
        &[("pipeline", "posts"), ("outcome", "rejected")],
    );
    assert_eq!(rejected, Some(expected.invalid as f64));
    let validate = |outcome| {
        sample(
            &text,
            "weir_stage_records_total",
            &[("pipeline", "posts"), ("stage", "validate"), ("outcome", outcome)],
        )
        .unwrap_or(0.0)
    };
    let normalize_rejected = sample(
        &text,
        "weir_stage_records_total",
        &[("pipeline", "posts"), ("stage", "normalize"), ("outcome", "rejected")],
    )
    .unwrap_or(0.0);
    assert_eq!(
        validate("accepted") + validate("rejected") + normalize_rejected,
        RECORDS as f64,
        "normalize passes everything it parses to validate"
    );
    assert_eq!(
        sample(&text, "weir_duplicates_total", &posts),
        Some(expected.duplicates as f64)
    );
    let calls = sample(
        &text,
        "weir_plugin_call_seconds_count",
        &[("pipeline", "posts"), ("stage", "validate")],
    );
    assert!(calls.is_some_and(|n| n > 0.0), "plugin call latency recorded");
    let commits = sample(
        &text,
        "weir_commit_seconds_count",
        &[("pipeline", "posts"), ("table", "silver"), ("format", "delta")],
    );
    assert!(commits.is_some_and(|n| n > 0.0), "commit latency recorded");
    // Error counters are there from the start at 0 (so an alert's increase() sees the first).
    assert_eq!(
        sample(&text, "weir_plugin_failures_total", &posts),
        Some(0.0),
        "no plugin failed"
    );
    for format in ["delta", "iceberg"] {
        let errors = [("pipeline", "posts"), ("table", "silver"), ("format", format)];
        assert_eq!(
            sample(&text, "weir_commit_errors_total", &errors),
            Some(0.0),
            "{format}"
        );
    }
    assert_eq!(
        sample(&text, "weir_pipeline_ready", &posts),
        Some(1.0),
        "posts consumes"
    );
    // Consumer lag per partition, from the client's statistics, reaches 0 once the group
    // offsets (committed after the tables) catch up.
    wait_for("lag of every partition reported as 0", Duration::from_secs(30), || {
        let text = get(port, "/metrics").map(|(_, body)| body).unwrap_or_default();
        (0..4).all(|p| {
            sample(
                &text,
                "weir_consumer_lag",
                &[("pipeline", "posts"), ("partition", &p.to_string())],
            ) == Some(0.0)
        })
    });

    let text = get(port, "/metrics").map(|(_, body)| body).unwrap_or_default();
    // What the Grafana dashboard and the autoscaler query is in a real /metrics.
    let dashboard = std::fs::read_to_string(common::repo_root().join("deploy/grafana/dashboards/weir.json")).unwrap();
    let hpa = std::fs::read_to_string(common::repo_root().join("deploy/k8s/hpa.yaml")).unwrap();
    for name in common::metric_names(&format!("{dashboard}\n{hpa}")) {
        assert!(text.contains(&format!("# TYPE {name} ")), "{name} is not in /metrics");
    }
    dashboard_queries_return_series(port);
    status_page_shows_the_pipeline(port, expected.silver_rows(), expected.invalid);
    // The broker goes away: not ready, while the process stays alive.
    drop(tansu);
    wait_for("/readyz says not ready", Duration::from_secs(30), || {
        get(port, "/readyz").is_some_and(|(status, _)| status == 503)
    });
    let (_, why) = get(port, "/readyz").unwrap();
    assert!(why.contains("posts: not ready"), "{why}");
    let text = get(port, "/metrics").map(|(_, body)| body).unwrap_or_default();
    assert_eq!(
        sample(&text, "weir_pipeline_ready", &posts),
        Some(0.0),
        "as /readyz says"
    );
    assert_eq!(get(port, "/healthz").map(|(status, _)| status), Some(200));
    assert!(host.try_wait().unwrap().is_none(), "weir run kept running: {}", log());
    host.kill().unwrap();
    host.wait().unwrap();
}

/// A real Prometheus scrapes `weir run` (on `port`) with the scrape config `deploy/` ships: every
/// metric the Grafana dashboard uses gets samples, and every panel's query returns series.
fn dashboard_queries_return_series(port: u16) {
    let prometheus = Prometheus::scraping(port);
    let text = std::fs::read_to_string(common::repo_root().join("deploy/grafana/dashboards/weir.json")).unwrap();
    let dashboard: serde_json::Value = serde_json::from_str(&text).unwrap();
    let queries: Vec<&str> = (dashboard["panels"].as_array().unwrap().iter())
        .flat_map(|panel| panel["targets"].as_array().into_iter().flatten())
        .filter_map(|target| target["expr"].as_str())
        .collect();
    assert!(queries.len() >= 5, "the dashboard's queries: {queries:?}");
    let names = common::metric_names(&text);
    for name in &names {
        // A histogram's samples are its `_bucket`, `_sum` and `_count` series.
        let samples = format!(r#"count({{__name__=~"{name}|{name}_bucket"}})"#);
        wait_for(
            &format!("Prometheus holds samples of {name}"),
            Duration::from_secs(90),
            || prometheus.query(&samples).is_some_and(|series| !series.is_empty()),
        );
    }
    for query in queries {
        wait_for(
            &format!("the dashboard's `{query}` returns series"),
            Duration::from_secs(90),
            || prometheus.query(query).is_some_and(|series| !series.is_empty()),
        );
    }
}

/// `/api/status` and the page at `/`, loaded by headless Chromium (Debian's `chromium`): the
/// posts pipeline consuming, its tables' rows, a quarantined record's reason. The screenshot is
/// saved as `<target>/tmp/status-page/status.png`.
fn status_page_shows_the_pipeline(port: u16, silver_rows: usize, invalid: usize) {
    let (code, body) = get(port, "/api/status").unwrap();
    assert_eq!(code, 200, "{body}");
    let status: serde_json::Value = serde_json::from_str(&body).unwrap();
    let posts = (status["pipelines"].as_array().unwrap().iter())
        .find(|p| p["name"] == "posts")
        .unwrap_or_else(|| panic!("no posts pipeline: {status}"));
    assert_eq!(posts["state"], "consuming", "{posts}");
    let table = |name: &str, format: &str| {
        (posts["tables"].as_array().unwrap().iter())
            .find(|t| t["table"] == name && t["format"] == format)
            .unwrap_or_else(|| panic!("no {name} {format} commit: {posts}"))
            .clone()
    };
    for format in ["delta", "iceberg"] {
        assert_eq!(table("silver", format)["rows_since_start"], silver_rows, "{format}");
        assert_eq!(table("quarantine", format)["rows_since_start"], invalid, "{format}");
        let lineage = &table("silver", format)["plugins"];
        assert!(
            lineage["validate"][0].as_str().is_some_and(|sha| sha.len() == 64),
            "{lineage}"
        );
    }
    let quarantined = posts["quarantined"].as_array().unwrap();
    assert_eq!(quarantined.len(), invalid.min(20), "the last 20 at most");
    assert!(
        quarantined
            .iter()
            .all(|q| q["stage"].is_string() && q["reason"].is_string())
    );
    assert_eq!(posts["partitions"].as_array().unwrap().len(), 4, "{posts}");

    let out = std::path::PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("status-page");
    std::fs::create_dir_all(&out).unwrap();
    let shot = out.join("status.png");
    let _ = std::fs::remove_file(&shot);
    let url = format!("http://127.0.0.1:{port}/");
    let dom = chromium(&[
        "--window-size=1280,2000",
        &format!("--screenshot={}", shot.display()),
        &url,
    ]);
    let png = std::fs::read(&shot).unwrap_or_default();
    assert!(
        png.starts_with(b"\x89PNG") && png.len() > 10_000,
        "no screenshot: {dom}"
    );
    let dom = chromium(&["--dump-dom", &url]);
    assert!(dom.contains(r#"data-pipeline="posts""#), "{dom}");
    assert!(dom.contains(r#"data-state="consuming""#), "{dom}");
    let rows = silver_rows.to_string();
    let with_commas = rows
        .as_bytes()
        .rchunks(3)
        .rev()
        .map(|c| std::str::from_utf8(c).unwrap())
        .collect::<Vec<_>>()
        .join(",");
    assert!(
        dom.contains(&format!(">{with_commas}<")),
        "silver's {with_commas} rows are not shown: {dom}"
    );
    // A reason as the page shows it (text, so HTML-escaped).
    let reason = quarantined
        .iter()
        .filter_map(|q| q["reason"].as_str())
        .find(|r| !r.contains(['&', '<', '>', '"']))
        .unwrap();
    assert!(
        dom.contains(&format!(r#"<span class="quarantine-reason">{reason}</span>"#)),
        "{reason}: {dom}"
    );
}

/// Headless Chromium with `args`, as root (no sandbox) and without its background traffic; its
/// stdout (the DOM, for `--dump-dom`). Virtual time lets the page's fetch finish first.
fn chromium(args: &[&str]) -> String {
    let profile = tempfile::tempdir().unwrap();
    let out = Command::new("chromium")
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--virtual-time-budget=5000",
        ])
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("chromium (Debian's package; scripts/setup-test-services.sh installs it)");
    assert!(
        out.status.success(),
        "chromium: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Plugins that trap or overrun their deadline are counted per stage and failure, in process
/// (the metrics registry is this process's).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn traps_and_deadline_hits_are_counted_per_plugin() {
    use weir::config;
    use weir::pipeline::PipelineRunner;
    use weir::plugin::PluginEngine;
    use weir::source::{PartitionBatch, SourceRecord};

    let work = tempfile::tempdir().unwrap();
    let hostile = "[[stages]]\nname = \"panics\"\nplugin = \"panic.wasm\"\nkind = \"transform\"\n\n\
                   [[stages]]\nname = \"spins\"\nplugin = \"spin.wasm\"\nkind = \"transform\"\n\
                   limits = { deadline_ms = 50, memory_mib = 64 }\n\n[[stages]]\nname = \"normalize\"";
    let pipelines = copy_posts_pipeline(
        &work.path().join("pipelines"),
        &[("[[stages]]\nname = \"normalize\"", hostile)],
    );
    let posts = pipelines.join("posts");
    std::fs::copy(
        common::plugin_path("weir_hostile_panic_on_record"),
        posts.join("panic.wasm"),
    )
    .unwrap();
    std::fs::copy(
        common::plugin_path("weir_hostile_spin_forever"),
        posts.join("spin.wasm"),
    )
    .unwrap();
    let text = std::fs::read_to_string(posts.join("pipeline.toml")).unwrap();
    std::fs::write(posts.join("pipeline.toml"), format!("name = \"ops-failures\"\n{text}")).unwrap();
    let vars = [
        ("KAFKA_BROKERS".to_string(), "127.0.0.1:1".to_string()),
        (
            "WEIR_LAKEHOUSE".to_string(),
            work.path().join("lake").display().to_string(),
        ),
    ]
    .into();
    let mut pipeline = config::load(&posts.join("pipeline.toml"), &config::from_map(&vars)).unwrap();
    pipeline.tables.format = vec![config::TableFormat::Delta];
    let engine = PluginEngine::new(work.path().join("cache")).unwrap();
    let mut runner = PipelineRunner::start(pipeline, &engine).await.unwrap();

    let post = |i: usize, extra: &str| {
        format!(
            r#"{{"id":"t3_{i}","subreddit":"rust","author":"a","title":"t","score":1,"created_utc":1700000000{extra}}}"#
        )
    };
    let values: Vec<String> = (0..40)
        .map(|i| match i % 10 {
            3 => post(i, r#","panic":true"#),
            7 if i < 10 => post(i, r#","spin":true"#),
            _ => post(i, ""),
        })
        .collect();
    let records = values
        .iter()
        .enumerate()
        .map(|(i, v)| SourceRecord {
            partition: 0,
            offset: i as i64,
            timestamp_ms: None,
            key: None,
            value: Some(v.clone().into_bytes()),
            headers: Vec::new(),
            malformed: None,
        })
        .collect();
    runner
        .ingest(PartitionBatch {
            topic: "posts".into(),
            partition: 0,
            records,
        })
        .unwrap();
    let text = weir::metrics::metrics().render();
    let pipeline = ("pipeline", "ops-failures");
    let failures = |stage, failure| {
        sample(
            &text,
            "weir_plugin_failures_total",
            &[pipeline, ("stage", stage), ("failure", failure)],
        )
    };
    assert_eq!(failures("panics", "trap"), Some(4.0), "{text}");
    assert_eq!(failures("spins", "deadline"), Some(1.0), "{text}");
    let failed = |stage| {
        sample(
            &text,
            "weir_stage_records_total",
            &[pipeline, ("stage", stage), ("outcome", "failed")],
        )
    };
    assert_eq!((failed("panics"), failed("spins")), (Some(4.0), Some(1.0)));
    assert_eq!(
        sample(
            &text,
            "weir_stage_records_total",
            &[pipeline, ("stage", "spins"), ("outcome", "accepted")],
        ),
        Some(35.0)
    );
}

/// SIGTERM during start-up (plugins still compiling, tables not open yet) ends in a clean stop
/// with exit status 0, not death by the signal.
#[test]
fn sigterm_during_start_up_is_a_clean_stop() {
    use std::io::BufRead as _;
    let tansu = Tansu::start();
    tansu.create_topic("posts", 4);
    let work = tempfile::tempdir().unwrap();
    let pipelines = copy_posts_pipeline(&work.path().join("pipelines"), &[]);
    let mut host = WeirRun::new(&pipelines, &tansu.brokers())
        // An empty compile cache: start-up takes a while.
        .lake(&work.path().join("lakehouse"), &work.path().join("cache"))
        .env("POSTS_GROUP", "early-sigterm")
        .stderr(Stdio::piped())
        .spawn();
    // The first log line: the process is up and starting its pipelines.
    let mut stderr = std::io::BufReader::new(host.stderr.take().unwrap());
    let mut first = String::new();
    stderr.read_line(&mut first).unwrap();
    let status = Command::new("kill")
        .args(["-TERM", &host.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let mut rest = String::new();
    std::io::Read::read_to_string(&mut stderr, &mut rest).unwrap();
    let exit = host.wait().unwrap();
    assert_eq!(exit.code(), Some(0), "{exit}; first line: {first}\n{rest}");
    assert!(rest.contains("stopping"), "{first}\n{rest}");
}
