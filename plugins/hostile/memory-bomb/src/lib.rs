//! Hostile test plugin: on a record with `"bomb": true` it allocates without end; the host's
//! memory cap must stop it. Other records pass.

use weir_sdk::{Config, Context, Outcome, Record, Transform};

pub struct MemoryBomb;

impl Transform for MemoryBomb {
    fn init(_config: Config) -> Result<Self, String> {
        Ok(MemoryBomb)
    }

    fn process(&self, record: &Record<'_>, _context: &Context) -> Outcome {
        if record.value.contains("\"bomb\":true") {
            let mut hoard: Vec<Vec<u8>> = Vec::new();
            loop {
                hoard.push(vec![1u8; 1 << 20]);
                std::hint::black_box(&hoard);
            }
        }
        Outcome::accept(record.to_output())
    }
}

weir_sdk::export_transform!(MemoryBomb);
