//! How far the dead-letter topic has got: per source partition, the offset after the last
//! record whose quarantine rows were produced and acknowledged. One small object per partition
//! under `<location>/_weir/dead_letter/<dead-letter topic>/`, so hosts that share a pipeline's
//! partitions never write the same object, and written only after the broker acknowledged:
//! a crash before it makes the records be produced again (at least once), never skipped.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt as _, PutPayload};
use serde::{Deserialize, Serialize};

use super::DeadLetterError;
use crate::config::S3Config;
use crate::tables::storage::{object_store_at, table_url};

/// What one partition's object holds.
#[derive(Debug, Serialize, Deserialize)]
struct Stored {
    next: i64,
}

/// The dead-letter topic's next offset per (source topic, partition).
#[derive(Debug)]
pub struct Cursors {
    store: Arc<dyn ObjectStore>,
    prefix: Path,
    /// What this host read or wrote; cleared by [`Cursors::forget`].
    known: Mutex<HashMap<(String, i32), Option<i64>>>,
}

impl Cursors {
    /// The cursors of dead-letter topic `topic` under a pipeline's table `location`.
    pub fn open(location: &str, topic: &str, s3: &S3Config) -> Result<Self, DeadLetterError> {
        let folder = format!("_weir/dead_letter/{topic}");
        let error = |source: crate::tables::BoxError| DeadLetterError::Cursor {
            path: format!("{location}/{folder}"),
            source,
        };
        let url = table_url(location, &folder).map_err(|e| error(e.into()))?;
        let (store, prefix) = object_store_at(&url, s3).map_err(|e| error(e.into()))?;
        Ok(Cursors {
            store,
            prefix,
            known: Mutex::new(HashMap::new()),
        })
    }

    fn known(&self) -> MutexGuard<'_, HashMap<(String, i32), Option<i64>>> {
        self.known.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn path(&self, topic: &str, partition: i32) -> Path {
        self.prefix.clone().join(format!("{topic}.{partition}.json"))
    }

    fn error(&self, path: &Path, source: impl Into<crate::tables::BoxError>) -> DeadLetterError {
        DeadLetterError::Cursor {
            path: path.to_string(),
            source: source.into(),
        }
    }

    /// The next offset of `topic`/`partition` the topic has got (None: nothing yet).
    pub async fn next(&self, topic: &str, partition: i32) -> Result<Option<i64>, DeadLetterError> {
        if let Some(known) = self.known().get(&(topic.to_string(), partition)) {
            return Ok(*known);
        }
        let path = self.path(topic, partition);
        let next = match self.store.get(&path).await {
            Ok(found) => {
                let bytes = found.bytes().await.map_err(|e| self.error(&path, e))?;
                let stored: Stored = serde_json::from_slice(&bytes).map_err(|e| self.error(&path, e))?;
                Some(stored.next)
            }
            Err(object_store::Error::NotFound { .. }) => None,
            Err(e) => return Err(self.error(&path, e)),
        };
        self.known().insert((topic.to_string(), partition), next);
        Ok(next)
    }

    /// The last value read or written for `topic`/`partition`, without asking the store.
    pub fn held(&self, topic: &str, partition: i32) -> Option<i64> {
        self.known().get(&(topic.to_string(), partition)).copied().flatten()
    }

    /// Records that each (topic, partition) of `moves` has got up to its next offset, all at
    /// once (one object each).
    pub async fn advance_all(&self, moves: &[(String, i32, i64)]) -> Result<(), DeadLetterError> {
        let writes = moves
            .iter()
            .map(|(topic, partition, next)| self.advance(topic, *partition, *next));
        futures::future::try_join_all(writes).await?;
        Ok(())
    }

    /// Records that `topic`/`partition` has got up to `next`.
    pub async fn advance(&self, topic: &str, partition: i32, next: i64) -> Result<(), DeadLetterError> {
        let path = self.path(topic, partition);
        let text = serde_json::to_vec(&Stored { next }).map_err(|e| self.error(&path, e))?;
        (self.store.put(&path, PutPayload::from(text)).await).map_err(|e| self.error(&path, e))?;
        self.known().insert((topic.to_string(), partition), Some(next));
        Ok(())
    }

    /// Forgets what was read: another host may have moved a partition since.
    pub fn forget(&mut self) {
        self.known().clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_cursor_is_read_back_by_a_new_reader_and_partitions_are_apart() {
        let dir = tempfile::tempdir().unwrap();
        let location = dir.path().to_str().unwrap();
        let s3 = S3Config::default();
        let cursors = Cursors::open(location, "dlq", &s3).unwrap();
        assert_eq!(cursors.next("posts", 0).await.unwrap(), None);
        cursors.advance("posts", 0, 42).await.unwrap();
        cursors.advance("posts", 1, 7).await.unwrap();
        let mut again = Cursors::open(location, "dlq", &s3).unwrap();
        assert_eq!(again.next("posts", 0).await.unwrap(), Some(42));
        assert_eq!(again.next("posts", 1).await.unwrap(), Some(7));
        assert_eq!(again.next("other", 0).await.unwrap(), None);
        let elsewhere = Cursors::open(location, "dlq2", &s3).unwrap();
        assert_eq!(elsewhere.next("posts", 0).await.unwrap(), None, "per dead-letter topic");
        // Another writer moved partition 0: a reader sees it after forgetting.
        cursors.advance("posts", 0, 50).await.unwrap();
        assert_eq!(again.next("posts", 0).await.unwrap(), Some(42));
        again.forget();
        assert_eq!(again.next("posts", 0).await.unwrap(), Some(50));
    }
}
