//! The HTTP produce API under load, in one run against one tansu broker: Python's
//! confluent-kafka producer (librdkafka, the same settings as Weir's intake producer) writes as
//! fast as it can for 15 s; then `weir run --intake` takes POSTs of 100 posts each from `wrk`
//! (64 connections, 30 s); then the Python producer again. Prints accepted records/s of each,
//! their ratio, wrk's p50 and p99 latency, refusals (429) and Weir's peak resident memory.
//! Then an overload: 256 connections posting 1,000 posts each, more than the intake's budget of
//! records waiting for the broker (200,000) holds, for 15 s: the surplus must be refused (429)
//! and Weir's memory stay bounded.
//! Run: `scripts/bench.sh intake` (installs wrk when missing).
#![allow(clippy::unwrap_used)] // a benchmark: panicking is how it fails

#[allow(dead_code)] // shared with the integration tests; this benchmark uses only tansu
#[path = "../../tests/common/services.rs"]
mod services;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const TOPIC: &str = "load";
const PER_REQUEST: usize = 100;
const LOAD_SECONDS: u64 = 30;
const BASELINE_SECONDS: u64 = 15;
const CONNECTIONS: usize = 64;
const OVERLOAD_CONNECTIONS: usize = 256;
const OVERLOAD_PER_REQUEST: usize = 1_000;
const OVERLOAD_SECONDS: u64 = 15;

fn readers_python() -> PathBuf {
    let readers = std::env::var("WEIR_READERS").expect("WEIR_READERS (scripts/env.sh) is set");
    Path::new(&readers).join("bin/python")
}

/// Records/s the Python producer had acknowledged over `seconds`.
fn baseline(brokers: &str, value_file: &Path) -> f64 {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("benches/support/produce_baseline.py");
    let out = Command::new(readers_python())
        .arg(script)
        .args([brokers, TOPIC, &BASELINE_SECONDS.to_string()])
        .arg(value_file)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let result: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    result["records"].as_f64().unwrap() / result["seconds"].as_f64().unwrap()
}

/// GETs `path` from the host; the body.
fn get(port: u16, path: &str) -> Option<String> {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(("127.0.0.1", port)).ok()?;
    write!(stream, "GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").ok()?;
    let mut response = String::new();
    stream.read_to_string(&mut response).ok()?;
    Some(response.split_once("\r\n\r\n")?.1.to_string())
}

/// The produce API's accepted records so far (`weir_intake_records_total`).
fn accepted(port: u16) -> f64 {
    let text = get(port, "/metrics").unwrap_or_default();
    let wanted = format!("weir_intake_records_total{{outcome=\"accepted\",topic=\"{TOPIC}\"}} ");
    text.lines()
        .find_map(|l| l.strip_prefix(&wanted))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0.0)
}

/// The host's peak resident set (VmHWM), MiB.
fn peak_rss_mib(pid: u32) -> f64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .map_or(f64::NAN, |kb| kb / 1024.0)
}

/// wrk's Lua script: every request POSTs the same `per_request` posts.
fn wrk_script(dir: &Path, per_request: usize) -> PathBuf {
    let records: Vec<serde_json::Value> = (0..per_request)
        .map(|i| {
            let (key, value, _) = weir::sample::post(i + 1);
            let value: serde_json::Value = serde_json::from_str(&value).unwrap_or(serde_json::Value::String(value));
            serde_json::json!({"key": key, "value": value})
        })
        .collect();
    let body = serde_json::json!({ "records": records }).to_string();
    let lua = format!(
        "wrk.method = \"POST\"\nwrk.headers[\"Content-Type\"] = \"application/vnd.kafka.json.v2+json\"\nwrk.body = [==[{body}]==]\n"
    );
    let path = dir.join(format!("post-{per_request}.lua"));
    std::fs::write(&path, lua).unwrap();
    path
}

/// The value of wrk's line starting with `label` (e.g. `50%`), as milliseconds.
fn wrk_ms(text: &str, label: &str) -> f64 {
    let value = text
        .lines()
        .find_map(|l| l.trim().strip_prefix(label))
        .map(str::trim)
        .unwrap_or("nan");
    let (number, unit) = value.split_at(value.find(|c: char| c.is_ascii_alphabetic()).unwrap_or(value.len()));
    let number: f64 = number.parse().unwrap_or(f64::NAN);
    match unit {
        "us" => number / 1000.0,
        "s" => number * 1000.0,
        _ => number,
    }
}

/// Runs wrk against `url` with `script`: the records/s the intake accepted meanwhile, and
/// what wrk printed.
fn load(port: u16, url: &str, script: &Path, connections: usize, seconds: u64) -> (f64, String) {
    let at_start = accepted(port);
    let started = Instant::now();
    let wrk = Command::new("wrk")
        .args([
            "-t2",
            &format!("-c{connections}"),
            &format!("-d{seconds}s"),
            "--latency",
            "-s",
        ])
        .arg(script)
        .arg(url)
        .output()
        .expect("wrk runs (scripts/bench.sh intake installs it)");
    let rate = (accepted(port) - at_start) / started.elapsed().as_secs_f64();
    (rate, String::from_utf8_lossy(&wrk.stdout).to_string())
}

/// wrk's count of answers that were not 2xx.
fn non_2xx(text: &str) -> String {
    text.lines()
        .find_map(|l| l.trim().strip_prefix("Non-2xx or 3xx responses:"))
        .map_or("0".to_string(), |n| n.trim().to_string())
}

fn main() {
    let tansu = services::Tansu::start();
    tansu.create_topic(TOPIC, 4);
    let brokers = tansu.brokers();
    let work = tempfile::tempdir().unwrap();
    let value_file = work.path().join("value.json");
    std::fs::write(&value_file, weir::sample::post(1).1).unwrap();
    let intake = work.path().join("intake.toml");
    std::fs::write(&intake, format!("brokers = \"{brokers}\"\ntopics = [\"{TOPIC}\"]\n")).unwrap();
    let pipelines = work.path().join("pipelines");
    std::fs::create_dir_all(&pipelines).unwrap();

    let before = baseline(&brokers, &value_file);
    println!("python confluent-kafka producer (1st turn)  {before:>10.0} records/s");

    let port = services::free_port();
    let mut host = Command::new(env!("CARGO_BIN_EXE_weir"))
        .args([
            "run",
            "--no-watch",
            "--listen",
            &format!("127.0.0.1:{port}"),
            "--intake",
        ])
        .arg(&intake)
        .arg(&pipelines)
        .env("WEIR_LOG", "warn")
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let started = Instant::now();
    while get(port, "/healthz").is_none() {
        assert!(started.elapsed() < Duration::from_secs(60), "weir run did not answer");
        std::thread::sleep(Duration::from_millis(100));
    }
    let url = format!("http://127.0.0.1:{port}/topics/{TOPIC}");
    let (rate, text) = load(
        port,
        &url,
        &wrk_script(work.path(), PER_REQUEST),
        CONNECTIONS,
        LOAD_SECONDS,
    );
    let rss = peak_rss_mib(host.id());
    println!("weir HTTP intake ({CONNECTIONS} connections, {PER_REQUEST} records per POST) {rate:>10.0} records/s");
    println!(
        "  latency p50 {:.1} ms, p99 {:.1} ms; non-2xx answers (429: busy) {}; weir peak RSS {rss:.0} MiB",
        wrk_ms(&text, "50%"),
        wrk_ms(&text, "99%"),
        non_2xx(&text)
    );
    let big = wrk_script(work.path(), OVERLOAD_PER_REQUEST);
    let (over, over_text) = load(port, &url, &big, OVERLOAD_CONNECTIONS, OVERLOAD_SECONDS);
    println!(
        "overload ({OVERLOAD_CONNECTIONS} connections, {OVERLOAD_PER_REQUEST} records per POST) {over:>10.0} records/s accepted; p99 {:.1} ms; non-2xx answers (429: busy) {}; weir peak RSS {:.0} MiB",
        wrk_ms(&over_text, "99%"),
        non_2xx(&over_text),
        peak_rss_mib(host.id())
    );
    let _ = Command::new("kill").args(["-TERM", &host.id().to_string()]).status();
    let _ = host.wait();

    let after = baseline(&brokers, &value_file);
    println!("python confluent-kafka producer (2nd turn)  {after:>10.0} records/s");
    let native = (before + after) / 2.0;
    println!("ratio intake_vs_python_producer {:.2}", rate / native);
    println!("wrk said:\n{text}\nand under overload:\n{over_text}");
}
