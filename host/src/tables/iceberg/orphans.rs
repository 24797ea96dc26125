//! Iceberg orphan files: files under a table's location that nothing the table keeps
//! references (the current metadata file, the metadata files it logs, its statistics files,
//! and every kept snapshot's manifest list, manifests and live data files), older than a safety
//! age, deleted. The age protects the files of commits in flight (written, not yet committed)
//! and readers still planning on an older metadata file; snapshot expiry decides what time
//! travel keeps.

use std::collections::HashSet;

use futures::TryStreamExt;
use object_store::ObjectStoreExt as _;

use super::IcebergSink;
use super::live::ManifestCache;
use crate::tables::error::TableError;
use crate::tables::storage::object_store_at;

/// The path of `uri` within its store, as an object store lists it: no scheme, no bucket, no
/// leading slash (`s3://b/t/data/f.parquet` and `file:///t/data/f.parquet` give `t/data/...`).
pub fn store_key(uri: &str) -> String {
    match url::Url::parse(uri) {
        Ok(url) if url.scheme().len() > 1 => {
            let path = url.path();
            let decoded = percent_decode(path);
            decoded.trim_start_matches('/').to_string()
        }
        _ => uri.trim_start_matches('/').to_string(),
    }
}

fn percent_decode(path: &str) -> String {
    object_store::path::Path::from_url_path(path)
        .map(|p| p.to_string())
        .unwrap_or_else(|_| path.to_string())
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
        // The listing and the references must name files the same way: the current metadata
        // file is both listed and referenced, or nothing is deleted.
        let current = self.table.metadata_location().map(store_key).unwrap_or_default();
        if !listed.iter().any(|m| m.location.as_ref() == current) {
            return Err(bad(format!(
                "the listing under {prefix} does not show the current metadata file {current}; no orphan deleted"
            )
            .into()));
        }
        let now = chrono::Utc::now();
        let (mut count, mut bytes) = (0, 0);
        for meta in listed {
            let age = (now - meta.last_modified).num_milliseconds();
            if referenced.contains(meta.location.as_ref()) || age < min_age_ms {
                continue;
            }
            if !dry_run {
                match store.delete(&meta.location).await {
                    Ok(()) | Err(object_store::Error::NotFound { .. }) => {}
                    Err(e) => return Err(bad(e.into())),
                }
            }
            tracing::debug!(table = %self.name, file = %meta.location, dry_run, "orphan file");
            count += 1;
            bytes += meta.size;
        }
        Ok((count, bytes))
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
        assert_eq!(store_key("file:///tmp/a%20b/x"), "tmp/a b/x");
    }
}
