//! The orphan sweep both formats share: of the files listed under a table, those the table does
//! not reference, older than a safety age, deleted. Before anything is deleted, every file the
//! table must keep (its live data files) has to show up in the listing under the same key: a
//! mismatch in how references and listings spell paths (schemes, buckets, escaping) stops the
//! sweep instead of deleting live files.

use std::collections::HashSet;

use object_store::{ObjectMeta, ObjectStore, ObjectStoreExt as _};

use super::error::TableError;

/// What to sweep and how.
#[derive(Debug)]
pub struct Sweep<'a> {
    /// The table, for errors and logs.
    pub table: &'a str,
    /// Where the listing was taken, for errors.
    pub location: &'a str,
    /// Keys (as the store lists them) the table references.
    pub known: &'a HashSet<String>,
    /// Keys that must be in the listing (the live data files).
    pub required: &'a [String],
    pub min_age_ms: i64,
    pub dry_run: bool,
}

impl Sweep<'_> {
    /// Deletes (or with `dry_run` counts) the orphans among `listed`; how many and their bytes.
    pub async fn run(&self, store: &dyn ObjectStore, listed: Vec<ObjectMeta>) -> Result<(usize, u64), TableError> {
        let keys: HashSet<&str> = listed.iter().map(|m| m.location.as_ref()).collect();
        if let Some(missing) = self.required.iter().find(|k| !keys.contains(k.as_str())) {
            return Err(TableError::Upkeep {
                table: self.table.to_string(),
                message: format!(
                    "the listing of {} does not show {missing}, which the table references; no orphan deleted",
                    self.location
                ),
            });
        }
        let now = chrono::Utc::now();
        let (mut count, mut bytes) = (0, 0);
        for meta in listed {
            let age_ms = (now - meta.last_modified).num_milliseconds();
            if self.known.contains(meta.location.as_ref()) || age_ms < self.min_age_ms {
                continue;
            }
            if !self.dry_run {
                match store.delete(&meta.location).await {
                    Ok(()) | Err(object_store::Error::NotFound { .. }) => {}
                    Err(e) => {
                        return Err(TableError::Location {
                            table: self.table.to_string(),
                            location: self.location.to_string(),
                            source: e.into(),
                        });
                    }
                }
            }
            tracing::debug!(table = self.table, file = %meta.location, dry_run = self.dry_run, "orphan file");
            count += 1;
            bytes += meta.size;
        }
        Ok((count, bytes))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use object_store::PutPayload;
    use object_store::memory::InMemory;

    #[tokio::test]
    async fn a_live_file_missing_from_the_listing_stops_the_sweep() {
        let store = InMemory::new();
        for key in ["t/data/live.parquet", "t/data/orphan.parquet"] {
            store.put(&key.into(), PutPayload::from_static(b"x")).await.unwrap();
        }
        let listed: Vec<ObjectMeta> = futures::TryStreamExt::try_collect(store.list(None)).await.unwrap();
        let known: HashSet<String> = ["t/data/live.parquet".to_string()].into();
        // Spelled another way (escaped, say): nothing is deleted.
        let escaped = ["t/data/l%69ve.parquet".to_string()];
        let mut sweep = Sweep {
            table: "t",
            location: "mem",
            known: &known,
            required: &escaped,
            min_age_ms: 0,
            dry_run: false,
        };
        let err = sweep.run(&store, listed.clone()).await.unwrap_err();
        assert!(err.to_string().contains("no orphan deleted"), "{err}");
        let plain = ["t/data/live.parquet".to_string()];
        sweep.required = &plain;
        assert_eq!(sweep.run(&store, listed).await.unwrap(), (1, 1));
        let left: Vec<ObjectMeta> = futures::TryStreamExt::try_collect(store.list(None)).await.unwrap();
        assert_eq!(left.len(), 1);
        assert_eq!(left[0].location.as_ref(), "t/data/live.parquet");
    }
}
