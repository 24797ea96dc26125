//! The first half of a commit: the data files of every table written at once, on up to as many
//! threads as the pipeline has workers (encoding Parquet is most of a commit's work). The second
//! half, publishing them, stays one table after the other in commit order (`commit`).
//!
//! Threads are started per commit (a few per second at most) rather than kept in a pool: scoped
//! threads may borrow the tables and their rows, which a pool's `'static` tasks could not.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use arrow::record_batch::RecordBatch;
use tokio::runtime::{Handle, RuntimeFlavor};

use crate::tables::{DataFiles, Table, TableError};

/// One table's rows to write.
pub struct WriteJob<'a> {
    pub table: &'a dyn Table,
    pub batches: &'a [RecordBatch],
}

/// What writing one table's rows gave, and how long it took.
pub struct Written {
    pub files: Result<DataFiles, TableError>,
    pub took: Duration,
}

/// Writes every job's rows, on up to `threads` threads; the results come back in job order.
pub async fn write_all(jobs: Vec<WriteJob<'_>>, threads: usize) -> Vec<Written> {
    let threads = threads.min(jobs.len());
    let multi_threaded = Handle::try_current().is_ok_and(|h| h.runtime_flavor() == RuntimeFlavor::MultiThread);
    if threads <= 1 || !multi_threaded {
        let mut written = Vec::with_capacity(jobs.len());
        for job in jobs {
            written.push(write_one(job).await);
        }
        return written;
    }
    let handle = Handle::current();
    tokio::task::block_in_place(|| in_threads(&handle, jobs, threads))
}

async fn write_one(job: WriteJob<'_>) -> Written {
    let started = Instant::now();
    let files = job.table.write(job.batches).await;
    Written {
        files,
        took: started.elapsed(),
    }
}

/// Each thread takes the next job not yet taken (tables differ much in size, so dealing them
/// out in advance would leave threads idle), running it on `handle`'s runtime.
fn in_threads(handle: &Handle, jobs: Vec<WriteJob<'_>>, threads: usize) -> Vec<Written> {
    let total = jobs.len();
    let queue = Mutex::new(jobs.into_iter().enumerate());
    let work = || {
        let mut done = Vec::new();
        loop {
            let next = queue.lock().unwrap_or_else(std::sync::PoisonError::into_inner).next();
            let Some((i, job)) = next else {
                return done;
            };
            done.push((i, handle.block_on(write_one(job))));
        }
    };
    let mut results: Vec<Option<Written>> = (0..total).map(|_| None).collect();
    std::thread::scope(|scope| {
        let others: Vec<_> = (1..threads).map(|_| scope.spawn(work)).collect();
        let mut all = work();
        for thread in others {
            match thread.join() {
                Ok(done) => all.extend(done),
                Err(panic) => std::panic::resume_unwind(panic),
            }
        }
        for (i, written) in all {
            results[i] = Some(written);
        }
    });
    results.into_iter().flatten().collect()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::config::TableFormat;
    use crate::tables::memory::MemoryStore;
    use crate::tables::schema;
    use arrow::array::Int64Array;
    use std::sync::Arc;

    fn rows(n: i64) -> RecordBatch {
        RecordBatch::try_from_iter([("n", Arc::new(Int64Array::from_iter_values(0..n)) as _)]).unwrap()
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn every_table_gets_its_own_rows_back_in_job_order_on_several_threads() {
        let store = MemoryStore::default();
        let tables: Vec<_> = (0..5)
            .map(|i| store.open("p", &format!("t{i}"), TableFormat::Delta, schema::bronze()))
            .collect();
        let batches: Vec<Vec<RecordBatch>> = (1..=5).map(|n| vec![rows(n)]).collect();
        let jobs = (tables.iter().zip(&batches))
            .map(|(table, batches)| WriteJob {
                table: table as &dyn Table,
                batches,
            })
            .collect();
        let written = write_all(jobs, 2).await;
        let counts: Vec<usize> = written
            .into_iter()
            .map(|w| match w.files.unwrap() {
                DataFiles::Memory(rows) => rows.iter().map(RecordBatch::num_rows).sum(),
                other => panic!("{other:?}"),
            })
            .collect();
        assert_eq!(counts, [1, 2, 3, 4, 5]);
    }
}
