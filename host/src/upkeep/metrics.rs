//! Upkeep's Prometheus metrics, in the host's registry (`crate::metrics`). Per pipeline, table
//! and format: data files before and after the last run, the most in one partition, files and
//! bytes compaction rewrote, snapshots or log files expired, orphans deleted, run duration, and
//! the time of the last run that succeeded; per pipeline, runs by result.

use std::sync::OnceLock;

use prometheus::{GaugeVec, HistogramOpts, HistogramVec, IntCounterVec, IntGaugeVec, Opts};

use crate::tables::upkeep::UpkeepReport;

#[derive(Debug)]
pub struct UpkeepMetrics {
    /// Runs by pipeline and result: `ok`, `failed` (a table's upkeep failed), `standby` (another
    /// host holds the upkeep lease).
    pub runs: IntCounterVec,
    /// Live data files, `when` = `before` / `after` the last run.
    pub data_files: IntGaugeVec,
    /// The most live data files one partition holds after the last run.
    pub most_per_partition: IntGaugeVec,
    pub files_rewritten: IntCounterVec,
    pub bytes_rewritten: IntCounterVec,
    pub expired: IntCounterVec,
    pub orphans_deleted: IntCounterVec,
    pub orphan_bytes_deleted: IntCounterVec,
    pub seconds: HistogramVec,
    /// Unix time of the last run that succeeded.
    pub last_success: GaugeVec,
}

const TABLE: &[&str] = &["pipeline", "table", "format"];

fn register<M: prometheus::core::Collector + Clone + 'static>(metric: M) -> M {
    crate::metrics::metrics()
        .registry
        .register(Box::new(metric.clone()))
        .expect("metric registered once");
    metric
}

fn counter(name: &str, help: &str) -> IntCounterVec {
    register(IntCounterVec::new(Opts::new(name, help), TABLE).expect("valid metric"))
}

/// The process-wide upkeep metrics.
pub fn upkeep_metrics() -> &'static UpkeepMetrics {
    static METRICS: OnceLock<UpkeepMetrics> = OnceLock::new();
    METRICS.get_or_init(|| UpkeepMetrics {
        runs: register(
            IntCounterVec::new(
                Opts::new(
                    "weir_upkeep_runs_total",
                    "Scheduled upkeep runs by result (ok, failed, standby)",
                ),
                &["pipeline", "result"],
            )
            .expect("valid metric"),
        ),
        data_files: register(
            IntGaugeVec::new(
                Opts::new(
                    "weir_upkeep_data_files",
                    "Live data files before and after the last upkeep run",
                ),
                &["pipeline", "table", "format", "when"],
            )
            .expect("valid metric"),
        ),
        most_per_partition: register(
            IntGaugeVec::new(
                Opts::new(
                    "weir_upkeep_most_files_per_partition",
                    "The most live data files one partition holds after the last upkeep run",
                ),
                TABLE,
            )
            .expect("valid metric"),
        ),
        files_rewritten: counter(
            "weir_upkeep_files_rewritten_total",
            "Small data files compaction rewrote",
        ),
        bytes_rewritten: counter(
            "weir_upkeep_bytes_rewritten_total",
            "Bytes of the data files compaction rewrote",
        ),
        expired: counter(
            "weir_upkeep_expired_total",
            "Iceberg snapshots expired, Delta log files cleaned up",
        ),
        orphans_deleted: counter(
            "weir_upkeep_orphans_deleted_total",
            "Unreferenced files deleted (Delta: by VACUUM)",
        ),
        orphan_bytes_deleted: counter(
            "weir_upkeep_orphan_bytes_deleted_total",
            "Bytes of the unreferenced Iceberg files deleted",
        ),
        seconds: register(
            HistogramVec::new(
                HistogramOpts::new("weir_upkeep_seconds", "Time one table's upkeep took")
                    .buckets(vec![0.1, 0.5, 1.0, 5.0, 10.0, 30.0, 60.0, 300.0, 900.0, 3600.0]),
                TABLE,
            )
            .expect("valid metric"),
        ),
        last_success: register(
            GaugeVec::new(
                Opts::new(
                    "weir_upkeep_last_success_timestamp_seconds",
                    "Unix time of the table's last upkeep run that succeeded",
                ),
                TABLE,
            )
            .expect("valid metric"),
        ),
    })
}

impl UpkeepMetrics {
    /// Records one table's run that succeeded.
    pub fn record(&self, labels: [&str; 3], report: &UpkeepReport, seconds: f64) {
        let [pipeline, table, format] = labels;
        let files = |when: &str, n: usize| {
            self.data_files
                .with_label_values(&[pipeline, table, format, when])
                .set(n as i64);
        };
        files("before", report.files_before);
        files("after", report.files_after);
        self.most_per_partition
            .with_label_values(&labels)
            .set(report.most_per_partition.1 as i64);
        self.files_rewritten
            .with_label_values(&labels)
            .inc_by(report.compacted.0 as u64);
        self.bytes_rewritten
            .with_label_values(&labels)
            .inc_by(report.bytes_rewritten);
        self.expired.with_label_values(&labels).inc_by(report.expired as u64);
        self.orphans_deleted
            .with_label_values(&labels)
            .inc_by(report.orphans as u64);
        self.orphan_bytes_deleted
            .with_label_values(&labels)
            .inc_by(report.orphan_bytes);
        self.seconds.with_label_values(&labels).observe(seconds);
        self.last_success
            .with_label_values(&labels)
            .set(crate::clock::now_ms() as f64 / 1000.0);
    }

    /// Counts one run of `pipeline` with `result`.
    pub fn run(&self, pipeline: &str, result: &str) {
        self.runs.with_label_values(&[pipeline, result]).inc();
    }

    /// Shows `pipeline`'s run counters at 0 before their first event (for `increase()`).
    pub fn zero(&self, pipeline: &str) {
        for result in ["ok", "failed", "standby"] {
            self.runs.with_label_values(&[pipeline, result]);
        }
    }
}
