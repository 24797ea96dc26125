//! Schema evolution, for every format: the declared columns a table lacks are added (nullable
//! ones only; a column the table has but the declaration lacks is an error, since dropping
//! columns is not supported). Another writer changing the schema at the same moment makes the
//! change fail; the table is then reloaded and checked again, so columns it added are not
//! added twice.

use super::error::TableError;
use super::schema::{TableSchema, added_columns};
use super::table::Table;

/// Tries this many times before giving up on a contended schema change.
const ATTEMPTS: u32 = 5;

/// Adds to `table` the declared columns it lacks.
pub async fn evolve(table: &mut dyn Table) -> Result<(), TableError> {
    let mut attempt = 0;
    loop {
        attempt += 1;
        let missing = missing_columns(table)?;
        if missing.is_empty() {
            return Ok(());
        }
        match table.add_columns(&missing).await {
            Ok(()) => {
                tracing::info!(table = %table.name(), format = ?table.format(), columns = ?missing, "added columns to the table");
                return Ok(());
            }
            Err(e) if attempt < ATTEMPTS => {
                tracing::debug!(table = %table.name(), error = %e, "schema change failed; reloading and checking again");
                table.refresh().await?;
            }
            Err(e) => return Err(e),
        }
    }
}

/// Declares `schema` for `table` (the columns it had and more), then adds the new ones. The
/// table keeps the partitioning it has (see `TableSchema::settle_partition`).
pub async fn redeclare(table: &mut dyn Table, mut schema: TableSchema) -> Result<(), TableError> {
    schema.partition = table.schema().partition.clone();
    *table.schema_mut() = schema;
    evolve(table).await
}

/// The declared columns `table` lacks now.
pub fn missing_columns(table: &dyn Table) -> Result<Vec<String>, TableError> {
    let existing = table.columns()?;
    let existing: Vec<&str> = existing.iter().map(String::as_str).collect();
    let declared = table.declared_columns();
    let wanted: Vec<(&str, bool)> = declared.iter().map(|(n, nullable)| (n.as_str(), *nullable)).collect();
    let names = added_columns(&existing, &wanted).map_err(|message| TableError::Schema {
        table: table.name().to_string(),
        source: message.into(),
    })?;
    Ok(names.into_iter().map(str::to_string).collect())
}
