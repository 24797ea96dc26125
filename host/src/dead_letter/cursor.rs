//! How far the dead-letter topic has got: per source partition, the offset after the last
//! record whose quarantine rows were produced and acknowledged. One small object per partition
//! under `<location>/_weir/dead_letter/<dead-letter topic>/`, so hosts that share a pipeline's
//! partitions write apart (a host that lost a partition and still commits may write it once
//! more: its new owner then reads from further back, which repeats letters, never skips one),
//! and written only after the broker acknowledged: a crash before it makes the records be
//! produced again (at least once), never skipped.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use futures::StreamExt as _;

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
    /// What this host knows; cleared by [`Cursors::forget`].
    known: Mutex<HashMap<(String, i32), Known>>,
}

/// What is known of one partition's cursor.
#[derive(Debug, Clone, Copy, Default)]
struct Known {
    /// Its object as last read or written (None: there is none).
    written: Option<i64>,
    /// When this host last wrote it.
    at: Option<Instant>,
    /// Where this host's commits have got (at or past `written`).
    held: Option<i64>,
    /// Whether `written` was read from the object (or written by this host).
    read: bool,
}

/// Cursor objects written at once, at most.
const PARALLEL_WRITES: usize = 16;

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

    fn known(&self) -> MutexGuard<'_, HashMap<(String, i32), Known>> {
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

    /// The next offset of `topic`/`partition` the topic has got, as its object says (None:
    /// nothing yet).
    pub async fn next(&self, topic: &str, partition: i32) -> Result<Option<i64>, DeadLetterError> {
        if let Some(known) = self.known().get(&(topic.to_string(), partition))
            && known.read
        {
            return Ok(known.written);
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
        let mut known = self.known();
        let entry = known.entry((topic.to_string(), partition)).or_default();
        entry.written = next;
        entry.held = entry.held.max(next);
        entry.read = true;
        Ok(next)
    }

    /// Where this host's commits have got for `topic`/`partition` (written or not).
    pub fn held(&self, topic: &str, partition: i32) -> Option<i64> {
        self.known()
            .get(&(topic.to_string(), partition))
            .and_then(|k| k.held.or(k.written))
    }

    /// The value of `topic`/`partition`'s object as last read or written.
    pub fn written(&self, topic: &str, partition: i32) -> Option<i64> {
        self.known()
            .get(&(topic.to_string(), partition))
            .and_then(|k| k.written)
    }

    /// Whether this host has not written `topic`/`partition`'s object for `interval`.
    pub fn due(&self, topic: &str, partition: i32, interval: Duration) -> bool {
        let known = self.known().get(&(topic.to_string(), partition)).copied();
        known.and_then(|k| k.at).is_none_or(|at| at.elapsed() >= interval)
    }

    /// Notes that this host's commits have got `topic`/`partition` to `next`.
    pub fn hold(&self, topic: &str, partition: i32, next: i64) {
        let mut known = self.known();
        let entry = known.entry((topic.to_string(), partition)).or_default();
        entry.held = Some(entry.held.unwrap_or(next).max(next));
    }

    /// Records that each (topic, partition) of `moves` has got up to its next offset (one
    /// object each, a few at a time).
    pub async fn advance_all(&self, moves: &[(String, i32, i64)]) -> Result<(), DeadLetterError> {
        let writes: Vec<_> = (moves.iter())
            .map(|(topic, partition, next)| self.advance(topic, *partition, *next))
            .collect();
        let mut writes = futures::stream::iter(writes).buffer_unordered(PARALLEL_WRITES);
        while let Some(written) = writes.next().await {
            written?;
        }
        Ok(())
    }

    /// Records that `topic`/`partition` has got up to `next`.
    pub async fn advance(&self, topic: &str, partition: i32, next: i64) -> Result<(), DeadLetterError> {
        let path = self.path(topic, partition);
        let text = serde_json::to_vec(&Stored { next }).map_err(|e| self.error(&path, e))?;
        (self.store.put(&path, PutPayload::from(text)).await).map_err(|e| self.error(&path, e))?;
        let mut known = self.known();
        let entry = known.entry((topic.to_string(), partition)).or_default();
        entry.written = Some(next);
        entry.read = true;
        entry.at = Some(Instant::now());
        entry.held = Some(entry.held.unwrap_or(next).max(next));
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
        // Held ahead of what is written: the object keeps the written value until written.
        again.hold("posts", 0, 60);
        assert_eq!(
            (again.held("posts", 0), again.written("posts", 0)),
            (Some(60), Some(50))
        );
        assert!(
            again.due("posts", 0, Duration::from_secs(30)),
            "never written by this host"
        );
        again.advance("posts", 0, 60).await.unwrap();
        assert!(!again.due("posts", 0, Duration::from_secs(30)), "just written");
    }
}
