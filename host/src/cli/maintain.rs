//! `weir maintain <pipelines/>`: table upkeep for every table of every pipeline found. Delta
//! tables get their small files compacted and a checkpoint; Iceberg tables get old snapshots
//! expired from their metadata. Safe to run beside `weir run`: compaction changes no data, and a
//! commit that races a writer fails cleanly and can simply be run again.

use std::io::Write;
use std::path::Path;

use crate::config::{self, TableFormat};
use crate::pipeline::Tables;
use crate::tables::table::Upkeep;

/// Maintains every table under `root`, printing one line per table to `out`.
pub async fn run(root: &Path, policy: Upkeep, out: &mut dyn Write) -> anyhow::Result<()> {
    for file in config::discover(root)? {
        let pipeline = config::load(&file, &config::from_env)?;
        let mut tables = Tables::open(&pipeline).await?;
        for (_, table) in tables.in_commit_order() {
            let report = table.maintain(&policy).await?;
            let done = match table.format() {
                TableFormat::Delta => format!(
                    "delta: {} -> {} data files ({} small files rewritten as {}), checkpoint written",
                    report.files_before, report.files_after, report.compacted.0, report.compacted.1
                ),
                TableFormat::Iceberg => format!("iceberg: {} old snapshots expired", report.snapshots_expired),
                TableFormat::Topic => continue,
            };
            writeln!(out, "{}/{} {done}", pipeline.name, table.name())?;
        }
    }
    Ok(())
}
