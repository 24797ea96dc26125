//! Benchmark plugin: passes every record unchanged without reading it, so a benchmark of it
//! measures only what the sandbox boundary costs per batch and per record.

use weir_sdk::{Config, Context, Outcome, Record, Transform};

pub struct PassAll;

impl Transform for PassAll {
    fn init(_config: Config) -> Result<Self, String> {
        Ok(PassAll)
    }

    fn process(&self, _record: &Record<'_>, _context: &Context) -> Outcome {
        Outcome::pass()
    }
}

weir_sdk::export_transform!(PassAll);
