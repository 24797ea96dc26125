//! Records/s through the validate plugin at batch sizes 1, 64 and 1,024, against the same plugin
//! source compiled natively, in one run. Prints ratios (the machines are shared and noisy) and
//! peak memory. Run: `scripts/bench.sh plugin` (or `cargo bench --bench plugin_throughput`
//! with WEIR_PLUGIN_DIR set by `scripts/env.sh`).
#![allow(clippy::unwrap_used)] // a test crate: panicking is how it fails

#[path = "support/memory.rs"]
mod memory;

use std::path::PathBuf;
use std::time::{Duration, Instant};

use weir::plugin::{BatchContext, Limits, Plugin, PluginEngine, PluginLog, Record, StageSpec, TransformStage, Verdict};
use weir_sdk::Transform as _;

const CONFIG: &str = r#"{
  "required": ["id", "subreddit", "author", "title", "score", "created_utc"],
  "types": { "id": "string", "score": "integer", "created_utc": "integer" },
  "ranges": { "score": { "min": 0, "max": 10000000 } }
}"#;

/// ~200-byte posts shaped like seed 000's, one in twenty invalid.
fn posts(n: usize) -> Vec<String> {
    (0..n)
        .map(|i| {
            let score: i64 = if i % 20 == 7 { -5 } else { (i as i64 * 7919) % 50_000 };
            format!(
                r#"{{"id":"t3_{i:08x}","subreddit":"sub{}","author":"user_{}","title":"Post number {i} about data pipelines and lakehouses","score":{score},"created_utc":{}}}"#,
                i % 50,
                i % 977,
                1_700_000_000 + i
            )
        })
        .collect()
}

/// Best of `rounds` timings of `f` over `n` records, as records/s.
fn best_rate(n: usize, rounds: usize, mut f: impl FnMut() -> usize) -> f64 {
    let mut best = Duration::MAX;
    for _ in 0..rounds {
        let started = Instant::now();
        let accepted = f();
        best = best.min(started.elapsed());
        assert!(
            accepted > n * 9 / 10,
            "the workload really ran: {accepted} of {n} accepted"
        );
    }
    n as f64 / best.as_secs_f64()
}

fn main() {
    let dir = std::env::var_os("WEIR_PLUGIN_DIR")
        .map(PathBuf::from)
        .expect("WEIR_PLUGIN_DIR (source scripts/env.sh)");
    let cache = tempfile::tempdir().expect("temp dir");
    let engine = PluginEngine::new(cache.path().to_path_buf()).expect("engine");
    let start = |file: &str, config: &str| {
        let plugin = Plugin::load_file(&engine, &dir.join(file)).expect("plugin loads");
        let log = PluginLog::new("bench", 4096);
        TransformStage::start(StageSpec {
            plugin,
            config: config.into(),
            limits: Limits::default(),
            log,
        })
        .expect("stage starts")
    };
    let mut stage = start("weir_validate.wasm", CONFIG);
    let mut pass_all = start("weir_bench_pass_all.wasm", "{}");
    let context = BatchContext { processing_time_ms: 0 };

    let n = 200_000;
    let values = posts(n);
    let records: Vec<Record> = values
        .iter()
        .map(|v| Record {
            key: None,
            value: v.clone(),
            timestamp_ms: None,
        })
        .collect();

    // Native: the same plugin crate, run in-process on the records where they lie.
    let native = weir_validate::Validate::init(weir_sdk::Config::parse(CONFIG).expect("config")).expect("init");
    let native_ctx = weir_sdk::Context { processing_time_ms: 0 };
    let native_rate = best_rate(n, 5, || {
        values
            .iter()
            .filter(|v| {
                let record = weir_sdk::Record::new(v.as_str());
                !matches!(native.process(&record, &native_ctx), weir_sdk::Outcome::Rejected(_))
            })
            .count()
    });

    println!("plugin_throughput: validate plugin, {n} posts of ~200 bytes, best of 5 rounds");
    println!("{:<22} {:>14} {:>18}", "path", "records/s", "cost vs native");
    println!("{:<22} {:>14.0} {:>17.2}x", "native (same source)", native_rate, 1.0);
    let mut cost_1024 = f64::NAN;
    for batch in [1usize, 64, 1024] {
        // Batch size 1 pays a call per record: fewer records keep the run short.
        let count = if batch == 1 { 20_000 } else { n };
        let rate = best_rate(count, 5, || {
            records[..count]
                .chunks(batch)
                .map(|chunk| {
                    stage
                        .process(chunk, context)
                        .iter()
                        .filter(|v| matches!(v, Verdict::Ok(_)))
                        .count()
                })
                .sum()
        });
        println!(
            "{:<22} {:>14.0} {:>17.2}x",
            format!("wasm, batch {batch}"),
            rate,
            native_rate / rate
        );
        if batch == 1024 {
            cost_1024 = native_rate / rate;
        }
    }
    // The boundary alone: a plugin that passes every record without reading it.
    let boundary = best_rate(n, 5, || {
        records
            .chunks(1024)
            .map(|chunk| pass_all.process(chunk, context).len())
            .sum()
    });
    println!(
        "boundary only (pass-all plugin, batch 1024): {boundary:.0} records/s = {:.0} ns per record",
        1e9 / boundary
    );
    println!("ratio wasm_vs_native_batch_1024 {cost_1024:.3}");
    println!("boundary_ns_per_record {:.1}", 1e9 / boundary);
    println!("peak memory (VmHWM): {:.1} MiB", memory::peak_rss_mib());
}
