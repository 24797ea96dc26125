//! What a snapshot holds, read from its manifest list and manifests: the live data files (with
//! the manifest entry each came from) and the delete manifests. Manifests never change once
//! written, so they are cached by path: a compaction retried after a writer's commit reads only
//! the new ones.

use std::collections::HashMap;
use std::sync::Arc;

use iceberg::spec::{DataContentType, Manifest, ManifestContentType, ManifestEntryRef, ManifestFile, SnapshotRef};
use iceberg::table::Table;

/// A live data file and the partition spec it was written with.
#[derive(Debug, Clone)]
pub struct LiveFile {
    pub entry: ManifestEntryRef,
    pub spec_id: i32,
}

impl LiveFile {
    pub fn path(&self) -> &str {
        self.entry.file_path()
    }

    pub fn size(&self) -> u64 {
        self.entry.file_size_in_bytes()
    }
}

/// The contents of one snapshot.
#[derive(Debug, Default)]
pub struct Live {
    /// Data files added or kept (not deleted) by the snapshot.
    pub files: Vec<LiveFile>,
    /// Delete manifests, kept as they are (Weir writes none; another tool may have).
    pub delete_manifests: Vec<ManifestFile>,
    /// Data manifests the snapshot lists.
    pub data_manifests: usize,
    /// Whether any delete manifest holds a live delete file.
    pub has_deletes: bool,
}

/// Manifests read so far, by path.
#[derive(Debug, Default)]
pub struct ManifestCache {
    manifests: HashMap<String, Arc<Manifest>>,
}

impl ManifestCache {
    /// The manifest `file` names, read once.
    pub async fn load(&mut self, table: &Table, file: &ManifestFile) -> Result<Arc<Manifest>, iceberg::Error> {
        if let Some(found) = self.manifests.get(&file.manifest_path) {
            return Ok(found.clone());
        }
        let manifest = Arc::new(file.load_manifest(table.file_io()).await?);
        self.manifests.insert(file.manifest_path.clone(), manifest.clone());
        Ok(manifest)
    }

    /// What `snapshot` of `table` holds.
    pub async fn live(&mut self, table: &Table, snapshot: &SnapshotRef) -> Result<Live, iceberg::Error> {
        let list = table.manifest_list_reader(snapshot).load().await?;
        let mut live = Live::default();
        for file in list.entries() {
            let manifest = self.load(table, file).await?;
            if file.content == ManifestContentType::Deletes {
                live.has_deletes |= manifest.entries().iter().any(|e| e.is_alive());
                live.delete_manifests.push(file.clone());
                continue;
            }
            live.data_manifests += 1;
            let alive = manifest
                .entries()
                .iter()
                .filter(|e| e.is_alive() && e.content_type() == DataContentType::Data);
            live.files.extend(alive.map(|entry| LiveFile {
                entry: entry.clone(),
                spec_id: file.partition_spec_id,
            }));
        }
        Ok(live)
    }

    /// Every file path `snapshot` of `table` needs besides its metadata file: its manifest
    /// list, its manifests and the files they hold alive.
    pub async fn referenced(&mut self, table: &Table, snapshot: &SnapshotRef) -> Result<Vec<String>, iceberg::Error> {
        let list = table.manifest_list_reader(snapshot).load().await?;
        let mut paths = vec![snapshot.manifest_list().to_string()];
        for file in list.entries() {
            paths.push(file.manifest_path.clone());
            let manifest = self.load(table, file).await?;
            let alive = manifest.entries().iter().filter(|e| e.is_alive());
            paths.extend(alive.map(|e| e.file_path().to_string()));
        }
        Ok(paths)
    }
}

/// The most live data files one partition holds.
pub fn most_per_partition(files: &[LiveFile]) -> usize {
    let mut counts: HashMap<(i32, String), usize> = HashMap::new();
    for file in files {
        *counts
            .entry((file.spec_id, format!("{:?}", file.entry.data_file().partition())))
            .or_default() += 1;
    }
    counts.into_values().max().unwrap_or(0)
}
