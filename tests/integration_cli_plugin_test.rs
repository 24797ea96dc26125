//! `weir plugin test`, run as a user runs it.
#![allow(clippy::unwrap_used)] // a test crate: panicking is how it fails

mod common;

use std::process::Command;

use serde_json::Value;

fn weir(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_weir"))
        .args(args)
        .env("WEIR_CACHE_DIR", std::env::temp_dir().join("weir-cli-test-cache"))
        .output()
        .expect("weir runs");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn posts() -> String {
    common::repo_root()
        .join("tests/fixtures/posts.jsonl")
        .display()
        .to_string()
}

#[test]
fn prints_one_json_verdict_per_record_and_a_summary() {
    let plugin = common::plugin_path("weir-validate").display().to_string();
    let config = std::fs::read_to_string(common::repo_root().join("tests/fixtures/validate-config.json")).unwrap();
    let (code, stdout, stderr) = weir(&["plugin", "test", &plugin, "--input", &posts(), "--config", &config]);
    assert_eq!(code, 0, "{stderr}");
    let lines: Vec<Value> = stdout
        .lines()
        .map(|l| serde_json::from_str(l).expect("JSON line"))
        .collect();
    assert_eq!(lines.len(), 10);
    for (i, line) in lines.iter().enumerate() {
        assert_eq!(line["record"], i);
    }
    assert_eq!(lines[0]["outcome"], "accepted");
    assert_eq!(lines[3]["outcome"], "rejected");
    assert_eq!(lines[3]["reason"], "missing required field `id`");
    assert!(
        stderr.contains("10 records: 4 accepted -> 4 outputs, 6 rejected, 0 failed"),
        "{stderr}"
    );
}

#[test]
fn runs_aggregate_plugins_too() {
    let plugin = common::plugin_path("weir-avg-score").display().to_string();
    let config = r#"{"group_by":"subreddit","field":"score"}"#;
    let input = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(
        input.path(),
        "{\"subreddit\":\"a\",\"score\":1}\n{\"subreddit\":\"a\",\"score\":3}\n",
    )
    .unwrap();
    let input = input.path().display().to_string();
    let (code, stdout, stderr) = weir(&["plugin", "test", &plugin, "--input", &input, "--config", config]);
    assert_eq!(code, 0, "{stderr}");
    let last: Value = serde_json::from_str(stdout.lines().last().unwrap()).unwrap();
    assert_eq!(
        last,
        serde_json::json!({"group": "a", "row": {"avg_score": 2.0, "post_count": 2}})
    );
}

/// Each broken case exits non-zero with exactly one line on stderr, starting with `error:`.
#[test]
fn exits_non_zero_with_one_line_for_each_kind_of_broken_plugin() {
    let not_wasm = posts();
    let wrong_world = common::plugin_path("weir-hostile-wrong-world").display().to_string();
    let validate = common::plugin_path("weir-validate").display().to_string();
    let cases: [(&str, &str, &str); 4] = [
        (&not_wasm, "{}", "is not a WebAssembly file"),
        (&wrong_world, "{}", "does not implement a Weir plugin world"),
        (
            &validate,
            r#"{"ranges":{"score":{"min":9,"max":1}}}"#,
            "refused its config: range of `score`",
        ),
        (&validate, "{not json", "--config is not valid JSON"),
    ];
    for (plugin, config, expected) in cases {
        let (code, stdout, stderr) = weir(&["plugin", "test", plugin, "--input", &posts(), "--config", config]);
        assert_ne!(code, 0, "{plugin}");
        assert!(stdout.is_empty(), "{stdout}");
        let lines: Vec<&str> = stderr.lines().collect();
        assert_eq!(lines.len(), 1, "one line: {stderr}");
        assert!(
            lines[0].starts_with("error: ") && lines[0].contains(expected),
            "{stderr}"
        );
    }
}

/// Runs `weir plugin test` and samples its peak resident memory (VmHWM) until it exits.
fn weir_peak_rss(args: &[&str]) -> (i32, String, u64) {
    use std::io::Read as _;
    let mut child = Command::new(env!("CARGO_BIN_EXE_weir"))
        .args(args)
        .env("WEIR_CACHE_DIR", std::env::temp_dir().join("weir-cli-test-cache"))
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("weir runs");
    let mut stdout = child.stdout.take().unwrap();
    let reader = std::thread::spawn(move || {
        let mut text = String::new();
        stdout.read_to_string(&mut text).unwrap();
        text
    });
    let status_file = format!("/proc/{}/status", child.id());
    let mut peak_kib = 0;
    loop {
        if let Ok(status) = std::fs::read_to_string(&status_file)
            && let Some(line) = status.lines().find(|l| l.starts_with("VmHWM:"))
        {
            let kib: u64 = line.split_whitespace().nth(1).unwrap().parse().unwrap();
            peak_kib = peak_kib.max(kib);
        }
        if let Some(status) = child.try_wait().unwrap() {
            return (status.code().unwrap_or(-1), reader.join().unwrap(), peak_kib);
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}

fn numbered_records(dir: &std::path::Path, n: usize) -> String {
    let path = dir.join("records.jsonl");
    let lines: Vec<String> = (0..n).map(|i| format!(r#"{{"id":{i},"key":"k{}"}}"#, i % 10)).collect();
    std::fs::write(&path, lines.join("\n")).unwrap();
    path.display().to_string()
}

#[test]
fn a_50_mb_reason_on_every_record_keeps_the_host_under_a_gibibyte() {
    let work = tempfile::tempdir().unwrap();
    let input = numbered_records(work.path(), 300);
    let plugin = common::plugin_path("weir-hostile-misbehave").display().to_string();
    let args = [
        "plugin",
        "test",
        &plugin,
        "--input",
        &input,
        "--config",
        r#"{"reason_mb":50}"#,
    ];
    let (code, stdout, peak_kib) = weir_peak_rss(&args);
    assert_eq!(code, 0);
    let verdicts: Vec<Value> = stdout.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(verdicts.len(), 300, "one verdict per record");
    assert!(
        verdicts
            .iter()
            .all(|v| v["outcome"] == "rejected" || v["outcome"] == "failed"),
        "every record is refused"
    );
    println!("peak RSS with 50 MB reasons: {} MiB", peak_kib / 1024);
    assert!(peak_kib < 1 << 20, "peak RSS {peak_kib} KiB");
}

#[test]
fn a_100_mb_aggregate_state_keeps_the_host_under_a_gibibyte() {
    let work = tempfile::tempdir().unwrap();
    let input = numbered_records(work.path(), 300);
    let plugin = common::plugin_path("weir-hostile-huge-state").display().to_string();
    let args = [
        "plugin",
        "test",
        &plugin,
        "--input",
        &input,
        "--config",
        r#"{"state_mb":100}"#,
    ];
    let (code, stdout, peak_kib) = weir_peak_rss(&args);
    assert_eq!(code, 0);
    let groups: Vec<Value> = stdout
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .filter(|v| v.get("group").is_some())
        .collect();
    assert_eq!(groups.len(), 10, "{stdout}");
    assert!(groups.iter().all(|g| g["error"].is_string()), "{groups:?}");
    println!("peak RSS with 100 MB states: {} MiB", peak_kib / 1024);
    assert!(peak_kib < 1 << 20, "peak RSS {peak_kib} KiB");
}
