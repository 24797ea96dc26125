//! `weir plugin new` writes a skeleton that works: for each language and world, the skeleton is
//! written, built from source by `scripts/build-plugin.sh` (the one build command of every
//! language, which installs its tool when missing), and run on its own sample input by
//! `weir plugin test`, as the README walks a user through it.
#![allow(clippy::unwrap_used)] // a test crate: panicking is how it fails

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::{Value, json};

/// Runs `command` and returns its stdout; fails the test with its stderr when it fails.
fn run(command: &mut Command) -> String {
    let out = command.output().expect("command starts");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{command:?} failed: {stderr}");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn weir() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_weir"));
    // The persistent compile cache (scripts/env.sh): a skeleton built the same way compiles once.
    command.env("WEIR_CACHE_DIR", weir::plugin::PluginEngine::default_cache_dir());
    command
}

/// Writes the skeleton `name` of `lang` and `world` under `parent`, builds it, and returns the
/// component.
fn new_and_build(parent: &Path, name: &str, lang: &str, world: &str) -> PathBuf {
    run(weir()
        .args(["plugin", "new", name, "--lang", lang, "--world", world, "--dir"])
        .arg(parent));
    let dir = parent.join(name);
    assert!(dir.join("sample.jsonl").is_file(), "the skeleton has a sample input");
    run(Command::new(common::repo_root().join("scripts/build-plugin.sh")).arg(&dir));
    let component = dir.join(format!("{}.wasm", name.replace('-', "_")));
    assert!(component.is_file(), "{} was not built", component.display());
    component
}

/// `weir plugin test` of `component` on its sample, one JSON value per line printed.
fn plugin_test(component: &Path, config: &str) -> Vec<Value> {
    let sample = component.parent().unwrap().join("sample.jsonl");
    let out = run(weir()
        .args(["plugin", "test"])
        .arg(component)
        .arg("--input")
        .arg(sample)
        .args(["--config", config]));
    out.lines().map(|l| serde_json::from_str(l).unwrap()).collect()
}

/// Numbers as doubles: Python and JavaScript write `1250` where Rust may write `1250.0`.
fn doubles(value: &Value) -> Value {
    match value {
        Value::Number(n) => json!(n.as_f64().unwrap()),
        Value::Array(items) => Value::Array(items.iter().map(doubles).collect()),
        Value::Object(map) => Value::Object(map.iter().map(|(k, v)| (k.clone(), doubles(v))).collect()),
        other => other.clone(),
    }
}

/// The transform skeleton on its sample: `amount_cents` added, a record without `user` rejected
/// with its reason, a record whose amount is not a number passed unchanged.
fn check_transform(component: &Path) {
    let lines = plugin_test(component, r#"{"required":["id","user"]}"#);
    let outputs = |i: usize| doubles(&lines[i]["outputs"]);
    assert_eq!(lines.len(), 4, "{lines:?}");
    assert_eq!(
        outputs(0),
        doubles(&json!([{"id":"a1","user":"ann","amount":12.5,"amount_cents":1250}]))
    );
    assert_eq!(
        outputs(1),
        doubles(&json!([{"id":"a2","user":"bob","amount":3,"amount_cents":300}]))
    );
    assert_eq!(lines[2]["outcome"], "rejected", "{lines:?}");
    assert_eq!(lines[2]["reason"], "missing required field `user`");
    assert_eq!(outputs(3), doubles(&json!([{"id":"a4","user":"ann","amount":"lots"}])));
}

/// The aggregate skeleton on its sample: keys by `user`, a record without one rejected, and one
/// row per group summing the numeric amounts and counting the records.
fn check_aggregate(component: &Path) {
    let lines = plugin_test(component, r#"{"group_by":"user"}"#);
    let keys: Vec<&Value> = lines.iter().take(4).map(|l| &l["key"]).collect();
    assert_eq!(
        keys,
        [&json!("ann"), &json!("bob"), &Value::Null, &json!("ann")],
        "{lines:?}"
    );
    assert_eq!(lines[2]["reason"], "no `user`", "{lines:?}");
    let rows: Vec<Value> = (lines.iter().skip(4))
        .map(|l| doubles(&json!({"group": l["group"], "row": l["row"]})))
        .collect();
    assert_eq!(
        rows,
        [
            doubles(&json!({"group":"ann","row":{"total":12.5,"count":2}})),
            doubles(&json!({"group":"bob","row":{"total":3,"count":1}})),
        ]
    );
}

fn skeletons_work(lang: &str) {
    let parent = tempfile::tempdir().unwrap();
    check_transform(&new_and_build(
        parent.path(),
        &format!("new-{lang}-transform"),
        lang,
        "transform",
    ));
    check_aggregate(&new_and_build(
        parent.path(),
        &format!("new-{lang}-aggregate"),
        lang,
        "aggregate",
    ));
}

#[test]
fn rust_skeletons_build_and_run() {
    skeletons_work("rust");
}

#[test]
fn python_skeletons_build_and_run() {
    skeletons_work("python");
}

#[test]
fn javascript_skeletons_build_and_run() {
    skeletons_work("js");
}
