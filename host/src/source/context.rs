//! What librdkafka calls back into: partition assignments (noted here, applied by the polling
//! thread), statistics (consumer lag per partition, and the consumer's state for `/readyz`), and
//! its log lines (into `tracing`).

use std::sync::{Mutex, PoisonError};

use rdkafka::ClientContext;
use rdkafka::consumer::{BaseConsumer, ConsumerContext, Rebalance};

use super::batch::TopicPartition;

/// Assignment changes seen in librdkafka's rebalance callback, applied by the polling thread.
#[derive(Default)]
pub(super) struct Assignment {
    /// Partitions assigned since the last poll, still to seek.
    pub(super) newly_assigned: Vec<TopicPartition>,
    /// Partitions revoked since the last call to `take_revoked`.
    pub(super) revoked: Vec<TopicPartition>,
    /// Partitions currently owned.
    pub(super) owned: Vec<TopicPartition>,
}

pub(super) struct Context {
    pub(super) assignment: Mutex<Assignment>,
    /// The pipeline this consumer reads for: metric labels and health.
    pub(super) pipeline: String,
}

impl ClientContext for Context {
    /// librdkafka's statistics (every `statistics.interval.ms`): consumer lag per partition,
    /// and whether this consumer is connected and in its group (for `/readyz`).
    fn stats(&self, statistics: rdkafka::Statistics) {
        let broker_up = statistics.brokers.values().any(|b| b.nodeid >= 0 && b.state == "UP");
        let (group_joined, assigned) = statistics.cgrp.as_ref().map_or((false, 0), |g| {
            (g.state == "up" && g.join_state == "steady", g.assignment_size)
        });
        crate::health::health().update(
            &self.pipeline,
            crate::health::ConsumerState {
                broker_up,
                group_joined,
                assigned,
            },
        );
        let owned = self
            .assignment
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .owned
            .clone();
        for (topic, stats) in &statistics.topics {
            for (partition, p) in &stats.partitions {
                if owned.iter().any(|tp| tp.is(topic, *partition)) && p.consumer_lag >= 0 {
                    crate::metrics::metrics()
                        .consumer_lag
                        .with_label_values(&[self.pipeline.as_str(), topic.as_str(), &partition.to_string()])
                        .set(p.consumer_lag);
                    crate::status::status().lag(&self.pipeline, topic, *partition, p.consumer_lag);
                }
            }
        }
    }

    fn log(&self, level: rdkafka::config::RDKafkaLogLevel, fac: &str, message: &str) {
        use rdkafka::config::RDKafkaLogLevel as L;
        match level {
            L::Emerg | L::Alert | L::Critical | L::Error => tracing::error!(target: "librdkafka", "{fac}: {message}"),
            L::Warning => tracing::warn!(target: "librdkafka", "{fac}: {message}"),
            L::Notice | L::Info => tracing::info!(target: "librdkafka", "{fac}: {message}"),
            L::Debug => tracing::debug!(target: "librdkafka", "{fac}: {message}"),
        }
    }
}

impl ConsumerContext for Context {
    fn post_rebalance(&self, _consumer: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        let mut assignment = self.assignment.lock().unwrap_or_else(PoisonError::into_inner);
        match rebalance {
            Rebalance::Assign(tpl) => {
                let partitions = named(tpl);
                tracing::info!(partitions = %listed(&partitions), "partitions assigned");
                assignment.newly_assigned.extend(partitions.iter().cloned());
                assignment.owned = partitions;
            }
            Rebalance::Revoke(tpl) => {
                // The lag of a partition another member reads now is that member's to report.
                for e in tpl.elements() {
                    let labels = [self.pipeline.as_str(), e.topic(), &e.partition().to_string()];
                    let _ = crate::metrics::metrics().consumer_lag.remove_label_values(&labels);
                    crate::status::status().revoked(&self.pipeline, e.topic(), e.partition());
                }
                let partitions = named(tpl);
                tracing::info!(partitions = %listed(&partitions), "partitions revoked");
                assignment.owned.retain(|p| !partitions.contains(p));
                assignment.newly_assigned.retain(|p| !partitions.contains(p));
                assignment.revoked.extend(partitions);
            }
            Rebalance::Error(e) => tracing::warn!("rebalance error: {e}"),
        }
    }
}

/// The partitions of a rebalance.
fn named(tpl: &rdkafka::TopicPartitionList) -> Vec<TopicPartition> {
    (tpl.elements().iter())
        .map(|e| TopicPartition::new(e.topic(), e.partition()))
        .collect()
}

/// `topic/0, topic/1`, for the log.
fn listed(partitions: &[TopicPartition]) -> String {
    partitions
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}
