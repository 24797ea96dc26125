//! The host's Prometheus metrics, registered once in one registry and served at `/metrics`
//! (see `http::ops`). Names and labels are part of the user interface: dashboards and alerts use them.

use std::sync::OnceLock;

use prometheus::{HistogramOpts, HistogramVec, IntCounterVec, IntGauge, IntGaugeVec, Opts, Registry};

/// Every metric Weir exports.
#[derive(Debug)]
pub struct Metrics {
    pub registry: Registry,
    /// Records taken from Kafka, by pipeline.
    pub records_in: IntCounterVec,
    /// Records per stage and outcome (`accepted`, `rejected`, `failed`), by pipeline. Stages
    /// are the transform stages, `decode` (not UTF-8, no value), `silver` (does not fit the
    /// declared columns), and each gold aggregate.
    pub stage_records: IntCounterVec,
    /// Silver rows dropped because their key was already there, by pipeline.
    pub duplicates: IntCounterVec,
    /// Rows committed, by pipeline, table and format.
    pub rows_committed: IntCounterVec,
    /// Time one table commit took, by pipeline, table and format.
    pub commit_seconds: HistogramVec,
    /// Table commits that failed, by pipeline, table and format (`topic`: the dead-letter
    /// topic). The pipeline restarts from its tables after one.
    pub commit_errors: IntCounterVec,
    /// Dead letters the broker refused even without their value and headers, left out (the
    /// quarantine table holds the record), by pipeline and topic.
    pub dead_letters_dropped: IntCounterVec,
    /// 1 while a pipeline consumes, 0 while it does not (what `/readyz` says), by pipeline.
    /// Set when `/metrics` is read.
    pub pipeline_ready: IntGaugeVec,
    /// Time one batched plugin call took (with failure isolation), by pipeline and stage.
    pub plugin_call_seconds: HistogramVec,
    /// Records a plugin failed on, by pipeline, stage and failure (`deadline`, `memory`,
    /// `trap`, `contract`).
    pub plugin_failures: IntCounterVec,
    /// Messages behind the committed offset, per partition (librdkafka statistics).
    pub consumer_lag: IntGaugeVec,
    /// Plugin reloads by pipeline, stage and result (`ok`, `failed`).
    pub plugin_reloads: IntCounterVec,
    /// Pipeline (re)starts and stops caused by file changes, by pipeline, action (`start`,
    /// `restart`, `stop`) and result (`ok`, `failed`).
    pub pipeline_reloads: IntCounterVec,
    /// How long the data path paused to swap reloaded plugins in, by pipeline.
    pub swap_pause: HistogramVec,
    /// Schema Registry requests by result: `found`, `unknown` (404: its records go to
    /// quarantine), `failed` (no answer: the pipeline waits and retries).
    pub registry_requests: IntCounterVec,
    /// Produce API requests by HTTP status.
    pub intake_requests: IntCounterVec,
    /// Time a produce API request took (acknowledgements included), by HTTP status.
    pub intake_request_seconds: HistogramVec,
    /// Records of the produce API and `weir ingest` by topic and outcome: `accepted` (the broker
    /// acknowledged), `failed` (the broker answered with an error), `refused` (the request was
    /// refused: nothing produced).
    pub intake_records: IntCounterVec,
    /// Key and value bytes of those records, by topic and outcome.
    pub intake_bytes: IntCounterVec,
    /// Produce API records handed to the producer and not yet acknowledged.
    pub intake_in_flight: IntGauge,
}

/// The process-wide metrics.
pub fn metrics() -> &'static Metrics {
    static METRICS: OnceLock<Metrics> = OnceLock::new();
    METRICS.get_or_init(Metrics::new)
}

fn counter(registry: &Registry, name: &str, help: &str, labels: &[&str]) -> IntCounterVec {
    let metric = IntCounterVec::new(Opts::new(name, help), labels).expect("valid metric");
    registry
        .register(Box::new(metric.clone()))
        .expect("metric registered once");
    metric
}

fn histogram(registry: &Registry, name: &str, help: &str, buckets: Vec<f64>, labels: &[&str]) -> HistogramVec {
    let metric = HistogramVec::new(HistogramOpts::new(name, help).buckets(buckets), labels).expect("valid metric");
    registry
        .register(Box::new(metric.clone()))
        .expect("metric registered once");
    metric
}

impl Metrics {
    fn new() -> Self {
        let registry = Registry::new();
        let seconds = vec![1e-4, 5e-4, 1e-3, 5e-3, 0.01, 0.05, 0.1, 0.5, 1.0, 5.0, 10.0];
        let records_in = counter(
            &registry,
            "weir_records_in_total",
            "Records taken from Kafka",
            &["pipeline"],
        );
        let stage_records = counter(
            &registry,
            "weir_stage_records_total",
            "Records per stage and outcome (accepted, rejected, failed)",
            &["pipeline", "stage", "outcome"],
        );
        let duplicates = counter(
            &registry,
            "weir_duplicates_total",
            "Silver rows dropped because their key was already there",
            &["pipeline"],
        );
        let rows_committed = counter(
            &registry,
            "weir_rows_committed_total",
            "Rows committed per table and format",
            &["pipeline", "table", "format"],
        );
        let commit_seconds = histogram(
            &registry,
            "weir_commit_seconds",
            "Time one table commit took",
            seconds.clone(),
            &["pipeline", "table", "format"],
        );
        let plugin_call_seconds = histogram(
            &registry,
            "weir_plugin_call_seconds",
            "Time one batched plugin call took, failure isolation included",
            seconds,
            &["pipeline", "stage"],
        );
        let plugin_failures = counter(
            &registry,
            "weir_plugin_failures_total",
            "Records a plugin failed on, by failure (deadline, memory, trap, contract)",
            &["pipeline", "stage", "failure"],
        );
        let consumer_lag = IntGaugeVec::new(
            Opts::new(
                "weir_consumer_lag",
                "Messages between a partition's end and the offset committed after the tables",
            ),
            &["pipeline", "topic", "partition"],
        )
        .expect("valid metric");
        registry
            .register(Box::new(consumer_lag.clone()))
            .expect("metric registered once");
        let plugin_reloads = counter(
            &registry,
            "weir_plugin_reloads_total",
            "Plugin reloads triggered by a changed .wasm file, by result",
            &["pipeline", "stage", "result"],
        );
        let pipeline_reloads = counter(
            &registry,
            "weir_pipeline_reloads_total",
            "Pipeline starts, restarts and stops triggered by changed pipeline folders, by result",
            &["pipeline", "action", "result"],
        );
        let swap_pause = histogram(
            &registry,
            "weir_plugin_swap_pause_seconds",
            "Time the data path paused to swap reloaded plugins in",
            vec![1e-6, 5e-6, 1e-5, 5e-5, 1e-4, 5e-4, 1e-3, 5e-3, 1e-2, 0.1],
            &["pipeline"],
        );
        let registry_requests = counter(
            &registry,
            "weir_schema_registry_requests_total",
            "Schema Registry requests by result (found, unknown, failed: the pipeline waits and retries)",
            &["result"],
        );
        let intake_requests = counter(
            &registry,
            "weir_intake_requests_total",
            "Produce API requests by HTTP status",
            &["code"],
        );
        let intake_request_seconds = histogram(
            &registry,
            "weir_intake_request_seconds",
            "Time a produce API request took, acknowledgements included",
            vec![
                1e-3, 2.5e-3, 5e-3, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
            ],
            &["code"],
        );
        let intake_records = counter(
            &registry,
            "weir_intake_records_total",
            "Records taken in by HTTP or weir ingest, by topic and outcome (accepted, failed, refused)",
            &["topic", "outcome"],
        );
        let intake_bytes = counter(
            &registry,
            "weir_intake_bytes_total",
            "Key and value bytes taken in by HTTP or weir ingest, by topic and outcome",
            &["topic", "outcome"],
        );
        let intake_in_flight = IntGauge::new(
            "weir_intake_in_flight_records",
            "Produce API records handed to the producer and not yet acknowledged",
        )
        .expect("valid metric");
        registry
            .register(Box::new(intake_in_flight.clone()))
            .expect("metric registered once");
        let commit_errors = counter(
            &registry,
            "weir_commit_errors_total",
            "Table commits that failed (the pipeline restarts from its tables), by table and format",
            &["pipeline", "table", "format"],
        );
        let pipeline_ready = IntGaugeVec::new(
            Opts::new(
                "weir_pipeline_ready",
                "1 while the pipeline consumes (what /readyz says), else 0",
            ),
            &["pipeline"],
        )
        .expect("valid metric");
        registry
            .register(Box::new(pipeline_ready.clone()))
            .expect("metric registered once");
        let dead_letters_dropped = counter(
            &registry,
            "weir_dead_letters_dropped_total",
            "Dead letters the broker refused even without their value and headers (the quarantine table holds them)",
            &["pipeline", "topic"],
        );
        Metrics {
            registry,
            dead_letters_dropped,
            commit_errors,
            pipeline_ready,
            intake_in_flight,
            intake_requests,
            intake_request_seconds,
            intake_records,
            intake_bytes,
            registry_requests,
            records_in,
            stage_records,
            duplicates,
            rows_committed,
            commit_seconds,
            plugin_call_seconds,
            plugin_failures,
            consumer_lag,
            plugin_reloads,
            pipeline_reloads,
            swap_pause,
        }
    }

    /// Shows `pipeline`'s error counters at 0 before their first event: a counter that first
    /// appears at 1 looks unchanged to `increase()`, and its first error would raise no alert.
    pub fn zero_errors<'a>(&self, pipeline: &str, tables: impl Iterator<Item = (&'a str, &'a str)>, stages: &[&str]) {
        for (table, format) in tables {
            self.commit_errors.with_label_values(&[pipeline, table, format]);
        }
        for stage in stages {
            for failure in ["deadline", "memory", "trap", "contract", "outputs"] {
                self.plugin_failures.with_label_values(&[pipeline, stage, failure]);
            }
        }
    }

    /// Counts one plugin reload of `stage`, done or refused.
    pub fn plugin_reload(&self, pipeline: &str, stage: &str, ok: bool) {
        let result = if ok { "ok" } else { "failed" };
        self.plugin_reloads.with_label_values(&[pipeline, stage, result]).inc();
    }

    /// Counts `n` records of `stage` with `outcome` (`accepted`, `rejected`, `failed`).
    pub fn stage(&self, pipeline: &str, stage: &str, outcome: &str, n: usize) {
        if n > 0 {
            self.stage_records
                .with_label_values(&[pipeline, stage, outcome])
                .inc_by(n as u64);
        }
    }

    /// Counts `n` intake records of `bytes` with `outcome`.
    pub fn intake(&self, topic: &str, outcome: &str, n: usize, bytes: usize) {
        if n > 0 {
            self.intake_records
                .with_label_values(&[topic, outcome])
                .inc_by(n as u64);
            self.intake_bytes
                .with_label_values(&[topic, outcome])
                .inc_by(bytes as u64);
        }
    }

    /// The metrics in Prometheus' text format, with each pipeline's readiness as of now.
    pub fn render(&self) -> String {
        self.pipeline_ready.reset();
        for (pipeline, ready, _) in crate::health::health().pipelines() {
            self.pipeline_ready
                .with_label_values(&[&pipeline])
                .set(i64::from(ready));
        }
        let encoder = prometheus::TextEncoder::new();
        encoder
            .encode_to_string(&self.registry.gather())
            .unwrap_or_else(|e| format!("# metrics could not be encoded: {e}\n"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counters_show_in_the_text_format() {
        let m = metrics();
        m.plugin_reload("p", "tag", false);
        m.stage("p", "validate", "rejected", 3);
        m.stage("p", "validate", "failed", 0);
        let text = m.render();
        for line in [
            r#"weir_plugin_reloads_total{pipeline="p",result="failed",stage="tag"} 1"#,
            r#"weir_stage_records_total{outcome="rejected",pipeline="p",stage="validate"} 3"#,
        ] {
            assert!(text.contains(line), "{line} not in\n{text}");
        }
        assert!(
            !text.contains(r#"outcome="failed",pipeline="p",stage="validate""#),
            "{text}"
        );
    }
}
