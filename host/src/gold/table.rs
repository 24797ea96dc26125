//! A pipeline's gold table at work: its aggregate, its checkpoints, and the number of the last
//! gold commit. The number rides in every gold commit as the "offset" of a pseudo-topic
//! (`~checkpoint`; Kafka topic names cannot hold `~`), so it is committed atomically with the
//! rows and the real offsets, in both formats, through the same `txn` actions / snapshot
//! properties.

use std::collections::{BTreeSet, HashMap};

use arrow::record_batch::RecordBatch;

use super::GoldState;
use super::{Checkpoint, CheckpointStore, GoldAggregator, GoldError};
use crate::config::{Gold, Pipeline, Subscription};
use crate::tables::CommitData;
use crate::tables::medallion::Medallion;

/// The pseudo-topic whose "offset" is a gold table's checkpoint number.
pub const CHECKPOINT_TOPIC: &str = "~checkpoint";

/// One gold table of a running pipeline.
#[derive(Debug)]
pub struct GoldTable {
    pub aggregator: GoldAggregator,
    checkpoints: CheckpointStore,
    /// The number of the last gold commit (0: none yet).
    seq: i64,
    /// What the pipeline reads: event times of other topics are forgotten on a restore.
    subscription: Subscription,
}

impl GoldTable {
    /// Resumes `aggregator` where the gold table stands: the newest checkpoint any format has
    /// committed. A format one commit behind (a crash between the two formats' commits) is
    /// given that commit's rows first, so both hold the same rows again.
    pub async fn open(
        pipeline: &Pipeline,
        gold: &Gold,
        table: &mut Medallion,
        mut aggregator: GoldAggregator,
    ) -> Result<Self, GoldError> {
        let table_name = gold.table();
        let sink_error = |source| GoldError::Table {
            gold: gold.name.clone(),
            source,
        };
        let checkpoints =
            CheckpointStore::open(&gold.name, &pipeline.tables.location, &table_name, &pipeline.tables.s3)?;
        let mut seqs = Vec::with_capacity(table.sinks.len());
        for sink in &table.sinks {
            seqs.push(sink.next_offset(CHECKPOINT_TOPIC, 0).await.map_err(sink_error)?);
        }
        let Some(newest) = seqs.iter().flatten().copied().max() else {
            return Ok(GoldTable {
                aggregator,
                checkpoints,
                seq: 0,
                subscription: pipeline.source.subscription(),
            });
        };
        let checkpoint = checkpoints.read(newest).await?;
        for (sink, seq) in table.sinks.iter_mut().zip(seqs) {
            let seq = seq.unwrap_or(0);
            if seq == newest {
                continue;
            }
            if seq != newest - 1 {
                return Err(GoldError::State {
                    gold: gold.name.clone(),
                    message: format!(
                        "the {:?} table is at checkpoint {seq}, the newest is {newest}: only one commit can be repaired",
                        sink.format()
                    ),
                });
            }
            tracing::info!(gold = %gold.name, format = ?sink.format(), checkpoint = newest, "gold table one commit behind: committing that commit's rows to it");
            sink.commit(commit_data(&checkpoint, HashMap::new()))
                .await
                .map_err(sink_error)?;
        }
        let mut state = checkpoint.state;
        let subscription = pipeline.source.subscription();
        state.forget_topics(|topic| subscription.takes(topic));
        let state = state;
        aggregator.restore(state)?;
        tracing::info!(
            gold = %gold.name,
            checkpoint = newest,
            groups = aggregator.state().groups(),
            "gold state restored"
        );
        checkpoints.prune(newest).await?;
        Ok(GoldTable {
            aggregator,
            checkpoints,
            seq: newest,
            subscription,
        })
    }

    /// Goes back to the state of the last gold commit, forgetting what was counted since (the
    /// records are read again).
    pub async fn reload(&mut self) -> Result<(), GoldError> {
        let mut state: GoldState = match self.seq {
            0 => Default::default(),
            seq => self.checkpoints.read(seq).await?.state,
        };
        state.forget_topics(|topic| self.subscription.takes(topic));
        self.aggregator.set_state(state);
        self.aggregator.forget_heard();
        tracing::warn!(gold = %self.aggregator.gold().name, checkpoint = self.seq, "gold state reset to the last commit after a rebalance");
        Ok(())
    }

    /// Finishes the windows the watermark passed, and writes the checkpoint of the coming
    /// commit: the state after it, its rows and offsets. Returns what to commit to each format.
    pub async fn prepare(
        &mut self,
        now_us: i64,
        assigned: &BTreeSet<crate::source::TopicPartition>,
        offsets: &[(String, i32, i64)],
        metadata: &HashMap<String, serde_json::Value>,
    ) -> Result<CommitData, GoldError> {
        let rows: Vec<RecordBatch> = tokio::task::block_in_place(|| self.aggregator.finish_windows(now_us, assigned))?;
        // The state moves into the checkpoint and back: no copy of what may be millions of groups.
        let mut checkpoint = Checkpoint {
            seq: self.seq + 1,
            state: self.aggregator.take_state(),
            offsets: offsets.to_vec(),
            rows,
            plugin: self.aggregator.sha256().to_string(),
        };
        let written = self
            .checkpoints
            .write(&checkpoint, &self.aggregator.schema().arrow)
            .await;
        self.aggregator.set_state(std::mem::take(&mut checkpoint.state));
        written?;
        self.seq = checkpoint.seq;
        Ok(commit_data(&checkpoint, metadata.clone()))
    }

    /// After every format committed: the checkpoints before this one are not needed again.
    pub async fn committed(&mut self) -> Result<(), GoldError> {
        self.checkpoints.prune(self.seq).await
    }
}

/// A gold commit: the checkpoint's rows, its offsets and its number.
fn commit_data(checkpoint: &Checkpoint, mut metadata: HashMap<String, serde_json::Value>) -> CommitData {
    let mut offsets = checkpoint.offsets.clone();
    offsets.push((CHECKPOINT_TOPIC.to_string(), 0, checkpoint.seq));
    metadata.insert("weir.gold.checkpoint".into(), serde_json::json!(checkpoint.seq));
    CommitData {
        batches: checkpoint.rows.clone(),
        offsets,
        metadata,
    }
}
