//! The tables of a pipeline: each medallion layer in each configured format. Delta tables are
//! folders under `tables.location` (`bronze/`, ...); Iceberg tables are under its `iceberg/`
//! folder, with the default SQLite catalog beside them (`iceberg/catalog.db`).

use std::sync::Once;

use crate::config::{Pipeline, TableFormat};
use crate::decode::SilverDecoder;
pub use crate::sink::medallion::{Layer, Medallion};
use crate::sink::schema::{self, TableSchema};
use crate::sink::storage::{storage_options, table_url};
use crate::sink::{DeltaSink, IcebergSink, SinkError, TableSink, catalog};

/// Where a pipeline's Iceberg tables and their default SQLite catalog live.
pub fn iceberg_root(location: &str) -> Result<String, SinkError> {
    Ok(table_url(location, "iceberg")?
        .as_str()
        .trim_end_matches('/')
        .to_string())
}

/// The bronze, silver, quarantine and gold tables of a pipeline.
#[derive(Debug)]
pub struct Tables {
    pub bronze: Medallion,
    pub silver: Medallion,
    pub quarantine: Medallion,
    /// One per `[[gold]]` section, in the order listed.
    pub gold: Vec<Medallion>,
}

impl Tables {
    /// Opens (creating when missing, adding newly declared columns) the three tables in every
    /// configured format.
    pub async fn open(pipeline: &Pipeline, decoder: &SilverDecoder) -> Result<Self, SinkError> {
        static S3: Once = Once::new();
        S3.call_once(|| deltalake::aws::register_handlers(None));
        let tables = &pipeline.tables;
        let location = &tables.location;
        let options = storage_options(&tables.s3);
        let catalog = if tables.format.contains(&TableFormat::Iceberg) {
            let root = iceberg_root(location)?;
            let default_uri = match root.strip_prefix("file://") {
                Some(path) => {
                    std::fs::create_dir_all(path).map_err(|e| SinkError::Location {
                        table: "iceberg".into(),
                        location: location.clone(),
                        message: e.to_string(),
                    })?;
                    Some(format!("sqlite://{path}/catalog.db?mode=rwc"))
                }
                None => None,
            };
            Some(catalog::connect(&tables.iceberg, default_uri, &tables.s3).await?)
        } else {
            None
        };
        let namespace = tables
            .iceberg
            .namespace
            .clone()
            .unwrap_or_else(|| pipeline.name.clone());
        let open = |layer: Layer, name: String, schema: TableSchema| {
            let options = options.clone();
            let catalog = catalog.clone();
            let namespace = namespace.clone();
            async move {
                let name = name.as_str();
                let mut sinks = Vec::new();
                for format in &tables.format {
                    sinks.push(match format {
                        TableFormat::Delta => TableSink::Delta(Box::new(
                            DeltaSink::open(
                                table_url(location, name)?,
                                options.clone(),
                                name,
                                &pipeline.name,
                                schema.clone(),
                            )
                            .await?,
                        )),
                        TableFormat::Iceberg => {
                            let Some(catalog) = catalog.clone() else {
                                return Err(SinkError::Catalog {
                                    uri: String::new(),
                                    message: "no catalog".into(),
                                });
                            };
                            let table_location = format!("{}/{name}", iceberg_root(location)?);
                            TableSink::Iceberg(Box::new(
                                IcebergSink::open(
                                    catalog,
                                    &namespace,
                                    table_location,
                                    name,
                                    &pipeline.name,
                                    schema.clone(),
                                )
                                .await?,
                            ))
                        }
                    });
                }
                Ok(Medallion { layer, sinks })
            }
        };
        let silver = decoder.schema().clone().partitioned(tables.silver.partition_by.clone());
        let mut gold = Vec::with_capacity(pipeline.gold.len());
        for (i, g) in pipeline.gold.iter().enumerate() {
            let schema = schema::gold(&g.key_column, &g.columns);
            gold.push(open(Layer::Gold(i), g.table(), schema).await?);
        }
        Ok(Tables {
            bronze: open(Layer::Bronze, "bronze".into(), schema::bronze()).await?,
            silver: open(Layer::Silver, "silver".into(), silver).await?,
            quarantine: open(Layer::Quarantine, "quarantine".into(), schema::quarantine()).await?,
            gold,
        })
    }

    /// Every table in commit order: bronze first (it holds every record), then quarantine,
    /// silver, and the gold tables; within a layer, the formats in the order listed.
    pub fn in_commit_order(&mut self) -> impl Iterator<Item = (Layer, &mut TableSink)> {
        [&mut self.bronze, &mut self.quarantine, &mut self.silver]
            .into_iter()
            .chain(self.gold.iter_mut())
            .flat_map(|m| {
                let layer = m.layer;
                m.sinks.iter_mut().map(move |s| (layer, s))
            })
    }
}
