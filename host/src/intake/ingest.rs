//! `weir ingest FILE... --topic T`: batch files (CSV or JSON lines, local or on S3) produced to
//! Kafka with the intake's acks=all, idempotent producer. Lines are read off the runtime's
//! threads and produced in order; at most `IN_FLIGHT` records wait for their acknowledgement.
//! A bad line is reported with its file and line number and not produced.

use std::time::{Duration, Instant};

use futures::StreamExt;
use futures::stream::FuturesUnordered;
use indicatif::{ProgressBar, ProgressStyle};
use thiserror::Error;

use super::files::{OpenError, open};
use super::lines::{BadLine, FileFormat, Line, csv, jsonl};
use super::producer::{Delivered, Producer, ProducerError, ProducerSettings};
use crate::metrics::metrics;

/// Records handed to the producer and not yet acknowledged, at most.
const IN_FLIGHT: usize = 100_000;
/// Lines handed from the reading thread at once.
const CHUNK: usize = 1024;

#[derive(Debug, Error)]
pub enum IngestError {
    #[error(transparent)]
    Open(#[from] OpenError),
    #[error(transparent)]
    Producer(#[from] ProducerError),
    #[error("{file}: say --format csv or --format jsonl (the name does not tell)")]
    NoFormat { file: String },
    #[error("topic `{topic}` not found on the broker")]
    NoTopic { topic: String },
    #[error("{file}: {message}")]
    Read { file: String, message: String },
}

/// What to ingest.
#[derive(Debug, Clone)]
pub struct IngestOptions {
    pub files: Vec<String>,
    pub topic: String,
    pub format: Option<FileFormat>,
    pub key: Option<String>,
    pub brokers: String,
    /// librdkafka producer properties (TLS, SASL, ...); `acks` and idempotence are Weir's.
    pub properties: std::collections::BTreeMap<String, String>,
}

/// What an ingest did.
#[derive(Debug, Default)]
pub struct Report {
    pub produced: u64,
    /// Lines not produced: file and line.
    pub bad: Vec<(String, BadLine)>,
    /// Records the broker refused or did not acknowledge in time.
    pub failed: Vec<(String, BadLine)>,
    pub elapsed: Duration,
}

impl Report {
    pub fn ok(&self) -> bool {
        self.bad.is_empty() && self.failed.is_empty()
    }
}

/// Produces every good line of every file to the topic, in file and line order, noting in
/// `report` what was produced and what was not, also when a file stops it half-way (an error).
pub async fn ingest(options: &IngestOptions, report: &mut Report) -> Result<(), IngestError> {
    // Every file's format is known before anything is produced.
    let mut formats = Vec::with_capacity(options.files.len());
    for file in &options.files {
        let format = options.format.or_else(|| FileFormat::from_name(file));
        formats.push(format.ok_or_else(|| IngestError::NoFormat { file: file.clone() })?);
    }
    let producer = Producer::new(&ProducerSettings {
        brokers: options.brokers.clone(),
        properties: options.properties.clone(),
        queue_records: IN_FLIGHT + CHUNK,
        queue_kib: 512 * 1024,
        delivery_timeout_ms: 300_000,
    })?;
    if producer.partitions(&options.topic).await?.is_none() {
        return Err(IngestError::NoTopic {
            topic: options.topic.clone(),
        });
    }
    let started = Instant::now();
    let mut result = Ok(());
    for (file, format) in options.files.iter().zip(formats) {
        result = ingest_file(&producer, options, file, format, report).await;
        if result.is_err() {
            break;
        }
    }
    report.elapsed = started.elapsed();
    result
}

async fn ingest_file(
    producer: &Producer,
    options: &IngestOptions,
    file: &str,
    format: FileFormat,
    report: &mut Report,
) -> Result<(), IngestError> {
    let opened = open(file).await?;
    let bar = progress(file, opened.size);
    let read = bar.wrap_read(opened.read);
    let (send, mut chunks) = tokio::sync::mpsc::channel::<Vec<Line>>(8);
    let key = options.key.clone();
    let reading = tokio::task::spawn_blocking(move || {
        let mut chunk = Vec::with_capacity(CHUNK);
        let mut emit = |line: Line| {
            chunk.push(line);
            if chunk.len() == CHUNK {
                // The receiver only goes away when ingesting stopped; nothing to report then.
                let _ = send.blocking_send(std::mem::replace(&mut chunk, Vec::with_capacity(CHUNK)));
            }
        };
        let read_key = key.as_deref();
        let result = match format {
            FileFormat::Csv => csv(read, read_key, &mut emit),
            FileFormat::Jsonl => jsonl(std::io::BufReader::new(read), read_key, &mut emit).map_err(|e| e.to_string()),
        };
        let _ = send.blocking_send(chunk);
        result
    });
    let mut pending = FuturesUnordered::new();
    while let Some(chunk) = chunks.recv().await {
        for outcome in chunk {
            match outcome {
                Err(bad) => report.bad.push((file.to_string(), bad)),
                Ok((line, record)) => {
                    let delivery = producer.enqueue(&options.topic, &record, None);
                    let size = record.size();
                    pending.push(async move { (line, size, delivery.delivered().await) });
                    while pending.len() >= IN_FLIGHT {
                        settle(pending.next().await, file, &options.topic, report);
                    }
                }
            }
        }
    }
    while let Some(done) = pending.next().await {
        settle(Some(done), file, &options.topic, report);
    }
    bar.finish_and_clear();
    let read = reading.await.map_err(|e| IngestError::Read {
        file: file.to_string(),
        message: e.to_string(),
    })?;
    read.map_err(|message| IngestError::Read {
        file: file.to_string(),
        message,
    })
}

fn settle(done: Option<(u64, usize, Delivered)>, file: &str, topic: &str, report: &mut Report) {
    let Some((line, size, delivered)) = done else { return };
    match delivered {
        Delivered::At { .. } => {
            report.produced += 1;
            metrics().intake(topic, "accepted", 1, size);
        }
        Delivered::Failed { error, .. } => {
            metrics().intake(topic, "failed", 1, size);
            report.failed.push((
                file.to_string(),
                BadLine {
                    line,
                    reason: format!("not acknowledged by the broker: {error}"),
                },
            ));
        }
    }
}

/// A bar of bytes read, drawn only on a terminal.
fn progress(file: &str, size: Option<u64>) -> ProgressBar {
    let bar = match size {
        Some(size) => ProgressBar::new(size),
        None => ProgressBar::new_spinner(),
    };
    let style = ProgressStyle::with_template("{msg} [{bar:40}] {bytes}/{total_bytes} ({bytes_per_sec}, {eta})")
        .unwrap_or_else(|_| ProgressStyle::default_bar());
    bar.set_style(style.progress_chars("=> "));
    bar.set_message(file.to_string());
    bar
}

/// The summary printed at the end: counts, rate, and every line not produced (the first 100).
pub fn summary(report: &Report, topic: &str) -> String {
    let seconds = report.elapsed.as_secs_f64().max(1e-9);
    let mut text = format!(
        "ingested {} records into topic `{topic}` in {:.1} s ({:.0} records/s); {} bad lines, {} not acknowledged\n",
        report.produced,
        seconds,
        report.produced as f64 / seconds,
        report.bad.len(),
        report.failed.len()
    );
    let problems: Vec<_> = report.bad.iter().chain(&report.failed).collect();
    for (file, bad) in problems.iter().take(100) {
        text.push_str(&format!("{file}:{}: {}\n", bad.line, bad.reason));
    }
    if problems.len() > 100 {
        text.push_str(&format!("... and {} more\n", problems.len() - 100));
    }
    text
}
