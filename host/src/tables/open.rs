//! The tables of a pipeline: each medallion layer in each configured format. Delta tables are
//! folders under `tables.location` (`bronze/`, ...); Iceberg tables are under its `iceberg/`
//! folder, with the default SQLite catalog beside them (`iceberg/catalog.db`).

use std::sync::Once;

use super::medallion::{Layer, Medallion, TableId};
use super::memory::MemoryStore;
use super::schema::{self, TableSchema};
use super::storage::{storage_options, table_url};
use super::table::Table;
use super::{DeltaSink, IcebergSink, TableError, catalog};
use crate::config::{Pipeline, TableFormat};

/// Where a pipeline's Iceberg tables and their default SQLite catalog live.
pub fn iceberg_root(location: &str) -> Result<String, TableError> {
    Ok(table_url(location, "iceberg")?
        .as_str()
        .trim_end_matches('/')
        .to_string())
}

/// The bronze, silver, quarantine and gold tables of a pipeline.
#[derive(Debug)]
pub struct Tables {
    pub bronze: Medallion,
    /// One per silver table, in `tables.silver` order.
    pub silver: Vec<Medallion>,
    pub quarantine: Medallion,
    /// One per `[[gold]]` section, in the order listed.
    pub gold: Vec<Medallion>,
}

impl Tables {
    /// Opens (creating when missing, adding newly declared columns) every table of `pipeline`
    /// in each of its formats.
    pub async fn open(pipeline: &Pipeline) -> Result<Self, TableError> {
        static S3: Once = Once::new();
        S3.call_once(|| deltalake::aws::register_handlers(None));
        let opener = Opener::new(pipeline).await?;
        let mut medallions = Vec::new();
        for (layer, name, schema, formats) in layout(pipeline) {
            let mut sinks = Vec::with_capacity(formats.len());
            for format in formats {
                sinks.push(opener.open(format, &name, schema.clone()).await?);
            }
            medallions.push(Medallion { layer, sinks });
        }
        Ok(Tables::assemble(medallions))
    }

    /// Adds the quarantine's dead-letter topic, when the pipeline has one, as the last table of
    /// the quarantine layer: it gets each commit's quarantine rows after the quarantine tables.
    pub async fn attach_dead_letter(&mut self, pipeline: &Pipeline) -> Result<(), TableError> {
        let schema = self.quarantine.schema().clone();
        if let Some(topic) = crate::dead_letter::DeadLetterTopic::open(pipeline, schema).await? {
            self.quarantine.sinks.push(Box::new(topic));
        }
        Ok(())
    }

    /// The tables of `pipeline` in memory (unit tests): the same names, schemas and formats,
    /// held by `store`.
    /// With a dead-letter topic, the quarantine layer ends with an in-memory "topic".
    pub fn in_memory(pipeline: &Pipeline, store: &MemoryStore) -> Self {
        let mut medallions: Vec<Medallion> = layout(pipeline)
            .into_iter()
            .map(|(layer, name, schema, formats)| Medallion {
                layer,
                sinks: (formats.into_iter())
                    .map(|f| Box::new(store.open(&pipeline.name, &name, f, schema.clone())) as Box<dyn Table>)
                    .collect(),
            })
            .collect();
        if pipeline.quarantine.topic.is_some()
            && let Some(quarantine) = medallions.iter_mut().find(|m| m.layer == Layer::Quarantine)
        {
            let topic = store.open(&pipeline.name, "quarantine", TableFormat::Topic, schema::quarantine());
            quarantine.sinks.push(Box::new(topic));
        }
        Tables::assemble(medallions)
    }

    /// From the layers in [`layout`]'s order (each layer found by its kind).
    fn assemble(medallions: Vec<Medallion>) -> Self {
        let empty = |layer| Medallion {
            layer,
            sinks: Vec::new(),
        };
        let (mut bronze, mut quarantine) = (None, None);
        let (mut silver, mut gold) = (Vec::new(), Vec::new());
        for medallion in medallions {
            match medallion.layer {
                Layer::Bronze => bronze = Some(medallion),
                Layer::Quarantine => quarantine = Some(medallion),
                Layer::Silver(_) => silver.push(medallion),
                Layer::Gold(_) => gold.push(medallion),
            }
        }
        Tables {
            bronze: bronze.unwrap_or_else(|| empty(Layer::Bronze)),
            silver,
            quarantine: quarantine.unwrap_or_else(|| empty(Layer::Quarantine)),
            gold,
        }
    }

    /// Every table in commit order: bronze first (it holds every record), then quarantine,
    /// the silver tables in file order, and the gold tables (after every silver table: gold
    /// counts what its silver holds); within a layer, the formats in the order listed.
    pub fn in_commit_order(&mut self) -> impl Iterator<Item = (TableId, &mut Box<dyn Table>)> {
        [&mut self.bronze, &mut self.quarantine]
            .into_iter()
            .chain(self.silver.iter_mut())
            .chain(self.gold.iter_mut())
            .flat_map(|m| {
                let layer = m.layer;
                m.sinks.iter_mut().map(move |s| (TableId::new(layer, s.format()), s))
            })
    }
}

/// Each table's layer, name, schema and formats: bronze, the silver tables, quarantine, then
/// the gold tables.
fn layout(pipeline: &Pipeline) -> Vec<(Layer, String, TableSchema, Vec<TableFormat>)> {
    let formats = &pipeline.tables.format;
    let bronze = schema::bronze().partitioned(pipeline.tables.bronze.partition_by.of(schema::INGESTED_AT));
    let mut layout = vec![(Layer::Bronze, "bronze".to_string(), bronze, formats.clone())];
    for (i, silver) in pipeline.tables.silver.iter().enumerate() {
        let schema = schema::silver(&silver.columns).partitioned(silver.partition_by.clone());
        let formats = silver.formats(&pipeline.tables).to_vec();
        layout.push((Layer::Silver(i), silver.table(), schema, formats));
    }
    let landing = pipeline.tables.quarantine.partition_by.of(schema::QUARANTINED_AT);
    let quarantine = schema::quarantine().partitioned(landing);
    layout.push((Layer::Quarantine, "quarantine".to_string(), quarantine, formats.clone()));
    for (i, g) in pipeline.gold.iter().enumerate() {
        let schema = schema::gold(&g.key_column, &g.columns);
        layout.push((Layer::Gold(i), g.table(), schema, formats.clone()));
    }
    layout
}

/// What opening a pipeline's tables needs: the location, object-store options, and the
/// Iceberg catalog and namespace when Iceberg is configured.
struct Opener<'a> {
    pipeline: &'a Pipeline,
    options: std::collections::HashMap<String, String>,
    catalog: Option<std::sync::Arc<dyn iceberg::Catalog>>,
    sql_commit: Option<std::sync::Arc<super::iceberg::sql_commit::SqlCommit>>,
    namespace: String,
}

impl<'a> Opener<'a> {
    async fn new(pipeline: &'a Pipeline) -> Result<Self, TableError> {
        let tables = &pipeline.tables;
        let iceberg = |f: &[TableFormat]| f.contains(&TableFormat::Iceberg);
        let any_iceberg = iceberg(&tables.format) || tables.silver.iter().any(|s| iceberg(s.formats(tables)));
        let default_uri = default_catalog(&tables.location)?;
        let catalog = match any_iceberg {
            true => Some(catalog::connect(&tables.iceberg, default_uri.clone(), &tables.s3).await?),
            false => None,
        };
        Ok(Opener {
            pipeline,
            options: storage_options(&tables.s3),
            catalog,
            sql_commit: catalog::sql_commit(&tables.iceberg, default_uri),
            namespace: tables
                .iceberg
                .namespace
                .clone()
                .unwrap_or_else(|| pipeline.name.clone()),
        })
    }

    async fn open(&self, format: TableFormat, name: &str, schema: TableSchema) -> Result<Box<dyn Table>, TableError> {
        let location = &self.pipeline.tables.location;
        let pipeline = &self.pipeline.name;
        Ok(match format {
            TableFormat::Delta => {
                let url = table_url(location, name)?;
                Box::new(DeltaSink::open(url, self.options.clone(), name, pipeline, schema).await?)
            }
            TableFormat::Iceberg => {
                let Some(catalog) = self.catalog.clone() else {
                    return Err(TableError::NoCatalog);
                };
                let at = format!("{}/{name}", iceberg_root(location)?);
                let sink = IcebergSink::open(catalog, &self.namespace, at, name, pipeline, schema).await?;
                let s3 = self.pipeline.tables.s3.clone();
                Box::new(sink.with_upkeep_access(self.sql_commit.clone(), s3))
            }
            // Not a format of `tables.format`: see `Tables::attach_dead_letter`.
            TableFormat::Topic => {
                return Err(TableError::Schema {
                    table: name.to_string(),
                    source: "a topic is not a table format".into(),
                });
            }
        })
    }
}

/// The default catalog of tables in a local folder: a SQLite file beside them (none on S3).
fn default_catalog(location: &str) -> Result<Option<String>, TableError> {
    let root = iceberg_root(location)?;
    let Some(path) = root.strip_prefix("file://") else {
        return Ok(None);
    };
    std::fs::create_dir_all(path).map_err(|e| TableError::Location {
        table: "iceberg".into(),
        location: location.to_string(),
        source: e.into(),
    })?;
    Ok(Some(format!("sqlite://{path}/catalog.db?mode=rwc")))
}
