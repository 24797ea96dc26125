//! Table upkeep: what it does ([`Upkeep`]) and what it did or would do ([`UpkeepReport`]).
//! Each format implements it in `Table::maintain`: Delta compacts (`OPTIMIZE`), checkpoints,
//! cleans expired log files and vacuums; Iceberg compacts into one `replace` snapshot, expires
//! snapshots and deletes orphan files. `weir maintain` runs it once, `weir run` on a schedule
//! (`crate::upkeep`).

/// Which upkeep actions run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Actions {
    /// Small data files of a partition rewritten into files near the target size.
    pub compact: bool,
    /// Iceberg snapshots past the retention dropped; Delta checkpoint written and log files
    /// past the table's log retention deleted.
    pub expire: bool,
    /// Files no live snapshot or version references, older than the safety age, deleted
    /// (Delta: `VACUUM`).
    pub orphans: bool,
}

impl Actions {
    pub const ALL: Actions = Actions {
        compact: true,
        expire: true,
        orphans: true,
    };
}

/// What table upkeep does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Upkeep {
    pub actions: Actions,
    /// Data files below this size are compaction input.
    pub small_file_bytes: i64,
    /// Compaction writes files of about this size.
    pub target_file_bytes: i64,
    /// A partition is compacted once it holds at least this many small files.
    pub min_input_files: usize,
    /// Time travel window: Iceberg snapshots and the files Delta removed are kept this long.
    pub retention_ms: i64,
    /// Iceberg keeps at least this many snapshots, however old.
    pub keep_snapshots: usize,
    /// A file no snapshot references is deleted only once it is this old: a writer's files are
    /// unreferenced until its commit lands, so this must be far longer than any commit takes.
    pub orphan_age_ms: i64,
    /// Say what would be done, change nothing.
    pub dry_run: bool,
}

/// A day in milliseconds.
const DAY_MS: i64 = 86_400_000;

impl Default for Upkeep {
    fn default() -> Self {
        Upkeep {
            actions: Actions::ALL,
            small_file_bytes: 32 << 20,
            target_file_bytes: 128 << 20,
            min_input_files: 5,
            retention_ms: 7 * DAY_MS,
            keep_snapshots: 10,
            orphan_age_ms: 3 * DAY_MS,
            dry_run: false,
        }
    }
}

/// What table upkeep did to one table (with `dry_run`: would do).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct UpkeepReport {
    /// Live data files before and after.
    pub files_before: usize,
    pub files_after: usize,
    /// The most live data files one partition holds, before and after.
    pub most_per_partition: (usize, usize),
    /// Data files (removed, written) by compaction.
    pub compacted: (usize, usize),
    /// Bytes of the data files compaction read and rewrote.
    pub bytes_rewritten: u64,
    /// Iceberg snapshots dropped from the metadata; Delta log files deleted.
    pub expired: usize,
    /// Files deleted as orphans (Delta: by `VACUUM`) and their bytes.
    pub orphans: usize,
    pub orphan_bytes: u64,
    pub dry_run: bool,
}

impl UpkeepReport {
    /// One line for `weir maintain` and the log, for a table in `format`.
    pub fn describe(&self, format: crate::config::TableFormat) -> String {
        let verb = if self.dry_run { "would" } else { "did" };
        let expired_what = match format {
            crate::config::TableFormat::Delta => "log files",
            _ => "snapshots",
        };
        format!(
            "{verb}: data files {} -> {} (most in one partition {} -> {}), {} small files rewritten as {} ({} bytes), {} {expired_what} expired, {} orphan files deleted ({} bytes)",
            self.files_before,
            self.files_after,
            self.most_per_partition.0,
            self.most_per_partition.1,
            self.compacted.0,
            self.compacted.1,
            self.bytes_rewritten,
            self.expired,
            self.orphans,
            self.orphan_bytes,
        )
    }
}
