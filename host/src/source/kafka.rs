//! The Kafka consumer: a consumer group member that takes records in batches per partition.
//!
//! Exactly-once is the tables' job: each commit stores the offsets it holds. When partitions are
//! assigned, `poll` returns early; the caller reads where the tables stand ([`KafkaSource::
//! take_assigned`]) and calls [`KafkaSource::resume_at`], which seeks there and drops any record
//! below that position that was fetched before the seek took. Group offsets are committed to
//! Kafka only after the tables, for monitoring and as a starting point; never trusted over them.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer};
use rdkafka::error::KafkaError;
use rdkafka::message::Message;
use rdkafka::{Offset, TopicPartitionList};

use super::batch::{PartitionBatch, SourceRecord, TopicPartition};
use super::context::{Assignment, Context};
use super::error::SourceError;
use super::headers;
use crate::config::{SourceConfig, Subscription};

/// A consumer group member reading one or more topics.
pub struct KafkaSource {
    pipeline: String,
    consumer: BaseConsumer<Context>,
    /// What it reads, for logs: `topic posts`, `topics a, b` or `topic pattern ...`.
    subscription: String,
    batch_records: usize,
    /// Per partition, the lowest offset still to hand out (records below it are dropped).
    floor: Mutex<HashMap<TopicPartition, i64>>,
    /// When a connection problem was last logged.
    last_transient_warning: Mutex<Option<Instant>>,
    /// The group's session timeout, as configured (Weir's default or the pipeline's).
    session_timeout: Duration,
}

impl std::fmt::Debug for KafkaSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KafkaSource")
            .field("subscription", &self.subscription)
            .finish_non_exhaustive()
    }
}

/// Weir's default for librdkafka's `queued.max.messages.kbytes` (librdkafka's own: 65536).
pub const PREFETCH_KBYTES: &str = "4096";
/// Weir's default for librdkafka's `fetch.max.bytes` (librdkafka's own: 52428800). At least
/// `message.max.bytes` (1000000), as librdkafka requires.
pub const FETCH_MAX_BYTES: &str = "4194304";

impl KafkaSource {
    /// Joins the consumer group of `config` and subscribes to its topics (or pattern). librdkafka properties in
    /// `config.properties` are passed through and override Weir's defaults, except that offsets
    /// are never auto-committed (the tables hold the truth).
    pub fn connect(pipeline: &str, config: &SourceConfig) -> Result<Self, SourceError> {
        let mut client = ClientConfig::new();
        client
            .set("bootstrap.servers", &config.brokers)
            .set("group.id", &config.group)
            .set("auto.offset.reset", "earliest")
            .set("session.timeout.ms", "10000")
            .set("statistics.interval.ms", "1000")
            .set("enable.partition.eof", "false")
            // librdkafka prefetches up to 64 MiB and fetches up to 50 MB at once by default; 4 MiB
            // of each lowered the pipeline benchmark's peak (586 MiB before, 335–550 after) at
            // the same rate within noise (docs/PERFORMANCE.md). Users with large records raise both.
            .set("queued.max.messages.kbytes", PREFETCH_KBYTES)
            .set("fetch.max.bytes", FETCH_MAX_BYTES);
        if let Some(id) = config.instance_id.as_deref().map(str::trim).filter(|id| !id.is_empty()) {
            client.set("group.instance.id", id);
        }
        for (key, value) in &config.properties {
            client.set(key, value);
        }
        client
            .set("enable.auto.commit", "false")
            .set("enable.auto.offset.store", "false");
        let session_timeout = Duration::from_millis(
            client
                .get("session.timeout.ms")
                .and_then(|ms| ms.parse().ok())
                .unwrap_or(10_000),
        );
        let context = Context {
            assignment: Mutex::default(),
            pipeline: pipeline.to_string(),
        };
        let consumer: BaseConsumer<Context> =
            client
                .create_with_context(context)
                .map_err(|source| SourceError::Create {
                    brokers: config.brokers.clone(),
                    source: Box::new(source),
                })?;
        let subscription = config.subscription();
        // librdkafka takes a name starting with `^` as a regular expression, matched anywhere
        // in a topic's name: anchored at both ends, it must match the whole name.
        let names = match &subscription {
            Subscription::Topics(names) => names.clone(),
            Subscription::Pattern(pattern) => vec![format!("^({pattern})$")],
        };
        let names: Vec<&str> = names.iter().map(String::as_str).collect();
        consumer.subscribe(&names).map_err(|source| SourceError::Subscribe {
            topic: subscription.to_string(),
            source: Box::new(source),
        })?;
        crate::health::health().register(pipeline);
        Ok(KafkaSource {
            pipeline: pipeline.to_string(),
            consumer,
            subscription: subscription.to_string(),
            batch_records: config.batch_records.max(1),
            floor: Mutex::default(),
            last_transient_warning: Mutex::default(),
            session_timeout,
        })
    }

    fn assignment(&self) -> std::sync::MutexGuard<'_, Assignment> {
        self.consumer
            .context()
            .assignment
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// What this source reads: `topic posts`, `topics a, b` or `topic pattern ...`.
    pub fn subscription(&self) -> &str {
        &self.subscription
    }

    /// How long the group waits for a silent member before it gives its partitions away.
    pub fn session_timeout(&self) -> Duration {
        self.session_timeout
    }

    /// The partitions this member owns now.
    pub fn owned_partitions(&self) -> Vec<TopicPartition> {
        let assignment = self.assignment();
        assignment.owned.clone()
    }

    /// Logs a connection problem at most every 30 s.
    fn warn_transient(&self, error: &KafkaError) {
        let mut last = self.last_transient_warning.lock().unwrap_or_else(|e| e.into_inner());
        if last.is_none_or(|t| t.elapsed() >= Duration::from_secs(30)) {
            tracing::warn!(source = %self.subscription, error = %error, "Kafka not reachable; retrying");
            *last = Some(Instant::now());
        }
    }

    /// Waits up to `max_wait` for records, then takes what is buffered, up to `max_records` in all,
    /// grouped by partition in offset order, each batch at most `batch_records` long.
    pub fn poll(&self, max_wait: Duration, max_records: usize) -> Result<Vec<PartitionBatch>, SourceError> {
        let deadline = Instant::now() + max_wait;
        let mut by_partition: BTreeMap<TopicPartition, Vec<SourceRecord>> = BTreeMap::new();
        // The partition of the last message: consecutive messages mostly share it.
        let mut last: Option<TopicPartition> = None;
        let mut taken = 0;
        while taken < max_records {
            if self.has_new_assignments() {
                // The caller must set where the new partitions resume before taking records.
                break;
            }
            // Block only until the first record; then drain what is already buffered.
            let wait = if taken == 0 {
                deadline.saturating_duration_since(Instant::now())
            } else {
                Duration::ZERO
            };
            let Some(result) = self.consumer.poll(wait) else { break };
            let message = match result {
                Ok(message) => message,
                Err(e) if is_transient(&e) => {
                    // librdkafka reconnects by itself; the pipeline waits rather than fails.
                    self.warn_transient(&e);
                    break;
                }
                Err(e) => return Err(SourceError::Consume(Box::new(e))),
            };
            let record = to_record(&message);
            let tp = match last.take() {
                Some(tp) if tp.is(message.topic(), record.partition) => tp,
                _ => TopicPartition::new(message.topic(), record.partition),
            };
            last = Some(tp.clone());
            if !self.admit(&tp, &record) {
                continue;
            }
            by_partition.entry(tp).or_default().push(record);
            taken += 1;
            if wait.is_zero() && Instant::now() >= deadline && taken > 0 {
                break;
            }
        }
        let mut batches = Vec::new();
        for (tp, records) in by_partition {
            let mut records = records.into_iter().peekable();
            while records.peek().is_some() {
                let chunk: Vec<SourceRecord> = records.by_ref().take(self.batch_records).collect();
                batches.push(PartitionBatch {
                    topic: tp.topic.to_string(),
                    partition: tp.partition,
                    records: chunk,
                });
            }
        }
        Ok(batches)
    }

    /// True for a record at or above its partition's floor; moves the floor past it.
    fn admit(&self, tp: &TopicPartition, record: &SourceRecord) -> bool {
        let mut floor = self.floor.lock().unwrap_or_else(PoisonError::into_inner);
        let next = match floor.get_mut(tp) {
            Some(next) => next,
            None => floor.entry(tp.clone()).or_insert(0),
        };
        if record.offset < *next {
            return false;
        }
        *next = record.offset + 1;
        true
    }

    fn has_new_assignments(&self) -> bool {
        let assignment = self.assignment();
        !assignment.newly_assigned.is_empty()
    }

    /// The partitions assigned since the last call. Call [`KafkaSource::resume_at`] for each.
    pub fn take_assigned(&self) -> Vec<TopicPartition> {
        let mut assignment = self.assignment();
        std::mem::take(&mut assignment.newly_assigned)
    }

    /// The partitions revoked since the last call: whatever the caller holds of them uncommitted
    /// must be dropped (their new owner reads it again from where the tables stand).
    pub fn take_revoked(&self) -> Vec<TopicPartition> {
        let mut assignment = self.assignment();
        std::mem::take(&mut assignment.revoked)
    }

    /// Resumes `tp` at `next` (where the tables stand; `None`: nothing committed yet).
    /// Records below it are dropped even if they were fetched before the seek took.
    pub fn resume_at(&self, tp: &TopicPartition, next: Option<i64>) {
        {
            let mut floor = self.floor.lock().unwrap_or_else(PoisonError::into_inner);
            floor.insert(tp.clone(), next.unwrap_or(0));
        }
        let Some(next) = next else { return };
        let seek = self
            .consumer
            .seek(&tp.topic, tp.partition, Offset::Offset(next), Duration::from_secs(5));
        match seek {
            Ok(()) => tracing::info!(partition = %tp, offset = next, "resuming where the tables stand"),
            // The fetcher may not have started yet; the floor drops older records meanwhile.
            Err(e) => tracing::debug!(partition = %tp, "seek not taken ({e}); older records are dropped"),
        }
    }

    /// Commits `next offsets` (per partition) to the consumer group, after the tables did.
    pub fn commit(&self, next_offsets: &[(TopicPartition, i64)]) -> Result<(), SourceError> {
        if next_offsets.is_empty() {
            return Ok(());
        }
        let mut tpl = TopicPartitionList::new();
        for (tp, offset) in next_offsets {
            tpl.add_partition_offset(&tp.topic, tp.partition, Offset::Offset(*offset))
                .map_err(|e| SourceError::Commit(Box::new(e)))?;
        }
        self.consumer
            .commit(&tpl, CommitMode::Async)
            .map_err(|e| SourceError::Commit(Box::new(e)))
    }

    /// Leaves the consumer group (partitions go to the other members at once).
    pub fn close(self) {
        self.consumer.unsubscribe();
        // Dropping the consumer closes it, which leaves the group cleanly.
    }
}

impl Drop for KafkaSource {
    fn drop(&mut self) {
        crate::health::health().remove(&self.pipeline);
        // A stopped pipeline reports no lag (a stale value would look like lag to alerts).
        for tp in self.owned_partitions() {
            let labels = [self.pipeline.as_str(), &*tp.topic, &tp.partition.to_string()];
            let _ = crate::metrics::metrics().consumer_lag.remove_label_values(&labels);
        }
    }
}

/// The message as a record. Nothing here can panic on what a producer sent: headers are read
/// as bytes ([`headers::raw_headers`]), and a header name that is not UTF-8 marks the record
/// malformed (it lands in bronze and goes to quarantine with the reason).
fn to_record(message: &rdkafka::message::BorrowedMessage<'_>) -> SourceRecord {
    let (headers, malformed) = headers::named(headers::raw_headers(message));
    SourceRecord {
        partition: message.partition(),
        offset: message.offset(),
        timestamp_ms: message.timestamp().to_millis(),
        key: message.key().map(<[u8]>::to_vec),
        value: message.payload().map(<[u8]>::to_vec),
        headers,
        malformed,
    }
}

/// Errors librdkafka recovers from by itself (the broker is down or unreachable for a while).
fn is_transient(error: &KafkaError) -> bool {
    use rdkafka::types::RDKafkaErrorCode as Code;
    matches!(
        error,
        KafkaError::MessageConsumption(
            Code::BrokerTransportFailure
                | Code::AllBrokersDown
                | Code::Resolve
                | Code::BrokerNotAvailable
                | Code::NetworkException
                | Code::RequestTimedOut
                | Code::OperationTimedOut
        )
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use rdkafka::mocking::MockCluster;
    use rdkafka::producer::{BaseProducer, BaseRecord, Producer};

    /// A mock cluster with `topic` of 4 partitions holding `per_partition` records in each.
    fn cluster_with(
        topic: &str,
        per_partition: i64,
    ) -> MockCluster<'static, rdkafka::producer::DefaultProducerContext> {
        cluster_with_topics(&[topic], per_partition)
    }

    /// As [`cluster_with`], with each of `topics`.
    fn cluster_with_topics(
        topics: &[&str],
        per_partition: i64,
    ) -> MockCluster<'static, rdkafka::producer::DefaultProducerContext> {
        let cluster = MockCluster::new(1).unwrap();
        let producer: BaseProducer = ClientConfig::new()
            .set("bootstrap.servers", cluster.bootstrap_servers())
            .create()
            .unwrap();
        for topic in topics {
            cluster.create_topic(topic, 4, 1).unwrap();
            produce(&producer, topic, per_partition);
        }
        producer.flush(Duration::from_secs(10)).unwrap();
        cluster
    }

    /// `per_partition` records into each of the 4 partitions of `topic`.
    fn produce(producer: &BaseProducer, topic: &str, per_partition: i64) {
        for partition in 0..4 {
            for i in 0..per_partition {
                let value = format!(r#"{{"p":{partition},"i":{i}}}"#);
                let key = format!("k{i}");
                let headers = rdkafka::message::OwnedHeaders::new().insert(rdkafka::message::Header {
                    key: "h",
                    value: Some("v"),
                });
                let record = BaseRecord::to(topic)
                    .partition(partition)
                    .key(&key)
                    .payload(&value)
                    .headers(headers);
                producer.send(record).map_err(|(e, _)| e).unwrap();
            }
        }
    }

    fn source(cluster: &MockCluster<'static, rdkafka::producer::DefaultProducerContext>, topic: &str) -> KafkaSource {
        source_reading(cluster, topic, |c| c.topic = Some(topic.into()))
    }

    /// A source in group `<group>-group`, its topics set by `read`.
    fn source_reading(
        cluster: &MockCluster<'static, rdkafka::producer::DefaultProducerContext>,
        group: &str,
        read: impl FnOnce(&mut SourceConfig),
    ) -> KafkaSource {
        let mut config = SourceConfig {
            brokers: cluster.bootstrap_servers(),
            topic: None,
            topics: Vec::new(),
            topic_pattern: None,
            group: format!("{group}-group"),
            format: Default::default(),
            schema_registry: None,
            batch_records: 7,
            instance_id: None,
            properties: [
                ("session.timeout.ms".to_string(), "6000".to_string()),
                ("topic.metadata.refresh.interval.ms".to_string(), "500".to_string()),
            ]
            .into(),
        };
        read(&mut config);
        KafkaSource::connect("test", &config).unwrap()
    }

    /// Polls until `expected` records came, resuming new partitions at `resume`.
    fn drain(source: &KafkaSource, expected: usize, resume: &HashMap<(&str, i32), i64>) -> Vec<PartitionBatch> {
        let mut batches = Vec::new();
        let started = Instant::now();
        while batches.iter().map(|b: &PartitionBatch| b.records.len()).sum::<usize>() < expected {
            assert!(started.elapsed() < Duration::from_secs(30), "timed out");
            batches.extend(source.poll(Duration::from_millis(200), 1000).unwrap());
            for tp in source.take_assigned() {
                source.resume_at(&tp, resume.get(&(&*tp.topic, tp.partition)).copied());
            }
        }
        batches
    }

    #[test]
    fn takes_every_record_once_in_partition_batches() {
        let cluster = cluster_with("posts", 20);
        let source = source(&cluster, "posts");
        let batches = drain(&source, 80, &HashMap::new());
        let mut seen: BTreeMap<i32, Vec<i64>> = BTreeMap::new();
        for batch in &batches {
            assert!(batch.records.len() <= 7, "batch_records is respected");
            assert!(batch.records.iter().all(|r| r.partition == batch.partition));
            for record in &batch.records {
                seen.entry(record.partition).or_default().push(record.offset);
                let value: serde_json::Value = serde_json::from_slice(record.value.as_ref().unwrap()).unwrap();
                assert_eq!(value["p"], batch.partition);
                assert_eq!(value["i"], record.offset);
                assert_eq!(record.key.as_deref(), Some(format!("k{}", record.offset).as_bytes()));
                assert_eq!(record.headers, vec![("h".to_string(), Some(b"v".to_vec()))]);
                assert!(record.timestamp_ms.is_some());
            }
        }
        for partition in 0..4 {
            assert_eq!(
                seen[&partition],
                (0..20).collect::<Vec<_>>(),
                "partition {partition}: once, in order"
            );
        }
        assert!(
            source.poll(Duration::from_millis(300), 1000).unwrap().is_empty(),
            "nothing more"
        );
    }

    #[test]
    fn resumes_where_the_tables_stand() {
        let cluster = cluster_with("resume", 10);
        let source = source(&cluster, "resume");
        // Partition 0 resumes at 6 (4 records), 1 and 3 from the start (10 each), 2 is done.
        let batches = drain(&source, 24, &[(("resume", 0), 6), (("resume", 2), 10)].into());
        let mut seen: BTreeMap<i32, Vec<i64>> = BTreeMap::new();
        for batch in &batches {
            seen.entry(batch.partition)
                .or_default()
                .extend(batch.records.iter().map(|r| r.offset));
        }
        assert_eq!(seen.get(&0), Some(&(6..10).collect::<Vec<_>>()));
        assert_eq!(seen.get(&1), Some(&(0..10).collect::<Vec<_>>()));
        assert_eq!(seen.get(&2), None);
        assert_eq!(seen.get(&3), Some(&(0..10).collect::<Vec<_>>()));
        assert!(
            source.poll(Duration::from_millis(300), 1000).unwrap().is_empty(),
            "nothing more"
        );
        assert_eq!(source.owned_partitions().len(), 4);
    }

    /// Every record of each (topic, partition) once, in order, per topic.
    fn by_origin(batches: &[PartitionBatch]) -> BTreeMap<(String, i32), Vec<i64>> {
        let mut seen: BTreeMap<(String, i32), Vec<i64>> = BTreeMap::new();
        for batch in batches {
            assert!(batch.records.iter().all(|r| r.partition == batch.partition));
            let origin = seen.entry((batch.topic.clone(), batch.partition)).or_default();
            origin.extend(batch.records.iter().map(|r| r.offset));
        }
        seen
    }

    /// Two topics with the same partition numbers: each (topic, partition) resumes where its
    /// own tables stand, and every batch names its topic.
    #[test]
    fn reads_several_topics_each_partition_resuming_on_its_own() {
        let cluster = cluster_with_topics(&["shop", "web"], 10);
        let source = source_reading(&cluster, "two", |c| c.topics = vec!["shop".into(), "web".into()]);
        assert_eq!(source.subscription(), "topics shop, web");
        // shop/0 resumes at 6 (4 records), web/0 at 8 (2), shop/2 is done: 4 + 2 + 10 * 5.
        let resume = [(("shop", 0), 6), (("web", 0), 8), (("shop", 2), 10)].into();
        let seen = by_origin(&drain(&source, 56, &resume));
        assert_eq!(seen[&("shop".into(), 0)], (6..10).collect::<Vec<_>>());
        assert_eq!(seen[&("web".into(), 0)], (8..10).collect::<Vec<_>>());
        assert_eq!(seen.get(&("shop".into(), 2)), None);
        for (topic, partition) in [("shop", 1), ("shop", 3), ("web", 1), ("web", 2), ("web", 3)] {
            assert_eq!(seen[&(topic.into(), partition)], (0..10).collect::<Vec<_>>());
        }
        assert!(source.poll(Duration::from_millis(300), 1000).unwrap().is_empty());
        assert_eq!(source.owned_partitions().len(), 8);
    }

    /// A pattern takes the topics whose whole name matches it, also one created later.
    #[test]
    fn a_pattern_reads_every_matching_topic_and_only_those() {
        let cluster = cluster_with_topics(&["events.a", "events.b", "events.a.old", "other"], 5);
        let source = source_reading(&cluster, "pattern", |c| c.topic_pattern = Some(r"events\.[a-z]".into()));
        let seen = by_origin(&drain(&source, 40, &HashMap::new()));
        let topics: std::collections::BTreeSet<&str> = seen.keys().map(|(t, _)| t.as_str()).collect();
        assert_eq!(topics, ["events.a", "events.b"].into(), "whole names only");
        cluster.create_topic("events.c", 4, 1).unwrap();
        let producer: BaseProducer = ClientConfig::new()
            .set("bootstrap.servers", cluster.bootstrap_servers())
            .create()
            .unwrap();
        produce(&producer, "events.c", 5);
        producer.flush(Duration::from_secs(10)).unwrap();
        // A new topic rebalances the group: the partitions read so far resume at their end.
        let ends = (["events.a", "events.b"].into_iter())
            .flat_map(|t| (0..4).map(move |p| ((t, p), 5)))
            .collect();
        let later = by_origin(&drain(&source, 20, &ends));
        assert!(
            later.keys().all(|(t, _)| t == "events.c"),
            "a new matching topic: {later:?}"
        );
    }

    #[test]
    fn an_unreachable_broker_is_waited_for_other_errors_stop_the_pipeline() {
        use rdkafka::types::RDKafkaErrorCode as Code;
        assert!(is_transient(&KafkaError::MessageConsumption(
            Code::BrokerTransportFailure
        )));
        assert!(is_transient(&KafkaError::MessageConsumption(Code::AllBrokersDown)));
        assert!(!is_transient(&KafkaError::MessageConsumption(
            Code::TopicAuthorizationFailed
        )));
        assert!(!is_transient(&KafkaError::MessageConsumptionFatal(
            Code::BrokerTransportFailure
        )));
    }
}
