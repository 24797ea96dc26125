//! Sets a field on the records that have another one and lack it: a computed routing tag, so a
//! silver table's `route` can take records whose kind is only implied by their shape.
//!
//! Config: `{ "field": "event_type", "to": "view", "if_has": "page" }`: a record with `page` and
//! without `event_type` gets `"event_type": "view"`; any other record passes unchanged.

use serde::Deserialize;
use weir_sdk::{Config, Context, Json, Outcome, Record, Transform};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Settings {
    field: String,
    to: String,
    if_has: String,
}

/// The set-field stage.
#[derive(Debug)]
pub struct SetField {
    settings: Settings,
}

impl Transform for SetField {
    fn init(config: Config) -> Result<Self, String> {
        let settings: Settings = config.into_settings()?;
        if settings.field.is_empty() || settings.if_has.is_empty() {
            return Err("`field` and `if_has` must name fields".into());
        }
        Ok(SetField { settings })
    }

    fn process(&self, record: &Record<'_>, _context: &Context) -> Outcome {
        let mut value = match record.json() {
            Ok(Json::Object(map)) => map,
            Ok(_) => return Outcome::reject("value must be a JSON object"),
            Err(reason) => return Outcome::reject(reason),
        };
        let Settings { field, to, if_has } = &self.settings;
        if !value.contains_key(if_has) || value.get(field).is_some_and(|v| !v.is_null()) {
            return Outcome::Pass;
        }
        value.insert(field.clone(), Json::String(to.clone()));
        record.with_json(&value).into()
    }
}

weir_sdk::export_transform!(SetField);

#[cfg(test)]
mod tests {
    use super::*;

    fn stage() -> SetField {
        SetField::init(Config::parse(r#"{"field":"event_type","to":"view","if_has":"page"}"#).unwrap()).unwrap()
    }

    fn run(value: &str) -> Option<Json> {
        match stage().process(&Record::new(value), &Context { processing_time_ms: 0 }) {
            Outcome::Accepted(out) => Some(serde_json::from_str(&out[0].value).unwrap()),
            Outcome::Pass => None,
            Outcome::Rejected(reason) => panic!("{reason}"),
        }
    }

    #[test]
    fn sets_the_field_only_where_the_other_is_and_it_is_not() {
        let set = run(r#"{"page":"/home","id":"1"}"#).unwrap();
        assert_eq!(set["event_type"], "view");
        assert_eq!(set["page"], "/home");
        assert_eq!(run(r#"{"page":"/","event_type":"click"}"#), None, "kept as it is");
        assert_eq!(run(r#"{"id":"1"}"#), None, "no page: unchanged");
        assert_eq!(run(r#"{"page":"/","event_type":null}"#).unwrap()["event_type"], "view");
    }

    #[test]
    fn needs_its_settings() {
        assert!(SetField::init(Config::parse(r#"{"field":"a","to":"b"}"#).unwrap()).is_err());
        assert!(SetField::init(Config::parse(r#"{"field":"","to":"b","if_has":"c"}"#).unwrap()).is_err());
    }
}
