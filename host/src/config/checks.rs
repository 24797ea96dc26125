//! The checks serde cannot make, one part of the file each: the name, the source, the stages,
//! the tables and the commit policy (gold's are in `gold_checks`). Each refusal names the key
//! and, through `invalid`, its line.

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use super::error::ConfigError;
use super::model::{
    ColumnType, CommitPolicy, PartitionTransform, PipelineFile, QuarantineConfig, SilverTables, SourceConfig,
    TableFormat, TablesConfig, ValueFormat,
};
use super::pipeline::Stage;
use crate::plugin::{Limits, PluginKind};

/// Makes the error for (key, text to find its line by when it has no span, message).
pub type Invalid<'a> = &'a dyn Fn(&str, &str, String) -> ConfigError;

/// The most records one partition batch may hold.
const MAX_BATCH_RECORDS: usize = 1_000_000;

/// The pipeline's name: `name`, or its folder's.
pub fn check_name(file: &PipelineFile, dir: &Path, invalid: Invalid<'_>) -> Result<String, ConfigError> {
    let name = match &file.name {
        Some(name) => name.clone(),
        None => dir
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default(),
    };
    if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_') {
        return Err(invalid(
            "name",
            "name =",
            format!("`{name}` must be letters, digits, `-` or `_`"),
        ));
    }

    Ok(name)
}

/// Brokers, topics and group given; a batch size in range.
pub fn check_source(source: &SourceConfig, invalid: Invalid<'_>) -> Result<(), ConfigError> {
    for (key, value) in [("brokers", &source.brokers), ("group", &source.group)] {
        if value.trim().is_empty() {
            return Err(invalid(
                &format!("source.{key}"),
                &format!("{key} ="),
                "must not be empty".into(),
            ));
        }
    }
    check_topics(source, invalid)?;
    if !(1..=MAX_BATCH_RECORDS).contains(&source.batch_records) {
        return Err(invalid(
            "source.batch_records",
            "batch_records",
            format!(
                "{} is out of range: give 1 to {MAX_BATCH_RECORDS}",
                source.batch_records
            ),
        ));
    }
    check_registry(source, invalid)
}

/// Exactly one of `topic`, `topics` and `topic_pattern`; legal, distinct names; a pattern that
/// compiles.
fn check_topics(source: &SourceConfig, invalid: Invalid<'_>) -> Result<(), ConfigError> {
    let given = [
        source.topic.is_some(),
        !source.topics.is_empty(),
        source.topic_pattern.is_some(),
    ];
    if given.iter().filter(|g| **g).count() != 1 {
        let message = "give exactly one of `topic`, `topics` and `topic_pattern`".into();
        return Err(invalid("source", "[source]", message));
    }
    if let Some(topic) = &source.topic {
        return legal_topic(topic).map_err(|m| invalid("source.topic", "topic", m));
    }
    if let Some(pattern) = &source.topic_pattern {
        if pattern.is_empty() {
            return Err(invalid(
                "source.topic_pattern",
                "topic_pattern",
                "must not be empty".into(),
            ));
        }
        // librdkafka applies it with its own engine: the syntax both engines read alike only.
        let rust_only = pattern.replace("(?:", "").contains("(?") || pattern.contains("\\p") || pattern.contains("\\P");
        if rust_only {
            let message = "flags, named groups and Unicode classes are not read by librdkafka's regular \
                           expressions: use . * + ? | ( ) [ ] { } and \\d \\w \\s"
                .into();
            return Err(invalid("source.topic_pattern", "topic_pattern", message));
        }
        return match regex::Regex::new(&format!("^(?:{pattern})$")) {
            Ok(_) => Ok(()),
            Err(e) => Err(invalid(
                "source.topic_pattern",
                "topic_pattern",
                format!("not a regular expression: {e}"),
            )),
        };
    }
    let mut seen = HashSet::new();
    for (i, topic) in source.topics.iter().enumerate() {
        let key = format!("source.topics[{i}]");
        legal_topic(topic).map_err(|m| invalid(&key, "topics", m))?;
        if !seen.insert(topic) {
            return Err(invalid(&key, "topics", format!("`{topic}` is listed twice")));
        }
    }
    Ok(())
}

/// A legal Kafka topic name: 1 to 249 of `a-z A-Z 0-9 . _ -`, not `.` or `..`.
pub fn legal_topic(topic: &str) -> Result<(), String> {
    let legal = |c: char| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-');
    if topic.is_empty() || topic.len() > 249 || !topic.chars().all(legal) || topic == "." || topic == ".." {
        return Err(format!(
            "`{topic}` is not a Kafka topic name (1 to 249 of a-z A-Z 0-9 . _ -)"
        ));
    }
    Ok(())
}

/// An Avro source has a registry with an http(s) URL; basic auth has both halves, and is not
/// given together with a token.
fn check_registry(source: &SourceConfig, invalid: Invalid<'_>) -> Result<(), ConfigError> {
    let Some(registry) = &source.schema_registry else {
        if source.format != ValueFormat::Json {
            let message = "an Avro or Protobuf source needs `[source.schema_registry]` with its `url`".into();
            return Err(invalid("source.format", "format", message));
        }
        return Ok(());
    };
    let url_ok = url::Url::parse(&registry.url).is_ok_and(|u| matches!(u.scheme(), "http" | "https"));
    if !url_ok {
        let message = format!("`{}` is not an http:// or https:// URL", registry.url);
        return Err(invalid("source.schema_registry.url", "url", message));
    }
    let set = |v: &Option<String>| v.as_deref().is_some_and(|v| !v.is_empty());
    if set(&registry.username) != set(&registry.password) {
        let message = "basic auth needs both `username` and `password`".into();
        return Err(invalid("source.schema_registry.username", "username", message));
    }
    if set(&registry.username) && set(&registry.token) {
        let message = "give basic auth (`username`, `password`) or a bearer `token`, not both".into();
        return Err(invalid("source.schema_registry.token", "token", message));
    }
    if registry.timeout_ms == 0 || registry.max_backoff_ms == 0 {
        let message = "`timeout_ms` and `max_backoff_ms` must be above 0".into();
        return Err(invalid("source.schema_registry", "schema_registry", message));
    }
    Ok(())
}

/// The transform stages: unique names, their plugins and limits. Returns them with the names.
pub fn check_stages<'f>(
    file: &'f PipelineFile,
    dir: &Path,
    invalid: Invalid<'_>,
) -> Result<(Vec<Stage>, HashSet<&'f str>), ConfigError> {
    let mut names = HashSet::new();
    let mut stages = Vec::with_capacity(file.stages.len());
    for (i, stage) in file.stages.iter().enumerate() {
        let key = |field: &str| format!("stages[{i}].{field}");
        let needle = format!("\"{}\"", stage.name);
        if !names.insert(stage.name.as_str()) {
            return Err(invalid(
                &key("name"),
                &needle,
                format!("two stages are named `{}`", stage.name),
            ));
        }
        let (plugin, config) = check_plugin(dir, &stage.plugin, &stage.limits, &stage.config, &key, invalid)?;
        if stage.kind != PluginKind::Transform {
            return Err(invalid(
                &key("kind"),
                &needle,
                format!(
                    "stage `{}` is an aggregate: aggregates run over windows in a [[gold]] section",
                    stage.name
                ),
            ));
        }
        stages.push(Stage {
            name: stage.name.clone(),
            plugin,
            kind: stage.kind,
            config,
            limits: stage.limits,
        });
    }

    Ok((stages, names))
}

/// The location, formats, silver's columns, key and partitioning, and a catalog where S3 needs one.
pub fn check_tables(tables: &TablesConfig, invalid: Invalid<'_>) -> Result<(), ConfigError> {
    if let Err(message) = check_location(&tables.location) {
        return Err(invalid("tables.location", "location", message));
    }
    let formats: HashSet<_> = tables.format.iter().collect();
    if tables.format.is_empty() || formats.len() != tables.format.len() {
        return Err(invalid(
            "tables.format",
            "format",
            "must list each format once, at least one".into(),
        ));
    }
    check_silver_tables(&tables.silver, invalid)?;
    let iceberg = |f: &[TableFormat]| f.contains(&TableFormat::Iceberg);
    if (iceberg(&tables.format) || tables.silver.iter().any(|t| t.format.as_deref().is_some_and(iceberg)))
        && tables.location.starts_with("s3://")
        && tables.iceberg.uri.as_deref().is_none_or(str::is_empty)
    {
        return Err(invalid(
            "tables.iceberg.uri",
            "[tables",
            "an s3:// location needs an Iceberg catalog: set `uri` (sqlite://, postgres:// or http://)".into(),
        ));
    }
    Ok(())
}

/// Each silver table on its own (`check_silver`), then together: with several, each is named
/// (uniquely) and has a route or is the default, and no route is one an earlier table takes.
fn check_silver_tables(tables: &SilverTables, invalid: Invalid<'_>) -> Result<(), ConfigError> {
    if tables.is_empty() {
        return Err(invalid(
            "tables.silver",
            "silver",
            "declare at least one silver table".into(),
        ));
    }
    for i in 0..tables.len() {
        check_silver(tables, i, invalid)?;
    }
    let mut names = HashSet::new();
    let mut defaults = 0;
    for (i, table) in tables.iter().enumerate() {
        let key = |field: &str| tables.key(i, field);
        match &table.name {
            Some(name)
                if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-') =>
            {
                let message = format!("`{name}` must be letters, digits, `-` or `_`");
                return Err(invalid(&key("name"), "name", message));
            }
            Some(name) if !names.insert(name.as_str()) => {
                return Err(invalid(
                    &key("name"),
                    "name",
                    format!("two silver tables are named `{name}`"),
                ));
            }
            None if tables.len() > 1 => {
                let message = "there are several silver tables: give each a `name`".into();
                return Err(invalid(&format!("tables.silver[{i}]"), "[[tables.silver]]", message));
            }
            _ => {}
        }
        defaults += usize::from(table.default);
        if table.default && defaults > 1 {
            return Err(invalid(
                &key("default"),
                "default",
                "only one silver table may be the default".into(),
            ));
        }
        if table.default && table.route.is_some() {
            let message = "a table takes its `route` or is the `default`, not both".into();
            return Err(invalid(&key("route"), "route", message));
        }
        if tables.len() > 1 && !table.default && table.route.is_none() {
            let message = "there are several silver tables: give this one a `route` or `default = true`".into();
            return Err(invalid(&key("name"), "name", message));
        }
        check_route(tables, i, invalid)?;
    }
    Ok(())
}

/// A route names a field and at least one value; it is not one an earlier table takes (the
/// first match wins, so this table would never get it); and its table does not declare the
/// field with a type a string cannot have (every record it takes would fail silver).
fn check_route(tables: &SilverTables, i: usize, invalid: Invalid<'_>) -> Result<(), ConfigError> {
    let Some(route) = &tables[i].route else {
        return Ok(());
    };
    let key = tables.key(i, "route");
    if route.field.is_empty() || route.equals.0.is_empty() || route.equals.0.iter().any(String::is_empty) {
        let message = "give the `field` and at least one value in `equals`, none empty".into();
        return Err(invalid(&key, "route", message));
    }
    for (e, earlier) in tables[..i].iter().enumerate() {
        let Some(first) = earlier.route.as_ref().filter(|r| r.field == route.field) else {
            continue;
        };
        if let Some(value) = route.equals.0.iter().find(|v| first.equals.0.contains(v)) {
            let message = format!(
                "no record reaches this table with `{}` = \"{value}\": {} (`{}`) takes it first",
                route.field,
                earlier.table(),
                tables.key(e, "route")
            );
            return Err(invalid(&key, "route", message));
        }
    }
    let declared = tables[i].columns.iter().find(|c| c.name == route.field);
    if let Some(column) = declared.filter(|c| !takes_text(&c.ty, c.coerce)) {
        let message = format!(
            "routes on `{}`, a string, but declares it `{}`: every record it takes would fail silver",
            route.field, column.ty
        );
        return Err(invalid(&key, "route", message));
    }
    Ok(())
}

/// Whether a column of type `ty` can hold a JSON string: text types always, numbers and
/// booleans only with the documented casts (`coerce`), nested types never.
fn takes_text(ty: &ColumnType, coerce: bool) -> bool {
    match ty {
        ColumnType::String
        | ColumnType::Binary
        | ColumnType::Date
        | ColumnType::Timestamp
        | ColumnType::TimestampNtz => true,
        ColumnType::List(_) | ColumnType::Map(..) | ColumnType::Struct(_) => false,
        _ => coerce,
    }
}

/// Silver's columns declared once, its key columns declared and not nullable, its partition
/// column declared (and a timestamp, for `day` and `hour`), its formats each listed once.
fn check_silver(tables: &SilverTables, i: usize, invalid: Invalid<'_>) -> Result<(), ConfigError> {
    let silver = &tables[i];
    let name = |field: &str| tables.key(i, field);
    if let Some(format) = &silver.format {
        let formats: HashSet<_> = format.iter().collect();
        if format.is_empty() || formats.len() != format.len() {
            return Err(invalid(
                &name("format"),
                "format",
                "must list each format once, at least one".into(),
            ));
        }
    }
    let mut columns = HashSet::new();
    for column in &silver.columns {
        if !columns.insert(column.name.as_str()) {
            let needle = format!("\"{}\"", column.name);
            return Err(invalid(
                &name("columns"),
                &needle,
                format!("column `{}` is declared twice", column.name),
            ));
        }
        if column.unit.is_some() && !has_epoch(&column.ty) {
            let needle = format!("\"{}\"", column.name);
            let message = format!("`unit` applies to timestamp and date columns, not `{}`", column.ty);
            return Err(invalid(&name("columns"), &needle, message));
        }
    }
    if silver.columns.is_empty() {
        return Err(invalid(
            &name("columns"),
            "columns",
            "declare at least one column".into(),
        ));
    }
    if silver.key.is_empty() {
        return Err(invalid(&name("key"), "key", "name at least one key column".into()));
    }
    for key in &silver.key {
        match silver.columns.iter().find(|c| &c.name == key) {
            None => {
                let message = format!("`{key}` is not a declared column");
                return Err(invalid(&name("key"), &format!("\"{key}\""), message));
            }
            Some(c) if c.nullable => {
                let message = format!("key column `{key}` must be declared with `nullable = false`");
                return Err(invalid(&name("key"), &format!("\"{key}\""), message));
            }
            Some(c) if c.ty.is_nested() => {
                let message = format!("key column `{key}` must have a primitive type, not `{}`", c.ty);
                return Err(invalid(&name("key"), &format!("\"{key}\""), message));
            }
            Some(_) => {}
        }
    }
    if let Some(partition) = &silver.partition_by {
        let needle = format!("\"{}\"", partition.column);
        match silver.columns.iter().find(|c| c.name == partition.column) {
            None => {
                let message = format!("`{}` is not a declared column", partition.column);
                return Err(invalid(&name("partition_by.column"), &needle, message));
            }
            Some(c) if partition.transform != PartitionTransform::Identity && !c.ty.is_timestamp() => {
                let message = format!(
                    "`{}` of `{}` needs a timestamp column",
                    partition.transform.name(),
                    partition.column
                );
                return Err(invalid(&name("partition_by.transform"), &needle, message));
            }
            Some(_) => {}
        }
    }
    Ok(())
}

/// Silver's registry columns need a source that reads schemas from a registry.
pub fn check_from_registry(
    source: &SourceConfig,
    tables: &SilverTables,
    invalid: Invalid<'_>,
) -> Result<(), ConfigError> {
    let listed = tables
        .iter()
        .position(|t| t.from_registry.is_some())
        .filter(|_| tables.len() > 1);
    if let Some(i) = listed {
        let message = "takes columns from the Schema Registry: only a pipeline's one silver table may";
        return Err(invalid(
            &tables.key(i, "from_registry"),
            "from_registry",
            message.into(),
        ));
    }
    let Some(silver) = tables.first() else {
        return Ok(());
    };
    if silver.from_registry.is_some() && source.format == ValueFormat::Json {
        let message = "takes columns from the Schema Registry: the source's `format` must be \"avro\" or \"protobuf\"";
        return Err(invalid(
            &tables.key(0, "from_registry"),
            "from_registry",
            message.into(),
        ));
    }
    let subject_given = silver.from_registry.as_ref().is_some_and(|f| f.subject.is_some());
    if silver.from_registry.is_some() && !subject_given && source.single_topic().is_none() {
        let message = "reads several topics: name the `subject` whose schema gives the columns";
        return Err(invalid(
            &tables.key(0, "from_registry"),
            "from_registry",
            message.into(),
        ));
    }
    Ok(())
}

/// Whether `ty` is, or holds, a timestamp or a date: a type an epoch unit applies to.
fn has_epoch(ty: &ColumnType) -> bool {
    match ty {
        ColumnType::Timestamp | ColumnType::TimestampNtz | ColumnType::Date => true,
        ColumnType::List(item) => has_epoch(item),
        ColumnType::Map(key, value) => has_epoch(key) || has_epoch(value),
        ColumnType::Struct(fields) => fields.iter().any(|f| has_epoch(&f.ty)),
        _ => false,
    }
}

/// The most parallel workers a pipeline may ask for.
const MAX_WORKERS: usize = 64;

/// The parallel workers: as given (1 to 64), or the cores available.
pub fn check_workers(workers: Option<usize>, invalid: Invalid<'_>) -> Result<usize, ConfigError> {
    match workers {
        None => Ok(std::thread::available_parallelism().map_or(1, |n| n.get().min(MAX_WORKERS))),
        Some(n) if (1..=MAX_WORKERS).contains(&n) => Ok(n),
        Some(n) => Err(invalid(
            "workers",
            "workers",
            format!("{n} is out of range: give 1 to {MAX_WORKERS}"),
        )),
    }
}

/// Every commit bound positive.
pub fn check_commit(commit: &CommitPolicy, invalid: Invalid<'_>) -> Result<(), ConfigError> {
    if commit.max_records == 0 || commit.max_bytes == 0 || commit.max_interval_ms == 0 {
        return Err(invalid(
            "commit",
            "[commit]",
            "max_records, max_bytes and max_interval_ms must be positive".into(),
        ));
    }

    Ok(())
}

/// A dead-letter topic is a legal Kafka topic name and not the topic the pipeline reads (its
/// records would come back as input); its producer keeps acks=all and idempotence.
pub fn check_quarantine(
    quarantine: &QuarantineConfig,
    source: &SourceConfig,
    invalid: Invalid<'_>,
) -> Result<(), ConfigError> {
    let Some(topic) = &quarantine.topic else {
        return Ok(());
    };
    legal_topic(topic).map_err(|m| invalid("quarantine.topic", "topic", m))?;
    let same_cluster = quarantine.brokers.as_ref().is_none_or(|b| b == &source.brokers);
    if same_cluster && source.subscription().takes(topic) {
        let message = "the dead-letter topic is one the pipeline reads: its records would come back".into();
        return Err(invalid("quarantine.topic", "topic", message));
    }
    if quarantine.brokers.as_ref().is_some_and(|b| b.trim().is_empty()) {
        return Err(invalid("quarantine.brokers", "brokers", "must not be empty".into()));
    }
    let own = quarantine
        .properties
        .keys()
        .find(|k| crate::intake::producer::is_own_property(k));
    if let Some(own) = own {
        let message = format!("`{own}` is set by Weir (acks=all, idempotent, bounded wait) and cannot be changed");
        return Err(invalid("quarantine.properties", own, message));
    }
    Ok(())
}

/// A stage's or gold table's plugin file (relative to the pipeline's folder; it must exist),
/// its limits (positive), and its config as JSON for `init`.
pub fn check_plugin(
    dir: &Path,
    plugin: &Path,
    limits: &Limits,
    config: &toml::Table,
    key: &dyn Fn(&str) -> String,
    invalid: &dyn Fn(&str, &str, String) -> ConfigError,
) -> Result<(PathBuf, String), ConfigError> {
    // A pipeline's plugins live in its folder: no absolute paths, no way out with `..`.
    let inside = plugin
        .components()
        .all(|c| matches!(c, std::path::Component::Normal(_) | std::path::Component::CurDir));
    if !inside {
        return Err(invalid(
            &key("plugin"),
            &plugin.display().to_string(),
            format!(
                "`{}` is outside the pipeline's folder: give a path inside it, like `plugin.wasm`",
                plugin.display()
            ),
        ));
    }
    let path = dir.join(plugin);
    if !path.is_file() {
        let shown = plugin.display().to_string();
        return Err(invalid(
            &key("plugin"),
            &shown,
            format!("{} does not exist", path.display()),
        ));
    }
    check_limits(limits, key, invalid)?;
    let config = serde_json::to_string(config)
        .map_err(|e| invalid(&key("config"), "config", format!("cannot be passed to the plugin: {e}")))?;
    Ok((path, config))
}

/// A table location Weir can write: `s3://bucket[/prefix]` (a valid bucket name), `file://` or
/// a plain path.
fn check_location(location: &str) -> Result<(), String> {
    let location = location.trim();
    if location.is_empty() {
        return Err("must not be empty".into());
    }
    let Some((scheme, rest)) = location.split_once("://") else {
        return Ok(());
    };
    match scheme {
        "file" if !rest.is_empty() => Ok(()),
        "s3" => {
            let bucket = rest.split('/').next().unwrap_or_default();
            let valid = (3..=63).contains(&bucket.len())
                && bucket
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '.')
                && bucket.starts_with(|c: char| c.is_ascii_alphanumeric())
                && bucket.ends_with(|c: char| c.is_ascii_alphanumeric());
            match valid {
                true => Ok(()),
                false => Err(format!(
                    "`{bucket}` is not an S3 bucket name (3 to 63 lowercase letters, digits, `-` or `.`): give `s3://bucket/prefix`"
                )),
            }
        }
        "file" => Err("`file://` needs a path".into()),
        other => Err(format!(
            "`{other}://` is not a supported location: give `s3://bucket/prefix`, `file:///path` or a path"
        )),
    }
}

/// The sandbox limits a plugin can run under.
fn check_limits(
    limits: &Limits,
    key: &dyn Fn(&str) -> String,
    invalid: &dyn Fn(&str, &str, String) -> ConfigError,
) -> Result<(), ConfigError> {
    let ranges: [(&str, u64, u64, u64); 5] = [
        ("deadline_ms", limits.deadline_ms, 1, 3_600_000),
        // A Rust plugin needs about 2 MiB before it does anything; wasm32 addresses 4 GiB.
        ("memory_mib", limits.memory_mib, MIN_MEMORY_MIB, 4_096),
        ("output_mib", limits.output_mib, 1, 16_384),
        ("max_state_kib", limits.max_state_kib, 1, 1 << 20),
        ("max_log_line", limits.max_log_line as u64, 16, 1 << 20),
    ];
    for (field, value, least, most) in ranges {
        if !(least..=most).contains(&value) {
            return Err(invalid(
                &key(&format!("limits.{field}")),
                field,
                format!("{value} is out of range: give {least} to {most}"),
            ));
        }
    }
    Ok(())
}

/// The least memory cap a plugin may be given, in MiB.
const MIN_MEMORY_MIB: u64 = 8;
