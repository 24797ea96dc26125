//! A Confluent-compatible Schema Registry's client: a schema fetched by the id in front of each
//! record, retried with backoff while the registry does not answer. The parsed schemas are kept
//! by `decode::schemas`.

mod client;

pub use client::{Lookup, Reference, Registry, RegistryError, SchemaKind, Target};
