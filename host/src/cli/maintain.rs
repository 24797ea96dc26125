//! `weir maintain <pipelines/>`: table upkeep for every table of every pipeline found, once, by
//! each pipeline's `[upkeep]` section with the command line's overrides. `--dry-run` says what
//! it would do and changes nothing. Safe beside `weir run`: compaction changes no data, a commit
//! that races a writer is rebuilt on the writer's snapshot or fails cleanly, and a pipeline
//! whose upkeep lease another host holds (its scheduled upkeep is running) is skipped.

use std::io::Write;
use std::path::Path;

use crate::config::{self, MIN_ORPHAN_AGE_MS, Pipeline, TableFormat, UpkeepAction, actions_of, parse_micros};
use crate::pipeline::{LeaseError, LeaseRole, Tables, WriterLease, holder_name};
use crate::tables::upkeep::Upkeep;

/// Command-line overrides of `[upkeep]`.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct Overrides {
    /// Say what would be done; change nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Only these actions (comma-separated): compact, expire, orphans.
    #[arg(long, value_delimiter = ',', value_parser = parse_action)]
    pub only: Option<Vec<UpkeepAction>>,
    /// Data files smaller than this are compaction input.
    #[arg(long, value_name = "MIB")]
    pub small_file_mib: Option<u16>,
    /// Compaction writes files of about this size.
    #[arg(long, value_name = "MIB")]
    pub target_file_mib: Option<u16>,
    /// A partition is compacted once it holds this many small files.
    #[arg(long, value_name = "N")]
    pub min_input_files: Option<usize>,
    /// Time travel window (`7d`, `12h`, at least `1m`): older Iceberg snapshots expire, Delta
    /// files removed longer ago are vacuumed.
    #[arg(long, value_name = "DURATION")]
    pub retention: Option<String>,
    /// Iceberg keeps at least this many snapshots.
    #[arg(long, value_name = "N")]
    pub keep_snapshots: Option<usize>,
    /// Unreferenced files are deleted once this old (at least `1m`).
    #[arg(long, value_name = "DURATION")]
    pub orphan_age: Option<String>,
}

fn parse_action(text: &str) -> Result<UpkeepAction, String> {
    match text {
        "compact" => Ok(UpkeepAction::Compact),
        "expire" => Ok(UpkeepAction::Expire),
        "orphans" => Ok(UpkeepAction::Orphans),
        other => Err(format!("`{other}`: use compact, expire or orphans")),
    }
}

impl Overrides {
    /// `policy` with these overrides applied.
    pub fn apply(&self, mut policy: Upkeep) -> anyhow::Result<Upkeep> {
        let millis = |text: &str| parse_micros(text).map(|us| us / 1_000).map_err(anyhow::Error::msg);
        if let Some(list) = &self.only {
            policy.actions = actions_of(list);
        }
        if let Some(mib) = self.small_file_mib {
            policy.small_file_bytes = i64::from(mib.max(1)) << 20;
        }
        if let Some(mib) = self.target_file_mib {
            policy.target_file_bytes = i64::from(mib.max(1)) << 20;
        }
        if let Some(n) = self.min_input_files {
            policy.min_input_files = n.max(2);
        }
        if let Some(text) = &self.retention {
            policy.retention_ms = millis(text)?;
            anyhow::ensure!(
                policy.retention_ms >= MIN_ORPHAN_AGE_MS,
                "--retention must be at least 1m: a reader may still be reading a version that young"
            );
        }
        if let Some(n) = self.keep_snapshots {
            policy.keep_snapshots = n.max(1);
        }
        if let Some(text) = &self.orphan_age {
            policy.orphan_age_ms = millis(text)?;
            anyhow::ensure!(
                policy.orphan_age_ms >= MIN_ORPHAN_AGE_MS,
                "--orphan-age must be at least 1m: a younger unreferenced file may belong to a commit in flight"
            );
        }
        policy.dry_run |= self.dry_run;
        Ok(policy)
    }
}

/// Maintains every table under `root`, printing one line per table to `out`.
pub async fn run(root: &Path, overrides: &Overrides, out: &mut dyn Write) -> anyhow::Result<()> {
    for file in config::discover(root)? {
        let pipeline = config::load(&file, &config::from_env)?;
        let policy = overrides.apply(pipeline.upkeep.policy)?;
        if policy.dry_run {
            maintain(&pipeline, &policy, out).await?;
            continue;
        }
        let tables = &pipeline.tables;
        // Its own holder name: a `weir run` of the same instance id must not hand its lease over.
        let holder = format!("{}/weir-maintain/{}", holder_name(), std::process::id());
        let held = WriterLease::acquire_as(LeaseRole::Upkeep, &tables.location, &tables.s3, &holder).await;
        let mut lease = match held {
            Ok(lease) => lease,
            Err(LeaseError::Held { holder, .. }) => {
                writeln!(out, "{}: skipped, its upkeep runs on {holder}", pipeline.name)?;
                continue;
            }
            Err(e) => return Err(e.into()),
        };
        let done = crate::upkeep::holding(&mut lease, maintain(&pipeline, &policy, out)).await;
        lease.release().await;
        done??;
    }
    Ok(())
}

/// One pipeline's tables, one line each.
async fn maintain(pipeline: &Pipeline, policy: &Upkeep, out: &mut dyn Write) -> anyhow::Result<()> {
    let mut tables = Tables::open(pipeline).await?;
    for (_, table) in tables.in_commit_order() {
        let format = table.format();
        if format == TableFormat::Topic {
            continue;
        }
        let report = table.maintain(policy).await?;
        let name = table.name();
        writeln!(
            out,
            "{}/{name} {}: {}",
            pipeline.name,
            format.name(),
            report.describe(format)
        )?;
    }
    Ok(())
}
