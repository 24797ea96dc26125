//! The validate logic written in Rust, Python and JavaScript, each built into a component from
//! this repo's sources, against the Rust source compiled natively, in one run: records/s at batch
//! 1,024, the time to compile a component (cold, and from the compile cache), to start an
//! instance (instantiate + `init`), its first call, and memory per instance. Prints ratios (the
//! machines are shared and noisy). Run: `scripts/bench.sh languages`.
#![allow(clippy::unwrap_used)] // a test crate: panicking is how it fails

#[path = "support/memory.rs"]
mod memory;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use weir::plugin::{BatchContext, Limits, Plugin, PluginEngine, PluginLog, Record, StageSpec, TransformStage, Verdict};
use weir_sdk::Transform as _;

/// The posts pipeline's validate config (pipelines/posts/pipeline.toml).
const CONFIG: &str = r#"{
  "required": ["id", "subreddit", "author", "title", "score", "created_utc"],
  "types": { "id": "string", "score": "integer", "created_utc": "integer" },
  "ranges": { "score": { "min": 0, "max": 10000000 } }
}"#;

/// The same logic in each language: (label, component file).
const COMPONENTS: [(&str, &str); 3] = [
    ("rust", "weir_validate.wasm"),
    ("python", "weir_validate_py.wasm"),
    ("javascript", "weir_validate_js.wasm"),
];

/// Records per timed run, rounds taken in turns (a slow spell of the machine falls on all paths
/// alike), the batch size, and the instances started to measure memory per instance.
const RECORDS: usize = 50_000;
const ROUNDS: usize = 5;
const BATCH: usize = 1024;
const INSTANCES: usize = 8;

const CONTEXT: BatchContext = BatchContext { processing_time_ms: 0 };

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

fn stage(plugin: &Arc<Plugin>) -> TransformStage {
    TransformStage::start(StageSpec {
        plugin: plugin.clone(),
        config: CONFIG.into(),
        limits: Limits::default(),
        log: PluginLog::new("bench", 4096),
    })
    .expect("stage starts")
}

/// The records a run accepted, checked against what the native code says of the same records.
fn accepted(stage: &mut TransformStage, records: &[Record]) -> usize {
    (records.chunks(BATCH))
        .map(|chunk| {
            (stage.process(chunk, CONTEXT).iter())
                .filter(|v| matches!(v, Verdict::Ok(_)))
                .count()
        })
        .sum()
}

/// What starting a language's component costs.
struct Startup {
    cold_compile: Duration,
    cached_load: Duration,
    instantiate: Duration,
    first_call: Duration,
    mib_per_instance: f64,
    plugin: Arc<Plugin>,
}

fn median(mut times: Vec<Duration>) -> Duration {
    times.sort();
    times[times.len() / 2]
}

/// Compiles `file` on an empty compile cache, loads it again from that cache (a restart), then
/// starts instances: time to start one, its first call, and resident memory per live instance.
fn startup(file: &Path, sample: &[Record]) -> Startup {
    let cache = tempfile::tempdir().expect("temp dir");
    let cold = PluginEngine::new(cache.path().to_path_buf()).expect("engine");
    let started = Instant::now();
    Plugin::load_file(&cold, file).expect("plugin compiles");
    let cold_compile = started.elapsed();
    // A restarted host: a new engine on the same cache.
    let warm = PluginEngine::new(cache.path().to_path_buf()).expect("engine");
    let started = Instant::now();
    let plugin = Plugin::load_file(&warm, file).expect("plugin loads from the cache");
    let cached_load = started.elapsed();

    let mut starts = Vec::new();
    let mut firsts = Vec::new();
    let mut live = Vec::new();
    let before = memory::rss_mib();
    for _ in 0..INSTANCES {
        let started = Instant::now();
        let mut instance = stage(&plugin);
        starts.push(started.elapsed());
        let started = Instant::now();
        let verdicts = instance.process(&sample[..1], CONTEXT);
        firsts.push(started.elapsed());
        assert!(matches!(verdicts[0], Verdict::Ok(_)), "{verdicts:?}");
        // A full batch, so each instance holds what it needs to run.
        accepted(&mut instance, &sample[..BATCH]);
        live.push(instance);
    }
    let mib_per_instance = (memory::rss_mib() - before) / INSTANCES as f64;
    Startup {
        cold_compile,
        cached_load,
        instantiate: median(starts),
        first_call: median(firsts),
        mib_per_instance,
        plugin,
    }
}

fn main() {
    let dir = std::env::var_os("WEIR_PLUGIN_DIR")
        .map(PathBuf::from)
        .expect("WEIR_PLUGIN_DIR (source scripts/env.sh)");
    let values = posts(RECORDS);
    let records: Vec<Record> = (values.iter())
        .map(|v| Record {
            key: None,
            value: v.clone(),
            timestamp_ms: None,
        })
        .collect();

    // Native: the Rust plugin crate, run in-process on the records where they lie.
    let native = weir_validate::Validate::init(weir_sdk::Config::parse(CONFIG).expect("config")).expect("init");
    let native_ctx = weir_sdk::Context { processing_time_ms: 0 };
    let native_run = || {
        (values.iter())
            .filter(|v| {
                let record = weir_sdk::Record::new(v.as_str());
                !matches!(native.process(&record, &native_ctx), weir_sdk::Outcome::Rejected(_))
            })
            .count()
    };
    let expected = native_run();
    assert!(
        expected > RECORDS * 9 / 10 && expected < RECORDS,
        "{expected} of {RECORDS} valid"
    );

    let startups: Vec<Startup> = (COMPONENTS.iter())
        .map(|(_, file)| startup(&dir.join(file), &records))
        .collect();
    let mut stages: Vec<TransformStage> = startups.iter().map(|s| stage(&s.plugin)).collect();

    let mut best_native = Duration::MAX;
    let mut best = vec![Duration::MAX; COMPONENTS.len()];
    for _ in 0..ROUNDS {
        let started = Instant::now();
        assert_eq!(native_run(), expected);
        best_native = best_native.min(started.elapsed());
        for (stage, best) in stages.iter_mut().zip(&mut best) {
            let started = Instant::now();
            let ok = accepted(stage, &records);
            *best = (*best).min(started.elapsed());
            assert_eq!(ok, expected, "the component accepts what the native code accepts");
        }
    }

    let rate = |took: Duration| RECORDS as f64 / took.as_secs_f64();
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    let native_rate = rate(best_native);
    let rust_rate = rate(best[0]);
    println!(
        "plugin_languages: validate, {RECORDS} posts of ~200 bytes, batch {BATCH}, best of {ROUNDS} rounds taken in turns"
    );
    println!(
        "{:<12} {:>12} {:>10} {:>10} {:>12} {:>11} {:>10} {:>11} {:>12}",
        "path",
        "records/s",
        "vs native",
        "vs rust",
        "compile ms",
        "cached ms",
        "start ms",
        "1st call ms",
        "MiB/instance"
    );
    println!("{:<12} {:>12.0} {:>9.2}x", "native", native_rate, 1.0);
    for (((label, _), startup), took) in COMPONENTS.iter().zip(&startups).zip(&best) {
        println!(
            "{:<12} {:>12.0} {:>9.3}x {:>9.3}x {:>12.0} {:>11.1} {:>10.2} {:>11.2} {:>12.1}",
            label,
            rate(*took),
            rate(*took) / native_rate,
            rate(*took) / rust_rate,
            ms(startup.cold_compile),
            ms(startup.cached_load),
            ms(startup.instantiate),
            ms(startup.first_call),
            startup.mib_per_instance,
        );
    }
    for ((label, _), took) in COMPONENTS.iter().zip(&best) {
        println!("ratio {label}_vs_native {:.4}", rate(*took) / native_rate);
    }
    println!("peak memory (VmHWM): {:.1} MiB", memory::peak_rss_mib());
}
