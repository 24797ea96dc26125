//! Several workers sharing the batches of each poll leave the tables exactly as one worker
//! does: the same rows, the same silver row for each key, the same offsets.
#![allow(clippy::unwrap_used)] // a test: panicking is how it fails

use std::collections::BTreeMap;

use super::exactly_once_tests::{NOW_MS, RECORDS, batch, held, pipeline, reference, start};
use crate::tables::memory::MemoryStore;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn workers_sharing_each_poll_leave_the_tables_as_one_worker_does() {
    let dir = tempfile::tempdir().unwrap();
    let mut pipeline = pipeline(dir.path());
    pipeline.workers = 1;
    let want = reference(&pipeline).await;
    for workers in [2, 3] {
        pipeline.workers = workers;
        let store = MemoryStore::default();
        let (mut path, from) = start(&pipeline, &store, &[0, 1]).await;
        let mut at: BTreeMap<i32, i64> = from;
        while at.values().any(|o| *o < RECORDS) {
            // One poll: a batch of each partition, uneven lengths.
            let poll: Vec<_> = (at.iter_mut())
                .map(|(p, o)| {
                    let end = (*o + 9 + i64::from(*p) * 4).min(RECORDS);
                    let polled = batch(*p, *o..end);
                    *o = end;
                    polled
                })
                .collect();
            path.process_all(&poll, NOW_MS).unwrap();
            path.commit(NOW_MS).await.unwrap();
        }
        assert_eq!(held(&store, &pipeline).await, want, "{workers} workers");
    }
}
