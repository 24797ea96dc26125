//! `weir plugin test <file.wasm> --input records.jsonl [--config '<json>']`: runs a plugin on
//! sample records and prints each record's verdict as a JSON line (stdout) and a summary (stderr).

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{Context as _, bail};
use serde_json::{Value, json};

use crate::plugin::{
    AggregateStage, BatchContext, GroupInput, Limits, Plugin, PluginEngine, PluginKind, Record, StageSpec,
    TransformStage, Verdict,
};

/// Options of `weir plugin test`.
#[derive(Debug, Clone)]
pub struct PluginTestArgs {
    pub plugin: PathBuf,
    pub input: PathBuf,
    /// The stage config as JSON text (what pipeline.toml's `config` table becomes).
    pub config: String,
    pub limits: Limits,
    /// Records per plugin call.
    pub batch_size: usize,
}

/// Counts for the summary line.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Summary {
    pub records: usize,
    pub accepted: usize,
    pub outputs: usize,
    pub rejected: usize,
    pub failed: usize,
}

/// Runs the command, writing verdict lines to `out`.
pub fn run(args: &PluginTestArgs, out: &mut dyn Write) -> anyhow::Result<Summary> {
    if args.batch_size == 0 {
        bail!("--batch-size must be at least 1");
    }
    serde_json::from_str::<Value>(&args.config).context("--config is not valid JSON")?;
    let records = read_records(&args.input)?;
    let engine = PluginEngine::new(PluginEngine::default_cache_dir())?;
    let plugin = Plugin::load_file(&engine, &args.plugin)?;
    let spec = StageSpec::new(
        plugin.clone(),
        file_name(&args.plugin),
        args.config.clone(),
        args.limits,
    );
    let summary = match plugin.kind() {
        PluginKind::Transform => run_transform(TransformStage::start(spec)?, &records, args.batch_size, out)?,
        PluginKind::Aggregate => run_aggregate(AggregateStage::start(spec)?, &records, args.batch_size, out)?,
    };
    eprintln!(
        "{} ({}, sha256 {}): {} records: {} accepted -> {} outputs, {} rejected, {} failed",
        file_name(&args.plugin),
        plugin.kind(),
        crate::plugin::short_sha(plugin.sha256()),
        summary.records,
        summary.accepted,
        summary.outputs,
        summary.rejected,
        summary.failed
    );
    Ok(summary)
}

fn file_name(path: &Path) -> String {
    path.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| path.display().to_string())
}

/// One record per non-blank line; the line is the record's value, passed as is (a line that is
/// not JSON reaches the plugin unchanged, as a malformed Kafka message would).
fn read_records(path: &Path) -> anyhow::Result<Vec<Record>> {
    let text = std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    Ok(text
        .lines()
        .filter(|line| !line.trim().is_empty())
        .map(|line| Record {
            key: None,
            value: line.trim().to_string(),
            timestamp_ms: None,
        })
        .collect())
}

/// An output value as JSON when it parses, else as a string.
fn as_json(text: &str) -> Value {
    serde_json::from_str(text).unwrap_or_else(|_| Value::String(text.to_string()))
}

fn verdict_line<T>(index: usize, verdict: &Verdict<T>, ok: impl FnOnce(&T) -> Value, summary: &mut Summary) -> Value {
    summary.records += 1;
    match verdict {
        Verdict::Ok(value) => {
            summary.accepted += 1;
            let mut line = json!({"record": index, "outcome": "accepted"});
            if let (Value::Object(line), Value::Object(extra)) = (&mut line, ok(value)) {
                line.extend(extra);
            }
            line
        }
        Verdict::Rejected(reason) => {
            summary.rejected += 1;
            json!({"record": index, "outcome": "rejected", "reason": reason})
        }
        Verdict::Failed(failure) => {
            summary.failed += 1;
            json!({"record": index, "outcome": "failed", "kind": failure.kind(), "error": failure.to_string()})
        }
    }
}

fn run_transform(
    mut stage: TransformStage,
    records: &[Record],
    batch_size: usize,
    out: &mut dyn Write,
) -> anyhow::Result<Summary> {
    let mut summary = Summary::default();
    for (n, batch) in records.chunks(batch_size).enumerate() {
        let verdicts = stage.process(
            batch,
            BatchContext {
                processing_time_ms: super::now_ms(),
            },
        );
        for (i, (verdict, input)) in verdicts.iter().zip(batch).enumerate() {
            let line = verdict_line(
                n * batch_size + i,
                verdict,
                |outputs| {
                    let values: Vec<Value> = outputs.resolve(input).iter().map(|r| as_json(&r.value)).collect();
                    json!({"outputs": values})
                },
                &mut summary,
            );
            if let Verdict::Ok(outputs) = verdict {
                summary.outputs += outputs.len();
            }
            writeln!(out, "{line}")?;
        }
    }
    Ok(summary)
}

/// Keys every record, accumulates each key's records in batches, and finishes each group.
fn run_aggregate(
    mut stage: AggregateStage,
    records: &[Record],
    batch_size: usize,
    out: &mut dyn Write,
) -> anyhow::Result<Summary> {
    let mut summary = Summary::default();
    let mut groups: BTreeMap<String, Vec<Record>> = BTreeMap::new();
    for (n, batch) in records.chunks(batch_size).enumerate() {
        let mut allowance = stage.allowance();
        for (i, (verdict, record)) in stage.keys(batch, &mut allowance).iter().zip(batch).enumerate() {
            let line = verdict_line(n * batch_size + i, verdict, |key| json!({"key": key}), &mut summary);
            if let Verdict::Ok(key) = verdict {
                groups.entry(key.clone()).or_default().push(record.clone());
            }
            writeln!(out, "{line}")?;
        }
    }
    let keys: Vec<String> = groups.keys().cloned().collect();
    let inputs: Vec<GroupInput> = groups
        .into_values()
        .map(|records| GroupInput { state: None, records })
        .collect();
    let mut allowance = stage.allowance();
    let states = stage.accumulate(&inputs, &mut allowance);
    let mut finished = Vec::new();
    for (key, state) in keys.iter().zip(&states) {
        match state {
            Verdict::Ok(bytes) => finished.push((key, bytes.clone())),
            other => writeln!(out, "{}", json!({"group": key, "error": other.reason()}))?,
        }
    }
    let rows = stage.finish(
        &finished.iter().map(|(_, s)| s.clone()).collect::<Vec<_>>(),
        &mut stage.allowance(),
    );
    for ((key, _), row) in finished.iter().zip(rows) {
        let line = match row {
            Verdict::Ok(text) => json!({"group": key, "row": as_json(&text)}),
            other => json!({"group": key, "error": other.reason()}),
        };
        summary.outputs += 1;
        writeln!(out, "{line}")?;
    }
    Ok(summary)
}
