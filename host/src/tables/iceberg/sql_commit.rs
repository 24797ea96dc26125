//! A commit of table updates that iceberg-rust 0.10's `Transaction` has no action for: the
//! `replace` snapshot of compaction (its `TableCommit` can only be built inside the crate).
//! The SQL catalog's own commit is done here the same way: the updates applied to the loaded
//! metadata after checking its requirements, the new metadata file written, then the catalog
//! row moved to it with a compare-and-swap on the previous location (the Iceberg JDBC catalog
//! schema that iceberg-rust, pyiceberg and Java share). A writer that committed meanwhile makes
//! the swap touch no row: a conflict, and nothing changed.
//!
//! REST catalogs commit through their server; there is no way to send it raw updates through
//! iceberg-rust 0.10, and such catalogs (Polaris, S3 Tables, ...) usually compact tables
//! themselves, so Weir does not compact Iceberg tables of a REST catalog.

use std::str::FromStr;

use iceberg::table::Table;
use iceberg::{Error, ErrorKind, MetadataLocation, TableRequirement, TableUpdate};
use sqlx::AnyPool;
use tokio::sync::OnceCell;

use super::super::catalog::CATALOG_NAME;

/// Commits raw table updates to a SQL catalog.
#[derive(Debug)]
pub struct SqlCommit {
    uri: String,
    pool: OnceCell<AnyPool>,
}

impl SqlCommit {
    pub fn new(uri: String) -> Self {
        SqlCommit {
            uri,
            pool: OnceCell::new(),
        }
    }

    async fn pool(&self) -> Result<&AnyPool, Error> {
        self.pool
            .get_or_try_init(|| async {
                sqlx::any::install_default_drivers();
                sqlx::any::AnyPoolOptions::new()
                    .max_connections(1)
                    .connect(&self.uri)
                    .await
            })
            .await
            .map_err(|e| Error::new(ErrorKind::Unexpected, "cannot connect to the SQL catalog").with_source(e))
    }

    /// Applies `updates` to `current` (the table as just loaded from the catalog) if its
    /// metadata meets `requirements`, and makes the result the table's current metadata unless
    /// another writer moved it first ([`ErrorKind::CatalogCommitConflicts`]).
    pub async fn commit(
        &self,
        current: &Table,
        requirements: &[TableRequirement],
        updates: Vec<TableUpdate>,
    ) -> Result<(), Error> {
        for requirement in requirements {
            requirement.check(Some(current.metadata()))?;
        }
        let location = current.metadata_location_result()?.to_string();
        let mut builder = current.metadata().clone().into_builder(Some(location.clone()));
        for update in updates {
            builder = update.apply(builder)?;
        }
        let metadata = builder.build()?.metadata;
        let next = MetadataLocation::from_str(&location)?
            .with_next_version()
            .with_new_metadata(&metadata);
        metadata.write_to(current.file_io(), &next).await?;
        let next = next.to_string();
        let ident = current.identifier();
        let postgres = !self.uri.starts_with("sqlite:");
        let bind = |n: usize| if postgres { format!("${n}") } else { "?".to_string() };
        let statement = format!(
            "UPDATE iceberg_tables SET metadata_location = {}, previous_metadata_location = {} \
             WHERE catalog_name = {} AND table_name = {} AND table_namespace = {} \
             AND (iceberg_type = 'TABLE' OR iceberg_type IS NULL) AND metadata_location = {}",
            bind(1),
            bind(2),
            bind(3),
            bind(4),
            bind(5),
            bind(6)
        );
        let done = sqlx::query(&statement)
            .bind(&next)
            .bind(&location)
            .bind(CATALOG_NAME)
            .bind(ident.name())
            .bind(ident.namespace().join("."))
            .bind(&location)
            .execute(self.pool().await?)
            .await
            .map_err(|e| Error::new(ErrorKind::Unexpected, "the SQL catalog refused the commit").with_source(e))?;
        if done.rows_affected() == 0 {
            // Nobody will read the metadata file just written: leave it to the orphan cleanup
            // rather than risk deleting a file of the same name another writer made.
            return Err(Error::new(
                ErrorKind::CatalogCommitConflicts,
                format!("another writer committed to {ident} first"),
            ));
        }
        Ok(())
    }
}
