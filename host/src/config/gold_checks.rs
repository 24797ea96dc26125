//! The checks of `[[gold]]` sections: names, plugin files, the event-time column, window
//! lengths and the output columns.

use std::collections::HashSet;
use std::path::Path;

use super::checks::{Invalid, check_plugin};
use super::error::ConfigError;
use super::model::{GoldConfig, PipelineFile};
use super::pipeline::{DEFAULT_MAX_AHEAD_US, GOLD_RESERVED, Gold, WindowSpec};

/// The silver table `gold` reads: the one its `source` names, or the only one.
fn gold_source(
    file: &PipelineFile,
    gold: &GoldConfig,
    key: &dyn Fn(&str) -> String,
    invalid: Invalid<'_>,
) -> Result<usize, ConfigError> {
    let silver = &file.tables.silver;
    let names = || {
        let names: Vec<&str> = silver.iter().map(|t| t.name.as_deref().unwrap_or("silver")).collect();
        names.join(", ")
    };
    match &gold.source {
        None if silver.len() == 1 => Ok(0),
        None => {
            let message = format!("there are several silver tables: name the one it reads ({})", names());
            Err(invalid(&key("name"), &format!("\"{}\"", gold.name), message))
        }
        Some(source) => silver.position(source).ok_or_else(|| {
            let message = format!("`{source}` is not a silver table (there are: {})", names());
            invalid(&key("source"), "source", message)
        }),
    }
}

/// Checks the `[[gold]]` sections: names, plugin files, the event-time column, window lengths
/// and the output columns.
pub fn check_gold(
    file: &PipelineFile,
    dir: &Path,
    stage_names: &HashSet<&str>,
    invalid: Invalid<'_>,
) -> Result<Vec<Gold>, ConfigError> {
    let mut names = HashSet::new();
    let mut checked = Vec::with_capacity(file.gold.len());
    for (i, gold) in file.gold.iter().enumerate() {
        let key = |field: &str| format!("gold[{i}].{field}");
        let needle = format!("\"{}\"", gold.name);
        let name_ok = !gold.name.is_empty()
            && gold
                .name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
        if !name_ok {
            let message = format!("`{}` must be letters, digits, `-` or `_`", gold.name);
            return Err(invalid(&key("name"), &needle, message));
        }
        if !names.insert(gold.name.as_str()) || stage_names.contains(gold.name.as_str()) {
            let message = format!("`{}` names another stage or gold table", gold.name);
            return Err(invalid(&key("name"), &needle, message));
        }
        let (plugin, config) = check_plugin(dir, &gold.plugin, &gold.limits, &gold.config, &key, invalid)?;
        let source = gold_source(file, gold, &key, invalid)?;
        let silver = &file.tables.silver[source];
        let event_needle = format!("\"{}\"", gold.event_time);
        match silver.columns.iter().find(|c| c.name == gold.event_time) {
            Some(c) if c.ty.is_timestamp() => {}
            Some(_) => {
                let message = format!("`{}` must be a timestamp column", gold.event_time);
                return Err(invalid(&key("event_time"), &event_needle, message));
            }
            None => {
                let message = format!("`{}` is not a declared column of {}", gold.event_time, silver.table());
                return Err(invalid(&key("event_time"), &event_needle, message));
            }
        }
        let duration = |field: &str, text: &str| {
            super::duration::parse_micros(text).map_err(|message| invalid(&key(field), text, message))
        };
        let size_us = duration("window.size", &gold.window.size)?;
        let slide_us = match &gold.window.slide {
            Some(slide) => duration("window.slide", slide)?,
            None => size_us,
        };
        let lateness_us = match &gold.allowed_lateness {
            Some(text) => duration("allowed_lateness", text)?,
            None => 0,
        };
        let max_ahead_us = match &gold.max_ahead {
            Some(text) => duration("max_ahead", text)?,
            None => DEFAULT_MAX_AHEAD_US,
        };
        if size_us <= 0 || slide_us <= 0 || size_us % slide_us != 0 || size_us / slide_us > 1_000 {
            return Err(invalid(
                &key("window"),
                "window",
                "size and slide must be positive, and slide must divide size at most 1000 times".into(),
            ));
        }
        check_columns(gold, &key, invalid)?;
        checked.push(Gold {
            name: gold.name.clone(),
            plugin,
            config,
            limits: gold.limits,
            silver: source,
            event_time: gold.event_time.clone(),
            window: WindowSpec {
                size_us,
                slide_us,
                lateness_us,
            },
            max_ahead_us,
            key_column: gold.key_column.clone(),
            columns: gold.columns.clone(),
        });
    }
    Ok(checked)
}

/// The output columns: at least one, each once, nullable, none the host writes itself.
fn check_columns(gold: &GoldConfig, key: &dyn Fn(&str) -> String, invalid: Invalid<'_>) -> Result<(), ConfigError> {
    if gold.columns.is_empty() {
        return Err(invalid(
            &key("columns"),
            "columns",
            "declare at least one column".into(),
        ));
    }
    let mut columns = HashSet::new();
    for column in &gold.columns {
        let needle = format!("\"{}\"", column.name);
        let reserved = GOLD_RESERVED.contains(&column.name.as_str()) || column.name == gold.key_column;
        if reserved || !columns.insert(column.name.as_str()) {
            let message = format!(
                "column `{}` is declared twice or is one the host writes ({}, {})",
                column.name,
                gold.key_column,
                GOLD_RESERVED.join(", ")
            );
            return Err(invalid(&key("columns"), &needle, message));
        }
        if !column.nullable {
            let message = format!(
                "column `{}` must be nullable: a window whose result fails has no value",
                column.name
            );
            return Err(invalid(&key("columns"), &needle, message));
        }
    }
    if GOLD_RESERVED.contains(&gold.key_column.as_str()) {
        let message = format!("`{}` is a column the host writes", gold.key_column);
        return Err(invalid(&key("key_column"), &gold.key_column, message));
    }
    Ok(())
}
