//! The pipeline file, `pipelines/<name>/pipeline.toml`, as typed settings. Every table refuses
//! unknown keys, so a typo is an error that names the key and its line, never a silent default.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

pub use super::silver_tables::{RouteConfig, SilverTables};

pub use super::types::{ColumnType, EpochUnit, MAX_DECIMAL_PRECISION, StructField};

use crate::plugin::{Limits, PluginKind};

/// One pipeline file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PipelineFile {
    /// The pipeline's name; defaults to its folder's name. Part of table paths and offsets.
    pub name: Option<String>,
    /// Where records come from.
    pub source: SourceConfig,
    /// Threads that take partition batches through the stages and silver decoding in
    /// parallel, each with its own plugin instances (1 to 64). Default: the cores available.
    pub workers: Option<usize>,
    /// The plugin stages, in order.
    #[serde(default)]
    pub stages: Vec<StageConfig>,
    /// Where and how the tables are written.
    pub tables: TablesConfig,
    /// When to commit to the tables.
    #[serde(default)]
    pub commit: CommitPolicy,
    /// Gold tables: windowed aggregates over the silver records, one table each.
    #[serde(default)]
    pub gold: Vec<GoldConfig>,
    /// Where quarantined records go besides the quarantine table: a dead-letter topic.
    #[serde(default)]
    pub quarantine: QuarantineConfig,
    /// Table upkeep: compaction, snapshot expiry, orphan files; on a schedule with `every`.
    #[serde(default)]
    pub upkeep: super::upkeep::UpkeepConfig,
}

/// `[quarantine]`: a dead-letter topic that gets every quarantined record, once the quarantine
/// table has committed it (original key, value and headers, plus `weir.*` headers saying why and
/// where from). At least once: a crash may repeat a record, never lose one.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QuarantineConfig {
    /// The dead-letter topic; it must exist. None: no dead-letter topic.
    pub topic: Option<String>,
    /// Bootstrap servers of the dead-letter topic's cluster; default: the source's.
    pub brokers: Option<String>,
    /// librdkafka producer properties (`security.protocol`, `sasl.*`, `compression.type`, ...);
    /// default: the source's `security.*`, `sasl.*` and `ssl.*` properties. `acks` and
    /// `enable.idempotence` are Weir's (all, true).
    #[serde(default)]
    pub properties: BTreeMap<String, String>,
}

/// One gold table: an aggregate plugin over event-time windows of the records that reach silver.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GoldConfig {
    /// The aggregate's name; its table is `gold_<name>`. Also the stage name in quarantine rows.
    pub name: String,
    /// The aggregate component, relative to the pipeline's folder.
    pub plugin: PathBuf,
    /// Passed to the plugin's `init`, as JSON.
    #[serde(default)]
    pub config: toml::Table,
    /// Sandbox limits of the plugin.
    #[serde(default)]
    pub limits: Limits,
    /// The silver table it reads (its `name`); needed when there are several.
    pub source: Option<String>,
    /// The declared silver column (a timestamp) that places a record in windows.
    pub event_time: String,
    /// `{ size = "1h" }` for tumbling windows, `{ size = "1h", slide = "15m" }` for hopping ones.
    pub window: WindowConfig,
    /// How far behind the newest event time of its partition a record may be and still count,
    /// e.g. `"10m"`. Later records go to quarantine with reason `late: ...`. Default `"0s"`.
    #[serde(default)]
    pub allowed_lateness: Option<String>,
    /// How far ahead of the time it reached Kafka (its timestamp) a record's event time may be,
    /// e.g. `"15m"`. A record further in the future goes to quarantine with reason
    /// `future: ...` instead of moving its partition's watermark. Default `"1h"`.
    #[serde(default)]
    pub max_ahead: Option<String>,
    /// The name of the gold column holding the group key the plugin returns. Default `key`.
    #[serde(default = "default_key_column")]
    pub key_column: String,
    /// The columns of the JSON row the plugin's `finish` returns (all nullable).
    pub columns: Vec<ColumnConfig>,
}

fn default_key_column() -> String {
    "key".into()
}

/// Window lengths, as durations: `500ms`, `30s`, `15m`, `1h`, `1d`, `1w`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WindowConfig {
    /// The window's length.
    pub size: String,
    /// How far apart windows start; a hopping window when smaller than `size`, which it must
    /// divide. Default: `size` (tumbling windows).
    pub slide: Option<String>,
}

/// A Kafka source.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SourceConfig {
    /// Bootstrap servers, `host:port[,host:port...]`.
    pub brokers: String,
    /// The topic to read; or `topics`, or `topic_pattern` (exactly one of the three).
    #[serde(default)]
    pub topic: Option<String>,
    /// The topics to read, each record keeping its origin topic (`_kafka_topic`).
    #[serde(default)]
    pub topics: Vec<String>,
    /// A regular expression a topic's whole name must match to be read. Topics created later
    /// are taken at the consumer's next metadata refresh (`topic.metadata.refresh.interval.ms`).
    #[serde(default)]
    pub topic_pattern: Option<String>,
    /// The consumer group; hosts sharing it split the partitions.
    pub group: String,
    /// How record values are encoded.
    #[serde(default)]
    pub format: ValueFormat,
    /// Where Avro records' schemas are looked up by the id in front of each record.
    #[serde(default)]
    pub schema_registry: Option<SchemaRegistryConfig>,
    /// Most records taken from one partition per batch.
    #[serde(default = "default_batch_records")]
    pub batch_records: usize,
    /// Static group membership: this host's stable name in the group (`group.instance.id`),
    /// e.g. `"${HOSTNAME}"`, unique per host. A host restarted under the same name gets its
    /// partitions back at once instead of after a rebalance; empty or unset: dynamic membership.
    #[serde(default)]
    pub instance_id: Option<String>,
    /// librdkafka properties passed through as they are (`security.protocol`, `sasl.*`, ...).
    #[serde(default)]
    pub properties: BTreeMap<String, String>,
}

/// What a pipeline reads: named topics, or every topic whose name matches a pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Subscription {
    Topics(Vec<String>),
    Pattern(String),
}

impl SourceConfig {
    /// The topics or the pattern this source reads (`topic`, then `topics`, then the pattern).
    pub fn subscription(&self) -> Subscription {
        match (&self.topic, &self.topic_pattern) {
            (Some(topic), _) => Subscription::Topics(vec![topic.clone()]),
            (None, Some(pattern)) if self.topics.is_empty() => Subscription::Pattern(pattern.clone()),
            _ => Subscription::Topics(self.topics.clone()),
        }
    }

    /// The only topic this source reads, if it reads exactly one by name.
    pub fn single_topic(&self) -> Option<&str> {
        match (&self.topic, self.topics.as_slice(), &self.topic_pattern) {
            (Some(topic), [], None) => Some(topic),
            (None, [topic], None) => Some(topic),
            _ => None,
        }
    }
}

impl Subscription {
    /// True when `topic` is one this subscription reads.
    pub fn takes(&self, topic: &str) -> bool {
        match self {
            Subscription::Topics(names) => names.iter().any(|n| n == topic),
            Subscription::Pattern(pattern) => {
                regex::Regex::new(&format!("^(?:{pattern})$")).is_ok_and(|re| re.is_match(topic))
            }
        }
    }
}

impl std::fmt::Display for Subscription {
    /// `topic posts`, `topics shop, web` or `topic pattern events\..*`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Subscription::Topics(names) if names.len() == 1 => write!(f, "topic {}", names[0]),
            Subscription::Topics(names) => write!(f, "topics {}", names.join(", ")),
            Subscription::Pattern(pattern) => write!(f, "topic pattern {pattern}"),
        }
    }
}

fn default_batch_records() -> usize {
    1024
}

/// How record values are encoded.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ValueFormat {
    /// One JSON document per message.
    #[default]
    Json,
    /// Avro in the Confluent wire format (magic byte 0, 4-byte schema id, the datum), schemas
    /// from `[source.schema_registry]`.
    Avro,
    /// Protobuf in the Confluent wire format (magic byte 0, 4-byte schema id, the message-index
    /// list, the message), schemas from `[source.schema_registry]`.
    Protobuf,
}

/// A Confluent-compatible Schema Registry.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SchemaRegistryConfig {
    /// Base URL, e.g. `http://registry:8081`.
    pub url: String,
    /// Basic auth: user name (`${VAR}` expands), with `password`.
    #[serde(default)]
    pub username: Option<String>,
    #[serde(default)]
    pub password: Option<String>,
    /// Bearer token (`${VAR}` expands), instead of basic auth.
    #[serde(default)]
    pub token: Option<String>,
    /// Each request's time limit.
    #[serde(default = "default_registry_timeout_ms")]
    pub timeout_ms: u64,
    /// The longest wait between retries while the registry does not answer (the pipeline waits;
    /// nothing is quarantined because of it).
    #[serde(default = "default_registry_backoff_ms")]
    pub max_backoff_ms: u64,
}

impl SchemaRegistryConfig {
    /// The registry at `url`, no credentials, the default timeout and backoff.
    pub fn new(url: &str) -> Self {
        SchemaRegistryConfig {
            url: url.to_string(),
            username: None,
            password: None,
            token: None,
            timeout_ms: default_registry_timeout_ms(),
            max_backoff_ms: default_registry_backoff_ms(),
        }
    }
}

fn default_registry_timeout_ms() -> u64 {
    10_000
}

fn default_registry_backoff_ms() -> u64 {
    10_000
}

/// One plugin stage.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StageConfig {
    /// The stage's name: in quarantine rows, metrics and logs.
    pub name: String,
    /// The component, relative to the pipeline's folder.
    pub plugin: PathBuf,
    /// `transform` (validate, map, filter, flat-map) or `aggregate`.
    pub kind: PluginKind,
    /// Passed to the plugin's `init`, as JSON.
    #[serde(default)]
    pub config: toml::Table,
    /// Sandbox limits of the stage.
    #[serde(default)]
    pub limits: Limits,
}

/// The medallion tables of a pipeline.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TablesConfig {
    /// Where the tables live: `s3://bucket/prefix`, `file:///abs/path`, or a path relative to the
    /// directory `weir` runs in. Each table is a folder below it (`bronze`, `silver`, ...).
    pub location: String,
    /// The table formats to write.
    #[serde(default = "default_formats")]
    pub format: Vec<TableFormat>,
    /// The silver tables: typed columns, deduplicated on `key`. One `[tables.silver]`, or
    /// several `[[tables.silver]]`, each taking the records its `route` matches.
    pub silver: SilverTables,
    /// `[tables.bronze]`: how bronze is partitioned (by the day of `_ingested_at` by default).
    #[serde(default)]
    pub bronze: LandingConfig,
    /// `[tables.quarantine]`: how quarantine is partitioned (by the day of `_quarantined_at`).
    #[serde(default)]
    pub quarantine: LandingConfig,
    /// S3 settings, for `s3://` locations (MinIO and other S3-compatible stores).
    #[serde(default)]
    pub s3: S3Config,
    /// The Iceberg catalog, when `format` lists `iceberg`.
    #[serde(default)]
    pub iceberg: IcebergConfig,
}

/// Where Iceberg tables are registered.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IcebergConfig {
    /// `sql` (SQLite or PostgreSQL) or `rest`.
    #[serde(default)]
    pub catalog: CatalogKind,
    /// The catalog's address: `sqlite:///path/catalog.db`, `postgres://user:pass@host/db` or
    /// `http://host:8181` (REST). For a local `location` the default is a SQLite file beside the
    /// tables, `<location>/iceberg/catalog.db`; an `s3://` location needs one set here.
    pub uri: Option<String>,
    /// The REST catalog's warehouse (sent as `warehouse`); SQL catalogs ignore it.
    pub warehouse: Option<String>,
    /// The namespace of the tables; defaults to the pipeline's name.
    pub namespace: Option<String>,
    /// Extra catalog properties (`token`, `credential`, `pool.max-connections`, ...).
    #[serde(default)]
    pub properties: BTreeMap<String, String>,
}

/// An Iceberg catalog implementation.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum CatalogKind {
    #[default]
    Sql,
    Rest,
}

/// The partitioning of a table rows land in by the time they were taken (bronze, quarantine).
/// A table that exists keeps the partitioning it was created with.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LandingConfig {
    #[serde(default)]
    pub partition_by: Landing,
}

/// `day` (the default), `hour` or `none`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Landing {
    #[default]
    Day,
    Hour,
    None,
}

impl Landing {
    /// The partitioning of `column` (a timestamp) this asks for.
    pub fn of(self, column: &str) -> Option<PartitionBy> {
        let transform = match self {
            Landing::Day => PartitionTransform::Day,
            Landing::Hour => PartitionTransform::Hour,
            Landing::None => return None,
        };
        Some(PartitionBy {
            column: column.to_string(),
            transform,
        })
    }
}

/// How a table is partitioned: a column and a transform of it.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct PartitionBy {
    /// A declared column.
    pub column: String,
    /// `day` or `hour` of a timestamp, or `identity`.
    #[serde(default)]
    pub transform: PartitionTransform,
}

/// A partition transform. Iceberg applies it itself (hidden partitioning); Delta gets a derived
/// column `<column>_<transform>` (a date for `day`, a timestamp truncated to the hour for `hour`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum PartitionTransform {
    #[default]
    Day,
    Hour,
    Identity,
}

impl PartitionTransform {
    pub fn name(self) -> &'static str {
        match self {
            PartitionTransform::Day => "day",
            PartitionTransform::Hour => "hour",
            PartitionTransform::Identity => "identity",
        }
    }
}

fn default_formats() -> Vec<TableFormat> {
    vec![TableFormat::Delta]
}

/// A table format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum TableFormat {
    Delta,
    Iceberg,
    /// The quarantine's dead-letter topic (`[quarantine] topic`): not a format one lists in
    /// `tables.format`, but committed to like one, after the quarantine tables, with the same
    /// offsets bookkeeping (`crate::dead_letter`).
    #[serde(skip)]
    Topic,
}

impl TableFormat {
    /// As written in pipeline files and metric labels.
    pub fn name(self) -> &'static str {
        match self {
            TableFormat::Delta => "delta",
            TableFormat::Iceberg => "iceberg",
            TableFormat::Topic => "topic",
        }
    }
}

/// The silver table's schema and key.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SilverConfig {
    /// The table is `silver_<name>`; without a name (only for a pipeline's one table), `silver`.
    pub name: Option<String>,
    /// The records this table takes; none: every record (one table) or none but its own route's.
    pub route: Option<RouteConfig>,
    /// Takes the records no route takes (at most one table); without one they are quarantined.
    #[serde(default)]
    pub default: bool,
    /// This table's formats; default: `tables.format`.
    pub format: Option<Vec<TableFormat>>,
    /// Columns whose values identify a record; silver keeps one row per key.
    pub key: Vec<String>,
    /// The declared schema, in order. Adding a nullable column later evolves the tables in
    /// place: old rows read it as null.
    pub columns: Vec<ColumnConfig>,
    /// Partitioning, e.g. `{ column = "created_utc", transform = "day" }`; none by default.
    pub partition_by: Option<PartitionBy>,
    /// Columns taken from the registry as well as declared: the subject's latest schema when
    /// the pipeline starts, and each field a schema met while running adds.
    pub from_registry: Option<FromRegistry>,
}

impl SilverConfig {
    /// The table's name: `silver`, or `silver_<name>`.
    pub fn table(&self) -> String {
        match &self.name {
            Some(name) => format!("silver_{name}"),
            None => "silver".to_string(),
        }
    }

    /// The formats this table is written in.
    pub fn formats<'a>(&'a self, tables: &'a TablesConfig) -> &'a [TableFormat] {
        self.format.as_deref().unwrap_or(&tables.format)
    }
}

/// Where silver's registry columns come from (`[tables.silver.from_registry]`).
#[derive(Debug, Clone, Default, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct FromRegistry {
    /// The subject whose latest schema gives the columns; `<topic>-value` when not set.
    pub subject: Option<String>,
    /// A Protobuf schema's message (its full name); the schema's first message when not set.
    pub message: Option<String>,
}

/// A declared column.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ColumnConfig {
    pub name: String,
    #[serde(rename = "type")]
    pub ty: ColumnType,
    /// Whether a record may lack the field (null). Key columns must not be nullable.
    #[serde(default = "yes")]
    pub nullable: bool,
    /// The unit of epoch numbers in a timestamp or date column (and its nested timestamps).
    /// Without it such a column takes text only (RFC 3339, `YYYY-MM-DD`).
    #[serde(default)]
    pub unit: Option<EpochUnit>,
    /// The documented casts: numbers and booleans written as text are parsed (`"12"` into an
    /// integer column), numbers and booleans go into a string column as written, and a whole
    /// float into an integer column (`12.0`). Off: each of these is quarantined.
    #[serde(default)]
    pub coerce: bool,
}

impl ColumnConfig {
    /// A column of `ty` with no unit and no casts.
    pub fn new(name: &str, ty: ColumnType, nullable: bool) -> Self {
        ColumnConfig {
            name: name.into(),
            ty,
            nullable,
            unit: None,
            coerce: false,
        }
    }
}

fn yes() -> bool {
    true
}

/// S3 connection settings. Unset values fall back to the usual `AWS_*` environment variables.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct S3Config {
    /// Endpoint URL, for MinIO and other S3-compatible stores.
    pub endpoint: Option<String>,
    pub region: Option<String>,
    pub access_key_id: Option<String>,
    pub secret_access_key: Option<String>,
    /// Allow plain `http://` endpoints.
    #[serde(default)]
    pub allow_http: bool,
    /// Path-style addressing (`endpoint/bucket/key`), which MinIO needs.
    #[serde(default)]
    pub path_style: bool,
}

impl S3Config {
    /// The connection values that are set (endpoint, region, access key id, secret access key),
    /// under the four names a client library spells them with.
    pub fn named(&self, names: [&str; 4]) -> std::collections::HashMap<String, String> {
        let values = [
            &self.endpoint,
            &self.region,
            &self.access_key_id,
            &self.secret_access_key,
        ];
        names
            .into_iter()
            .zip(values)
            .filter_map(|(name, value)| {
                let value = value.as_ref().filter(|v| !v.is_empty())?;
                Some((name.to_string(), value.clone()))
            })
            .collect()
    }
}

/// When buffered records are committed: whichever limit is reached first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct CommitPolicy {
    /// Records per commit.
    pub max_records: usize,
    /// Bytes of record values per commit.
    pub max_bytes: u64,
    /// Longest time between commits while records arrive, in ms.
    pub max_interval_ms: u64,
}

impl Default for CommitPolicy {
    fn default() -> Self {
        CommitPolicy {
            max_records: 100_000,
            max_bytes: 64 << 20,
            max_interval_ms: 5_000,
        }
    }
}
