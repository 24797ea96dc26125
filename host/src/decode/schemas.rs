//! The writer schemas a pipeline has met, by registry id: each fetched once, before the first
//! batch that needs it is processed (the pipeline waits while the registry does not answer),
//! then read by every worker without a lock. An id the registry does not know, a schema of
//! another kind than the source reads, or one that does not compile, is kept as the reason its
//! records go to quarantine. A Protobuf schema's imports are fetched as the registry lists them
//! (subject and version); Google's well-known types resolve locally.

use std::collections::HashMap;

use tokio_util::sync::CancellationToken;

use super::avro::AvroSchema;
use super::protobuf::ProtoSchema;
use crate::registry::{Lookup, Reference, Registry, SchemaKind, Target};

/// The most schemas one Protobuf schema may import, directly or not.
const MAX_REFERENCES: usize = 64;

/// What Weir holds for one schema id.
#[derive(Debug, Clone)]
pub enum SchemaEntry {
    Avro(AvroSchema),
    Protobuf(ProtoSchema),
    /// Why records with this id cannot be read (unknown to the registry, another kind, invalid).
    Unusable(String),
}

/// The schemas by id, and the registry they come from.
#[derive(Debug)]
pub struct Schemas {
    registry: Option<Registry>,
    /// The kind of schema the source reads.
    kind: SchemaKind,
    entries: HashMap<u32, SchemaEntry>,
    /// Ids fetched since the last [`Schemas::take_fetched`].
    fetched: Vec<u32>,
}

impl Schemas {
    pub fn new(registry: Option<Registry>, kind: SchemaKind) -> Self {
        Schemas {
            registry,
            kind,
            entries: HashMap::new(),
            fetched: Vec::new(),
        }
    }

    /// The ids fetched since the last call, in the order fetched.
    pub fn take_fetched(&mut self) -> Vec<u32> {
        std::mem::take(&mut self.fetched)
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
            let Some(lookup) = registry.fetch_waiting(&Target::Id(id), stop).await else {
                return false;
            };
            let Some(entry) = self.entry(registry, id, lookup, stop).await else {
                return false;
            };
            if let SchemaEntry::Unusable(reason) = &entry {
                tracing::warn!(id, reason, "records with this schema id go to quarantine");
            } else {
                tracing::info!(id, "schema fetched from the registry");
            }
            self.entries.insert(id, entry);
            self.fetched.push(id);
        }
        true
    }

    async fn entry(
        &self,
        registry: &Registry,
        id: u32,
        lookup: Lookup,
        stop: &CancellationToken,
    ) -> Option<SchemaEntry> {
        let unusable = |why: String| Some(SchemaEntry::Unusable(format!("schema id {id} {why}")));
        let (kind, text, references) = match lookup {
            Lookup::Unknown(message) => return unusable(format!("is not in the registry: {message}")),
            Lookup::Found {
                kind, text, references, ..
            } => (kind, text, references),
        };
        if kind != self.kind {
            return unusable(format!("is a {kind:?} schema; the source reads {:?}", self.kind));
        }
        match kind {
            SchemaKind::Avro => Some(match AvroSchema::parse(&text) {
                Ok(schema) => SchemaEntry::Avro(schema),
                Err(e) => SchemaEntry::Unusable(format!("schema id {id} is not a valid Avro schema: {e}")),
            }),
            SchemaKind::Protobuf => {
                let imports = match imports(registry, references, stop).await? {
                    Ok(imports) => imports,
                    Err(why) => return unusable(why),
                };
                Some(match ProtoSchema::parse(&text, &imports) {
                    Ok(schema) => SchemaEntry::Protobuf(schema),
                    Err(e) => SchemaEntry::Unusable(format!("schema id {id} does not compile: {e}")),
                })
            }
            SchemaKind::Json => unusable("is a JSON Schema, which Weir does not read".into()),
        }
    }
}

/// The schemas `references` name, and theirs in turn, as (import name, text); None if `stop`
/// came first, Err if one is missing.
pub async fn imports(
    registry: &Registry,
    references: Vec<Reference>,
    stop: &CancellationToken,
) -> Option<Result<Vec<(String, String)>, String>> {
    let mut pending = references;
    let mut found: Vec<(String, String)> = Vec::new();
    while let Some(reference) = pending.pop() {
        // Google's well-known types compile from protox's copies.
        if reference.name.starts_with("google/protobuf/") || found.iter().any(|(n, _)| *n == reference.name) {
            continue;
        }
        if found.len() >= MAX_REFERENCES {
            return Some(Err(format!("imports more than {MAX_REFERENCES} schemas")));
        }
        let target = Target::Version {
            subject: reference.subject.clone(),
            version: reference.version,
        };
        match registry.fetch_waiting(&target, stop).await? {
            Lookup::Found { text, references, .. } => {
                found.push((reference.name, text));
                pending.extend(references);
            }
            Lookup::Unknown(message) => {
                return Some(Err(format!(
                    "imports {}, which is not in the registry ({target}): {message}",
                    reference.name
                )));
            }
        }
    }
    Some(Ok(found))
}
