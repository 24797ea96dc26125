//! Table upkeep on a schedule inside `weir run` (`schedule`), with its metrics (`metrics`). What
//! one run does to a table is each format's `Table::maintain` (`crate::tables::upkeep`); `weir
//! maintain` runs it once from the command line.

mod metrics;
mod schedule;

pub use metrics::{UpkeepMetrics, upkeep_metrics};
pub use schedule::{holding, spawn};
