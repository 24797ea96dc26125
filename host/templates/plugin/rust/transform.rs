//! {{name}}: a Weir transform plugin.
//!
//! Rejects a record without the config's `required` fields (to quarantine, with the reason), and
//! adds `amount_cents` when the record has a numeric `amount`. Config: `{"required": ["id", "user"]}`.
//!
//! Build: scripts/build-plugin.sh {{name}}
//! Try:   weir plugin test {{name}}/{{file}}.wasm --input {{name}}/sample.jsonl --config '{"required":["id","user"]}'

use serde::Deserialize;
use weir_sdk::{Config, Context, Json, Outcome, Record, Transform};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Settings {
    #[serde(default = "default_required")]
    required: Vec<String>,
}

fn default_required() -> Vec<String> {
    vec!["id".into()]
}

pub struct Plugin {
    settings: Settings,
}

impl Transform for Plugin {
    fn init(config: Config) -> Result<Self, String> {
        Ok(Plugin {
            settings: config.into_settings()?,
        })
    }

    fn process(&self, record: &Record<'_>, _context: &Context) -> Outcome {
        let mut value = match record.json() {
            Ok(Json::Object(map)) => map,
            Ok(_) => return Outcome::reject("value must be a JSON object"),
            Err(reason) => return Outcome::reject(reason),
        };
        for field in &self.settings.required {
            if value.get(field).is_none_or(Json::is_null) {
                return Outcome::reject(format!("missing required field `{field}`"));
            }
        }
        match value.get("amount").and_then(Json::as_f64) {
            Some(amount) => {
                value.insert("amount_cents".into(), Json::from((amount * 100.0).round() as i64));
                record.with_json(&value).into()
            }
            None => Outcome::pass(),
        }
    }
}

weir_sdk::export_transform!(Plugin);
