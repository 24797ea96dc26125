//! `weir columns`: silver's `columns = [...]` block from a subject's latest schema in the
//! registry (Avro or Protobuf), to paste into `[tables.silver]` and adjust (declare the key
//! columns `nullable = false`, add a `unit` where a number is an epoch time).

use anyhow::{Context as _, bail};
use tokio_util::sync::CancellationToken;

use crate::config::SchemaRegistryConfig;
use crate::decode::registry_columns::{lookup_columns, toml};
use crate::registry::{Lookup, Registry, Target};

/// The columns block for `subject` (`message`: a Protobuf message's full name).
pub async fn columns(registry_url: &str, subject: &str, message: Option<&str>) -> anyhow::Result<String> {
    let registry = Registry::new(&SchemaRegistryConfig {
        username: std::env::var("SCHEMA_REGISTRY_USER").ok(),
        password: std::env::var("SCHEMA_REGISTRY_PASSWORD").ok(),
        token: std::env::var("SCHEMA_REGISTRY_TOKEN").ok(),
        ..SchemaRegistryConfig::new(registry_url)
    })?;
    let target = Target::Latest(subject.to_string());
    let lookup = registry
        .fetch(&target)
        .await
        .with_context(|| format!("fetching {target}"))?;
    let kind = match &lookup {
        Lookup::Found { kind, .. } => *kind,
        Lookup::Unknown(_) => bail!("{subject} is not in the registry at {registry_url}"),
    };
    let stop = CancellationToken::new();
    let Some(columns) = lookup_columns(&registry, lookup, message, &stop).await else {
        bail!("fetching the schema's imports was stopped");
    };
    let columns = columns.map_err(anyhow::Error::msg)?;
    Ok(format!(
        "# silver columns of {subject}'s latest schema ({kind:?}); declare the key columns\n\
         # `nullable = false` and give epoch-number timestamps their `unit`\n{}",
        toml(&columns)
    ))
}
