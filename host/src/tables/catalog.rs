//! The Iceberg catalog a pipeline registers its tables in: SQL (a SQLite file by default, or
//! PostgreSQL) or REST. Table files go through one FileIO that resolves `file://` and `s3://`.

use std::sync::Arc;

use iceberg::{Catalog, CatalogBuilder};
use iceberg_catalog_rest::RestCatalogBuilder;
use iceberg_catalog_sql::{SqlBindStyle, SqlCatalogBuilder};
use iceberg_storage_opendal::OpenDalResolvingStorageFactory;

use super::error::TableError;
use super::iceberg::sql_commit::SqlCommit;
use super::storage::file_io_properties;
use crate::config::{CatalogKind, IcebergConfig, S3Config};

/// The name the catalog's rows are kept under (pyiceberg: `SqlCatalog("weir", uri=...)`).
pub const CATALOG_NAME: &str = "weir";

/// The SQL catalog's raw commits (for compaction) when `config` names a SQL catalog.
pub fn sql_commit(config: &IcebergConfig, default_uri: Option<String>) -> Option<std::sync::Arc<SqlCommit>> {
    let uri = config.uri.clone().filter(|u| !u.is_empty()).or(default_uri)?;
    (config.catalog == CatalogKind::Sql).then(|| std::sync::Arc::new(SqlCommit::new(uri)))
}

/// Connects to the catalog `config` names; `default_uri` is used when it names none.
pub async fn connect(
    config: &IcebergConfig,
    default_uri: Option<String>,
    s3: &S3Config,
) -> Result<Arc<dyn Catalog>, TableError> {
    let uri = config
        .uri
        .clone()
        .filter(|u| !u.is_empty())
        .or(default_uri)
        .ok_or(TableError::NoCatalog)?;
    let error = |e: iceberg::Error| TableError::Catalog {
        uri: uri.clone(),
        source: Box::new(e),
    };
    let mut props = file_io_properties(s3);
    props.extend(config.properties.clone());
    let storage = Arc::new(OpenDalResolvingStorageFactory::new());
    let catalog: Arc<dyn Catalog> = match config.catalog {
        CatalogKind::Sql => {
            let style = if uri.starts_with("sqlite:") {
                SqlBindStyle::QMark
            } else {
                SqlBindStyle::DollarNumeric
            };
            let catalog = SqlCatalogBuilder::default()
                .uri(uri.clone())
                .warehouse_location(config.warehouse.clone().unwrap_or_default())
                .sql_bind_style(style)
                .with_storage_factory(storage)
                .load(CATALOG_NAME, props)
                .await
                .map_err(error)?;
            Arc::new(catalog)
        }
        CatalogKind::Rest => {
            props.insert("uri".into(), uri.clone());
            if let Some(warehouse) = &config.warehouse {
                props.insert("warehouse".into(), warehouse.clone());
            }
            let catalog = RestCatalogBuilder::default()
                .with_storage_factory(storage)
                .load(CATALOG_NAME, props)
                .await
                .map_err(error)?;
            Arc::new(catalog)
        }
    };
    Ok(catalog)
}
