//! Gold checkpoints. Before each gold commit the host writes, beside the tables, the aggregate's
//! state after that commit and the rows the commit adds (`<location>/_weir/gold_<name>/`,
//! numbered). The commit itself carries the number, in the same atomic step as its offsets. On
//! start the newest committed number is read back: its state is where the aggregate resumes,
//! and a table format left one commit behind by a crash gets that commit's rows from it. A
//! number written but never committed is simply written again.

use std::collections::{BTreeMap, HashMap};
use std::io::Cursor;
use std::sync::Arc;

use arrow::array::{Array, ArrayRef, AsArray, BinaryBuilder, Int64Builder, RecordBatch, StringBuilder};
use arrow::datatypes::{DataType, Field, Int64Type, Schema, SchemaRef};
use arrow::ipc::reader::FileReader;
use arrow::ipc::writer::FileWriter;
use futures::StreamExt as _;
use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt as _, PutPayload};
use serde::{Deserialize, Serialize};

use super::error::GoldError;
use super::state::GoldState;
use crate::config::S3Config;
use crate::source::TopicPartition;
use crate::tables::BoxError;
use crate::tables::storage::{object_store_at, table_url};

/// One gold commit: the state after it, its rows and offsets.
#[derive(Debug, Clone, PartialEq)]
pub struct Checkpoint {
    /// The commit's number, from 1.
    pub seq: i64,
    pub state: GoldState,
    /// (topic, partition, next offset) the commit records.
    pub offsets: Vec<(String, i32, i64)>,
    /// The rows the commit adds.
    pub rows: Vec<RecordBatch>,
    /// The aggregate plugin's content hash.
    pub plugin: String,
}

/// What the state file's schema metadata holds besides the (pane, key, state) rows.
#[derive(Debug, Serialize, Deserialize)]
struct Header {
    seq: i64,
    /// Per (topic, partition), the newest event time counted.
    #[serde(default)]
    newest_by: Vec<(String, i32, i64)>,
    /// Checkpoints written before topics were named (one topic per pipeline): per partition
    /// of the topic of `offsets`. Read only.
    #[serde(default, skip_serializing)]
    newest: BTreeMap<i32, i64>,
    emitted_to: Option<i64>,
    offsets: Vec<(String, i32, i64)>,
    plugin: String,
}

const HEADER_KEY: &str = "weir.gold.checkpoint";

/// Where one gold table's checkpoints live.
#[derive(Debug, Clone)]
pub struct CheckpointStore {
    gold: String,
    store: Arc<dyn ObjectStore>,
    prefix: Path,
}

impl CheckpointStore {
    /// The checkpoint folder of gold table `table` under the pipeline's `location`.
    pub fn open(gold: &str, location: &str, table: &str, s3: &S3Config) -> Result<Self, GoldError> {
        let error = |source: BoxError| GoldError::Checkpoint {
            gold: gold.into(),
            path: format!("{location}/_weir/{table}"),
            source,
        };
        let url = table_url(location, &format!("_weir/{table}")).map_err(|e| error(e.into()))?;
        let (store, prefix) = object_store_at(&url, s3).map_err(|e| error(e.into()))?;
        Ok(CheckpointStore {
            gold: gold.into(),
            store,
            prefix,
        })
    }

    fn path(&self, seq: i64, part: &str) -> Path {
        self.prefix.clone().join(format!("{seq:020}.{part}.arrow"))
    }

    fn error(&self, path: &Path, source: impl Into<BoxError>) -> GoldError {
        GoldError::Checkpoint {
            gold: self.gold.clone(),
            path: path.to_string(),
            source: source.into(),
        }
    }

    /// Writes `checkpoint` (rows first, then state: a state file is only ever complete).
    pub async fn write(&self, checkpoint: &Checkpoint, rows_schema: &SchemaRef) -> Result<(), GoldError> {
        let rows_path = self.path(checkpoint.seq, "rows");
        let rows = ipc_bytes(rows_schema, &checkpoint.rows).map_err(|e| self.error(&rows_path, e))?;
        self.store
            .put(&rows_path, PutPayload::from(rows))
            .await
            .map_err(|e| self.error(&rows_path, e))?;
        let state_path = self.path(checkpoint.seq, "state");
        let state = encode_state(checkpoint).map_err(|e| self.error(&state_path, e))?;
        self.store
            .put(&state_path, PutPayload::from(state))
            .await
            .map_err(|e| self.error(&state_path, e))?;
        Ok(())
    }

    /// Reads checkpoint `seq`.
    pub async fn read(&self, seq: i64) -> Result<Checkpoint, GoldError> {
        let state_path = self.path(seq, "state");
        let bytes = self.get(&state_path).await?;
        let mut checkpoint = decode_state(bytes).map_err(|e| self.error(&state_path, e))?;
        if checkpoint.seq != seq {
            return Err(self.error(&state_path, format!("holds checkpoint {}", checkpoint.seq)));
        }
        let rows_path = self.path(seq, "rows");
        let bytes = self.get(&rows_path).await?;
        checkpoint.rows = read_ipc(bytes)
            .map(|(_, batches)| batches)
            .map_err(|e| self.error(&rows_path, e))?;
        Ok(checkpoint)
    }

    async fn get(&self, path: &Path) -> Result<Vec<u8>, GoldError> {
        let result = self.store.get(path).await.map_err(|e| self.error(path, e))?;
        let bytes = result.bytes().await.map_err(|e| self.error(path, e))?;
        Ok(bytes.to_vec())
    }

    /// Deletes the checkpoints numbered below `keep_from`.
    pub async fn prune(&self, keep_from: i64) -> Result<(), GoldError> {
        let mut listing = self.store.list(Some(&self.prefix));
        let mut old = Vec::new();
        while let Some(meta) = listing.next().await {
            let meta = meta.map_err(|e| self.error(&self.prefix, e))?;
            let seq = meta
                .location
                .filename()
                .and_then(|name| name.split('.').next())
                .and_then(|n| n.parse::<i64>().ok());
            if seq.is_some_and(|seq| seq < keep_from) {
                old.push(meta.location);
            }
        }
        for path in old {
            self.store.delete(&path).await.map_err(|e| self.error(&path, e))?;
        }
        Ok(())
    }
}

fn ipc_bytes(schema: &SchemaRef, batches: &[RecordBatch]) -> Result<Vec<u8>, arrow::error::ArrowError> {
    let mut out = Vec::new();
    {
        let mut writer = FileWriter::try_new(&mut out, schema)?;
        for batch in batches {
            writer.write(batch)?;
        }
        writer.finish()?;
    }
    Ok(out)
}

fn read_ipc(bytes: Vec<u8>) -> Result<(SchemaRef, Vec<RecordBatch>), arrow::error::ArrowError> {
    let reader = FileReader::try_new(Cursor::new(bytes), None)?;
    let schema = reader.schema();
    let batches = reader.collect::<Result<Vec<_>, _>>()?;
    Ok((schema, batches))
}

fn encode_state(checkpoint: &Checkpoint) -> Result<Vec<u8>, BoxError> {
    let state = &checkpoint.state;
    let header = Header {
        seq: checkpoint.seq,
        newest_by: state.newest.iter().map(|(tp, t)| tp.entry(*t)).collect(),
        newest: BTreeMap::new(),
        emitted_to: state.emitted_to,
        offsets: checkpoint.offsets.clone(),
        plugin: checkpoint.plugin.clone(),
    };
    let header = serde_json::to_string(&header)?;
    let schema = Arc::new(Schema::new_with_metadata(
        vec![
            Field::new("pane", DataType::Int64, false),
            Field::new("key", DataType::Utf8, false),
            Field::new("state", DataType::Binary, false),
        ],
        HashMap::from([(HEADER_KEY.to_string(), header)]),
    ));
    let groups = state.groups();
    let mut panes = Int64Builder::with_capacity(groups);
    let mut keys = StringBuilder::with_capacity(groups, groups * 16);
    let mut states = BinaryBuilder::with_capacity(groups, groups * 16);
    for (pane, by_key) in &state.panes {
        for (key, bytes) in by_key {
            panes.append_value(*pane);
            keys.append_value(key);
            states.append_value(bytes);
        }
    }
    let columns: Vec<ArrayRef> = vec![
        Arc::new(panes.finish()),
        Arc::new(keys.finish()),
        Arc::new(states.finish()),
    ];
    let batch = RecordBatch::try_new(schema.clone(), columns)?;
    Ok(ipc_bytes(&schema, &[batch])?)
}

/// Each partition's newest event time, from a header of either age.
fn newest_of(header: &Header) -> BTreeMap<TopicPartition, i64> {
    let named = header
        .newest_by
        .iter()
        .map(|(t, p, newest)| (TopicPartition::new(t, *p), *newest));
    let topic = (header.offsets.iter())
        .find(|(t, _, _)| !t.starts_with('~'))
        .map_or("", |(t, _, _)| t.as_str());
    let old = (header.newest.iter()).map(|(p, newest)| (TopicPartition::new(topic, *p), *newest));
    named.chain(old).collect()
}

fn decode_state(bytes: Vec<u8>) -> Result<Checkpoint, BoxError> {
    let (schema, batches) = read_ipc(bytes)?;
    let header = schema
        .metadata()
        .get(HEADER_KEY)
        .ok_or_else(|| format!("no `{HEADER_KEY}` header"))?;
    let header: Header = serde_json::from_str(header)?;
    let mut state = GoldState {
        newest: newest_of(&header),
        emitted_to: header.emitted_to,
        ..GoldState::default()
    };
    for batch in batches {
        let (Some(panes), Some(keys), Some(states)) = (
            batch.column(0).as_primitive_opt::<Int64Type>(),
            batch.column(1).as_string_opt::<i32>(),
            batch.column(2).as_binary_opt::<i32>(),
        ) else {
            return Err("columns are not (pane int64, key utf8, state binary)".into());
        };
        if panes.null_count() + keys.null_count() + states.null_count() > 0 {
            return Err("null in a state row".into());
        }
        for row in 0..batch.num_rows() {
            state.put(
                panes.value(row),
                keys.value(row).to_string(),
                states.value(row).to_vec(),
            );
        }
    }
    Ok(Checkpoint {
        seq: header.seq,
        state,
        offsets: header.offsets,
        rows: Vec::new(),
        plugin: header.plugin,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::Int64Array;

    /// A checkpoint written before topics were named keeps its partitions' event times, under
    /// the topic its offsets name; a new one names them itself.
    #[test]
    fn old_and_new_headers_give_each_partition_its_newest_time() {
        let old = r#"{"seq":1,"newest":{"2":99,"0":5},"emitted_to":null,"offsets":[["~checkpoint",0,1],["posts",2,41]],"plugin":"p"}"#;
        let header: Header = serde_json::from_str(old).unwrap();
        let newest = newest_of(&header);
        assert_eq!(
            newest.into_iter().collect::<Vec<_>>(),
            [
                (TopicPartition::new("posts", 0), 5),
                (TopicPartition::new("posts", 2), 99)
            ]
        );
        let new = r#"{"seq":2,"newest_by":[["a",0,7],["b",0,8]],"emitted_to":null,"offsets":[],"plugin":"p"}"#;
        let header: Header = serde_json::from_str(new).unwrap();
        assert_eq!(newest_of(&header).len(), 2, "same partition number, two topics");
        let written = serde_json::to_string(&header).unwrap();
        assert!(
            !written.contains("\"newest\""),
            "the old field is not written: {written}"
        );
    }

    #[tokio::test]
    async fn a_checkpoint_reads_back_as_written_and_old_ones_are_pruned() {
        let dir = tempfile::tempdir().unwrap();
        let location = dir.path().to_string_lossy().into_owned();
        let store = CheckpointStore::open("g", &location, "gold_g", &S3Config::default()).unwrap();
        let mut state = GoldState::default();
        state.put(0, "rust".into(), vec![1, 2, 3]);
        state.put(3_600, "go".into(), vec![]);
        state.observe(&TopicPartition::new("posts", 2), 99);
        state.emitted_to = Some(-5);
        let schema = Arc::new(Schema::new(vec![Field::new("n", DataType::Int64, true)]));
        let rows = RecordBatch::try_new(schema.clone(), vec![Arc::new(Int64Array::from(vec![7, 8]))]).unwrap();
        let mut checkpoint = Checkpoint {
            seq: 1,
            state,
            offsets: vec![("posts".into(), 2, 41)],
            rows: vec![rows],
            plugin: "abc".into(),
        };
        store.write(&checkpoint, &schema).await.unwrap();
        assert_eq!(store.read(1).await.unwrap(), checkpoint);

        checkpoint.seq = 2;
        checkpoint.rows.clear();
        store.write(&checkpoint, &schema).await.unwrap();
        store.prune(2).await.unwrap();
        assert!(store.read(1).await.is_err());
        let second = store.read(2).await.unwrap();
        assert_eq!((second.seq, second.rows.len()), (2, 0));
        let err = store.read(3).await.unwrap_err().to_string();
        assert!(err.contains("00000000000000000003.state.arrow"), "{err}");
    }
}
