//! Hostile plugins, built from plugins/hostile, are each contained, and the same stage goes on
//! serving the next batch.
#![allow(clippy::unwrap_used)] // a test crate: panicking is how it fails

mod common;

use std::net::TcpListener;
use std::time::{Duration, Instant};

use common::{context, engine, load, plugin_path, record, spec};
use serde_json::Value;
use weir::plugin::{
    DEADLINE_SLACK, Failure, Limits, LogSource, Outputs, Plugin, PluginError, PluginKind, Record, TransformStage,
    Verdict,
};

fn normal(i: usize) -> Record {
    record(&format!(r#"{{"id":{i}}}"#))
}

/// After a failure the stage must keep working: a fresh batch passes whole.
fn assert_serves_next_batch(stage: &mut TransformStage) {
    let batch: Vec<Record> = (0..10).map(normal).collect();
    let verdicts = stage.process(&batch, context());
    for (verdict, rec) in verdicts.iter().zip(&batch) {
        let Verdict::Ok(outputs) = verdict else {
            panic!("{verdict:?}")
        };
        assert_eq!(outputs.resolve(rec), vec![rec], "the record passes through");
    }
}

#[test]
fn an_infinite_loop_is_stopped_by_the_deadline_within_twice_its_length() {
    let (engine, _cache) = engine();
    let limits = Limits {
        deadline_ms: 300,
        ..Limits::default()
    };
    let mut stage = TransformStage::start(spec(load(&engine, "weir-hostile-spin-forever"), "{}", limits)).unwrap();

    let started = Instant::now();
    let verdicts = stage.process(&[record(r#"{"spin":true}"#)], context());
    let elapsed = started.elapsed();
    assert_eq!(verdicts, vec![Verdict::Failed(Failure::Deadline { deadline_ms: 300 })]);
    assert!(elapsed >= Duration::from_millis(300), "stopped early: {elapsed:?}");
    assert!(
        elapsed < Duration::from_millis(600),
        "stopped late: {elapsed:?} (slack {DEADLINE_SLACK:?})"
    );

    // In a mixed batch only the spinning record fails.
    let batch = vec![normal(1), record(r#"{"spin":true}"#), normal(2)];
    let verdicts = stage.process(&batch, context());
    assert_eq!(verdicts[0], Verdict::Ok(Outputs::Records(vec![batch[0].clone()])));
    assert!(matches!(verdicts[1], Verdict::Failed(Failure::Deadline { .. })));
    assert_eq!(verdicts[2], Verdict::Ok(Outputs::Records(vec![batch[2].clone()])));
    assert_serves_next_batch(&mut stage);
}

#[test]
fn a_plugin_hanging_on_every_record_costs_a_bounded_time_and_loses_nothing() {
    let (engine, _cache) = engine();
    let limits = Limits {
        deadline_ms: 20,
        ..Limits::default()
    };
    let mut stage = TransformStage::start(spec(load(&engine, "weir-hostile-spin-forever"), "{}", limits)).unwrap();
    let batch: Vec<Record> = (0..256).map(|_| record(r#"{"spin":true}"#)).collect();
    let started = Instant::now();
    let verdicts = stage.process(&batch, context());
    assert_eq!(verdicts.len(), 256, "every record gets a verdict");
    assert!(
        verdicts
            .iter()
            .all(|v| matches!(v, Verdict::Failed(Failure::Deadline { .. })))
    );
    // The isolation budget allows 14 deadline hits (plus the final ones on single records).
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "took {:?}",
        started.elapsed()
    );
    assert_serves_next_batch(&mut stage);
}

#[test]
fn a_memory_bomb_is_stopped_at_the_cap() {
    let (engine, _cache) = engine();
    let limits = Limits {
        memory_mib: 32,
        ..Limits::default()
    };
    let mut stage = TransformStage::start(spec(load(&engine, "weir-hostile-memory-bomb"), "{}", limits)).unwrap();
    let batch = vec![normal(1), record(r#"{"bomb":true}"#), normal(2)];
    let verdicts = stage.process(&batch, context());
    assert_eq!(verdicts[0], Verdict::Ok(Outputs::Records(vec![batch[0].clone()])));
    assert_eq!(verdicts[1], Verdict::Failed(Failure::MemoryLimit { limit_mib: 32 }));
    assert_eq!(verdicts[2], Verdict::Ok(Outputs::Records(vec![batch[2].clone()])));
    assert_serves_next_batch(&mut stage);
}

#[test]
fn a_panic_on_one_record_in_a_thousand_rejects_only_that_record() {
    let (engine, _cache) = engine();
    let mut stage = TransformStage::start(spec(
        load(&engine, "weir-hostile-panic-on-record"),
        "{}",
        Limits::default(),
    ))
    .unwrap();
    let poison = 613;
    let batch: Vec<Record> = (0..1000)
        .map(|i| {
            if i == poison {
                record(r#"{"panic":true}"#)
            } else {
                normal(i)
            }
        })
        .collect();
    let verdicts = stage.process(&batch, context());
    assert_eq!(verdicts.len(), 1000);
    for (i, (verdict, rec)) in verdicts.iter().zip(&batch).enumerate() {
        if i == poison {
            let Verdict::Failed(Failure::Trap { message }) = verdict else {
                panic!("{verdict:?}")
            };
            assert!(message.contains("unreachable"), "{message}");
        } else {
            assert_eq!(verdict, &Verdict::Ok(Outputs::Records(vec![rec.clone()])), "record {i}");
        }
    }
    let log = &stage.spec().log;
    assert!(
        log.recent()
            .iter()
            .any(|l| l.source == LogSource::Stderr && l.text.contains("poison record")),
        "the panic message is captured into the host log: {:?}",
        log.recent()
    );
    assert_serves_next_batch(&mut stage);
}

#[test]
fn files_environment_and_sockets_are_out_of_reach() {
    let (engine, _cache) = engine();
    // A real listener the plugin is told to connect to: it must never see a connection.
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let port = listener.local_addr().unwrap().port();
    let secret = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(secret.path(), "top secret").unwrap();
    // SAFETY of intent: set in this test process only; the plugin must not see it.
    let config = serde_json::json!({"file": secret.path(), "port": port}).to_string();
    let mut stage = TransformStage::start(spec(
        load(&engine, "weir-hostile-sandbox-escape"),
        &config,
        Limits::default(),
    ))
    .unwrap();

    let verdicts = stage.process(&[normal(1)], context());
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

    // Its stdout and stderr went to the host log, not to the host's own streams.
    let lines = stage.spec().log.recent();
    assert!(
        lines
            .iter()
            .any(|l| l.source == LogSource::Stdout && l.text == "sandbox-escape: stdout line")
    );
    assert!(
        lines
            .iter()
            .any(|l| l.source == LogSource::Stderr && l.text == "sandbox-escape: stderr line")
    );
}

#[test]
fn a_component_of_another_world_is_refused_with_a_clear_error() {
    let (engine, cache) = engine();
    let err = Plugin::load_file(&engine, &plugin_path("weir-hostile-wrong-world")).unwrap_err();
    assert!(matches!(err, PluginError::NotAPlugin { .. }), "{err:?}");
    let message = err.to_string();
    assert!(
        message.contains("does not implement a Weir plugin world") && message.contains("greet"),
        "{message}"
    );
    // Refused from its section headers: nothing was compiled (the cache holds no component).
    assert_eq!(
        compiled(cache.path()).len(),
        0,
        "the refused component was compiled first"
    );
    load(&engine, "weir-validate");
    assert_eq!(
        compiled(cache.path()).len(),
        1,
        "a plugin that loads is compiled into the cache"
    );
}

#[test]
fn an_aggregate_plugin_cannot_be_used_as_a_transform() {
    let (engine, _cache) = engine();
    let plugin = load(&engine, "weir-avg-score");
    assert_eq!(plugin.kind(), PluginKind::Aggregate);
    let err = TransformStage::start(spec(plugin, "{}", Limits::default())).unwrap_err();
    assert!(
        err.to_string()
            .contains("is an aggregate plugin, but this stage needs a transform plugin"),
        "{err}"
    );
}

#[test]
fn files_that_are_not_components_are_refused_with_a_clear_error() {
    let (engine, _cache) = engine();
    let cases: [(&[u8], &str); 4] = [
        (b"{\"not\": \"wasm\"}", "is not a WebAssembly file"),
        (b"", "is not a WebAssembly file"),
        (b"\0asm\x01\0\0\0", "is a core WebAssembly module, not a component"),
        (b"\0asm\x0d\0\x01\0\xff\xff\xff", "is not a valid WebAssembly component"),
    ];
    for (bytes, expected) in cases {
        let err = Plugin::load_bytes(&engine, "bad.wasm", bytes).unwrap_err();
        assert!(err.to_string().contains(expected), "{err}");
        assert!(!err.to_string().contains('\n'), "one line: {err}");
    }
}

#[test]
fn a_refused_config_stops_the_stage_before_any_record() {
    let (engine, _cache) = engine();
    let err = TransformStage::start(spec(
        load(&engine, "weir-validate"),
        r#"{"requird":["id"]}"#,
        Limits::default(),
    ))
    .unwrap_err();
    assert!(matches!(err, PluginError::ConfigRefused { .. }), "{err:?}");
    assert!(err.to_string().contains("unknown field `requird`"), "{err}");
}

/// The compiled components in the cache under `root` (its `functions` folder holds functions).
fn compiled(root: &std::path::Path) -> Vec<String> {
    std::fs::read_dir(root.join("components"))
        .map(|dir| {
            dir.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|name| name.ends_with(".cwasm"))
                .collect()
        })
        .unwrap_or_default()
}

#[test]
fn compiled_components_are_cached_by_content_hash() {
    let (engine, cache) = engine();
    let first = load(&engine, "weir-validate");
    let cached = compiled(cache.path());
    assert_eq!(cached.len(), 1);
    let name = &cached[0];
    assert!(name.starts_with(first.sha256()) && name.ends_with(".cwasm"), "{name}");
    // A second load comes from the cache and behaves the same.
    let second = load(&engine, "weir-validate");
    assert_eq!(first.sha256(), second.sha256());
    let mut stage = TransformStage::start(spec(second, "{}", Limits::default())).unwrap();
    assert_serves_next_batch(&mut stage);
}
