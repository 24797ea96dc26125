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

/// Rounds per path. The paths take turns, round by round, so that a slow spell of the shared
/// machine falls on all of them alike instead of on whichever path ran during it.
const ROUNDS: usize = 7;

/// One timed run of a path over `n` records: the time taken, after checking it did the work.
fn timed(n: usize, f: &mut dyn FnMut() -> usize) -> Duration {
    let started = Instant::now();
    let accepted = f();
    let took = started.elapsed();
    assert!(
        accepted > n * 9 / 10,
        "the workload really ran: {accepted} of {n} accepted"
    );
    took
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
    let mut native_run = || {
        values
            .iter()
            .filter(|v| {
                let record = weir_sdk::Record::new(v.as_str());
                !matches!(native.process(&record, &native_ctx), weir_sdk::Outcome::Rejected(_))
            })
            .count()
    };
    // Batch size 1 pays a call per record: fewer records keep the run short.
    let batches = [(1usize, 20_000usize), (64, n), (1024, n)];
    let mut best_native = Duration::MAX;
    let mut best_wasm = [Duration::MAX; 3];
    let mut best_boundary = Duration::MAX;
    for _ in 0..ROUNDS {
        best_native = best_native.min(timed(n, &mut native_run));
        for (best, &(batch, count)) in best_wasm.iter_mut().zip(&batches) {
            let mut run = || {
                records[..count]
                    .chunks(batch)
                    .map(|chunk| {
                        (stage.process(chunk, context).iter())
                            .filter(|v| matches!(v, Verdict::Ok(_)))
                            .count()
                    })
                    .sum()
            };
            *best = (*best).min(timed(count, &mut run));
        }
        // The boundary alone: a plugin that passes every record without reading it.
        let mut run = || {
            (records.chunks(1024))
                .map(|chunk| pass_all.process(chunk, context).len())
                .sum()
        };
        best_boundary = best_boundary.min(timed(n, &mut run));
    }
    let rate = |count: usize, took: Duration| count as f64 / took.as_secs_f64();
    let native_rate = rate(n, best_native);

    println!("plugin_throughput: validate plugin, {n} posts of ~200 bytes, best of {ROUNDS} rounds taken in turns");
    println!("{:<22} {:>14} {:>18}", "path", "records/s", "cost vs native");
    println!("{:<22} {:>14.0} {:>17.2}x", "native (same source)", native_rate, 1.0);
    for (&(batch, count), &took) in batches.iter().zip(&best_wasm) {
        let wasm = rate(count, took);
        println!(
            "{:<22} {:>14.0} {:>17.2}x",
            format!("wasm, batch {batch}"),
            wasm,
            native_rate / wasm
        );
    }
    let boundary = rate(n, best_boundary);
    println!(
        "boundary only (pass-all plugin, batch 1024): {boundary:.0} records/s = {:.0} ns per record",
        1e9 / boundary
    );
    println!(
        "ratio wasm_vs_native_batch_1024 {:.3}",
        native_rate / rate(n, best_wasm[2])
    );
    println!("boundary_ns_per_record {:.1}", 1e9 / boundary);
    println!("peak memory (VmHWM): {:.1} MiB", memory::peak_rss_mib());
}
