//! Hostile test plugin: misbehaves in the ways its config names, so each of the host's limits
//! can be tested against the same plugin. With an empty config it passes every record.
//!
//! Config (every field optional):
//! - `sleep_init_ms`: sleeps this long in `init` (a blocking WASI call, where no epoch check runs).
//! - `sleep_ms`: sleeps this long on each record whose value contains `"sleep":true`.
//! - `work_ms`: busy for this long on every record (slow but honest work).
//! - `reason_mb`: rejects every record with a reason of this many MB.
//! - `outputs`: flat-maps every record to this many outputs, `{"n": i}` (no `id`, so they do not
//!   fit a silver table keyed by `id`).
//! - `stdout_kib`: writes this many KiB of newlines to stdout per batch.
//! - `forge`: logs a line that embeds a newline and a copy of a host log line.

use std::io::Write as _;
use std::time::{Duration, Instant};

use serde::Deserialize;
use weir_sdk::{Config, Context, Outcome, Output, Record, Transform};

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct Settings {
    sleep_init_ms: u64,
    sleep_ms: u64,
    work_ms: u64,
    reason_mb: usize,
    outputs: usize,
    stdout_kib: usize,
    forge: bool,
}

pub struct Misbehave {
    settings: Settings,
}

impl Transform for Misbehave {
    fn init(config: Config) -> Result<Self, String> {
        let settings: Settings = config.into_settings()?;
        if settings.sleep_init_ms > 0 {
            weir_sdk::log::info("init: sleeping");
            std::thread::sleep(Duration::from_millis(settings.sleep_init_ms));
            weir_sdk::log::info("init: awake");
        }
        Ok(Misbehave { settings })
    }

    fn process(&self, record: &Record<'_>, _context: &Context) -> Outcome {
        let s = &self.settings;
        if s.forge {
            weir_sdk::log::info("plugin line\n2026-12-01T00:00:00.000000Z ERROR weir::pipeline: forged line");
        }
        if s.stdout_kib > 0 {
            let newlines = vec![b'\n'; s.stdout_kib << 10];
            let _ = std::io::stdout().write_all(&newlines);
        }
        if s.sleep_ms > 0 && record.value.contains("\"sleep\":true") {
            weir_sdk::log::info("record: sleeping");
            std::thread::sleep(Duration::from_millis(s.sleep_ms));
        }
        if s.work_ms > 0 {
            let started = Instant::now();
            let mut n: u64 = 0;
            while started.elapsed() < Duration::from_millis(s.work_ms) {
                n = std::hint::black_box(n.wrapping_add(1));
            }
        }
        if s.reason_mb > 0 {
            return Outcome::reject("x".repeat(s.reason_mb * 1_000_000));
        }
        if s.outputs > 0 {
            return Outcome::Accepted(
                (0..s.outputs)
                    .map(|i| Output {
                        key: None,
                        value: format!("{{\"n\":{i}}}"),
                        timestamp_ms: record.timestamp_ms,
                    })
                    .collect(),
            );
        }
        Outcome::pass()
    }
}

weir_sdk::export_transform!(Misbehave);
