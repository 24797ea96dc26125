//! Partitions coming and going: an assigned partition resumes at the lowest next offset among
//! the tables (each table then skips what it holds); a revoked one's uncommitted rows are
//! dropped, since its new owner reads them again from where the tables stand.

use std::collections::HashMap;

use arrow::array::{AsArray, BooleanArray};
use arrow::compute::filter_record_batch;
use arrow::datatypes::Int32Type;
use arrow::error::ArrowError;
use arrow::record_batch::RecordBatch;

use super::buffer::Buffer;
use super::data_path::DataPath;
use super::error::RunError;
use crate::config::TableFormat;
use crate::source::TopicPartition;
use crate::tables::schema::{ORIGIN_PARTITION, ORIGIN_TOPIC};
use crate::tables::{DataFiles, Layer};

impl DataPath {
    /// Takes `tp` on: returns where it resumes (`None`: no table holds any of it). Reloads the
    /// tables first: another host may have committed.
    pub async fn assign(&mut self, tp: &TopicPartition) -> Result<Option<i64>, RunError> {
        self.assigned.insert(tp.clone());
        let mut any = false;
        // The quarantine tables' lowest offset: where a dead-letter topic new to the partition
        // starts (they come before it in commit order).
        let mut quarantine: Option<i64> = None;
        for (id, table) in self.tables.in_commit_order() {
            let table_error = |source| RunError::Table {
                pipeline: self.pipeline.name.clone(),
                source,
            };
            table.refresh().await.map_err(table_error)?;
            let mut next = table.next_offset(&tp.topic, tp.partition).await.map_err(table_error)?;
            any |= next.is_some();
            if id.layer == Layer::Quarantine && id.format != TableFormat::Topic {
                quarantine = Some(quarantine.unwrap_or(i64::MAX).min(next.unwrap_or(0)));
            }
            if id.format == TableFormat::Topic && next.is_none() {
                // Records quarantined before the topic was set are not sent: it starts where
                // the quarantine tables stand, written down before anything is produced.
                let start = quarantine.unwrap_or(0);
                let entry = [tp.entry(start)];
                let started = table.publish(DataFiles::None, &entry, &HashMap::new()).await;
                started.map_err(table_error)?;
                next = Some(start);
            }
            self.offsets.set(id, tp, next.unwrap_or(0));
        }
        Ok(any.then(|| self.offsets.lowest(tp)))
    }

    /// Gives up `revoked` partitions: their uncommitted rows are dropped. With gold, whose
    /// state holds every partition's uncommitted records with no way to take one partition's
    /// out, all of them go back to the last commit: returns the partitions still owned, to read
    /// again from where the tables stand (after [`DataPath::assign`]).
    pub async fn revoke(&mut self, mut revoked: Vec<TopicPartition>) -> Result<Vec<TopicPartition>, RunError> {
        let mut reread = Vec::new();
        if !revoked.is_empty() && !self.gold.is_empty() {
            reread = self.assigned.iter().filter(|p| !revoked.contains(p)).cloned().collect();
            revoked.extend(reread.iter().cloned());
            for table in &mut self.gold {
                table.reload().await.map_err(|source| RunError::Gold {
                    pipeline: self.pipeline.name.clone(),
                    source,
                })?;
            }
        }
        if !revoked.is_empty() {
            self.drop_partitions(&revoked).map_err(|e| self.arrow_error(e))?;
        }
        Ok(reread)
    }

    /// Forgets the uncommitted work of partitions this host no longer owns. Committing it later
    /// could race their new owner.
    fn drop_partitions(&mut self, revoked: &[TopicPartition]) -> Result<(), ArrowError> {
        let mut dropped = 0;
        let landing = [&mut self.buffer.bronze, &mut self.buffer.quarantine];
        for batches in landing.into_iter().chain(self.buffer.silver.iter_mut()) {
            let before: usize = batches.iter().map(RecordBatch::num_rows).sum();
            let mut kept = Vec::with_capacity(batches.len());
            for batch in batches.iter() {
                kept.extend(without_partitions(batch, revoked)?);
            }
            dropped += before - kept.iter().map(RecordBatch::num_rows).sum::<usize>();
            *batches = kept;
        }
        for tp in revoked {
            self.assigned.remove(tp);
            self.buffer.next.remove(tp);
            self.buffer.first.remove(tp);
            self.offsets.forget(tp);
        }
        // Keys buffered for silver: only those still in the buffer.
        for (t, keys) in self.keys.iter_mut().enumerate() {
            keys.rebuild_pending(self.buffer.silver(t));
        }
        if self.buffer.next.is_empty() {
            self.buffer = Buffer::default();
        }
        tracing::info!(pipeline = %self.pipeline.name, ?revoked, dropped, "dropped uncommitted rows of revoked partitions");
        Ok(())
    }
}

/// The rows of `batch` not from `revoked` partitions (`None` if that leaves none).
fn without_partitions(batch: &RecordBatch, revoked: &[TopicPartition]) -> Result<Option<RecordBatch>, ArrowError> {
    let (Some(topics), Some(partitions)) = (
        batch.column_by_name(ORIGIN_TOPIC),
        batch.column_by_name(ORIGIN_PARTITION),
    ) else {
        return Ok(Some(batch.clone()));
    };
    let (topics, partitions) = (topics.as_string::<i32>(), partitions.as_primitive::<Int32Type>());
    let mask: BooleanArray = (topics.iter().zip(partitions.iter()))
        .map(|(t, p)| {
            let from_revoked = revoked.iter().any(|tp| tp.is(t.unwrap_or_default(), p.unwrap_or(-1)));
            Some(!from_revoked)
        })
        .collect();
    let kept = filter_record_batch(batch, &mask)?;
    Ok((kept.num_rows() > 0).then_some(kept))
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use arrow::array::{ArrayRef, Int32Array, StringArray};

    use super::*;

    /// Revoking partition 0 of one topic keeps partition 0 of another.
    #[test]
    fn a_revoked_partition_is_dropped_by_topic_and_number() {
        let topics: ArrayRef = Arc::new(StringArray::from(vec!["a", "b", "a", "b"]));
        let partitions: ArrayRef = Arc::new(Int32Array::from(vec![0, 0, 1, 1]));
        let batch = RecordBatch::try_from_iter([(ORIGIN_TOPIC, topics), (ORIGIN_PARTITION, partitions)]).unwrap();
        let kept = without_partitions(&batch, &[TopicPartition::new("a", 0)])
            .unwrap()
            .unwrap();
        let kept_topics = kept.column(0).as_string::<i32>();
        let pairs: Vec<(&str, i32)> = (0..kept.num_rows())
            .map(|i| {
                (
                    kept_topics.value(i),
                    kept.column(1).as_primitive::<Int32Type>().value(i),
                )
            })
            .collect();
        assert_eq!(pairs, [("b", 0), ("a", 1), ("b", 1)]);
        let all = [
            TopicPartition::new("a", 0),
            TopicPartition::new("b", 0),
            TopicPartition::new("a", 1),
            TopicPartition::new("b", 1),
        ];
        assert!(without_partitions(&batch, &all).unwrap().is_none());
    }
}
