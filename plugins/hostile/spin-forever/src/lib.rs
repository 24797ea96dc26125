//! Hostile test plugin: loops forever on a record with `"spin": true`, passes the others.
//! The host's epoch deadline must stop it and keep serving.

use weir_sdk::{Config, Context, Outcome, Record, Transform};

pub struct SpinForever;

impl Transform for SpinForever {
    fn init(_config: Config) -> Result<Self, String> {
        Ok(SpinForever)
    }

    fn process(&self, record: &Record<'_>, _context: &Context) -> Outcome {
        if record.value.contains("\"spin\":true") {
            let mut n: u64 = 0;
            loop {
                n = std::hint::black_box(n.wrapping_add(1));
            }
        }
        Outcome::accept(record.to_output())
    }
}

weir_sdk::export_transform!(SpinForever);
