//! Silver's columns taken from the Schema Registry (`[tables.silver.from_registry]`): when the
//! pipeline starts, every field of its subject's versions (oldest first, so a restart finds the
//! columns a version added while it ran) that silver does not declare becomes a nullable column (a declared column keeps its declaration: the key, a `unit`, a
//! `coerce`); while it runs, a schema met for the first time whose fields silver lacks adds
//! them, after a commit, to both formats as additive evolution does at a start. Columns are
//! only ever added, at the end: rows already written read them as null, and a field whose type
//! changed keeps its column's type (its values that do not fit go to quarantine, as always).

use tokio_util::sync::CancellationToken;

use super::data_path::DataPath;
use super::error::RunError;
use crate::config::{ColumnConfig, Pipeline};
use crate::decode::SilverDecoder;
use crate::decode::registry_columns::{Column, entry_columns, lookup_columns};
use crate::registry::{Lookup, Registry, Target};
use crate::tables::evolve::redeclare;

/// Adds to `pipeline`'s silver columns the fields of its subject's versions, oldest first
/// (waiting while the registry does not answer). Nothing for a pipeline without `from_registry`.
pub async fn take_from_registry(pipeline: &mut Pipeline) -> Result<(), RunError> {
    // Only a pipeline's one silver table may take columns from the registry (`weir check`).
    let Some(from) = pipeline.tables.silver.first().and_then(|s| s.from_registry.clone()) else {
        return Ok(());
    };
    let name = pipeline.name.clone();
    let fail = |message: String| RunError::Unsupported {
        pipeline: name.clone(),
        message: format!("silver's columns from the registry: {message}"),
    };
    let config =
        (pipeline.source.schema_registry.as_ref()).ok_or_else(|| fail("no `[source.schema_registry]`".into()))?;
    let registry = Registry::new(config).map_err(|e| fail(e.to_string()))?;
    let subject = match (from.subject, pipeline.source.single_topic()) {
        (Some(subject), _) => subject,
        (None, Some(topic)) => format!("{topic}-value"),
        (None, None) => return Err(fail("several topics: name the `subject`".into())),
    };
    // Start-up is abandoned from outside (SIGTERM) by dropping it; nothing here cancels.
    let stop = CancellationToken::new();
    let latest = (registry.fetch_waiting(&Target::Latest(subject.clone()), &stop).await)
        .ok_or_else(|| fail("stopped".into()))?;
    let newest = match &latest {
        Lookup::Found { version, .. } => version.unwrap_or(1),
        Lookup::Unknown(message) => return Err(fail(format!("subject {subject} is not in the registry: {message}"))),
    };
    let mut lookups = Vec::new();
    for version in 1..newest {
        let target = Target::Version {
            subject: subject.clone(),
            version,
        };
        match registry.fetch_waiting(&target, &stop).await {
            Some(found @ Lookup::Found { .. }) => lookups.push((target.to_string(), found)),
            // A deleted version has nothing to add.
            Some(Lookup::Unknown(_)) => {}
            None => return Err(fail("stopped".into())),
        }
    }
    lookups.push((Target::Latest(subject.clone()).to_string(), latest));
    let Some(silver) = pipeline.tables.silver.first_mut() else {
        return Ok(());
    };
    let mut added = Vec::new();
    let count = lookups.len();
    for (i, (origin, lookup)) in lookups.into_iter().enumerate() {
        let columns = match lookup_columns(&registry, lookup, from.message.as_deref(), &stop).await {
            None => return Err(fail("stopped".into())),
            Some(Ok(columns)) => columns,
            Some(Err(e)) if i + 1 == count => return Err(fail(format!("{origin}: {e}"))),
            Some(Err(e)) => {
                tracing::warn!(pipeline = %name, origin, error = %e, "an older version gives silver no columns");
                continue;
            }
        };
        let more = additions(&silver.columns, columns, &origin);
        silver.columns.extend(more.iter().cloned());
        added.extend(more);
    }
    tracing::info!(pipeline = %name, subject, columns = ?names(&added), "silver columns from the registry");
    Ok(())
}

impl DataPath {
    /// The columns the schemas fetched since the last call add to silver (none unless silver
    /// follows the registry).
    pub(super) fn registry_additions(&mut self) -> Vec<ColumnConfig> {
        let fetched = self.values.take_fetched();
        let Some(silver) = self.pipeline.tables.silver.first() else {
            return Vec::new();
        };
        let Some(from) = &silver.from_registry else {
            return Vec::new();
        };
        if fetched.is_empty() {
            return Vec::new();
        }
        let mut current = silver.columns.clone();
        let mut added = Vec::new();
        for (id, entry) in fetched {
            let Ok(columns) = entry_columns(entry, from.message.as_deref()) else {
                continue;
            };
            let more = additions(&current, columns, &format!("schema id {id}"));
            current.extend(more.iter().cloned());
            added.extend(more);
        }
        added
    }

    /// Adds `added` to silver's columns, its decoder and its tables in every format. The buffer
    /// must be empty (committed): its rows have the columns as they were.
    pub(super) async fn add_silver_columns(&mut self, added: Vec<ColumnConfig>) -> Result<(), RunError> {
        let (Some(silver), Some(decoder), Some(tables)) = (
            self.pipeline.tables.silver.first_mut(),
            self.decoders.first_mut(),
            self.tables.silver.first_mut(),
        ) else {
            return Ok(());
        };
        silver.columns.extend(added.iter().cloned());
        *decoder = SilverDecoder::new(&silver.columns);
        let schema = decoder.schema().clone().partitioned(silver.partition_by.clone());
        for sink in &mut tables.sinks {
            redeclare(sink.as_mut(), schema.clone())
                .await
                .map_err(|source| RunError::Table {
                    pipeline: self.pipeline.name.clone(),
                    source,
                })?;
        }
        tracing::info!(pipeline = %self.pipeline.name, columns = ?names(&added), "silver columns added from a new schema");
        Ok(())
    }
}

/// The fields of `columns` (from `origin`) that `current` lacks, as nullable columns; a field
/// with no silver type, or whose type differs from its column's, is said in the log.
fn additions(current: &[ColumnConfig], columns: Vec<Column>, origin: &str) -> Vec<ColumnConfig> {
    let mut added = Vec::new();
    for column in columns {
        match column {
            Err(reason) => tracing::warn!(origin, reason, "a field silver cannot take"),
            Ok(field) => match current.iter().find(|c| c.name == field.name) {
                Some(c) if c.ty != field.ty => {
                    tracing::warn!(origin, column = %c.name, declared = %c.ty, schema = %field.ty, "the column keeps its type");
                }
                Some(_) => {}
                None => added.push(ColumnConfig::new(&field.name, field.ty, true)),
            },
        }
    }
    added
}

fn names(columns: &[ColumnConfig]) -> Vec<&str> {
    columns.iter().map(|c| c.name.as_str()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{ColumnType, StructField};

    #[test]
    fn only_fields_silver_lacks_are_added_nullable() {
        let current = vec![
            ColumnConfig::new("id", ColumnType::String, false),
            ColumnConfig::new("qty", ColumnType::Int32, true),
        ];
        let field = |name: &str, ty: ColumnType| {
            Ok(StructField {
                name: name.into(),
                ty,
                nullable: false,
            })
        };
        let added = additions(
            &current,
            vec![
                field("id", ColumnType::String),
                field("qty", ColumnType::Int64),
                Err("`odd`: a union of several types has no silver type".into()),
                field("note", ColumnType::String),
            ],
            "test",
        );
        assert_eq!(names(&added), ["note"]);
        assert!(added[0].nullable, "an added column is nullable: old rows have no value");
    }
}
