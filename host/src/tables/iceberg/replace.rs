//! The metadata of a `replace` snapshot, written by hand (see `compact.rs` for why): manifests,
//! a manifest list, and the table updates (add the snapshot, move `main` to it) with the
//! requirements that make the commit a compare-and-swap on the snapshot it replaces.

use std::collections::btree_map::Entry;
use std::collections::{BTreeMap, HashMap, HashSet};

use iceberg::spec::{
    DataFile, DataFileFormat, MAIN_BRANCH, ManifestFile, ManifestListWriter, ManifestWriterBuilder, Operation,
    Snapshot, SnapshotReference, SnapshotRetention, Summary,
};
use iceberg::table::Table;
use iceberg::{Error, ErrorKind, TableRequirement, TableUpdate};

use super::live::Live;

/// Summary key marking Weir's compaction snapshots.
pub const COMPACTION_KEY: &str = "weir.upkeep";

/// The requirements and updates that replace `removed` (live files of `table`'s current
/// snapshot, whose contents are `live`) with `added`, keeping every other live file, in a
/// snapshot whose summary also carries `carried` (Weir's offsets).
pub async fn replace_updates(
    table: &Table,
    live: &Live,
    removed: &HashSet<String>,
    added: &[DataFile],
    carried: HashMap<String, String>,
) -> Result<(Vec<TableRequirement>, Vec<TableUpdate>), Error> {
    let metadata = table.metadata();
    let parent = metadata
        .current_snapshot()
        .ok_or_else(|| Error::new(ErrorKind::DataInvalid, "no snapshot to replace"))?;
    let snapshot_id = unique_snapshot_id(table);
    let sequence = metadata.next_sequence_number();
    let commit = uuid::Uuid::new_v4();
    let new = NewSnapshot {
        id: snapshot_id,
        parent: parent.snapshot_id(),
        sequence,
        commit,
    };
    let mut manifests = write_manifests(table, live, removed, added, &new).await?;
    manifests.extend(live.delete_manifests.iter().cloned());
    let list = format!(
        "{}/metadata/snap-{snapshot_id}-0-{commit}.{}",
        metadata.location(),
        DataFileFormat::Avro
    );
    let out = table.file_io().new_output(&list)?.writer().await?;
    let mut list_writer = ManifestListWriter::v2(out, snapshot_id, Some(parent.snapshot_id()), sequence);
    list_writer.add_manifests(manifests.into_iter())?;
    list_writer.close().await?;
    let snapshot = Snapshot::builder()
        .with_snapshot_id(snapshot_id)
        .with_parent_snapshot_id(Some(parent.snapshot_id()))
        .with_sequence_number(sequence)
        .with_timestamp_ms(crate::clock::now_ms().max(parent.timestamp_ms()))
        .with_manifest_list(list)
        .with_summary(summary(live, removed, added, carried, parent.summary()))
        .with_schema_id(metadata.current_schema_id())
        .build();
    let requirements = vec![
        TableRequirement::UuidMatch { uuid: metadata.uuid() },
        TableRequirement::RefSnapshotIdMatch {
            r#ref: MAIN_BRANCH.to_string(),
            snapshot_id: Some(parent.snapshot_id()),
        },
    ];
    let updates = vec![
        TableUpdate::AddSnapshot { snapshot },
        TableUpdate::SetSnapshotRef {
            ref_name: MAIN_BRANCH.to_string(),
            reference: SnapshotReference::new(snapshot_id, SnapshotRetention::branch(None, None, None)),
        },
    ];
    Ok((requirements, updates))
}

/// A v2 data manifest writer for partition spec `spec_id`, named after the commit and the spec.
/// The snapshot being made.
struct NewSnapshot {
    id: i64,
    parent: i64,
    sequence: i64,
    commit: uuid::Uuid,
}

/// One data manifest per partition spec: `removed` as deleted, the other live files as
/// existing (their snapshot and sequence numbers kept), `added` as added at `new`'s sequence.
async fn write_manifests(
    table: &Table,
    live: &Live,
    removed: &HashSet<String>,
    added: &[DataFile],
    new: &NewSnapshot,
) -> Result<Vec<ManifestFile>, Error> {
    let default_spec = table.metadata().default_partition_spec_id();
    let mut writers = BTreeMap::new();
    for file in &live.files {
        let writer = match writers.entry(file.spec_id) {
            Entry::Occupied(o) => o.into_mut(),
            Entry::Vacant(v) => v.insert(manifest_writer(table, file.spec_id, new.id, new.commit)?),
        };
        let entry = &file.entry;
        let data_sequence = entry.sequence_number.unwrap_or(new.sequence);
        if removed.contains(file.path()) {
            writer.add_delete_file(entry.data_file.clone(), data_sequence, entry.file_sequence_number)?;
        } else {
            let added_by = entry.snapshot_id.unwrap_or(new.parent);
            writer.add_existing_file(
                entry.data_file.clone(),
                added_by,
                data_sequence,
                entry.file_sequence_number,
            )?;
        }
    }
    if !added.is_empty() && !writers.contains_key(&default_spec) {
        writers.insert(default_spec, manifest_writer(table, default_spec, new.id, new.commit)?);
    }
    for file in added {
        if let Some(writer) = writers.get_mut(&default_spec) {
            writer.add_file(file.clone(), new.sequence)?;
        }
    }
    let mut manifests = Vec::with_capacity(writers.len());
    for (_, writer) in writers {
        manifests.push(writer.write_manifest_file().await?);
    }
    Ok(manifests)
}

fn manifest_writer(
    table: &Table,
    spec_id: i32,
    snapshot_id: i64,
    commit: uuid::Uuid,
) -> Result<iceberg::spec::ManifestWriter, Error> {
    let metadata = table.metadata();
    let spec = metadata
        .partition_spec_by_id(spec_id)
        .ok_or_else(|| Error::new(ErrorKind::DataInvalid, format!("no partition spec {spec_id}")))?;
    let path = format!(
        "{}/metadata/{commit}-m{spec_id}.{}",
        metadata.location(),
        DataFileFormat::Avro
    );
    let output = table.file_io().new_output(path)?;
    let builder = ManifestWriterBuilder::new(
        output,
        Some(snapshot_id),
        metadata.current_schema().clone(),
        spec.as_ref().clone(),
    );
    Ok(builder.build_v2_data())
}

/// The spec's summary fields of the new snapshot, with `carried` and the compaction mark.
fn summary(
    live: &Live,
    removed: &HashSet<String>,
    added: &[DataFile],
    carried: HashMap<String, String>,
    parent: &Summary,
) -> Summary {
    let gone = live.files.iter().filter(|f| removed.contains(f.path()));
    let (gone_files, gone_records, gone_bytes) = gone.fold((0u64, 0u64, 0u64), |(n, r, b), f| {
        (n + 1, r + f.entry.record_count(), b + f.size())
    });
    let new_records: u64 = added.iter().map(|f| f.record_count()).sum();
    let new_bytes: u64 = added.iter().map(|f| f.file_size_in_bytes()).sum();
    let total_records: u64 =
        live.files.iter().map(|f| f.entry.record_count()).sum::<u64>() - gone_records + new_records;
    let total_bytes: u64 = live.files.iter().map(|f| f.size()).sum::<u64>() - gone_bytes + new_bytes;
    let total_files = live.files.len() as u64 - gone_files + added.len() as u64;
    let mut properties = carried;
    for (key, value) in [
        ("added-data-files", added.len() as u64),
        ("deleted-data-files", gone_files),
        ("added-records", new_records),
        ("deleted-records", gone_records),
        ("added-files-size", new_bytes),
        ("removed-files-size", gone_bytes),
        ("total-data-files", total_files),
        ("total-records", total_records),
        ("total-files-size", total_bytes),
    ] {
        properties.insert(key.to_string(), value.to_string());
    }
    for key in ["total-delete-files", "total-position-deletes", "total-equality-deletes"] {
        let value = parent
            .additional_properties
            .get(key)
            .cloned()
            .unwrap_or_else(|| "0".into());
        properties.insert(key.to_string(), value);
    }
    properties.insert(COMPACTION_KEY.to_string(), "compaction".to_string());
    Summary {
        operation: Operation::Replace,
        additional_properties: properties,
    }
}

/// A positive snapshot id the table has not used.
fn unique_snapshot_id(table: &Table) -> i64 {
    loop {
        let (a, b) = uuid::Uuid::new_v4().as_u64_pair();
        let id = ((a ^ b) & (i64::MAX as u64)) as i64;
        if id != 0 && table.metadata().snapshot_by_id(id).is_none() {
            return id;
        }
    }
}
