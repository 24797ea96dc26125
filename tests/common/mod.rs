//! Shared helpers of the integration tests: where the freshly built plugins are, and a plugin
//! engine with a private compile cache.
#![allow(dead_code)]

pub mod pipeline;
pub mod prometheus;
pub mod readers;
pub mod registry;
pub mod services;
pub mod weir_run;

use std::path::PathBuf;
use std::sync::Arc;

use weir::plugin::{BatchContext, Limits, Plugin, PluginEngine, PluginLog, Record, StageSpec};

/// The folder of freshly built components: `$WEIR_PLUGIN_DIR`, as `scripts/env.sh` sets it.
/// Tests never skip when a component is missing: they fail and say how to build it.
pub fn plugin_dir() -> PathBuf {
    let dir = std::env::var_os("WEIR_PLUGIN_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            let home = std::env::var_os("HOME").map(PathBuf::from).unwrap_or_default();
            home.join(".cache/weir/plugins-target/wasm32-wasip2/release")
        });
    assert!(
        dir.is_dir(),
        "{} does not exist: run scripts/build-plugins.sh (or scripts/test.sh)",
        dir.display()
    );
    dir
}

/// The path of the component built from crate `crate_name` (dashes or underscores).
pub fn plugin_path(crate_name: &str) -> PathBuf {
    let path = plugin_dir().join(format!("{}.wasm", crate_name.replace('-', "_")));
    assert!(
        path.is_file(),
        "{} is missing: run scripts/build-plugins.sh",
        path.display()
    );
    path
}

/// The Python of the test services' venv (`scripts/setup-test-services.sh`): the table readers
/// (deltalake, pyiceberg, DuckDB) and the Schema Registry clients (confluent-kafka).
pub fn readers_python() -> PathBuf {
    let root = std::env::var_os("WEIR_READERS").map(PathBuf::from).unwrap_or_else(|| {
        let home = std::env::var_os("HOME").map(PathBuf::from).unwrap_or_default();
        home.join(".cache/weir/tools/readers")
    });
    let python = root.join("bin/python");
    assert!(
        python.is_file(),
        "{} is missing: run scripts/setup-test-services.sh",
        python.display()
    );
    python
}

/// The repository root.
pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// An engine whose compile cache lives in a temp folder kept alive by the returned guard.
pub fn engine() -> (PluginEngine, tempfile::TempDir) {
    let cache = tempfile::tempdir().expect("temp dir");
    let engine = PluginEngine::new(cache.path().join("components")).expect("engine");
    (engine, cache)
}

pub fn load(engine: &PluginEngine, crate_name: &str) -> Arc<Plugin> {
    Plugin::load_file(engine, &plugin_path(crate_name)).expect("plugin loads")
}

pub fn spec(plugin: Arc<Plugin>, config: &str, limits: Limits) -> StageSpec {
    StageSpec {
        plugin,
        config: config.to_string(),
        limits,
        log: PluginLog::new("test", limits.max_log_line),
    }
}

pub fn record(value: &str) -> Record {
    Record {
        key: None,
        value: value.to_string(),
        timestamp_ms: None,
    }
}

pub fn context() -> BatchContext {
    BatchContext {
        processing_time_ms: 1_700_000_000_000,
    }
}

/// Reads a JSON-lines fixture from tests/fixtures.
pub fn fixture_lines(name: &str) -> Vec<String> {
    let path = repo_root().join("tests/fixtures").join(name);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(str::to_string)
        .collect()
}

/// The `weir_*` metric names a dashboard or manifest refers to (histogram series suffixes
/// dropped).
pub fn metric_names(text: &str) -> std::collections::BTreeSet<String> {
    let mut names = std::collections::BTreeSet::new();
    let bytes = text.as_bytes();
    let mut i = 0;
    while let Some(at) = text[i..].find("weir_") {
        let start = i + at;
        let end = start
            + bytes[start..]
                .iter()
                .take_while(|b| b.is_ascii_lowercase() || **b == b'_')
                .count();
        let name = &text[start..end];
        let name = ["_bucket", "_sum", "_count"]
            .iter()
            .find_map(|suffix| name.strip_suffix(suffix))
            .unwrap_or(name);
        names.insert(name.to_string());
        i = end;
    }
    names
}

/// GETs `path` on 127.0.0.1:`port`: (status code, body), or None if nothing answers. The request
/// asks the server to close the connection, so the body ends where the stream does.
pub fn http_get(port: u16, path: &str) -> Option<(u16, String)> {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(("127.0.0.1", port)).ok()?;
    stream.set_read_timeout(Some(std::time::Duration::from_secs(5))).ok()?;
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    let mut response = String::new();
    stream.read_to_string(&mut response).ok()?;
    let status = response.split_whitespace().nth(1)?.parse().ok()?;
    let body = response.split_once("\r\n\r\n")?.1.to_string();
    Some((status, body))
}

/// A tiny deterministic generator (no extra crate): tests print their seed for replays.
pub struct Lcg(pub u64);

impl Lcg {
    /// The next number below `n`.
    pub fn below(&mut self, n: u64) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (self.0 >> 33) % n
    }
}
