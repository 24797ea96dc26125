//! The writer schemas a pipeline has met, by registry id: each fetched once, before the first
//! batch that needs it is processed (the pipeline waits while the registry does not answer),
//! then read by every worker without a lock. An id the registry does not know, or a schema
//! that does not parse, is kept as the reason its records go to quarantine.

use std::collections::HashMap;

use tokio_util::sync::CancellationToken;

use super::avro::AvroSchema;
use crate::registry::{Lookup, Registry, SchemaKind};

/// What Weir holds for one schema id.
#[derive(Debug, Clone)]
pub enum SchemaEntry {
    Avro(AvroSchema),
    /// Why records with this id cannot be read (unknown to the registry, not Avro, invalid).
    Unusable(String),
}

/// The schemas by id, and the registry they come from.
#[derive(Debug, Default)]
pub struct Schemas {
    registry: Option<Registry>,
    entries: HashMap<u32, SchemaEntry>,
}

impl Schemas {
    pub fn new(registry: Option<Registry>) -> Self {
        Schemas {
            registry,
            entries: HashMap::new(),
        }
    }

    pub fn get(&self, id: u32) -> Option<&SchemaEntry> {
        self.entries.get(&id)
    }

    /// Holds `entry` for `id` (tests, and schemas known without a registry).
    pub fn insert(&mut self, id: u32, entry: SchemaEntry) {
        self.entries.insert(id, entry);
    }

    /// Fetches every id of `ids` not held yet. False if `stop` came first (the batch must not be
    /// processed: its records would be quarantined for want of a schema).
    pub async fn ensure(&mut self, ids: impl IntoIterator<Item = u32>, stop: &CancellationToken) -> bool {
        let mut missing: Vec<u32> = ids.into_iter().filter(|id| !self.entries.contains_key(id)).collect();
        missing.sort_unstable();
        missing.dedup();
        for id in missing {
            let Some(registry) = &self.registry else {
                self.entries.insert(
                    id,
                    SchemaEntry::Unusable(format!("schema id {id}: no registry is configured")),
                );
                continue;
            };
            let Some(lookup) = registry.fetch_waiting(id, stop).await else {
                return false;
            };
            let entry = entry(id, lookup);
            if let SchemaEntry::Unusable(reason) = &entry {
                tracing::warn!(id, reason, "records with this schema id go to quarantine");
            } else {
                tracing::info!(id, "schema fetched from the registry");
            }
            self.entries.insert(id, entry);
        }
        true
    }
}

fn entry(id: u32, lookup: Lookup) -> SchemaEntry {
    match lookup {
        Lookup::Found {
            kind: SchemaKind::Avro,
            text,
        } => match AvroSchema::parse(&text) {
            Ok(schema) => SchemaEntry::Avro(schema),
            Err(e) => SchemaEntry::Unusable(format!("schema id {id} is not a valid Avro schema: {e}")),
        },
        Lookup::Found { kind, .. } => {
            SchemaEntry::Unusable(format!("schema id {id} is a {kind:?} schema; the source reads Avro"))
        }
        Lookup::Unknown(message) => SchemaEntry::Unusable(format!("schema id {id} is not in the registry: {message}")),
    }
}
