// Shared by the reload test plugins: each crate sets `VERSION` and includes this file, so two
// builds differ only in the tag they add.

use weir_sdk::{Config, Context, Json, Outcome, Record, Transform};

/// Adds `"plugin_version": VERSION` to every JSON object record.
#[derive(Debug)]
pub struct Tag;

impl Transform for Tag {
    fn init(config: Config) -> Result<Self, String> {
        check_config(&config)?;
        Ok(Tag)
    }

    fn process(&self, record: &Record<'_>, _context: &Context) -> Outcome {
        match record.json() {
            Ok(Json::Object(mut map)) => {
                map.insert("plugin_version".into(), Json::String(VERSION.into()));
                record.with_json(&map).into()
            }
            Ok(_) => Outcome::reject("value must be a JSON object"),
            Err(reason) => Outcome::reject(reason),
        }
    }
}

weir_sdk::export_transform!(Tag);
