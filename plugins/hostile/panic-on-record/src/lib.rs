//! Hostile test plugin: panics on a record with `"panic": true`, passes the others. Only that
//! record may be rejected; the rest of its batch must be accepted.

use weir_sdk::{Config, Context, Outcome, Record, Transform};

pub struct PanicOnRecord;

impl Transform for PanicOnRecord {
    fn init(_config: Config) -> Result<Self, String> {
        Ok(PanicOnRecord)
    }

    fn process(&self, record: &Record<'_>, _context: &Context) -> Outcome {
        if record.value.contains("\"panic\":true") {
            panic!("poison record: {}", record.value);
        }
        Outcome::accept(record.to_output())
    }
}

weir_sdk::export_transform!(PanicOnRecord);
