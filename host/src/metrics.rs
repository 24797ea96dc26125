//! The host's Prometheus metrics, registered once in one registry.

use std::sync::OnceLock;

use prometheus::{HistogramOpts, HistogramVec, IntCounterVec, Opts, Registry};

/// Every metric Weir exports.
#[derive(Debug)]
pub struct Metrics {
    pub registry: Registry,
    /// Plugin reloads by pipeline, stage and result (`ok`, `failed`).
    pub plugin_reloads: IntCounterVec,
    /// Pipeline (re)starts and stops caused by file changes, by pipeline, action (`start`,
    /// `restart`, `stop`) and result (`ok`, `failed`).
    pub pipeline_reloads: IntCounterVec,
    /// How long the data path paused to swap reloaded plugins in, by pipeline.
    pub swap_pause: HistogramVec,
}

/// The process-wide metrics.
pub fn metrics() -> &'static Metrics {
    static METRICS: OnceLock<Metrics> = OnceLock::new();
    METRICS.get_or_init(Metrics::new)
}

impl Metrics {
    fn new() -> Self {
        let registry = Registry::new();
        let plugin_reloads = IntCounterVec::new(
            Opts::new(
                "weir_plugin_reloads_total",
                "Plugin reloads triggered by a changed .wasm file, by result",
            ),
            &["pipeline", "stage", "result"],
        )
        .expect("valid metric");
        let pipeline_reloads = IntCounterVec::new(
            Opts::new(
                "weir_pipeline_reloads_total",
                "Pipeline starts, restarts and stops triggered by changed pipeline folders, by result",
            ),
            &["pipeline", "action", "result"],
        )
        .expect("valid metric");
        let swap_pause = HistogramVec::new(
            HistogramOpts::new(
                "weir_plugin_swap_pause_seconds",
                "Time the data path paused to swap reloaded plugins in",
            )
            .buckets(vec![1e-6, 5e-6, 1e-5, 5e-5, 1e-4, 5e-4, 1e-3, 5e-3, 1e-2, 0.1]),
            &["pipeline"],
        )
        .expect("valid metric");
        for collector in [
            Box::new(plugin_reloads.clone()) as Box<dyn prometheus::core::Collector>,
            Box::new(pipeline_reloads.clone()),
            Box::new(swap_pause.clone()),
        ] {
            registry.register(collector).expect("metric registered once");
        }
        Metrics {
            registry,
            plugin_reloads,
            pipeline_reloads,
            swap_pause,
        }
    }

    /// Counts one plugin reload of `stage`, done or refused.
    pub fn plugin_reload(&self, pipeline: &str, stage: &str, ok: bool) {
        let result = if ok { "ok" } else { "failed" };
        self.plugin_reloads.with_label_values(&[pipeline, stage, result]).inc();
    }

    /// The metrics in Prometheus' text format.
    pub fn render(&self) -> String {
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
        m.plugin_reloads.with_label_values(&["p", "tag", "failed"]).inc();
        let text = m.render();
        assert!(
            text.contains(r#"weir_plugin_reloads_total{pipeline="p",result="failed",stage="tag"} 1"#),
            "{text}"
        );
    }
}
