//! Iceberg orphan files: files under a table's location that nothing the table keeps
//! references (the current metadata file, the metadata files it logs, its statistics files,
//! and every kept snapshot's manifest list, manifests and live data files), older than a safety
//! age, deleted. The age protects the files of commits in flight (written, not yet committed)
//! and readers still planning on an older metadata file; snapshot expiry decides what time
//! travel keeps.

use std::collections::HashSet;

use futures::TryStreamExt;

use super::IcebergSink;
use super::live::ManifestCache;
use crate::tables::error::TableError;
use crate::tables::orphan_sweep::Sweep;
use crate::tables::storage::object_store_at;

/// The path of `uri` within its store, as an object store lists it: no scheme, no bucket, no
/// leading slash (`s3://b/t/data/f.parquet` and `file:///t/data/f.parquet` give `t/data/...`).
/// Taken as text, never decoded: a key spelled differently from the listing stops the sweep
/// (`orphan_sweep`) rather than meeting another file.
pub fn store_key(uri: &str) -> String {
    if let Some(rest) = uri.strip_prefix("file:") {
        return rest.trim_start_matches('/').to_string();
    }
    match uri.split_once("://") {
        // The bucket (or host) is not part of the key.
        Some((_, rest)) => rest
            .split_once('/')
            .map_or("", |(_, key)| key)
            .trim_start_matches('/')
            .to_string(),
        None => uri.trim_start_matches('/').to_string(),
    }
}

impl IcebergSink {
    /// Every store key the table still references.
    async fn referenced(&self, cache: &mut ManifestCache) -> Result<HashSet<String>, TableError> {
        let metadata = self.table.metadata();
        let mut keys = HashSet::new();
        if let Some(current) = self.table.metadata_location() {
            keys.insert(store_key(current));
        }
        keys.extend(metadata.metadata_log().iter().map(|m| store_key(&m.metadata_file)));
        keys.extend(metadata.statistics_iter().map(|s| store_key(&s.statistics_path)));
        keys.extend(
            metadata
                .partition_statistics_iter()
                .map(|s| store_key(&s.statistics_path)),
        );
        for snapshot in metadata.snapshots() {
            let paths = cache
                .referenced(&self.table, snapshot)
                .await
                .map_err(|e| self.error(e))?;
            keys.extend(paths.iter().map(|p| store_key(p)));
        }
        Ok(keys)
    }

    /// Deletes (or with `dry_run` only counts) the table's orphan files older than
    /// `min_age_ms`; returns how many and their bytes.
    pub(super) async fn delete_orphans(
        &self,
        min_age_ms: i64,
        dry_run: bool,
        cache: &mut ManifestCache,
    ) -> Result<(usize, u64), TableError> {
        let location = self.table.metadata().location().trim_end_matches('/').to_string();
        let bad = |source: crate::tables::BoxError| TableError::Location {
            table: self.name.clone(),
            location: location.clone(),
            source,
        };
        let url = match url::Url::parse(&format!("{location}/")) {
            Ok(url) => url,
            Err(_) => {
                url::Url::from_directory_path(&location).map_err(|()| bad("not a URL or an absolute path".into()))?
            }
        };
        let (store, prefix) = object_store_at(&url, &self.s3).map_err(|e| bad(e.into()))?;
        let referenced = self.referenced(cache).await?;
        let listed: Vec<object_store::ObjectMeta> = store
            .list(Some(&prefix))
            .try_collect()
            .await
            .map_err(|e| bad(e.into()))?;
        // Every live data file and the current metadata file must be listed under the key the
        // references give them, or nothing is deleted.
        let mut required: Vec<String> = self.table.metadata_location().map(store_key).into_iter().collect();
        if let Some(snapshot) = self.table.metadata().current_snapshot().cloned() {
            let live = cache.live(&self.table, &snapshot).await.map_err(|e| self.error(e))?;
            required.extend(live.files.iter().map(|f| store_key(f.path())));
        }
        let sweep = Sweep {
            table: &self.name,
            location: &location,
            known: &referenced,
            required: &required,
            min_age_ms,
            dry_run,
        };
        sweep.run(store.as_ref(), listed).await
    }
}

#[cfg(test)]
mod tests {
    use super::store_key;

    #[test]
    fn store_keys_drop_scheme_bucket_and_leading_slash() {
        assert_eq!(
            store_key("s3://bucket/w/iceberg/t/data/a.parquet"),
            "w/iceberg/t/data/a.parquet"
        );
        assert_eq!(store_key("file:///tmp/w/t/metadata/1.json"), "tmp/w/t/metadata/1.json");
        assert_eq!(store_key("file:/tmp/w/t/x.avro"), "tmp/w/t/x.avro");
        assert_eq!(store_key("/tmp/w/t/x.avro"), "tmp/w/t/x.avro");
        assert_eq!(store_key("file:///tmp/a%20b/x#y"), "tmp/a%20b/x#y");
    }
}
