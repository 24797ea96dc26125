//! Which silver table takes a record: the first table (in file order) whose route's field is a
//! JSON string equal to one of its values, else the default table, else none (the record goes
//! to quarantine with the reason). The fields are read from the JSON the last stage emitted, so
//! a stage can compute them; every route field is found in one pass over the record.

use std::borrow::Cow;

use serde_json::value::RawValue;

use super::json_fields::fields;
use crate::config::SilverConfig;

/// The routes of a pipeline's silver tables.
#[derive(Debug, Clone)]
pub struct Router {
    /// The distinct route fields, in the order first named.
    fields: Vec<String>,
    /// Per routed table, in file order: (index into `fields`, values, table).
    routes: Vec<(usize, Vec<String>, usize)>,
    default: Option<usize>,
}

impl Router {
    pub fn new(tables: &[SilverConfig]) -> Self {
        let mut fields: Vec<String> = Vec::new();
        let mut routes = Vec::new();
        for (table, config) in tables.iter().enumerate() {
            let Some(route) = &config.route else { continue };
            let field = match fields.iter().position(|f| *f == route.field) {
                Some(at) => at,
                None => {
                    fields.push(route.field.clone());
                    fields.len() - 1
                }
            };
            routes.push((field, route.equals.0.clone(), table));
        }
        let default = match tables.iter().position(|t| t.default) {
            None if routes.is_empty() => Some(0),
            default => default,
        };
        Router {
            fields,
            routes,
            default,
        }
    }

    /// True when every record goes to the one table without being read.
    pub fn is_trivial(&self) -> bool {
        self.routes.is_empty() && self.default == Some(0)
    }

    /// The table that takes the JSON record `json`, or why none does.
    pub fn route(&self, json: &str) -> Result<usize, String> {
        if self.routes.is_empty() {
            return self.default.ok_or_else(|| "no silver table takes records".to_string());
        }
        let found = match (fields(json, &self.fields), self.default) {
            (Ok(found), _) => found,
            // The default table's decoder says why it does not fit, as for any record.
            (Err(_), Some(default)) => return Ok(default),
            (Err(e), None) => return Err(format!("no silver table takes a record that is not a JSON object: {e}")),
        };
        let values: Vec<Option<Cow<'_, str>>> = found.iter().map(|raw| raw.and_then(as_string)).collect();
        for (field, equals, table) in &self.routes {
            if let Some(value) = &values[*field]
                && equals.iter().any(|e| e == value)
            {
                return Ok(*table);
            }
        }
        self.default.ok_or_else(|| self.unrouted(&found))
    }

    /// Why no table takes a record whose route fields are `found`.
    fn unrouted(&self, found: &[Option<&RawValue>]) -> String {
        let said: Vec<String> = (self.fields.iter().zip(found))
            .map(|(field, raw)| match raw.map(|r| r.get()) {
                None | Some("null") => format!("a record without `{field}`"),
                Some(raw) => format!("`{field}` = {raw}"),
            })
            .collect();
        format!("no silver table takes {}", said.join(" and "))
    }
}

/// A raw JSON value as the string it holds (None for any other kind).
fn as_string(raw: &RawValue) -> Option<Cow<'_, str>> {
    let text = raw.get();
    if !text.starts_with('"') {
        return None;
    }
    match text.contains('\\') {
        false => text.get(1..text.len() - 1).map(Cow::Borrowed),
        true => serde_json::from_str::<String>(text).ok().map(Cow::Owned),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tables(toml_text: &str) -> Vec<SilverConfig> {
        #[derive(serde::Deserialize)]
        struct File {
            silver: Vec<SilverConfig>,
        }
        toml::from_str::<File>(toml_text).unwrap().silver
    }

    const COLUMNS: &str = "key = [\"id\"]\ncolumns = [{ name = \"id\", type = \"string\" }]\n";

    fn routed(default: bool) -> Router {
        let mut text = String::new();
        for (name, route) in [
            ("orders", "{ field = \"type\", equals = [\"order\", \"purchase\"] }"),
            ("views", "{ field = \"kind\", equals = \"view\" }"),
            ("again", "{ field = \"type\", equals = \"view\" }"),
        ] {
            text += &format!("[[silver]]\nname = \"{name}\"\nroute = {route}\n{COLUMNS}");
        }
        if default {
            text += &format!("[[silver]]\nname = \"other\"\ndefault = true\n{COLUMNS}");
        }
        Router::new(&tables(&text))
    }

    #[test]
    fn the_first_matching_route_takes_a_record() {
        let router = routed(false);
        assert!(!router.is_trivial());
        assert_eq!(router.route(r#"{"type":"order","id":"1"}"#), Ok(0));
        assert_eq!(router.route(r#"{"id":"1","type":"purchase"}"#), Ok(0));
        assert_eq!(router.route(r#"{"type":"view"}"#), Ok(2));
        assert_eq!(router.route(r#"{"type":"view","kind":"view"}"#), Ok(1), "file order");
        assert_eq!(router.route(r#"{"type":"ord\u0065r"}"#), Ok(0), "escapes are read");
    }

    #[test]
    fn a_record_no_route_takes_is_refused_with_why_or_goes_to_the_default() {
        let router = routed(false);
        assert_eq!(
            router.route(r#"{"type":"refund","kind":null}"#),
            Err("no silver table takes `type` = \"refund\" and a record without `kind`".into())
        );
        assert_eq!(
            router.route(r#"{"type":5}"#),
            Err("no silver table takes `type` = 5 and a record without `kind`".into())
        );
        assert!(router.route("[1]").unwrap_err().contains("not a JSON object"));
        assert_eq!(routed(true).route(r#"{"type":"refund"}"#), Ok(3));
        assert_eq!(routed(true).route(r#"{}"#), Ok(3));
        assert_eq!(routed(true).route("[1]"), Ok(3), "the default table's decoder says why");
    }

    #[test]
    fn one_table_without_a_route_takes_everything_unread() {
        let router = Router::new(&tables(&format!("[[silver]]\n{COLUMNS}")));
        assert!(router.is_trivial());
        assert_eq!(router.route("not even JSON"), Ok(0));
        let only = Router::new(&tables(&format!(
            "[[silver]]\nroute = {{ field = \"t\", equals = \"a\" }}\n{COLUMNS}"
        )));
        assert!(!only.is_trivial());
        assert_eq!(
            only.route(r#"{"t":"b"}"#),
            Err("no silver table takes `t` = \"b\"".into())
        );
    }
}
